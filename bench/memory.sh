#!/usr/bin/env bash
# Bytes of RSS per limiter key: loads N distinct keys into a fresh server
# through redis-cli --pipe and divides the RSS growth by N.
#
#   bench/memory.sh 1000000 10000000
#
# rlserver: CL.THROTTLE key:<i> 9 1 3600 1 (GCRA state, 1 h TTL).
# Redis:    SET key:<i> <19-digit TAT> PX 3600000, the value and expiry
#           redis-cell leaves behind (its module cannot be built here).
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
go build -o "$out/rlserver" ./cmd/rlserver
port=${PORT:-17101}

rss() { awk '/VmRSS/{print $2*1024}' "/proc/$1/status"; }

load() { # port n command-template
  awk -v n="$2" -v kind="$3" 'BEGIN {
    for (i = 0; i < n; i++) {
      k = "key:" i
      if (kind == "rl") printf "*6\r\n$11\r\nCL.THROTTLE\r\n$%d\r\n%s\r\n$1\r\n9\r\n$1\r\n1\r\n$4\r\n3600\r\n$1\r\n1\r\n", length(k), k
      else printf "*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$19\r\n1795730179217646973\r\n$2\r\nPX\r\n$7\r\n3600000\r\n", length(k), k
    }
  }' | redis-cli -p "$1" --pipe >/dev/null
}

measure() { # name n
  local name=$1 n=$2 pid
  if [ "$name" = rlserver ]; then
    "$out/rlserver" --port "$port" --log-level warn & pid=$!
  else
    redis-server --port "$port" --save "" --appendonly no --bind 127.0.0.1 --loglevel warning >/dev/null & pid=$!
  fi
  for _ in $(seq 50); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.1; done
  local before after keys
  before=$(rss "$pid")
  if [ "$name" = rlserver ]; then load "$port" "$n" rl; else load "$port" "$n" set; fi
  sleep 1
  after=$(rss "$pid")
  keys=$(redis-cli -p "$port" DBSIZE)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  awk -v name="$name" -v n="$keys" -v b="$before" -v a="$after" \
    'BEGIN { printf "| %s | %d | %.1f MiB | %.1f |\n", name, n, (a - b) / 1048576, (a - b) / n }'
}

echo "| server | keys | RSS growth | bytes/key |"
echo "|---|---|---|---|"
for n in "${@:-1000000}"; do
  measure rlserver "$n"
  measure redis "$n"
done
