#!/usr/bin/env bash
# Runs Autobahn|Testsuite (fuzzingclient) against the core's echo example with permessage-deflate.
#
#   tests/conformance/autobahn.sh 'SHARD[;SHARD...]' OUTDIR      (a SHARD is a comma list of case patterns)
#
# Builds target/release/examples/echo, sets up the Autobahn venv under target/ (idempotent), starts the
# echo server on an ephemeral port, runs one wstest per shard in parallel against it (wstest is a
# single-threaded Python client: the compression cases 12.*/13.* are bound by its CPU, so shards use both
# cores), merges the shard reports into OUTDIR/index.json, stops the server (trap) and fails on any case
# whose behaviour is not OK / NON-STRICT / INFORMATIONAL, and on any UNIMPLEMENTED case.
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

# AUTOBAHN_SERVER_CMD: another echo server to grade (started with "--port 0 --deflate" appended; it
# prints 127.0.0.1:PORT once bound), e.g. the Python one with host_loop=True.
if [ -z "${AUTOBAHN_SERVER_CMD:-}" ]; then
  echo "conformance: building the echo example (release)"
  cargo build --release --locked -p wssession-core --example echo
fi
ECHO="${AUTOBAHN_SERVER_CMD:-$TARGET/release/examples/echo}"

echo "conformance: Autobahn venv at $AUTOBAHN_VENV (setup is a no-op when current)"
"$AUTOBAHN_DIR/setup.sh"

mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
SERVER_LOG="$OUTDIR/echo-server.log"
$ECHO --port 0 --deflate >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true' EXIT

# The server prints "... 127.0.0.1:PORT" once bound (wait at most 10 s).
PORT=""
for _ in $(seq 1 100); do
  PORT="$(sed -n 's|.*127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$SERVER_LOG" | head -1)"
  [ -n "$PORT" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "conformance: echo server exited:"; cat "$SERVER_LOG"; exit 2; }
  sleep 0.1
done
[ -n "$PORT" ] || { echo "conformance: echo server did not report its port within 10 s"; exit 2; }

START=$(date +%s)
IFS=';' read -r -a SHARDS <<<"$CASES"
PIDS=()
for i in "${!SHARDS[@]}"; do
  echo "conformance: shard $i: ${SHARDS[$i]} (log $OUTDIR/shard-$i.log)"
  AUTOBAHN_STRICT_UNIMPLEMENTED=1 AUTOBAHN_AGENT=wssession AUTOBAHN_TIMEOUT="${AUTOBAHN_TIMEOUT:-1800}" \
    "$AUTOBAHN_DIR/run.sh" "ws://127.0.0.1:$PORT" "${SHARDS[$i]}" "$OUTDIR/shard-$i" >"$OUTDIR/shard-$i.log" 2>&1 &
  PIDS+=($!)
done
RC=0
for i in "${!PIDS[@]}"; do
  if wait "${PIDS[$i]}"; then SRC=0; else SRC=$?; fi
  echo "conformance: shard $i finished with exit $SRC"
  [ "$SRC" -eq 0 ] || { RC=1; tail -n 30 "$OUTDIR/shard-$i.log"; }
done
WALL=$(($(date +%s) - START))
echo "$WALL" >"$OUTDIR/wall-seconds"

# Merge the shard reports and grade the whole run (every requested case present, all passing).
EXPECT=0
for i in "${!SHARDS[@]}"; do
  N="$(sed -n 's/^Ok, will run \([0-9]*\) test cases.*/\1/p' "$OUTDIR/shard-$i/wstest.log" 2>/dev/null | head -1)"
  EXPECT=$((EXPECT + ${N:-0}))
done
"$AUTOBAHN_VENV/bin/python" - "$OUTDIR" "${#SHARDS[@]}" <<'PY' || RC=2
import json, os, sys
out, n = sys.argv[1], int(sys.argv[2])
merged = {}
for i in range(n):
    path = os.path.join(out, "shard-%d" % i, "index.json")
    if not os.path.exists(path):
        sys.exit("conformance: shard %d wrote no report (%s)" % (i, path))
    for agent, cases in json.load(open(path, encoding="utf-8")).items():
        for cid, case in cases.items():
            case["reportfile"] = "shard-%d/%s" % (i, case.get("reportfile"))
            merged.setdefault(agent, {})[cid] = case
with open(os.path.join(out, "index.json"), "w", encoding="utf-8") as f:
    json.dump(merged, f, indent=1, sort_keys=True)
PY
echo "conformance: merged report of ${#SHARDS[@]} shard(s), wall time ${WALL} s:"
"$AUTOBAHN_VENV/bin/python" "$AUTOBAHN_DIR/summarize.py" "$OUTDIR" --strict-unimplemented --expect-cases "$EXPECT" || RC=1
if [ "$RC" -ne 0 ]; then
  echo "conformance: FAILED (shard logs and per-case reports under $OUTDIR)"
  exit "$RC"
fi
echo "conformance: all $EXPECT cases passed in ${WALL} s (reports under $OUTDIR/shard-*/index.html)"
