#!/usr/bin/env bash
# Runs every fuzz target for FUZZTIME each (default 10m) and prints the
# executions and findings of each run. CI runs the hostile-input targets for
# 15 s each; this is the long run the README's figures come from.
#   FUZZTIME=30m bench/fuzz.sh [package:Target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10m}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  while IFS=: read -r file fn; do
    name=${fn#func }
    name=${name%%(*}
    targets+=("$(dirname "$file"):$name")
  done < <(grep -rho --include='*_test.go' -H '^func Fuzz[A-Za-z0-9_]*(' . | sed 's|^\./||')
fi
for target in "${targets[@]}"; do
  pkg=${target%%:*}
  fn=${target#*:}
  echo "== $pkg $fn ($fuzztime)"
  go test "./$pkg" -run '^$' -fuzz "^$fn\$" -fuzztime "$fuzztime" -fuzzminimizetime 10x 2>&1 | tail -3
done
