"""Drives the limits library (Debian python3-limits 2.8) and Flask-Limiter
(python3-flask-limiter 3.3) against one Redis-protocol server through
their own APIs, and prints what they decided as JSON, for a Go test to
compare between rlserver and Redis 7.

usage: limits_lib.py PORT PREFIX
"""
import json
import sys
import threading
import time

import limits
from limits import strategies
from limits.storage import RedisStorage

port, prefix = sys.argv[1], sys.argv[2]
uri = "redis://127.0.0.1:%s" % port
storage = RedisStorage(uri)
out = {"version": limits.__version__, "check": storage.check()}

STRATEGIES = {
    "fixed-window": strategies.FixedWindowRateLimiter,
    "fixed-window-elastic-expiry": strategies.FixedWindowElasticExpiryRateLimiter,
    "moving-window": strategies.MovingWindowRateLimiter,
}


for name, cls in STRATEGIES.items():
    lim = cls(storage)
    res = {}
    # 7 calls at 5 per 10 s: hit, test, remaining after each.
    item = limits.parse("5/10second")
    seq = []
    for _ in range(7):
        seq.append([lim.hit(item, prefix, name, "seq"), lim.test(item, prefix, name, "seq"),
                    lim.get_window_stats(item, prefix, name, "seq")[1]])
    res["seq"] = seq
    # A cost above one.
    res["cost"] = [lim.hit(item, prefix, name, "cost", cost=3), lim.hit(item, prefix, name, "cost", cost=3),
                   lim.hit(item, prefix, name, "cost", cost=2)]
    # clear() gives the allowance back.
    lim.clear(item, prefix, name, "seq")
    res["afterClear"] = lim.hit(item, prefix, name, "seq")
    # 50 concurrent callers at 10 per minute.
    item10 = limits.parse("10/minute")
    admitted = []
    lock = threading.Lock()

    def call():
        ok = lim.hit(item10, prefix, name, "concurrent")
        with lock:
            admitted.append(ok)
    threads = [threading.Thread(target=call) for _ in range(50)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    res["concurrent"] = sum(admitted)
    # 2 per second: the third is refused, and once the window (which
    # limits starts at the first hit) has passed the next is admitted.
    item2 = limits.parse("2/second")
    res["before"] = [lim.hit(item2, prefix, name, "expiry") for _ in range(3)]
    time.sleep(1.1)
    res["after"] = lim.hit(item2, prefix, name, "expiry")
    out[name] = res

# Windows start at the first hit in limits (none is aligned to the clock),
# so no phase depends on when it runs.

# Flask-Limiter: a route limited to 3 per 10 s under each strategy, its
# status codes and X-RateLimit-Remaining headers; then Limiter.reset(),
# which runs limits' clear_keys script (KEYS LIMITER* and DEL in Lua).
import flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

for name in STRATEGIES:
    app = flask.Flask("%s-%s" % (prefix, name))
    limiter = Limiter(get_remote_address, app=app, storage_uri=uri, strategy=name,
                      headers_enabled=True, key_prefix="%s-%s" % (prefix, name))

    @app.route("/hello")
    @limiter.limit("3 per 10 second")
    def hello():
        return "hi"

    client = app.test_client()
    calls = []
    for _ in range(5):
        r = client.get("/hello")
        calls.append([r.status_code, r.headers.get("X-RateLimit-Remaining"), r.headers.get("X-RateLimit-Limit")])
    limiter.reset()
    calls.append([client.get("/hello").status_code])
    out["flask:" + name] = calls

print(json.dumps(out, sort_keys=True))
