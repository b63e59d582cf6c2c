"""Drives rlserver with redis-py (Debian python3-redis, RESP2). Prints ok."""
import sys

import redis

r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]))
key = "redis-py:throttle"
assert r.execute_command("CL.THROTTLE", key, 2, 1, 60, 1) == [0, 3, 2, -1, 60]
pipe = r.pipeline(transaction=False)
for _ in range(3):
    pipe.execute_command("CL.THROTTLE", key, 2, 1, 60, 1)
assert [v[0] for v in pipe.execute()] == [0, 0, 1]
tx = r.pipeline(transaction=True)
tx.execute_command("CL.THROTTLE", key + ":tx", 0, 1, 60)
tx.ttl(key + ":tx")
res = tx.execute()
assert res[0][0] == 0 and 59 <= res[1] <= 60, res
try:
    r.execute_command("CL.THROTTLE", key, "x", 1, 60)
    raise SystemExit("expected an error")
except redis.ResponseError as e:
    assert str(e) == "Cell error: Store error: Couldn't parse as integer: x", str(e)
assert r.ping() is True
assert r.type(key) == b"string"
assert r.delete(key) == 1
print("ok")
