#!/usr/bin/env bash
# Compares rlserver's CL.THROTTLE with Redis's INCR, SET and a Lua GCRA
# (EVALSHA) on this machine: the same redis-benchmark runs against both
# servers in alternation (A B A B, ROUNDS rounds, medians), with each
# server's CPU time read from /proc before and after every run.
#
#   bench/compare.sh            # full matrix (about 10 minutes)
#   ROUNDS=1 N=100000 bench/compare.sh   # quick look
#
# Needs redis-server and redis-benchmark (Debian redis-server, redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
N=${N:-200000}
CLIENTS=${CLIENTS:-50}
RL_PORT=${RL_PORT:-17001}
REDIS_PORT=${REDIS_PORT:-17002}
EXTRA=${EXTRA:-}            # extra redis-benchmark flags, e.g. "--threads 2"
RL_FLAGS=${RL_FLAGS:-}
out=bench/out
mkdir -p "$out"
go build -o "$out/rlserver" ./cmd/rlserver
hz=$(getconf CLK_TCK)

"$out/rlserver" --port "$RL_PORT" --log-level warn $RL_FLAGS &
rl_pid=$!
redis-server --port "$REDIS_PORT" --save "" --appendonly no --bind 127.0.0.1 --daemonize no --loglevel warning >/dev/null &
redis_pid=$!
trap 'kill $rl_pid $redis_pid 2>/dev/null; wait 2>/dev/null' EXIT
for p in "$RL_PORT" "$REDIS_PORT"; do
  for _ in $(seq 50); do redis-cli -p "$p" PING >/dev/null 2>&1 && break; sleep 0.1; done
done
sha=$(redis-cli -p "$REDIS_PORT" SCRIPT LOAD "$(cat bench/gcra.lua)")

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# run NAME PID PORT PIPELINE COMMAND... -> appends "name P rps p50 p99 cpu_us" to $out/raw
run() {
  local name=$1 pid=$2 port=$3 pipe=$4; shift 4
  redis-cli -p "$port" FLUSHALL >/dev/null
  local before after line
  before=$(cpu_ticks "$pid")
  line=$(redis-benchmark -p "$port" -c "$CLIENTS" -n "$N" -r 100000 -P "$pipe" $EXTRA --csv "$@" | tail -1)
  after=$(cpu_ticks "$pid")
  echo "$line" | awk -F'","' -v name="$name" -v p="$pipe" -v n="$N" -v t=$((after - before)) -v hz="$hz" \
    '{gsub(/"/,"",$8); printf "%s %s %s %s %s %.3f\n", name, p, $2, $5, $7, t / hz * 1e6 / n}' >> "$out/raw"
}

: > "$out/raw"
for round in $(seq "$ROUNDS"); do
  for pipe in 1 16; do
    run rlserver-CL.THROTTLE "$rl_pid" "$RL_PORT" "$pipe" CL.THROTTLE key:__rand_int__ 100 1000 60 1
    run redis-INCR "$redis_pid" "$REDIS_PORT" "$pipe" INCR key:__rand_int__
    run rlserver-CL.THROTTLE "$rl_pid" "$RL_PORT" "$pipe" CL.THROTTLE key:__rand_int__ 100 1000 60 1
    run redis-SET "$redis_pid" "$REDIS_PORT" "$pipe" SET key:__rand_int__ 1
    run redis-EVALSHA-GCRA "$redis_pid" "$REDIS_PORT" "$pipe" EVALSHA "$sha" 1 key:__rand_int__ 100 1000 60 1
  done
done

echo "# $(date -u +%F) $(nproc) cores, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ //'); redis $(redis-server --version | awk '{print $3}'); -c $CLIENTS -n $N -r 100000 $EXTRA; medians of $ROUNDS"
echo "| server / command | -P | calls/s | p50 ms | p99 ms | server CPU µs/call | CPU vs INCR |"
echo "|---|---|---|---|---|---|---|"
# Medians per (name, pipe), then ratios against redis-INCR at the same -P.
sort -k1,1 -k2,2n "$out/raw" | awk '
  { key=$1" "$2; n[key]++; v[key, n[key]] = $0 }
  END {
    for (k in n) {
      m = int((n[k] + 1) / 2)
      # sort the samples of k by rps to take the median row
      for (i = 1; i <= n[k]; i++) { split(v[k, i], f, " "); r[i] = f[3]; row[i] = v[k, i] }
      for (i = 1; i <= n[k]; i++) for (j = i + 1; j <= n[k]; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t; t = row[i]; row[i] = row[j]; row[j] = t }
      split(row[m], f, " ")
      med[k] = row[m]
      cpu[k] = f[6]
    }
    for (k in med) { split(med[k], f, " "); base = cpu["redis-INCR " f[2]]
      printf "%s\t| %s | %s | %.0f | %s | %s | %.3f | %.2f× |\n", f[2], f[1], f[2], f[3], f[4], f[5], f[6], f[6] / base }
  }' | sort -t$'\t' -k1,1n -k2 | cut -f2
