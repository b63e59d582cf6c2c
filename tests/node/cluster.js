// Drives a 3-node --cluster-redirect rlserver cluster with ioredis's
// Cluster: slots from CLUSTER SLOTS, MOVED followed, pipelines split by
// node. Prints "ok" on success.
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

  // Each key admits exactly its limit (max_burst 1: two calls), wherever
  // its slot is served.
  const keys = Array.from({ length: 300 }, (_, i) => "ioredis-cluster:" + i);
  const allowed = new Map(keys.map((k) => [k, 0]));
  for (let round = 0; round < 3; round++) {
    const replies = await Promise.all(keys.map((k) => c.call("CL.THROTTLE", k, "1", "1", "3600")));
    replies.forEach((r, i) => { if (r[0] === 0) allowed.set(keys[i], allowed.get(keys[i]) + 1); });
  }
  const wrong = keys.filter((k) => allowed.get(k) !== 2);
  check(wrong.length === 0, "keys not at their limit: " + wrong.slice(0, 5));

  // A pipeline of keys of one slot goes to its node in one batch.
  const tag = "{ioredis-tag}";
  const p = await c.pipeline()
    .call("CL.THROTTLE", tag + "a", "0", "1", "60")
    .call("CL.THROTTLE", tag + "a", "0", "1", "60")
    .ttl(tag + "a")
    .exec();
  const vals = p.map(([err, v]) => { if (err) throw err; return v; });
  check(vals[0][0] === 0 && vals[1][0] === 1 && vals[2] > 0, "pipeline: " + JSON.stringify(vals));

  // MULTI on one slot.
  const tx = await c.multi().call("CL.THROTTLE", tag + "b", "0", "1", "60").get(tag + "b").exec();
  check(tx[0][1][0] === 0 && /^\d{19}$/.test(tx[1][1]), "multi: " + JSON.stringify(tx));

  check((await c.del(keys[0])) === 1 && (await c.exists(keys[0])) === 0, "del");
  await c.quit();
  console.log("ok");
}

main().catch((e) => { console.error(e); process.exit(1); });
