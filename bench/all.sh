#!/usr/bin/env bash
# Runs every benchmark behind the README's numbers and prints them as
# Markdown: bench/all.sh > bench/out/results.md
set -euo pipefail
cd "$(dirname "$0")/.."
echo "## CL.THROTTLE vs Redis (50 connections)"
bench/compare.sh 2>/dev/null
echo
echo "## Same, redis-benchmark --threads 2"
EXTRA="--threads 2" bench/compare.sh 2>/dev/null
echo
echo "## Same, 1000 connections"
CLIENTS=1000 ROUNDS=1 bench/compare.sh 2>/dev/null
echo
echo "## Memory per key"
bench/memory.sh 1000000 10000000 2>/dev/null
echo
echo "## Sorted-set memory per member"
bench/zset_memory.sh 100 1000 100000 2>/dev/null
go test ./engine -run XXX -bench ZsetMemory -benchtime 1x 2>/dev/null | grep Benchmark
echo
echo "## List and hash memory"
bench/types_memory.sh 2>/dev/null
echo
echo "## Limiter libraries: server CPU per call"
bench/libraries.sh 2>/dev/null
echo
echo "## Limiter libraries' Lua scripts: server CPU per call (redis-benchmark)"
bench/lua.sh 2>/dev/null
echo
echo "## Cluster: three nodes against one"
bench/cluster.sh 2>/dev/null
echo
echo "## p99 while snapshotting"
bench/snapshot_p99.sh 2>/dev/null
echo
echo "## go test benchmarks"
go test ./engine -run XXX -bench 'Algorithms' -benchmem 2>/dev/null | grep Benchmark
go test ./server -run XXX -bench 'Execute' -benchmem 2>/dev/null | grep Benchmark
go test ./persistence -run XXX -bench Snapshot -benchtime 1x 2>/dev/null | grep Benchmark
go test ./engine -run XXX -bench SlidingWindowAccuracy -benchtime 1x 2>/dev/null | grep Benchmark
echo
echo "## TLS vs plaintext"
bench/tls.sh 2>/dev/null
go test ./server -run XXX -bench 'ACL' -benchmem -count 5 2>/dev/null | grep Benchmark
