# Shared by tests/dist/run.sh (artifacts, no Rust toolchain) and tests/dist/source.sh (source builds):
# a work dir, one server at a time read through fd 3, fresh client environments, the echo suites.
# The sourcing script sets NAME (message prefix), DIST and VERSION, and may set LAUNCH (how servers and
# clients run: `clean` in run.sh; by default as they are).

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WEBSOCKETS=websockets==17.4 # the interop suite's pins
WS=ws@8.23.0
LAUNCH="${LAUNCH:-as_is}"
as_is() { exec "$@"; }
launch() { ("$LAUNCH" "$@"); }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/wssession-$NAME.XXXXXX")"
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
  exec 3<&- || true
}
trap 'stop_server; rm -rf "$WORK"' EXIT

fail() {
  echo "$NAME: FAILED: $*" >&2
  exit 1
}

# start_server LOG CMD...: starts CMD (through LAUNCH), waits (<= 60 s) for its stdout line
# containing "listening", sets PORT from it, SERVER_PID, and LISTENING_AT (when the line came).
start_server() {
  local log="$1" line
  shift
  exec 3< <("$LAUNCH" "$@" 2>"$log")
  SERVER_PID=$!
  while IFS= read -r -t 60 line <&3; do
    case "$line" in *listening*) break ;; esac
  done
  [[ "$line" == *listening* ]] || { cat "$log" >&2; fail "server did not start: $*"; }
  # "listening on port N" (quickstart.py/js) or "... listening on ws://127.0.0.1:N/" (echo_server.c)
  [[ "$line" =~ (port\ |127\.0\.0\.1:)([0-9]+) ]] || fail "no port in: $line"
  PORT="${BASH_REMATCH[2]}"
  LISTENING_AT="$(now)"
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# new_venv DIR: a fresh venv (Debian's python3 when present: what a Debian user has) with the
# websockets client; sets VPY.
new_venv() {
  local python=/usr/bin/python3
  [ -x "$python" ] || python="$(python3 -c 'import sys; print(sys.executable)')"
  launch "$python" -m venv "$1"
  VPY="$1/bin/python"
  launch "$VPY" -m pip install -q --only-binary :all: "$WEBSOCKETS"
}

# new_npm_project DIR: a fresh npm project with the ws client, the quick start and the interop client.
new_npm_project() {
  mkdir -p "$1"
  cp "$HERE/quickstart.js" "$ROOT/tests/interop/node_client.mjs" "$1/"
  (cd "$1" && launch npm init -y >/dev/null && launch npm install -q --no-audit --no-fund "$WS")
}

# python_echo VPY: the README's Python quick start in VPY's environment, driven by websockets' echo suite.
python_echo() {
  start_server "$WORK/py-server.log" "$1" "$HERE/quickstart.py" 0
  launch "$1" "$ROOT/tests/interop/py_client.py" --url "ws://127.0.0.1:$PORT" --suite echo ||
    fail "websockets' echo scenarios against the Python quick start"
  stop_server
}

# node_echo DIR: the README's Node quick start in the npm project DIR, driven by ws' echo suite.
node_echo() {
  cd "$1"
  start_server "$WORK/node-server.log" node quickstart.js 0
  launch node node_client.mjs --url "ws://127.0.0.1:$PORT" --suite echo || fail "ws' echo scenarios against the Node quick start"
  stop_server
  cd "$ROOT"
}
