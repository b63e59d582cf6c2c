#!/usr/bin/env bash
# Handoff pacing: CL.THROTTLE p99 through a 3-node cluster while quiet,
# while a 4th node joins and while it leaves (SIGTERM), with every key's
# state checked after each change (bench/handoff/main.go does the work;
# its doc says how).
#
#   flock /work/wt/.bench.lock bench/handoff.sh                  # 10,000 keys per algorithm, 5 cycles
#   flock /work/wt/.bench.lock bench/handoff.sh -keys 100000
#   BASE="<commit> [<commit> ...]" ROUNDS=3 flock /work/wt/.bench.lock bench/handoff.sh -keys 100000
#       # also each BASE commit's build; rounds alternate the builds
#
# Prints a Markdown table per run and the median p99 ratios; exits 1 when
# a key was over its limit or reset, or a median ratio exceeds 2 (which a
# loaded, shared machine alone can cause). bench/handoff_summary.py pools
# the runs per build and compares builds with a rank test.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
go build -o "$out/rlserver" ./cmd/rlserver
go build -o "$out/handoff" ./bench/handoff
bins=()
labels=()
for base in ${BASE:-}; do
  src="$out/handoff-src-$base"
  rm -rf "$src" && mkdir -p "$src"
  git archive "$base" | tar -x -C "$src"
  (cd "$src" && go build -o "../rlserver-handoff-$base" ./cmd/rlserver)
  bins+=("$out/rlserver-handoff-$base")
  labels+=("$base ($(git log -1 --format=%s "$base" | cut -c1-60))")
done
bins+=("$out/rlserver")
labels+=("$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- server || echo ' + uncommitted changes')")
echo "# $(nproc) cores, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ //'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
for round in $(seq "${ROUNDS:-1}"); do
  for i in "${!bins[@]}"; do
    echo "## ${labels[$i]}, round $round; load: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$out/handoff" -bin "${bins[$i]}" -cycles "${CYCLES:-5}" "$@" || status=1
  done
done
exit $status
