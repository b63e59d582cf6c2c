package server

// commandTable is the one place commands are declared.
func commandTable() map[string]*command {
	cmds := []*command{
		{name: "cl.throttle", arity: -1, flags: flagWrite | flagDenyOOM | flagLimiter, firstKey: 1, lastKey: 1, step: 1, group: "limiter", summary: "GCRA rate limit, byte-for-byte redis-cell", run: cmdThrottle},
		{name: "cl.peek", arity: -5, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "limiter", summary: "What CL.THROTTLE would answer, changing nothing", run: cmdPeek},
		{name: "gcra", arity: -5, flags: flagWrite | flagDenyOOM | flagLimiter, firstKey: 1, lastKey: 1, step: 1, group: "limiter", summary: "GCRA rate limit with a decimal period (Redis 8.8's design)", run: cmdGCRA},
		{name: "sw.throttle", arity: -4, flags: flagWrite | flagDenyOOM | flagLimiter, firstKey: 1, lastKey: 1, step: 1, group: "limiter", summary: "Sliding window counter rate limit", run: windowCommand(slidingWin, false)},
		{name: "sw.peek", arity: -4, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "limiter", summary: "What SW.THROTTLE would answer, changing nothing", run: windowCommand(slidingWin, true)},
		{name: "swlog.throttle", arity: -4, flags: flagWrite | flagDenyOOM | flagLimiter, firstKey: 1, lastKey: 1, step: 1, group: "limiter", summary: "Sliding window log (exact) rate limit", run: windowCommand(slidingLog, false)},
		{name: "swlog.peek", arity: -4, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "limiter", summary: "What SWLOG.THROTTLE would answer, changing nothing", run: windowCommand(slidingLog, true)},
		{name: "fw.throttle", arity: -4, flags: flagWrite | flagDenyOOM | flagLimiter, firstKey: 1, lastKey: 1, step: 1, group: "limiter", summary: "Fixed window rate limit (windows aligned to the epoch)", run: windowCommand(fixedWindow, false)},
		{name: "fw.peek", arity: -4, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "limiter", summary: "What FW.THROTTLE would answer, changing nothing", run: windowCommand(fixedWindow, true)},

		{name: "rl.check", arity: -3, flags: flagWrite | flagDenyOOM | flagAllKeys | flagLimiter, group: "limiter", summary: "Decide a request against the rules engine (the HTTP check over RESP)", run: cmdNoRules},
		{name: "rl.rules", arity: -1, flags: flagReadOnly, group: "limiter", summary: "List the rules engine's rules as JSON", run: cmdNoRules},

		{name: "get", arity: 2, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Get a key's value (a limiter's TAT)", run: cmdGet},
		{name: "set", arity: -3, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Set a key's string value", run: cmdSet},
		{name: "strlen", arity: 2, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Length of a key's value", run: cmdStrlen},
		{name: "incr", arity: 2, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Add 1 to a key's integer value", run: cmdIncr},
		{name: "decr", arity: 2, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Subtract 1 from a key's integer value", run: cmdDecr},
		{name: "incrby", arity: 3, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Add to a key's integer value", run: cmdIncrBy},
		{name: "decrby", arity: 3, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Subtract from a key's integer value", run: cmdDecrBy},
		{name: "incrbyfloat", arity: 3, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Add to a key's float value (long double, as Redis)", run: cmdIncrByFloat},
		{name: "setex", arity: 4, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Set a value with an expiry in seconds", run: cmdSetEx},
		{name: "psetex", arity: 4, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Set a value with an expiry in ms", run: cmdPSetEx},
		{name: "setnx", arity: 3, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Set a value if the key does not exist", run: cmdSetNX},
		{name: "getdel", arity: 2, flags: flagWrite, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Get a value and delete the key", run: cmdGetDel},
		{name: "getex", arity: -2, flags: flagWrite, firstKey: 1, lastKey: 1, step: 1, group: "string", summary: "Get a value and set or remove its expiry", run: cmdGetEx},
		{name: "mget", arity: -2, flags: flagReadOnly, firstKey: 1, lastKey: -1, step: 1, group: "string", summary: "Get several values", run: cmdMGet},
		{name: "mset", arity: -3, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: -1, step: 2, group: "string", summary: "Set several values atomically", run: cmdMSet},
		{name: "msetnx", arity: -3, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: -1, step: 2, group: "string", summary: "Set several values if none of the keys exists", run: cmdMSetNX},
		{name: "expiretime", arity: 2, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Absolute expiry in Unix seconds", run: expireTimeCommand(false)},
		{name: "pexpiretime", arity: 2, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Absolute expiry in Unix ms", run: expireTimeCommand(true)},
		{name: "zadd", arity: -4, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Add members or update their scores", run: cmdZAdd},
		{name: "zincrby", arity: 4, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Add to a member's score", run: cmdZIncrBy},
		{name: "zrem", arity: -3, flags: flagWrite, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Remove members", run: cmdZRem},
		{name: "zcard", arity: 2, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Number of members", run: cmdZCard},
		{name: "zcount", arity: 4, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Members within a score range", run: cmdZCount},
		{name: "zlexcount", arity: 4, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Members within a lexicographic range", run: cmdZLexCount},
		{name: "zscore", arity: 3, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "A member's score", run: cmdZScore},
		{name: "zmscore", arity: -3, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Several members' scores", run: cmdZMScore},
		{name: "zrank", arity: 3, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "A member's rank, ascending", run: zrankCommand(false)},
		{name: "zrevrank", arity: 3, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "A member's rank, descending", run: zrankCommand(true)},
		{name: "zrange", arity: -4, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Members by rank, score (BYSCORE) or member (BYLEX)", run: zrangeCommand(false, zbyRank, false)},
		{name: "zrangebyscore", arity: -4, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Members within a score range", run: zrangeCommand(true, zbyScore, false)},
		{name: "zrevrangebyscore", arity: -4, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Members within a score range, descending", run: zrangeCommand(true, zbyScore, true)},
		{name: "zrangebylex", arity: -4, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Members within a lexicographic range", run: zrangeCommand(true, zbyLex, false)},
		{name: "zrevrangebylex", arity: -4, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Members within a lexicographic range, descending", run: zrangeCommand(true, zbyLex, true)},
		{name: "zrevrange", arity: -4, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Members by rank, descending", run: zrangeCommand(true, zbyRank, true)},
		{name: "zremrangebyscore", arity: 4, flags: flagWrite, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Remove members within a score range", run: zremRangeCommand(zbyScore)},
		{name: "zremrangebyrank", arity: 4, flags: flagWrite, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Remove members within a rank range", run: zremRangeCommand(zbyRank)},
		{name: "zremrangebylex", arity: 4, flags: flagWrite, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Remove members within a lexicographic range", run: zremRangeCommand(zbyLex)},
		{name: "zpopmin", arity: -2, flags: flagWrite, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Remove and return the lowest-scored members", run: zpopCommand(false)},
		{name: "zpopmax", arity: -2, flags: flagWrite, firstKey: 1, lastKey: 1, step: 1, group: "sorted-set", summary: "Remove and return the highest-scored members", run: zpopCommand(true)},
		{name: "del", arity: -2, flags: flagWrite, firstKey: 1, lastKey: -1, step: 1, group: "generic", summary: "Delete keys", run: cmdDel},
		{name: "unlink", arity: -2, flags: flagWrite, firstKey: 1, lastKey: -1, step: 1, group: "generic", summary: "Delete keys", run: cmdDel},
		{name: "exists", arity: -2, flags: flagReadOnly, firstKey: 1, lastKey: -1, step: 1, group: "generic", summary: "Count existing keys", run: cmdExists},
		{name: "type", arity: 2, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Type of a key", run: cmdType},
		{name: "ttl", arity: 2, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Seconds to expiry", run: ttlCommand(false)},
		{name: "pttl", arity: 2, flags: flagReadOnly, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Milliseconds to expiry", run: ttlCommand(true)},
		{name: "expire", arity: -3, flags: flagWrite, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Set a relative expiry in seconds", run: expireCommand("expire")},
		{name: "pexpire", arity: -3, flags: flagWrite, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Set a relative expiry in ms", run: expireCommand("pexpire")},
		{name: "expireat", arity: -3, flags: flagWrite, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Set an absolute expiry in seconds", run: expireCommand("expireat")},
		{name: "pexpireat", arity: -3, flags: flagWrite, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Set an absolute expiry in ms", run: expireCommand("pexpireat")},
		{name: "persist", arity: 2, flags: flagWrite, firstKey: 1, lastKey: 1, step: 1, group: "generic", summary: "Remove a key's expiry", run: cmdPersist},
		{name: "scan", arity: -2, flags: flagReadOnly | flagAllKeys, group: "generic", summary: "Iterate keys", run: cmdScan},
		{name: "keys", arity: 2, flags: flagReadOnly | flagAllKeys | flagDangerous, group: "generic", summary: "Keys matching a pattern", run: cmdKeys},
		{name: "dbsize", arity: 1, flags: flagReadOnly | flagAllKeys, group: "server", summary: "Number of keys", run: cmdDBSize},
		{name: "flushdb", arity: -1, flags: flagWrite | flagAllKeys | flagDangerous, group: "server", summary: "Remove all keys", run: cmdFlush},
		{name: "flushall", arity: -1, flags: flagWrite | flagAllKeys | flagDangerous, group: "server", summary: "Remove all keys", run: cmdFlush},

		{name: "ping", arity: -1, group: "connection", summary: "Ping the server", run: cmdPing},
		{name: "echo", arity: 2, group: "connection", summary: "Echo a message", run: cmdEcho},
		{name: "quit", arity: -1, flags: flagNoAuth | flagTxControl | flagNoScript, group: "connection", summary: "Close the connection", run: cmdQuit},
		{name: "select", arity: 2, group: "connection", summary: "Select database 0", run: cmdSelect},
		{name: "auth", arity: -2, flags: flagNoSlowlog | flagNoAuth | flagNoScript, group: "connection", summary: "Authenticate", run: cmdAuth},
		{name: "hello", arity: -1, flags: flagNoSlowlog | flagNoAuth | flagNoScript, group: "connection", summary: "Handshake and pick RESP2 or RESP3", run: cmdHello},
		{name: "client", arity: -2, flags: flagKeepCaching | flagNoScript, subs: []string{"id", "setname", "getname", "setinfo", "list", "info", "tracking", "caching", "getredir", "no-evict", "no-touch", "help"}, group: "connection", summary: "Connection management", run: cmdClient},

		{name: "eval", arity: -3, flags: flagNoScript | flagScript, movableKeys: evalKeys, group: "scripting", summary: "Run a Lua script", run: evalCommand(false, false)},
		{name: "evalsha", arity: -3, flags: flagNoScript | flagScript, movableKeys: evalKeys, group: "scripting", summary: "Run a cached Lua script by its SHA1", run: evalCommand(true, false)},
		{name: "eval_ro", arity: -3, flags: flagNoScript | flagScript, movableKeys: evalKeys, group: "scripting", summary: "Run a read-only Lua script", run: evalCommand(false, true)},
		{name: "evalsha_ro", arity: -3, flags: flagNoScript | flagScript, movableKeys: evalKeys, group: "scripting", summary: "Run a cached read-only Lua script by its SHA1", run: evalCommand(true, true)},
		{name: "script", arity: -2, flags: flagNoScript, subs: []string{"load", "exists", "flush", "kill", "help", "debug"}, group: "scripting", summary: "Manage the script cache", run: cmdScript},

		{name: "multi", arity: 1, flags: flagTxControl | flagKeepCaching | flagNoScript, group: "transactions", summary: "Start a transaction", run: cmdMulti},
		{name: "exec", arity: 1, flags: flagTxControl | flagNoScript, group: "transactions", summary: "Run a transaction", run: cmdExec},
		{name: "discard", arity: 1, flags: flagTxControl | flagNoScript, group: "transactions", summary: "Discard a transaction", run: cmdDiscard},

		{name: "slowlog", arity: -2, flags: flagAdmin | flagDangerous, group: "server", summary: "The log of slow commands", run: cmdSlowlog},
		{name: "latency", arity: -2, flags: flagAdmin | flagDangerous, group: "server", summary: "Latency monitor events and per-command histograms", run: cmdLatency},
		{name: "info", arity: -1, flags: flagAllKeys | flagDangerous, group: "server", summary: "Server information", run: cmdInfo},
		{name: "command", arity: -1, subs: []string{"count", "list", "info", "docs"}, group: "server", summary: "Command table introspection", run: cmdCommand},
		{name: "acl", arity: -2, flags: flagNoSlowlog | flagAdmin | flagNoScript, subs: []string{"cat", "deluser", "dryrun", "getuser", "genpass", "list", "load", "save", "setuser", "users", "whoami", "log", "help"}, group: "server", summary: "Users and their permissions", run: cmdACL},
		{name: "config", arity: -2, flags: flagAdmin | flagNoScript, subs: []string{"get", "set", "resetstat"}, group: "server", summary: "Read configuration", run: cmdConfig},
		{name: "time", arity: 1, group: "server", summary: "Server time", run: cmdTime},
		{name: "save", arity: 1, flags: flagAdmin | flagNoMulti | flagNoScript, group: "server", summary: "Write a snapshot and wait for it", run: cmdSave},
		{name: "bgsave", arity: -1, flags: flagAdmin | flagNoScript, group: "server", summary: "Write a snapshot in the background", run: cmdBgsave},
		{name: "lastsave", arity: 1, group: "server", summary: "Unix time of the last successful snapshot", run: cmdLastsave},
		{name: "shutdown", arity: -1, flags: flagAdmin | flagNoMulti | flagNoScript, group: "server", summary: "Stop the server", run: cmdShutdown},
		{name: "cluster", arity: -2, flags: flagNoScript, group: "cluster", summary: "Cluster introspection from the live slot map", run: cmdCluster,
			subs: []string{"slots", "shards", "nodes", "info", "myid", "keyslot", "countkeysinslot", "getkeysinslot", "help"}},
		{name: "readonly", arity: 1, group: "cluster", summary: "Cluster read mode (OK: every node answers reads)", run: cmdClusterOK},
		{name: "readwrite", arity: 1, group: "cluster", summary: "Cluster read mode (OK)", run: cmdClusterOK},
		{name: "asking", arity: 1, group: "cluster", summary: "Cluster ASK redirection (OK: this node forwards)", run: cmdClusterOK},
		{name: "rl.peer", arity: 2, flags: flagNoAuth | flagNoMulti | flagNoScript, group: "internal", summary: "Authenticate a cluster peer", run: cmdPeer},
		{name: "rl.import", arity: 3, flags: flagNoAuth | flagNoMulti | flagNoScript, group: "internal", summary: "A slot handoff step from a cluster peer", run: cmdImport},
		{name: "rl.counters", arity: -5, flags: flagWrite | flagDenyOOM | flagNoMulti | flagNoScript, group: "internal", summary: "Run rule counters for a cluster peer's check", run: cmdRuleCounters},
		{name: "rl.fwd", arity: -5, flags: flagNoAuth | flagTxControl | flagNoScript, group: "internal", summary: "A command forwarded by a cluster peer", run: cmdForward},
	}
	m := make(map[string]*command, len(cmds))
	for i, c := range cmds {
		c.id = i
		m[c.name] = c
		if len(c.subs) > 0 {
			c.subNames = make(map[string]*string, len(c.subs))
			for _, sub := range c.subs {
				full := c.name + "|" + sub
				c.subNames[sub] = &full
			}
		}
	}
	return m
}
