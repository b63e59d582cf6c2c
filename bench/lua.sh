#!/usr/bin/env bash
# Server CPU per limiter-library script call, rlserver vs Redis 7, with
# redis-benchmark sending EVALSHA <sha> 1 <random key> <args>.
# CPU is utime+stime of the server process from /proc/<pid>/stat, divided
# by the calls. Run under `flock /work/wt/.bench.lock bash bench/lua.sh`.
# Scripts are the libraries' own (bench/lua/*.lua): go-redis/redis_rate v10
# allowN, rate-limiter-flexible 11.4 RateLimiterRedis, rate-limit-redis 6.0
# increment.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200000}
REPS=${REPS:-3}
go build -o /tmp/rlserver-bench ./cmd/rlserver
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
RL_PORT=$(port); RD_PORT=$(port)
/tmp/rlserver-bench --port "$RL_PORT" --data-dir '' --http-addr '' 2>/dev/null &
RL_PID=$!
redis-server --port "$RD_PORT" --save '' --appendonly no --daemonize no >/dev/null &
RD_PID=$!
trap 'kill $RL_PID $RD_PID 2>/dev/null || true' EXIT
for p in "$RL_PORT" "$RD_PORT"; do
  for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.05; done
done
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
declare -A ARGS=([redis_rate]="10 10 1 1" [rate_limiter_flexible]="1 10 5 10" [rate_limit_redis]="60000")
printf '%-24s %-6s %-10s %s\n' script clients server "µs CPU per call (runs)"
for s in redis_rate rate_limiter_flexible rate_limit_redis; do
  for c in 1 50; do
    for srv in rlserver redis; do
      if [ $srv = rlserver ]; then p=$RL_PORT; pid=$RL_PID; else p=$RD_PORT; pid=$RD_PID; fi
      sha=$(redis-cli -p "$p" script load "$(cat bench/lua/$s.lua)")
      runs=""
      for _ in $(seq "$REPS"); do
        a=$(ticks $pid)
        redis-benchmark -p "$p" -n "$N" -c "$c" -P 1 -r 100000 EVALSHA "$sha" 1 "b:$s:__rand_int__" ${ARGS[$s]} >/dev/null 2>&1
        b=$(ticks $pid)
        runs="$runs $(awk -v d=$((b-a)) -v hz="$hz" -v n="$N" 'BEGIN{printf "%.1f", d/hz*1e6/n}')"
      done
      printf '%-24s %-6s %-10s%s\n' "$s" "$c" "$srv" "$runs"
    done
  done
done
