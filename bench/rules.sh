#!/usr/bin/env bash
# Benchmarks the rules engine's check: POST /v1/ratelimit/check with 10 and
# 10,000 rules (keep-alive connections from bench/httpload), and RL.CHECK
# over RESP at -P 16 (redis-benchmark). For each run it reads the server's
# CPU time (utime+stime from /proc/<pid>/stat) before and after, and prints
# throughput, latency percentiles and server CPU per check.
#
#   flock /work/wt/.bench.lock bench/rules.sh          # README numbers
#   ROUNDS=1 DURATION=3s bench/rules.sh                # quick look
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-16}
N=${N:-500000}
RL_PORT=${RL_PORT:-17101}
HTTP_PORT=${HTTP_PORT:-17102}
out=bench/out
mkdir -p "$out"
go build -o "$out/rlserver" ./cmd/rlserver
go build -o "$out/httpload" ./bench/httpload
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

pid=
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=; }
trap stop EXIT

start() { # start RULES_FILE
  local data
  data=$(mktemp -d)
  "$out/rlserver" --port "$RL_PORT" --http-addr "127.0.0.1:$HTTP_PORT" --data-dir "$data" \
    --snapshot-interval 0 --rules "$1" --log-level warn &
  pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$HTTP_PORT/health" >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "server did not start" >&2; exit 1
}

echo "# $(date -u +%F) $(nproc) cores, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ //'); $CONNS connections, $DURATION per run, $ROUNDS rounds"
echo "| what | rules | round | checks/s | p50 µs | p99 µs | server CPU µs/check |"
echo "|---|---|---|---|---|---|---|"
for rules in 10 10000; do
  file="$out/rules-$rules.yaml"
  "$out/httpload" -gen-rules "$rules" > "$file"
  start "$file"
  "$out/httpload" -addr "127.0.0.1:$HTTP_PORT" -conns "$CONNS" -duration 2s >/dev/null # warm-up
  for round in $(seq "$ROUNDS"); do
    before=$(cpu_ticks "$pid")
    line=$("$out/httpload" -addr "127.0.0.1:$HTTP_PORT" -conns "$CONNS" -duration "$DURATION")
    after=$(cpu_ticks "$pid")
    echo "$line" | awk -v r="$rules" -v round="$round" -v t=$((after - before)) -v hz="$hz" '{
      for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      printf "| POST /v1/ratelimit/check | %s | %s | %.0f | %s | %s | %.1f |\n", r, round, v["rps"], v["p50_us"], v["p99_us"], t / hz * 1e6 / v["requests"] }'
  done
  if [ "$rules" = 10 ]; then
    # For scale: the same load on a request refused at once (GET of an
    # admin route without a token: 401 and a small JSON body), the cost of
    # the HTTP stack itself.
    for round in $(seq "$ROUNDS"); do
      before=$(cpu_ticks "$pid")
      line=$("$out/httpload" -addr "127.0.0.1:$HTTP_PORT" -conns "$CONNS" -duration "$DURATION" -get /v1/admin/audit)
      after=$(cpu_ticks "$pid")
      echo "$line" | awk -v round="$round" -v t=$((after - before)) -v hz="$hz" '{
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "| GET 401 (HTTP stack floor) | - | %s | %.0f | %s | %s | %.1f |\n", round, v["rps"], v["p50_us"], v["p99_us"], t / hz * 1e6 / v["requests"] }'
    done
  fi
  for round in $(seq "$ROUNDS"); do
    before=$(cpu_ticks "$pid")
    line=$(redis-benchmark -p "$RL_PORT" -c 50 -n "$N" -r 10000 -P 16 --csv \
      RL.CHECK user_id user-__rand_int__ ip 192.0.2.1 endpoint /api/v6/items method GET | tail -1)
    after=$(cpu_ticks "$pid")
    echo "$line" | awk -F'","' -v r="$rules" -v round="$round" -v n="$N" -v t=$((after - before)) -v hz="$hz" \
      '{gsub(/"/,"",$8); printf "| RL.CHECK -P 16 | %s | %s | %.0f | %s | %s | %.2f |\n", r, round, $2, $5*1000, $7*1000, t / hz * 1e6 / n}'
    if [ "$rules" = 10 ]; then
      # For scale: one plain limiter call per request, same load.
      before=$(cpu_ticks "$pid")
      line=$(redis-benchmark -p "$RL_PORT" -c 50 -n "$N" -r 10000 -P 16 --csv CL.THROTTLE key:__rand_int__ 100 1000 60 1 | tail -1)
      after=$(cpu_ticks "$pid")
      echo "$line" | awk -F'","' -v round="$round" -v n="$N" -v t=$((after - before)) -v hz="$hz" \
        '{gsub(/"/,"",$8); printf "| CL.THROTTLE -P 16 (one limiter) | - | %s | %.0f | %s | %s | %.2f |\n", round, $2, $5*1000, $7*1000, t / hz * 1e6 / n}'
    fi
  done
  stop
done
