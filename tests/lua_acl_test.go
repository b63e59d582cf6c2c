package tests

import (
	"strings"
	"testing"
)

// The users both servers run with in luaACLScript: one denied some
// commands, one limited to some keys.
var luaACLUsers = []string{
	"--user", "lim on >l ~* +@all -incr -flushall",
	"--user", "kr on >k ~rl:* %R~ro:* +@all",
}

// luaACLScript is redis.call, redis.pcall and redis.acl_check_cmd under
// ACL users (Redis words these denials differently from the dispatcher's
// NOPERM), and EVAL's own key check (EVAL needs read and write access to
// its declared keys, EVAL_RO read access).
const luaACLScript = `
a: AUTH lim l
a: EVAL "return redis.call('incr','x')" 0
a: EVAL "return redis.pcall('incr','x')" 0
a: EVAL "local r = redis.pcall('incr','x'); return type(r) .. ' ' .. r.err" 0
a: EVAL_RO "return redis.call('incr','x')" 0
a: EVAL_RO "return redis.call('set','x','1')" 0
a: EVAL "return redis.call('set','x','1')" 0
a: EVAL "return redis.call('client','id')" 0
a: EVAL "return {redis.acl_check_cmd('incr','x'), redis.acl_check_cmd('set','x','1'), redis.acl_check_cmd('get'), redis.acl_check_cmd('FLUSHALL')}" 0
a: EVAL "return tostring(redis.acl_check_cmd('incr'))" 0
a: EVAL "return redis.acl_check_cmd('nosuch')" 0
a: EVAL "return redis.acl_check_cmd('client','nosuch')" 0
a: EVAL "return redis.acl_check_cmd('client','id')" 0
a: EVAL "return redis.acl_check_cmd(1)" 0
a: EVAL "return redis.acl_check_cmd()" 0
a: EVAL "return redis.acl_check_cmd('set', {})" 0
a: EVAL "return pcall(redis.acl_check_cmd, 'nosuch')" 0
b: AUTH kr k
b: EVAL "return redis.call('set','rl:a','1')" 0
b: EVAL "return redis.call('set','other','1')" 0
b: EVAL "return redis.pcall('get','other')" 0
b: EVAL "return redis.call('get','ro:1')" 0
b: EVAL "return redis.call('set','ro:1','1')" 0
b: EVAL "return redis.call('mget','rl:a','ro:1','other')" 0
b: EVAL "return 1" 1 rl:a
b: EVAL "return 1" 1 ro:1
b: EVAL "return 1" 1 other
b: EVAL_RO "return redis.call('get',KEYS[1])" 1 ro:1
b: EVAL_RO "return 1" 1 other
b: EVAL "return {redis.acl_check_cmd('set','rl:a','1'), redis.acl_check_cmd('set','ro:1','1'), redis.acl_check_cmd('get','ro:1'), redis.acl_check_cmd('get','other')}" 0
b: EVAL "return {redis.acl_check_cmd('set'), redis.acl_check_cmd('set', 1, 2), redis.acl_check_cmd('ping')}" 0
b: MULTI
b: EVAL "return redis.call('set','other','1')" 0
b: EVAL "return redis.call('set','rl:b','1')" 0
b: EXEC
b: GET other
b: ACL DRYRUN kr EVAL "return 1" 1 ro:1
`

// TestScriptACLLikeRedis replays luaACLScript against rlserver and Redis 7
// started with the same users, on both I/O models.
func TestScriptACLLikeRedis(t *testing.T) {
	t.Parallel()
	var refArgs []string
	for _, a := range luaACLUsers {
		refArgs = append(refArgs, strings.Fields(a)...)
	}
	for _, model := range ioModels {
		t.Run(model, func(t *testing.T) {
			ref := startRedisWith(t, refArgs...)
			srv := startServer(t, append([]string{"--io-model", model}, luaACLUsers...)...)
			replaySessions(t, luaACLScript, srv.Addr, ref)
		})
	}
}
