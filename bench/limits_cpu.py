"""Drives Python's limits library (Debian python3-limits 2.8) for
bench/libraries.sh: CALLS hits of one strategy over 1,000 keys that are
never limited (so every call writes), from CONC threads sharing one
RedisStorage (redis-py's connection pool: one connection per busy thread).
Prints {"seconds": wall time}.

usage: limits_cpu.py PORT STRATEGY CALLS CONC
"""
import json
import sys
import threading
import time

import limits
from limits import strategies
from limits.storage import RedisStorage

port, name, calls, conc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
storage = RedisStorage("redis://127.0.0.1:%s" % port)
lim = {
    "fixed-window": strategies.FixedWindowRateLimiter,
    "moving-window": strategies.MovingWindowRateLimiter,
}[name](storage)
item = limits.parse("1000000/hour")


def work(first, n):
    for i in range(first, first + n):
        if not lim.hit(item, "bench", str(i % 1000)):
            raise SystemExit("a call was limited")


start = time.time()
threads = [threading.Thread(target=work, args=(t * (calls // conc), calls // conc)) for t in range(conc)]
for th in threads:
    th.start()
for th in threads:
    th.join()
print(json.dumps({"seconds": time.time() - start}, separators=(",", ":")))
