// Drives one rate-limiting library, through its own API, against the Redis
// server at 127.0.0.1:<port>, and prints what it admitted as one JSON line.
// tests/libraries_test.go runs it against rlserver and against Redis 7 and
// requires the same output from both.
//
//   node libs.js <scenario> <port>
//
// Every scenario runs the same three phases on fresh keys:
//   seq:        limit 5 per 10 s, 7 calls one after another
//   concurrent: limit 10 per 10 s, 50 callers at once over 5 connections
//   expiry:     limit 2 per 2 s, 3 calls, then (once the window has passed)
//               one more, and whether the limiter's key still exists
// A scenario is a factory: make(clients, {id, limit, windowMs}) returns an
// async function performing one call and resolving to {allowed, remaining}.

const http = require("node:http");

const scenarios = {
  "ratelimiter/ioredis": {
    client: "ioredis",
    key: (id) => "limit:" + id,
    make(clients, { id, limit, windowMs }) {
      const Limiter = require("ratelimiter");
      let i = 0;
      return () =>
        new Promise((resolve, reject) => {
          const db = clients[i++ % clients.length];
          new Limiter({ id, db, max: limit, duration: windowMs }).get((err, info) => {
            if (err) return reject(err);
            resolve({ allowed: info.remaining > 0, remaining: info.remaining });
          });
        });
    },
  },
  "rolling-rate-limiter/ioredis": {
    client: "ioredis",
    key: (id) => "rolling:" + id,
    make(clients, opts) {
      const { IORedisRateLimiter } = require("rolling-rate-limiter");
      return rolling(clients.map((client) => new IORedisRateLimiter({ client, namespace: "rolling:", interval: opts.windowMs, maxInInterval: opts.limit })), opts);
    },
  },
  "rolling-rate-limiter/node-redis": {
    client: "node-redis",
    key: (id) => "rolling:" + id,
    make(clients, opts) {
      const { NodeRedisRateLimiter } = require("rolling-rate-limiter");
      return rolling(clients.map((client) => new NodeRedisRateLimiter({ client, namespace: "rolling:", interval: opts.windowMs, maxInInterval: opts.limit })), opts);
    },
  },
  "async-ratelimiter/ioredis": {
    client: "ioredis",
    key: (id) => "limit:" + id,
    make(clients, { id, limit, windowMs }) {
      const RateLimiter = require("async-ratelimiter");
      const limiters = clients.map((db) => new RateLimiter({ db, max: limit, duration: windowMs }));
      let i = 0;
      return async () => {
        const info = await limiters[i++ % limiters.length].get({ id });
        return { allowed: info.remaining > 0, remaining: info.remaining };
      };
    },
  },
  "rate-limiter-flexible/ioredis": {
    client: "ioredis",
    key: (id) => "rlflx:" + id,
    make: (clients, opts) => flexible(clients, opts, {}),
  },
  "rate-limiter-flexible/node-redis": {
    client: "node-redis",
    key: (id) => "rlflx:" + id,
    make: (clients, opts) => flexible(clients, opts, { useRedisPackage: true }),
  },
  // The store's own API, as express-rate-limit calls it per request (the
  // benchmark uses it to leave HTTP out of the measurement).
  "rate-limit-redis/store": {
    client: "ioredis",
    key: (id) => "rl:" + id,
    make(clients, { id, limit, windowMs }) {
      const { RedisStore } = require("rate-limit-redis");
      const store = new RedisStore({ sendCommand: (...args) => clients[0].call(...args) });
      store.init({ windowMs });
      return async () => {
        const { totalHits } = await store.increment(id);
        return { allowed: totalHits <= limit, remaining: Math.max(limit - totalHits, 0) };
      };
    },
  },
  "rate-limit-redis/express": {
    client: "ioredis",
    key: (id) => "rl:" + id,
    make: expressApp,
  },
};

function flexible(clients, { id, limit, windowMs }, extra) {
  const { RateLimiterRedis } = require("rate-limiter-flexible");
  const limiters = clients.map(
    (storeClient) => new RateLimiterRedis({ storeClient, keyPrefix: "rlflx", points: limit, duration: windowMs / 1000, ...extra }),
  );
  let i = 0;
  return async () => {
    try {
      const res = await limiters[i++ % limiters.length].consume(id);
      return { allowed: true, remaining: res.remainingPoints };
    } catch (rej) {
      if (rej instanceof Error) throw rej;
      return { allowed: false, remaining: rej.remainingPoints };
    }
  };
}

// expressApp serves an express app limited by express-rate-limit with
// rate-limit-redis as its store on 127.0.0.1, and calls it over HTTP.
const servers = [];
function expressApp(clients, { id, limit, windowMs }) {
  const express = require("express");
  const { rateLimit } = require("express-rate-limit");
  const { RedisStore } = require("rate-limit-redis");
  let i = 0;
  const app = express();
  app.use(
    rateLimit({
      windowMs,
      limit,
      standardHeaders: "draft-6",
      legacyHeaders: false,
      keyGenerator: () => id,
      validate: false,
      store: new RedisStore({ sendCommand: (...args) => clients[i++ % clients.length].call(...args) }),
    }),
  );
  app.get("/", (req, res) => res.send("ok"));
  const listening = new Promise((resolve) => {
    const srv = app.listen(0, "127.0.0.1", () => resolve(srv));
    servers.push(srv);
  });
  return async () => {
    const srv = await listening;
    const res = await fetch(`http://127.0.0.1:${srv.address().port}/`);
    await res.text();
    return { allowed: res.status === 200, status: res.status, remaining: Number(res.headers.get("ratelimit-remaining")) };
  };
}

function rolling(limiters, { id }) {
  let i = 0;
  return async () => {
    const info = await limiters[i++ % limiters.length].limitWithInfo(id);
    return { allowed: !info.blocked, remaining: info.actionsRemaining };
  };
}

async function connect(kind, port) {
  if (kind === "ioredis") {
    const Redis = require("ioredis");
    const c = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1, lazyConnect: true });
    await c.connect();
    return { client: c, exists: (k) => c.exists(k), close: () => c.quit() };
  }
  const { createClient } = require("redis");
  const c = createClient({ socket: { host: "127.0.0.1", port, reconnectStrategy: false } });
  c.on("error", () => {});
  await c.connect();
  return { client: c, exists: (k) => c.exists(k), close: () => c.quit() };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// bench drives calls limiter calls (over 1,000 keys, never limited) from
// conc callers, each on its own connection, and prints the wall time; the
// benchmark script reads the server's CPU time around it.
async function bench(name, port, calls, conc) {
  const sc = scenarios[name];
  if (!sc) throw new Error("unknown scenario " + name);
  const conns = [];
  for (let i = 0; i < conc; i++) conns.push(await connect(sc.client, port));
  const run = "b" + process.pid;
  const perKey = [];
  for (let k = 0; k < 1000; k++) perKey.push(sc.make([conns[k % conc].client], { id: run + ":" + k, limit: 1e9, windowMs: 600000 }));
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    conns.map(async (_, c) => {
      for (;;) {
        const i = next++;
        if (i >= calls) return;
        const r = await perKey[(i * conc + c) % 1000]();
        if (!r.allowed) throw new Error("limited during the benchmark");
      }
    }),
  );
  const ns = Number(process.hrtime.bigint() - start);
  for (const srv of servers) {
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  }
  for (const c of conns) await c.close();
  console.log(JSON.stringify({ calls, conc, seconds: ns / 1e9 }));
}

async function main() {
  if (process.argv[2] === "bench") {
    const [name, port, calls, conc] = process.argv.slice(3);
    return bench(name, Number(port), Number(calls), Number(conc));
  }
  const [name, portArg] = process.argv.slice(2);
  const sc = scenarios[name];
  if (!sc) throw new Error("unknown scenario " + name);
  const port = Number(portArg);
  const conns = [];
  for (let i = 0; i < 5; i++) conns.push(await connect(sc.client, port));
  const clients = conns.map((c) => c.client);
  const run = "r" + process.pid + "x" + Date.now();
  const out = {};

  const seq = sc.make(clients.slice(0, 1), { id: run + ":seq", limit: 5, windowMs: 10000 });
  out.seq = [];
  for (let i = 0; i < 7; i++) out.seq.push(await seq());

  const conc = sc.make(clients, { id: run + ":conc", limit: 10, windowMs: 10000 });
  const results = await Promise.all(Array.from({ length: 50 }, () => conc()));
  out.concurrent = results.filter((r) => r.allowed).length;

  // Long enough that three calls fit in it on a loaded machine.
  const windowMs = 2000;
  const exp = sc.make(clients.slice(0, 1), { id: run + ":exp", limit: 2, windowMs });
  out.expiry = { before: [] };
  for (let i = 0; i < 3; i++) out.expiry.before.push((await exp()).allowed);
  // The window is the behaviour under test: let it pass, counted from the
  // last call (sliding logs and TTLs renewed per call start there).
  await sleep(windowMs + 300);
  out.expiry.existsBeforeNextCall = await conns[0].exists(sc.key(run + ":exp"));
  out.expiry.after = (await exp()).allowed;

  for (const srv of servers) {
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  }
  for (const c of conns) await c.close();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
