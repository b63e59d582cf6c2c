#!/usr/bin/env bash
# Bytes per sorted-set member, rlserver vs Redis 7: loads 1M members spread
# over keys of a given size into a fresh server (redis-cli --pipe, ZADD in
# batches of up to 100 members) and divides the growth of INFO memory's
# used_memory and of the process's RSS by the member count.
#
#   flock /work/wt/.bench.lock bench/zset_memory.sh [members-per-key ...]
#
# Members are what sliding-log libraries write: a 16-digit microsecond
# timestamp as both member and score (ratelimiter, async-ratelimiter), or a
# 36-character UUID with the timestamp as score (rolling-rate-limiter).
# rlserver's used_memory is its logical size (what --maxmemory compares
# with); Redis's is its allocator's count. RSS is the comparable figure.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
go build -o "$out/rlserver" ./cmd/rlserver
port=${PORT:-17111}
total=${TOTAL:-1000000}

rss() { awk '/VmRSS/{print $2*1024}' "/proc/$1/status"; }
used() { redis-cli -p "$port" INFO memory | awk -F: '/^used_memory:/{print $2+0}'; }

load() { # per-key member-kind
  awk -v total="$total" -v per="$1" -v kind="$2" 'BEGIN {
    srand(7)
    keys = int(total / per)
    t0 = 1795730160000000
    for (k = 0; k < keys; k++) {
      key = "zlog:" k
      for (i = 0; i < per; i += 100) {
        n = (per - i < 100) ? per - i : 100
        printf "*%d\r\n$4\r\nZADD\r\n$%d\r\n%s\r\n", 2 + 2 * n, length(key), key
        for (j = 0; j < n; j++) {
          ts = sprintf("%.0f", t0 + (i + j) * 1000 + k)
          if (kind == "uuid") m = sprintf("%08x-%04x-4%03x-a%03x-%012x", int(rand() * 4294967295), int(rand() * 65535), int(rand() * 4095), int(rand() * 4095), int(rand() * 281474976710655))
          else m = ts
          printf "$%d\r\n%s\r\n$%d\r\n%s\r\n", length(ts), ts, length(m), m
        }
      }
    }
  }' | redis-cli -p "$port" --pipe >/dev/null
}

measure() { # server per-key kind
  local name=$1 per=$2 kind=$3 pid
  if [ "$name" = rlserver ]; then
    "$out/rlserver" --port "$port" --log-level warn --data-dir '' --http-addr '' & pid=$!
  else
    redis-server --port "$port" --save "" --appendonly no --bind 127.0.0.1 --loglevel warning >/dev/null & pid=$!
  fi
  for _ in $(seq 100); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.1; done
  local rb ub ra ua members
  rb=$(rss "$pid"); ub=$(used)
  load "$per" "$kind"
  sleep 1
  ra=$(rss "$pid"); ua=$(used)
  members=$(redis-cli -p "$port" ZCARD zlog:0)
  redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || kill "$pid"
  wait "$pid" 2>/dev/null || true
  awk -v name="$name" -v per="$per" -v kind="$kind" -v m="$total" -v rb="$rb" -v ra="$ra" -v ub="$ub" -v ua="$ua" -v z="$members" \
    'BEGIN { printf "| %s | %s | %d | %.1f | %.1f |\n", name, kind, per, (ua - ub) / m, (ra - rb) / m }'
  [ "$members" = "$per" ] || echo "warning: zlog:0 has $members members, expected $per" >&2
}

echo "| server | member | members/key | used_memory B/member | RSS B/member |"
echo "|---|---|---|---|---|"
for per in "${@:-100 1000 100000}"; do
  for kind in ts uuid; do
    measure rlserver "$per" "$kind"
    measure redis "$per" "$kind"
  done
done
