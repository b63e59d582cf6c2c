// Drives rlserver with ioredis (default options): handshake, CL.THROTTLE,
// a pipeline, MULTI/EXEC and an error reply. Prints "ok" on success.
const Redis = require("ioredis");

async function main() {
  const port = Number(process.argv[2]);
  const key = "ioredis:" + process.pid;
  const r = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1 });
  const check = (cond, msg) => { if (!cond) throw new Error(msg); };

  const first = await r.call("CL.THROTTLE", key, "2", "1", "60", "1");
  check(JSON.stringify(first) === "[0,3,2,-1,60]", "first: " + JSON.stringify(first));

  const p = await r.pipeline()
    .call("CL.THROTTLE", key, "2", "1", "60", "1")
    .call("CL.THROTTLE", key, "2", "1", "60", "1")
    .call("CL.THROTTLE", key, "2", "1", "60", "1")
    .exec();
  const limited = p.map(([err, v]) => { if (err) throw err; return v[0]; });
  check(JSON.stringify(limited) === "[0,0,1]", "pipeline: " + JSON.stringify(limited));

  const tx = await r.multi().call("CL.THROTTLE", key + ":tx", "0", "1", "60").get(key + ":tx").exec();
  check(tx[0][1][0] === 0 && /^\d{19}$/.test(tx[1][1]), "multi: " + JSON.stringify(tx));

  let err = null;
  try { await r.call("CL.THROTTLE", key, "x", "1", "60"); } catch (e) { err = e; }
  check(err && err.message === "Cell error: Store error: Couldn't parse as integer: x", "error: " + err);

  check((await r.ping()) === "PONG", "ping after error");
  await r.quit();
  console.log("ok");
}

main().catch((e) => { console.error(e); process.exit(1); });
