#!/usr/bin/env bash
# What counting costs: CL.THROTTLE's server CPU per call with the
# per-command counters (HEAD) and without them (BASE, the commit before
# they were added), at -P 1 and -P 16, in alternation (A B A B, ROUNDS
# rounds), reading each server's utime+stime from /proc before and after
# every run. Prints medians and the run-to-run range.
#
#   flock /work/wt/.bench.lock bench/metrics_overhead.sh
#   BASE=<commit> ROUNDS=5 N=300000 bench/metrics_overhead.sh
#
# Needs redis-benchmark (Debian redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${BASE:-$(git log --format=%H -1 --grep '^server: per-loop command counters')^}
ROUNDS=${ROUNDS:-5}
N=${N:-300000}
CLIENTS=${CLIENTS:-50}
out=bench/out/metrics
mkdir -p "$out"
rm -rf "$out/base-src"
mkdir -p "$out/base-src"
git archive "$BASE" | tar -x -C "$out/base-src"
(cd "$out/base-src" && go build -o ../rlserver-base ./cmd/rlserver)
go build -o "$out/rlserver-head" ./cmd/rlserver
hz=$(getconf CLK_TCK)

start() { # start BIN PORT -> pid
  "$1" --port "$2" --http-addr '' --data-dir '' --log-level warn >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do redis-cli -p "$2" PING >/dev/null 2>&1 && break; sleep 0.05; done
  echo "$pid"
}
base_pid=$(start "$out/rlserver-base" 17101)
head_pid=$(start "$out/rlserver-head" 17102)
trap 'kill $base_pid $head_pid 2>/dev/null; wait 2>/dev/null' EXIT
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

: > "$out/raw"
for round in $(seq "$ROUNDS"); do
  for pipe in 1 16; do
    for which in base head; do
      if [ "$which" = base ]; then pid=$base_pid port=17101; else pid=$head_pid port=17102; fi
      redis-cli -p "$port" FLUSHALL >/dev/null
      before=$(cpu_ticks "$pid")
      redis-benchmark -p "$port" -c "$CLIENTS" -n "$N" -r 100000 -P "$pipe" -q CL.THROTTLE key:__rand_int__ 100 1000 60 1 >/dev/null
      after=$(cpu_ticks "$pid")
      awk -v w="$which" -v p="$pipe" -v t=$((after - before)) -v hz="$hz" -v n="$N" 'BEGIN{printf "%s %s %.3f\n", w, p, t / hz * 1e6 / n}' >> "$out/raw"
    done
  done
done

echo "# $(date -u +%F) $(nproc) cores; CL.THROTTLE, -c $CLIENTS -n $N -r 100000; $ROUNDS rounds; base $(git rev-parse --short "$BASE")"
echo "| -P | without counters µs/call (median, range) | with counters µs/call (median, range) | difference of medians |"
echo "|---|---|---|---|"
for pipe in 1 16; do
  b=$(awk -v p=$pipe '$1=="base" && $2==p {print $3}' "$out/raw" | sort -n | tr '\n' ' ')
  h=$(awk -v p=$pipe '$1=="head" && $2==p {print $3}' "$out/raw" | sort -n | tr '\n' ' ')
  awk -v p=$pipe -v b="$b" -v h="$h" 'BEGIN{
    nb = split(b, B, " "); nh = split(h, H, " ")
    mb = B[int((nb + 1) / 2)]; mh = H[int((nh + 1) / 2)]
    printf "| %s | %.2f (%.2f–%.2f) | %.2f (%.2f–%.2f) | %+.1f%% |\n", p, mb, B[1], B[nb], mh, H[1], H[nh], (mh - mb) / mb * 100 }'
done
