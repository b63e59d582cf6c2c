#!/usr/bin/env bash
# Server CPU per limiter-library script call, rlserver vs Redis 7, with
# redis-benchmark sending EVALSHA <sha> 1 <random key> <args> (-P 1, at 1
# and 50 clients). CPU is utime+stime of the server process from
# /proc/<pid>/stat, divided by the calls. Runs alternate between the two
# servers; each row prints every run, then the median and the ratio of
# medians. A GET row gives the floor every command pays (reading,
# parsing, replying).
# Run under `flock /work/wt/.bench.lock bash bench/lua.sh`.
#
# Scripts are the libraries' own, byte for byte (bench/lua/*.lua;
# script/native_test.go checks their SHA1s): go-redis/redis_rate v10
# allowN, rate-limiter-flexible 11.4 RateLimiterRedis, rate-limit-redis 6
# increment. rlserver answers these natively (script/native.go); VM=1 runs
# them on its Lua VM instead (the script with a trailing space: another
# SHA1, same behaviour).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200000}
REPS=${REPS:-5}
VM=${VM:-0}
SCRIPTS=${SCRIPTS:-redis_rate rate_limiter_flexible rate_limit_redis}
CLIENTS=${CLIENTS:-1 50}
go build -o /tmp/rlserver-bench ./cmd/rlserver
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
RL_PORT=$(port)
RD_PORT=$(port)
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
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
declare -A ARGS=([redis_rate]="10 10 1 1" [rate_limiter_flexible]="1 10 5 10" [rate_limit_redis]="60000" [GET]="")
# cpu_per_call PORT PID CLIENTS CMD...: µs of server CPU per call.
cpu_per_call() {
  local p=$1 pid=$2 c=$3
  shift 3
  local a b
  a=$(ticks "$pid")
  redis-benchmark -p "$p" -n "$N" -c "$c" -P 1 -r 100000 "$@" >/dev/null 2>&1
  b=$(ticks "$pid")
  awk -v d=$((b - a)) -v hz="$hz" -v n="$N" 'BEGIN{printf "%.1f", d/hz*1e6/n}'
}
printf '%-22s %-4s %-30s %-30s %s\n' script c "rlserver µs/call (runs) median" "redis µs/call (runs) median" ratio
for s in GET $SCRIPTS; do
  for c in $CLIENTS; do
    if [ "$s" = GET ]; then
      rl_cmd=(GET "b:get:__rand_int__")
      rd_cmd=("${rl_cmd[@]}")
    else
      body=bench/lua/$s.lua
      if [ "$VM" = 1 ]; then
        body=$(mktemp)
        { cat "bench/lua/$s.lua"; printf ' '; } >"$body"
      fi
      rl_sha=$(redis-cli -p "$RL_PORT" -x script load <"$body")
      rd_sha=$(redis-cli -p "$RD_PORT" -x script load <"bench/lua/$s.lua")
      # shellcheck disable=SC2206
      rl_cmd=(EVALSHA "$rl_sha" 1 "b:$s:__rand_int__" ${ARGS[$s]})
      # shellcheck disable=SC2206
      rd_cmd=(EVALSHA "$rd_sha" 1 "b:$s:__rand_int__" ${ARGS[$s]})
    fi
    rl=""
    rd=""
    for _ in $(seq "$REPS"); do
      rl="$rl $(cpu_per_call "$RL_PORT" "$RL_PID" "$c" "${rl_cmd[@]}")"
      rd="$rd $(cpu_per_call "$RD_PORT" "$RD_PID" "$c" "${rd_cmd[@]}")"
    done
    mrl=$(echo "$rl" | median)
    mrd=$(echo "$rd" | median)
    printf '%-22s %-4s %-30s %-30s %.2f\n' "$s" "$c" "$rl | $mrl" "$rd | $mrd" "$(awk -v a="$mrl" -v b="$mrd" 'BEGIN{print a/b}')"
  done
done
