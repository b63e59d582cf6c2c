#!/usr/bin/env bash
# Server CPU per limiter call of real rate-limiting libraries, rlserver vs
# Redis 7: each library is driven through its own API (1,000 keys, never
# limited, so every call writes) by one caller (-P 1) and by 50 concurrent
# callers on 50 connections, and the server's utime+stime (/proc/PID/stat)
# over the run is divided by the calls. Each cell is repeated and reported
# as median (min-max).
#
#   flock /work/wt/.bench.lock bench/libraries.sh
#
# Libraries: go-redis/redis_rate v10 (bench/libcpu), rate-limiter-flexible
# RateLimiterRedis on ioredis (EVALSHA) and on node-redis (EVAL with the
# script text on every call), and rate-limit-redis's store (the call
# express-rate-limit makes per request), from tests/node (npm ci there).
# bench/lua.sh measures the same scripts sent by redis-benchmark; this one
# measures what the libraries really send. The sliding-log libraries
# ratelimiter and rolling-rate-limiter (ioredis) need no script: each call
# is a MULTI of sorted-set commands. Python's limits 2.8 (Debian
# python3-limits; bench/limits_cpu.py, threads on redis-py's pool) runs its
# fixed window (a Lua INCRBY+EXPIRE) and its moving window (a Lua list:
# LINDEX, LPUSH, LTRIM, EXPIRE); Python drives fewer calls (a quarter) as it
# is slower on the client side. LIBS="a b" picks libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
go build -o "$out/rlserver" ./cmd/rlserver
go build -o "$out/libcpu" ./bench/libcpu
port=${PORT:-17121}
reps=${REPS:-3}
calls1=${CALLS1:-20000}
calls50=${CALLS50:-60000}
tck=$(getconf CLK_TCK)

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start() {
  if [ "$1" = rlserver ]; then
    "$out/rlserver" --port "$port" --log-level warn --data-dir '' --http-addr '' & pid=$!
  else
    redis-server --port "$port" --save "" --appendonly no --bind 127.0.0.1 --loglevel warning >/dev/null & pid=$!
  fi
  for _ in $(seq 100); do redis-cli -p "$port" PING >/dev/null 2>&1 && return; sleep 0.1; done
  echo "server did not start" >&2; exit 1
}

drive() { # lib calls conc
  case $1 in
    redis_rate) "$out/libcpu" -addr "127.0.0.1:$port" -lib redis_rate -calls "$2" -conc "$3" ;;
    limits/*) /usr/bin/python3 bench/limits_cpu.py "$port" "${1#limits/}" "$2" "$3" ;;
    *) (cd tests/node && node libs.js bench "$1" "$port" "$2" "$3") ;;
  esac
}

echo "| library | server | callers | server CPU µs/call, median (min-max) | calls/s |"
echo "|---|---|---|---|---|"
for lib in ${LIBS:-redis_rate rate-limiter-flexible/ioredis rate-limiter-flexible/node-redis rate-limit-redis/store ratelimiter/ioredis rolling-rate-limiter/ioredis limits/fixed-window limits/moving-window}; do
  for conc in 1 50; do
    calls=$calls1
    [ "$conc" = 50 ] && calls=$calls50
    case $lib in limits/*) calls=$((calls / 4)) ;; esac
    for server in rlserver redis; do
      start "$server"
      drive "$lib" 2000 "$conc" >/dev/null # warm-up: scripts loaded, connections open
      results=()
      rates=()
      for _ in $(seq "$reps"); do
        c0=$(cpu "$pid")
        res=$(drive "$lib" "$calls" "$conc")
        c1=$(cpu "$pid")
        results+=("$(awk -v d=$((c1 - c0)) -v t="$tck" -v n="$calls" 'BEGIN { printf "%.2f", d / t * 1e6 / n }')")
        rates+=("$(echo "$res" | sed 's/.*"seconds":\([0-9.e+-]*\).*/\1/' | awk -v n="$calls" '{ printf "%.0f", n / $1 }')")
      done
      redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || kill "$pid"
      wait "$pid" 2>/dev/null || true
      sorted=$(printf '%s\n' "${results[@]}" | sort -g)
      med=$(echo "$sorted" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
      lo=$(echo "$sorted" | head -1)
      hi=$(echo "$sorted" | tail -1)
      rate=$(printf '%s\n' "${rates[@]}" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
      echo "| $lib | $server | $conc | $med ($lo-$hi) | $rate |"
    done
  done
done
