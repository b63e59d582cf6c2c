#!/usr/bin/env bash
# p99 latency of CL.THROTTLE with 1M keys in the store, without and while
# snapshots are being written (BGSAVE issued back to back during the run).
#
#   bench/snapshot_p99.sh [keys]          # BGSAVE back to back (worst case)
#   GAP=1 bench/snapshot_p99.sh           # one BGSAVE a second
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
go build -o "$out/rlserver" ./cmd/rlserver
port=${PORT:-17201}
keys=${1:-1000000}
N=${N:-300000}
dir=$(mktemp -d)
"$out/rlserver" --port "$port" --data-dir "$dir" --snapshot-interval 0 --log-level warn &
pid=$!
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.1; done
awk -v n="$keys" 'BEGIN { for (i = 0; i < n; i++) { k = "key:" i; printf "*6\r\n$11\r\nCL.THROTTLE\r\n$%d\r\n%s\r\n$1\r\n9\r\n$1\r\n1\r\n$4\r\n3600\r\n$1\r\n1\r\n", length(k), k } }' |
  redis-cli -p "$port" --pipe >/dev/null

bench() { redis-benchmark -p "$port" -c 50 -n "$N" -r "$keys" -P 1 --csv CL.THROTTLE key:__rand_int__ 9 1 3600 1 | tail -1; }
p99() { awk -F'","' '{print $7}'; }

quiet=$(bench | p99)
( while kill -0 $pid 2>/dev/null && [ ! -f "$dir/stop" ]; do
    redis-cli -p "$port" BGSAVE >/dev/null 2>&1 || true
    sleep "${GAP:-0.01}"
  done ) &
saver=$!
busy=$(bench | p99)
touch "$dir/stop"; wait $saver 2>/dev/null || true
saves=$(redis-cli -p "$port" INFO persistence | awk -F: '/rdb_saves/{print $2}' | tr -d '\r')
echo "| keys | p99 without snapshots (ms) | p99 during snapshots (ms) | snapshots written during the run |"
echo "|---|---|---|---|"
echo "| $keys | $quiet | $busy | $saves |"
