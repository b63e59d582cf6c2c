// Drives a 3-node rlserver cluster (--cluster-redirect or forwarding)
// with ioredis's Cluster: slots from CLUSTER SLOTS, MOVED followed,
// pipelines split by node. Prints "ok" on success.
//
// ioredis finds keys only for the commands of its built-in list
// (@ioredis/commands): those go straight to the slot's node, which the
// script checks through each node's INFO cluster counters. Others
// (CL.THROTTLE) go to any node, which follows MOVED or forwards.
const Redis = require("ioredis");

async function main() {
  const ports = process.argv.slice(2).map(Number);
  const c = new Redis.Cluster(ports.map((port) => ({ host: "127.0.0.1", port })), {
    redisOptions: { maxRetriesPerRequest: 2 },
  });
  const check = (cond, msg) => { if (!cond) throw new Error(msg); };
  await new Promise((resolve, reject) => { c.once("ready", resolve); c.once("error", reject); });
  const masters = c.nodes("master").map((n) => n.options.port).sort();
  check(JSON.stringify(masters) === JSON.stringify([...ports].sort()), "masters: " + masters);

  // Commands forwarded or redirected by all nodes, read on direct connections.
  const direct = ports.map((port) => new Redis({ port, host: "127.0.0.1", lazyConnect: true }));
  const misrouted = async () => {
    let n = 0;
    for (const d of direct) {
      const info = await d.info("cluster");
      for (const f of ["cluster_forwarded", "cluster_redirected"]) {
        n += Number(info.match(new RegExp("^" + f + ":(\\d+)", "m"))[1]);
      }
    }
    return n;
  };
  const before = await misrouted();

  // Commands ioredis knows the keys of reach the slot's node directly.
  const keys = Array.from({ length: 300 }, (_, i) => "ioredis-cluster:" + i);
  for (let round = 0; round < 3; round++) {
    await Promise.all(keys.map((k) => c.incr(k)));
  }
  const counts = await Promise.all(keys.map((k) => c.get(k)));
  check(counts.every((v) => v === "3"), "INCR counts: " + counts.slice(0, 5));
  const script = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
  const evals = await Promise.all(keys.slice(0, 100).map((k) => c.eval(script, 1, k, 10)));
  check(evals.every((v) => v === 13), "EVAL: " + evals.slice(0, 5));
  check((await c.del(keys[0])) === 1 && (await c.exists(keys[0])) === 0, "del");
  const tag = "{ioredis-tag}";
  const tx = await c.multi().incr(tag + "n").incr(tag + "n").get(tag + "n").exec();
  check(JSON.stringify(tx) === JSON.stringify([[null, 1], [null, 2], [null, "2"]]), "multi: " + JSON.stringify(tx));
  const straight = (await misrouted()) - before;
  check(straight === 0, straight + " commands with known keys were forwarded or redirected");

  // CL.THROTTLE: each key admits exactly its limit (max_burst 1: two
  // calls), wherever ioredis sends it.
  const allowed = new Map(keys.map((k) => [k, 0]));
  for (let round = 0; round < 3; round++) {
    const replies = await Promise.all(keys.map((k) => c.call("CL.THROTTLE", "t" + k, "1", "1", "3600")));
    replies.forEach((r, i) => { if (r[0] === 0) allowed.set(keys[i], allowed.get(keys[i]) + 1); });
  }
  const wrong = keys.filter((k) => allowed.get(k) !== 2);
  check(wrong.length === 0, "keys not at their limit: " + wrong.slice(0, 5));

  // A pipeline of one slot's keys.
  const p = await c.pipeline()
    .call("CL.THROTTLE", tag + "a", "0", "1", "60")
    .call("CL.THROTTLE", tag + "a", "0", "1", "60")
    .ttl(tag + "a")
    .exec();
  const vals = p.map(([err, v]) => { if (err) throw err; return v; });
  check(vals[0][0] === 0 && vals[1][0] === 1 && vals[2] > 0, "pipeline: " + JSON.stringify(vals));

  await c.quit();
  for (const d of direct) d.disconnect();
  console.log("ok");
}

main().catch((e) => { console.error(e); process.exit(1); });
