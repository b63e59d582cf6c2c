#!/usr/bin/env bash
# Cluster benchmarks: CL.THROTTLE through 3 nodes against one node, with
# each server's CPU time read from /proc before and after every run.
#
#   single   one node, redis-benchmark -P 1 and -P 16
#   aware    3 nodes, redis-benchmark --cluster (a cluster-aware client:
#            each command goes straight to its owner; {tag} is its
#            per-node hash tag)
#   plain    3 nodes, a plain client on node 1 (2 of 3 calls forwarded)
#   hop      every key on node 2 (one hash tag), sent to node 2 (local)
#            and to node 1 (one forwarding hop): the hop's CPU and p50
#
#   flock /work/wt/.bench.lock bench/cluster.sh      # about 5 minutes
#   ROUNDS=1 N=100000 bench/cluster.sh               # quick look
#
# Prints one line per run: path, -P, calls/s, p50 ms, p99 ms, CPU µs per
# call on each node and in total.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2}
N=${N:-200000}
CLIENTS=${CLIENTS:-50}
REPLICAS=${REPLICAS:-0} # the figures in the README predate replicas; bench/replicas.sh measures them
out=bench/out
mkdir -p "$out"
go build -o "$out/rlserver" ./cmd/rlserver
hz=$(getconf CLK_TCK)
key=$(head -c 32 /dev/urandom | base64)
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# start NAME ARGS... -> sets port and pid of the new server
start() {
  local name=$1; shift
  port=$(free_port)
  "$out/rlserver" --port "$port" --http-addr "" --data-dir "" --log-level warn "$@" 2>"$dir/$name.log" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do redis-cli -p "$port" PING >/dev/null 2>&1 && return; sleep 0.1; done
  echo "server $name did not start" >&2; cat "$dir/$name.log" >&2; exit 1
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
    '{printf "%-8s -P %-2s %9.0f rps  p50 %6s  p99 %6s  cpu/call%s  total %.2f\n", l, p, $2, $5, $7, c, t/hz*1e6/n}'
}

echo "# $(date -u +%F) $(nproc) cores, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ //'); -c $CLIENTS -n $N; CPU in µs per call"

start single
single_port=$port single_pid=$pid

start n1 --cluster-port 0 --cluster-key "$key" --replicas "$REPLICAS"
p1=$port pid1=$pid
gossip=$(grep -o 'gossip=[0-9]*' "$dir/n1.log" | head -1 | cut -d= -f2 || true)
if [ -z "$gossip" ]; then
  # --log-level warn hides the ready line: ask the node.
  gossip=$(redis-cli -p "$p1" CLUSTER NODES | awk '/myself/{split($2,a,"@"); print a[2]}')
fi
start n2 --cluster-port 0 --cluster-key "$key" --replicas "$REPLICAS" --join "127.0.0.1:$gossip"
p2=$port pid2=$pid
start n3 --cluster-port 0 --cluster-key "$key" --replicas "$REPLICAS" --join "127.0.0.1:$gossip"
p3=$port pid3=$pid
for _ in $(seq 300); do
  s=0
  for p in $p1 $p2 $p3; do
    s=$((s + $(redis-cli -p "$p" INFO cluster | awk -F: '/cluster_slots_served/{print $2+0}')))
  done
  settled=$(for p in $p1 $p2 $p3; do redis-cli -p "$p" INFO cluster | grep -c 'cluster_settled:1' || true; done | paste -sd+ | bc)
  [ "$s" = 16384 ] && [ "$settled" = 3 ] && break
  sleep 0.1
done

# A hash tag whose slot node 2 serves.
tag=""
ranges=$(redis-cli -p "$p2" CLUSTER NODES | awk '/myself/{for(i=9;i<=NF;i++) print $i}')
for i in $(seq 0 200); do
  slot=$(redis-cli -p "$p2" CLUSTER KEYSLOT "{t$i}")
  if echo "$ranges" | awk -F- -v s="$slot" '{lo=$1; hi=($2==""?$1:$2); if (s>=lo && s<=hi) f=1} END{exit !f}'; then tag="t$i"; break; fi
done

for round in $(seq "$ROUNDS"); do
  for pipe in 1 16; do
    run single "$pipe" "$single_pid" -p "$single_port" -r 100000 CL.THROTTLE key:__rand_int__ 100 1000 60 1
    run aware "$pipe" "$pid1 $pid2 $pid3" --cluster -p "$p1" -r 100000 CL.THROTTLE "key:{tag}:__rand_int__" 100 1000 60 1
    run plain "$pipe" "$pid1 $pid2 $pid3" -p "$p1" -r 100000 CL.THROTTLE key:__rand_int__ 100 1000 60 1
    run local "$pipe" "$pid1 $pid2" -p "$p2" -r 100000 CL.THROTTLE "{$tag}__rand_int__" 100 1000 60 1
    run hop "$pipe" "$pid1 $pid2" -p "$p1" -r 100000 CL.THROTTLE "{$tag}__rand_int__" 100 1000 60 1
  done
done
for p in $p1 $p2 $p3; do redis-cli -p "$p" INFO cluster | grep -E 'cluster_(forwarded|forward_batches|forward_errors|unreachable_local)' | tr -d '\r' | paste -sd' '; done
