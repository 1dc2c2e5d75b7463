#!/usr/bin/env bash
# Runs Autobahn|Testsuite (fuzzingclient) against the core's echo example with permessage-deflate.
#
#   tests/conformance/autobahn.sh CASES OUTDIR
#
# Builds target/release/examples/echo, sets up the Autobahn venv under target/ (idempotent), starts the
# echo server on an ephemeral port, runs the cases, stops the server (trap) and fails on any case whose
# behaviour is not OK / NON-STRICT / INFORMATIONAL, and on any UNIMPLEMENTED case.
# Env: AUTOBAHN_DIR (default ../shared/tools/autobahn beside the repo), CARGO_TARGET_DIR.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CASES="${1:?usage: autobahn.sh CASES OUTDIR}"
OUTDIR="${2:?usage: autobahn.sh CASES OUTDIR}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
AUTOBAHN_DIR="${AUTOBAHN_DIR:-$ROOT/../shared/tools/autobahn}"
export AUTOBAHN_VENV="${AUTOBAHN_VENV:-$TARGET/autobahn-venv}"

if [ ! -x "$AUTOBAHN_DIR/run.sh" ]; then
  echo "conformance: Autobahn tools not found at $AUTOBAHN_DIR (set AUTOBAHN_DIR)" >&2
  exit 2
fi

echo "conformance: building the echo example (release)"
cargo build --release --locked -p wssession-core --example echo
ECHO="$TARGET/release/examples/echo"

echo "conformance: Autobahn venv at $AUTOBAHN_VENV (setup is a no-op when current)"
"$AUTOBAHN_DIR/setup.sh"

mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
SERVER_LOG="$OUTDIR/echo-server.log"
"$ECHO" --port 0 --deflate >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true' EXIT

# The server prints "echo server listening on ws://127.0.0.1:PORT/" once bound (wait at most 10 s).
PORT=""
for _ in $(seq 1 100); do
  PORT="$(sed -n 's|.*listening on ws://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$SERVER_LOG" | head -1)"
  [ -n "$PORT" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "conformance: echo server exited:"; cat "$SERVER_LOG"; exit 2; }
  sleep 0.1
done
[ -n "$PORT" ] || { echo "conformance: echo server did not report its port within 10 s"; exit 2; }

START=$(date +%s)
AUTOBAHN_STRICT_UNIMPLEMENTED=1 AUTOBAHN_AGENT=wssession AUTOBAHN_TIMEOUT="${AUTOBAHN_TIMEOUT:-1800}" \
  "$AUTOBAHN_DIR/run.sh" "ws://127.0.0.1:$PORT" "$CASES" "$OUTDIR"
echo "conformance: cases $CASES passed in $(($(date +%s) - START)) s (report: $OUTDIR/index.html)"
echo "$(($(date +%s) - START))" >"$OUTDIR/wall-seconds"
