#!/usr/bin/env bash
# What replication costs (issue 10): CL.THROTTLE through two 3-node
# clusters, one with --replicas 0 and one with --replicas 1, driven by a
# cluster-aware client (redis-benchmark --cluster: every command goes to
# its owner, so the only cluster work is replication), at -P 1 and -P 16,
# the two clusters alternating in every round. CPU is the three nodes'
# utime+stime from /proc before and after each run (the replicas' work of
# applying the stream included), per call.
#
#   flock /work/wt/.bench.lock bench/replicas.sh      # about 4 minutes
#   ROUNDS=1 N=100000 bench/replicas.sh               # quick look
#
# Prints one line per run (replicas, -P, calls/s, p50, p99, CPU µs per
# call on each node and in total), then each node's replication counters
# and lag (change to acknowledgement) of the replicas-1 cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
N=${N:-200000}
CLIENTS=${CLIENTS:-50}
out=bench/out
mkdir -p "$out"
go build -o "$out/rlserver" ./cmd/rlserver
hz=$(getconf CLK_TCK)
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# start NAME ARGS... -> sets port and pid of the new server
start() {
  local name=$1; shift
  port=$(free_port)
  "$out/rlserver" --port "$port" --http-addr "" --data-dir "" --log-level info "$@" 2>"$dir/$name.log" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do redis-cli -p "$port" PING >/dev/null 2>&1 && return; sleep 0.1; done
  echo "server $name did not start" >&2; cat "$dir/$name.log" >&2; exit 1
}

# cluster R -> starts 3 nodes with --replicas R; sets ports_R and pids_R
cluster() {
  local r=$1 key gossip ps="" ids=""
  key=$(head -c 32 /dev/urandom | base64)
  start "r$r-1" --cluster-port 0 --cluster-key "$key" --replicas "$r"
  ps="$port" ids="$pid"
  gossip=$(grep -o 'gossip=[0-9]*' "$dir/r$r-1.log" | head -1 | cut -d= -f2)
  for i in 2 3; do
    start "r$r-$i" --cluster-port 0 --cluster-key "$key" --replicas "$r" --join "127.0.0.1:$gossip"
    ps="$ps $port" ids="$ids $pid"
  done
  for _ in $(seq 300); do
    local s=0 settled=0 synced=0
    for p in $ps; do
      info=$(redis-cli -p "$p" INFO cluster | tr -d '\r')
      s=$((s + $(echo "$info" | awk -F: '/^cluster_slots_served:/{v=$2} END{print v+0}')))
      settled=$((settled + $(echo "$info" | grep -c '^cluster_settled:1' || true)))
      synced=$((synced + $(echo "$info" | awk -F: '/^cluster_replica_slots_synced:/{v=$2} END{print v+0}')))
    done
    [ "$s" = 16384 ] && [ "$settled" = 3 ] && { [ "$r" = 0 ] || [ "$synced" -ge 16384 ]; } && break
    sleep 0.1
  done
  eval "ports_$r=\"$ps\" pids_$r=\"$ids\""
}

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# run LABEL PIPE "PIDS" redis-benchmark-args... ; prints the result line
run() {
  local label=$1 pipe=$2 ps=$3; shift 3
  local before=() after=() i=0 line
  for p in $ps; do before+=("$(cpu_ticks "$p")"); done
  line=$(redis-benchmark -c "$CLIENTS" -n "$N" -P "$pipe" --csv "$@" | tail -1)
  for p in $ps; do after+=("$(cpu_ticks "$p")"); done
  local cpus="" total=0
  for p in $ps; do
    local d=$(( after[i] - before[i] ))
    cpus="$cpus $(awk -v d="$d" -v hz="$hz" -v n="$N" 'BEGIN{printf "%.2f", d/hz*1e6/n}')"
    total=$((total + d)); i=$((i + 1))
  done
  echo "$line" | awk -F'","' -v l="$label" -v p="$pipe" -v c="$cpus" -v t="$total" -v hz="$hz" -v n="$N" \
    '{printf "%-10s -P %-2s %9.0f rps  p50 %6s  p99 %6s  cpu/call%s  total %.2f\n", l, p, $2, $5, $7, c, t/hz*1e6/n}'
}

echo "# $(date -u +%F) $(nproc) cores, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ //'); -c $CLIENTS -n $N; CPU in µs per call"
cluster 0
cluster 1
for round in $(seq "$ROUNDS"); do
  for pipe in 1 16; do
    for r in 0 1; do
      eval "ps=\$ports_$r ids=\$pids_$r"
      first=${ps%% *}
      run "replicas=$r" "$pipe" "$ids" --cluster -p "$first" -r 1000000 CL.THROTTLE "key:{tag}:__rand_int__" 100 1000 60 1
    done
  done
done
for p in $ports_1; do
  redis-cli -p "$p" INFO cluster | tr -d '\r' |
    grep -E '^cluster_(repl_(keys_sent|bytes_sent|batches|lag_p50_us|lag_p99_us|lag_max_us|drops)|replica_keys_applied):' | paste -sd' '
done
