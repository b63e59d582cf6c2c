#!/usr/bin/env bash
# CL.THROTTLE over TLS vs plaintext, at -P 1 and -P 16: server CPU per call
# (utime+stime from /proc/<pid>/stat around each redis-benchmark run) and
# calls per second, with Redis 7's INCR over TCP and TLS as the reference
# for what TLS costs a C server.
#
# Rows: rlserver plaintext on the epoll front (the default), plaintext on
# the goroutine front (which serves every TLS connection, so the two TLS
# costs, front and crypto, can be told apart), and TLS; redis INCR plain
# and TLS. Runs alternate A B C ... ROUNDS times; the table shows the
# median and the range.
#
#   flock /work/wt/.bench.lock bench/tls.sh          # about 5 minutes
#   ROUNDS=1 N=50000 bench/tls.sh                    # quick look
#
# Needs openssl, redis-server and redis-benchmark built with TLS (Debian's
# are).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
N=${N:-200000}
CLIENTS=${CLIENTS:-50}
out=bench/out/tls
mkdir -p "$out"
go build -o "$out/rlserver" ./cmd/rlserver
hz=$(getconf CLK_TCK)

# A CA, a server certificate (localhost, 127.0.0.1) and a client one.
d=$out/certs
mkdir -p "$d"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
  -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
for who in server client; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$who" \
    -keyout "$d/$who.key" -out "$d/$who.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > "$d/$who.ext"
  openssl x509 -req -in "$d/$who.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/$who.ext" -out "$d/$who.crt" 2>/dev/null
done
tls_server=(--tls-cert-file "$d/server.crt" --tls-key-file "$d/server.key" --tls-ca-cert-file "$d/ca.crt")
tls_client=(--tls --cacert "$d/ca.crt" --cert "$d/client.crt" --key "$d/client.key")

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
EP=$(port); ET=$(port); GP=$(port); RP=$(port); RT=$(port)
"$out/rlserver" --port "$EP" --tls-port "$ET" "${tls_server[@]}" --io-model epoll --data-dir '' --http-addr '' --log-level error &
ep_pid=$!
"$out/rlserver" --port "$GP" --io-model goroutine --data-dir '' --http-addr '' --log-level error &
gp_pid=$!
redis-server --port "$RP" --tls-port "$RT" "${tls_server[@]}" --save '' --appendonly no --bind 127.0.0.1 --loglevel warning >/dev/null &
rd_pid=$!
trap 'kill $ep_pid $gp_pid $rd_pid 2>/dev/null; wait 2>/dev/null' EXIT
for p in "$EP" "$GP" "$RP"; do
  for _ in $(seq 100); do redis-cli -p "$p" PING >/dev/null 2>&1 && break; sleep 0.05; done
done

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# run NAME PID PORT PIPE [tls] -- COMMAND... : appends "name P rps cpu_us" to $out/raw
run() {
  local name=$1 pid=$2 port=$3 pipe=$4 tls=$5; shift 6
  local extra=()
  [ "$tls" = tls ] && extra=("${tls_client[@]}")
  local a b line
  a=$(ticks "$pid")
  line=$(redis-benchmark -p "$port" "${extra[@]}" -c "$CLIENTS" -n "$N" -r 100000 -P "$pipe" --csv "$@" | tail -1)
  b=$(ticks "$pid")
  echo "$line" | awk -F'","' -v name="$name" -v p="$pipe" -v n="$N" -v t=$((b - a)) -v hz="$hz" \
    '{printf "%s %s %s %.3f\n", name, p, $2, t / hz * 1e6 / n}' >> "$out/raw"
}

throttle=(CL.THROTTLE key:__rand_int__ 100 1000 60 1)
: > "$out/raw"
for round in $(seq "$ROUNDS"); do
  for pipe in 1 16; do
    run rlserver-epoll-plain "$ep_pid" "$EP" "$pipe" plain -- "${throttle[@]}"
    run rlserver-goroutine-plain "$gp_pid" "$GP" "$pipe" plain -- "${throttle[@]}"
    run rlserver-TLS "$ep_pid" "$ET" "$pipe" tls -- "${throttle[@]}"
    run redis-INCR-plain "$rd_pid" "$RP" "$pipe" plain -- INCR key:__rand_int__
    run redis-INCR-TLS "$rd_pid" "$RT" "$pipe" tls -- INCR key:__rand_int__
  done
done

echo "# $(date -u +%F) $(nproc) cores, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ //'); redis $(redis-server --version | awk '{print $3}' | sed 's/v=//'); -c $CLIENTS -n $N -r 100000; median [min–max] of $ROUNDS"
echo "| server / transport | -P | calls/s | server CPU µs/call |"
echo "|---|---|---|---|"
sort -k2,2n -k1,1 "$out/raw" | awk '
  { key = $2 " " $1; k[key] = 1; n[key]++; r[key, n[key]] = $3; c[key, n[key]] = $4 }
  function med(a, key, m,   i, j, t, v) {
    for (i = 1; i <= m; i++) v[i] = a[key, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    lo = v[1]; hi = v[m]
    return v[int((m + 1) / 2)]
  }
  END {
    for (key in k) {
      split(key, f, " ")
      rps = med(r, key, n[key]); rlo = lo; rhi = hi
      cpu = med(c, key, n[key])
      printf "%s\t%s\t| %s | %s | %.0f [%.0f–%.0f] | %.2f [%.2f–%.2f] |\n", f[1], f[2], f[2], f[1], rps, rlo, rhi, cpu, lo, hi
    }
  }' | sort -t$'\t' -k1,1n -k2,2 | cut -f3
