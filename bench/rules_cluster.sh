#!/usr/bin/env bash
# How fast rule changes reach every node of a 3-node cluster: bench/rulesprop
# creates rules on each node in turn (admin API, fsynced before the reply)
# and polls the two others until they have each one. Runs with both gossip
# profiles (lan: gossip every 200 ms; fast, the default: every 50 ms).
#
#   flock /work/wt/.bench.lock bench/rules_cluster.sh     # README numbers
#   ROUNDS=1 N=20 bench/rules_cluster.sh                  # quick look
#
# Prints, per run: the creating node's acknowledgement latency and the
# time from that acknowledgement until each other node serves the rule.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
N=${N:-60}
out=bench/out
mkdir -p "$out"
go build -o "$out/rlserver" ./cmd/rlserver
go build -o "$out/rulesprop" ./bench/rulesprop
key=$(head -c 32 /dev/urandom | base64)
token=bench-token
dir=$(mktemp -d)
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
trap 'stop; rm -rf "$dir"' EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# start NAME PROFILE [JOIN] -> appends to ports/https/gossips
start() {
  local name=$1 profile=$2 join=${3:-} port http gossip
  port=$(free_port); http=$(free_port); gossip=$(free_port)
  mkdir -p "$dir/$profile/$name"
  "$out/rlserver" --port "$port" --http-addr "127.0.0.1:$http" --admin-token "$token" \
    --data-dir "$dir/$profile/$name" --node-name "$name" --log-level warn \
    --cluster-port "$gossip" --cluster-key "$key" --gossip-profile "$profile" \
    ${join:+--join "$join"} 2>"$dir/$profile-$name.log" &
  pids+=("$!")
  for _ in $(seq 100); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.1; done
  ports+=("$port"); https+=("127.0.0.1:$http"); gossips+=("127.0.0.1:$gossip")
}

for profile in lan fast; do
  ports=(); https=(); gossips=()
  start n1 "$profile"
  start n2 "$profile" "${gossips[0]}"
  start n3 "$profile" "${gossips[0]}"
  for _ in $(seq 300); do
    ok=1
    for p in "${ports[@]}"; do
      redis-cli -p "$p" INFO cluster | grep -q '^cluster_members:3' || ok=0
    done
    [ "$ok" = 1 ] && break
    sleep 0.1
  done
  for r in $(seq "$ROUNDS"); do
    echo "profile=$profile round=$r"
    "$out/rulesprop" -token "$token" -n "$N" -prefix "r$r-" "${https[@]}" | sed 's/^/  /'
  done
  stop
done
