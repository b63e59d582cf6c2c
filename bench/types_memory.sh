#!/usr/bin/env bash
# Bytes per list element and per hash field, rlserver vs Redis 7: loads a
# workload into a fresh server (redis-cli --pipe) and divides the growth of
# INFO memory's used_memory and of the process's RSS by the elements (or
# fields) loaded.
#
#   flock /work/wt/.bench.lock bench/types_memory.sh
#
# Workloads: the lists limits' moving window keeps (10,000 keys of 100
# timestamps such as 1764763200.1234567, 18 bytes), long lists (100 keys of
# 10,000 such elements), token buckets in hashes (500,000 keys of two
# fields, tokens and ts) and large hashes (10 keys of 100,000 fields).
# rlserver's used_memory is its logical size (what --maxmemory compares
# with); Redis's is its allocator's count. RSS is the comparable figure.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
go build -o "$out/rlserver" ./cmd/rlserver
port=${PORT:-17112}

rss() { awk '/VmRSS/{print $2*1024}' "/proc/$1/status"; }
used() { redis-cli -p "$port" INFO memory | awk -F: '/^used_memory:/{print $2+0}'; }

load() { # workload keys per
  awk -v kind="$1" -v keys="$2" -v per="$3" 'BEGIN {
    for (k = 0; k < keys; k++) {
      key = kind ":" k
      for (i = 0; i < per; i += 100) {
        n = (per - i < 100) ? per - i : 100
        if (kind == "list") {
          printf "*%d\r\n$5\r\nLPUSH\r\n$%d\r\n%s\r\n", 2 + n, length(key), key
          for (j = 0; j < n; j++) { v = sprintf("%d.%07d", 1764763200 + k, i + j); printf "$%d\r\n%s\r\n", length(v), v }
        } else if (kind == "bucket") {
          v = sprintf("%d.%03d", 1764763200 + k, k % 1000)
          printf "*6\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n$6\r\ntokens\r\n$2\r\n42\r\n$2\r\nts\r\n$%d\r\n%s\r\n", length(key), key, length(v), v
        } else {
          printf "*%d\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n", 2 + 2 * n, length(key), key
          for (j = 0; j < n; j++) { f = sprintf("field:%d", i + j); v = sprintf("%d", (i + j) * 7); printf "$%d\r\n%s\r\n$%d\r\n%s\r\n", length(f), f, length(v), v }
        }
      }
    }
  }' | redis-cli -p "$port" --pipe >/dev/null
}

measure() { # server workload keys per count-label
  local name=$1 kind=$2 keys=$3 per=$4 pid
  if [ "$name" = rlserver ]; then
    "$out/rlserver" --port "$port" --log-level warn --data-dir '' --http-addr '' & pid=$!
  else
    redis-server --port "$port" --save "" --appendonly no --bind 127.0.0.1 --loglevel warning >/dev/null & pid=$!
  fi
  for _ in $(seq 100); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.1; done
  local rb ub ra ua n
  rb=$(rss "$pid"); ub=$(used)
  load "$kind" "$keys" "$per"
  sleep 1
  ra=$(rss "$pid"); ua=$(used)
  case $kind in
    list) n=$(redis-cli -p "$port" LLEN list:0) ;;
    *) n=$(redis-cli -p "$port" HLEN "$kind:0") ;;
  esac
  redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || kill "$pid"
  wait "$pid" 2>/dev/null || true
  local per_key=$per
  [ "$kind" = bucket ] && per_key=2
  awk -v name="$name" -v kind="$kind" -v keys="$keys" -v per="$per_key" -v rb="$rb" -v ra="$ra" -v ub="$ub" -v ua="$ua" \
    'BEGIN { m = keys * per; printf "| %s | %s | %d x %d | %.1f | %.1f |\n", name, kind, keys, per, (ua - ub) / m, (ra - rb) / m }'
  [ "$n" = "$per_key" ] || echo "warning: $kind:0 holds $n, expected $per_key" >&2
}

echo "| server | workload | keys x elements | used_memory B/element | RSS B/element |"
echo "|---|---|---|---|---|"
for w in "list 10000 100" "list 100 10000" "bucket 500000 1" "hash 10 100000"; do
  set -- $w
  measure rlserver "$1" "$2" "$3"
  measure redis "$1" "$2" "$3"
done
