#!/usr/bin/env bash
# Long differential run of the native script fast paths against the VM
# (script/native_test.go's FuzzNativeMatchesVM): any difference in reply,
# writes or final keyspace fails and leaves the input in
# script/testdata/fuzz. FUZZTIME=10m by default.
set -euo pipefail
cd "$(dirname "$0")/.."
go test ./script -run XXX -fuzz FuzzNativeMatchesVM -fuzztime "${FUZZTIME:-10m}"
