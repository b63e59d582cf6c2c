#!/usr/bin/env bash
# Crash survival (issue 10): the failover tests of tests/failover_test.go
# run one at a time on FAILOVER_KEYS idle keys (used up to their limit
# before the crash) and as many busy keys (CL.THROTTLE from 4 pipelined
# clients through the two surviving nodes), real processes on 127.0.0.1,
# default (fast) gossip profile, --forward-timeout 10s (a killed node refuses connections at once; the timeout only matters for stalls).
#
#   flock /work/wt/.bench.lock bench/failover.sh        # about 2 minutes
#   ROUNDS=1 KEYS=1000 bench/failover.sh                 # quick look
#
# Per round it prints the tests' result lines:
#   replicas N: calls and client errors; "failover": kill -9 until both
#   survivors list 2 members (their slot maps moved); "last policy answer":
#   the last unreachable-owner decision; the dead node's idle keys (and
#   how many were reset) and busy keys ("admitted calls lost": calls the
#   clients were told were allowed that the new owner's state does not
#   show, i.e. the over-admission a client could get); the replication lag
#   (change to acknowledgement) the victim measured before the kill.
#   kill 1/2: the same failover time for two kills one after the other on
#   4 nodes, and how many keys survived both.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
KEYS=${KEYS:-10000}
echo "# $(date -u +%F) $(nproc) cores, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ //'); load $(cut -d' ' -f1-3 /proc/loadavg); $KEYS idle + $KEYS busy keys"
go test -c -o bench/out/tests.test ./tests >/dev/null 2>&1 || { mkdir -p bench/out; go test -c -o bench/out/tests.test ./tests; }
for r in $(seq "$ROUNDS"); do
  for t in TestFailoverKillReplicas1 TestFailoverKillReplicas0 TestFailoverTwoKills; do
    (cd tests && FAILOVER_GOSSIP=${GOSSIP:-fast} FAILOVER_KEYS=$KEYS ../bench/out/tests.test -test.run "^$t\$" -test.count=1 -test.v) |
      grep -E 'replicas [01]:|kill [12]:|after two kills|^--- (PASS|FAIL)' | sed "s/^ *failover_test.go:[0-9]*: /round $r: /"
  done
done
