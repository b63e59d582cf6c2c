"""Drives a 3-node --cluster-redirect rlserver cluster with redis-py's
RedisCluster (Debian python3-redis 4.3): slots from CLUSTER SLOTS, key
positions from COMMAND, MOVED followed. Prints ok."""
import sys

from redis.cluster import ClusterNode, RedisCluster

ports = [int(p) for p in sys.argv[1:]]
rc = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", p) for p in ports])
assert len(rc.get_nodes()) == 3, rc.get_nodes()
assert rc.keyslot("foo") == 12182
served = {n.port for n in rc.get_nodes()}
assert served == set(ports), served

# Each key admits exactly its limit (max_burst 1: two calls) wherever its
# slot is served; calls go straight to the owner.
keys = ["py-cluster:%d" % i for i in range(300)]
allowed = {k: 0 for k in keys}
for _ in range(3):
    for k in keys:
        r = rc.execute_command("CL.THROTTLE", k, 1, 1, 3600)
        if r[0] == 0:
            allowed[k] += 1
assert all(v == 2 for v in allowed.values()), [k for k, v in allowed.items() if v != 2][:5]

# A cluster pipeline splits by node and keeps the order of replies.
pipe = rc.pipeline()
for k in keys[:50]:
    pipe.execute_command("CL.THROTTLE", k, 1, 1, 3600)
    pipe.ttl(k)
res = pipe.execute()
assert all(r[0] == 1 for r in res[0::2]), res[:4]
assert all(7190 <= t <= 7200 for t in res[1::2]), res[:4]

# Keys sharing a hash tag share a slot and a node.
assert rc.keyslot("{user1000}.a") == rc.keyslot("{user1000}.b")
assert rc.execute_command("CL.THROTTLE", "{user1000}.a", 0, 1, 60)[0] == 0
assert rc.exists("{user1000}.a", "{user1000}.b") == 1
assert rc.delete(*keys[:100]) == 100
assert rc.exists(*keys[:100]) == 0
print("ok")
