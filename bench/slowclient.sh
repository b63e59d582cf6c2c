#!/usr/bin/env bash
# Slow and non-reading clients against rlserver: a normal client's
# CL.THROTTLE latency and the server's RSS, quiet and while 4 clients
# trickle huge multibulks (300 KB/s each) and 100 clients pipeline without
# reading (bench/slowclient/main.go does the measuring).
#
#   flock /work/wt/.bench.lock bench/slowclient.sh [epoll|goroutine] [runs] [slowclient flags]
#
# Each run starts a fresh server on a port the OS picks and prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
go build -o "$out/rlserver" ./cmd/rlserver
go build -o "$out/slowclient" ./bench/slowclient
model=${1:-epoll}
runs=${2:-1}
status=0
for run in $(seq "$runs"); do
  log="$out/slowclient-server.log"
  "$out/rlserver" --bind 127.0.0.1 --port 0 --data-dir "" --http-addr "" --io-model "$model" 2>"$log" &
  pid=$!
  addr=""
  for _ in $(seq 100); do
    addr=$(sed -n 's/.*rlserver ready" addr=\(127\.0\.0\.1:[0-9]*\).*/\1/p' "$log" | head -1)
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "server did not start"; cat "$log"; exit 1; }
  echo "## run $run, --io-model $model, server $addr (pid $pid)"
  "$out/slowclient" -addr "$addr" -pid "$pid" "${@:3}" || status=1
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
exit $status
