#!/usr/bin/env bash
# Runs the interop client scenarios against one server command, or (--all) against every server we have.
#
#   tests/interop/run.sh --server-cmd 'CMD ... {port} ...' [--suite echo|scenarios] [--name NAME] [--no-deflate-offered]
#   tests/interop/run.sh --all
#
# --server-cmd: a command that serves WebSocket on 127.0.0.1:{port} ({port} is replaced by a free port) and
#   runs until killed. `echo` suite: any echo server (echo-server contract in HELPERS.md); `scenarios` suite:
#   core/examples/scenarios.rs (the SPEC §6 close paths). Clients: Python websockets (target/interop-venv)
#   and Node ws (tests/interop/node_modules).
#   A template with {cert} and {key} gets a self-signed certificate for 127.0.0.1 (made with openssl) and is
#   driven over wss://, the clients verifying it against that certificate.
# --all: the core's scenarios server, the core's echo example, the C / Python / Node echo servers when present
#   (a missing one is a failure, never a skip; the C one also over TLS), and headless Chromium on the chat demo.
# Env: CARGO_TARGET_DIR, INTEROP_PY (default target/interop-venv/bin/python), INTEROP_OUT (screenshots, logs).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
PY="${INTEROP_PY:-$TARGET/interop-venv/bin/python}"
OUT="${INTEROP_OUT:-$TARGET/interop}"
mkdir -p "$OUT"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    # Bounded wait: a server that ignores SIGTERM gets SIGKILL after 5 s.
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
trap stop_server EXIT

# start_server NAME CMD_TEMPLATE: starts it on a free port, sets PORT, waits (≤ 15 s) until it accepts.
start_server() {
  local name="$1" template="$2" log="$OUT/server-$1.log"
  PORT="$(free_port)"
  local cmd="${template//\{port\}/$PORT}"
  echo "interop: [$name] starting: $cmd"
  bash -c "exec $cmd" >"$log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 150); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "interop: [$name] server exited before listening:"; cat "$log"; return 1
    fi
    if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()' \
      "$PORT" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "interop: [$name] server did not listen on $PORT within 15 s"; cat "$log"; return 1
}

# tls_files: a self-signed certificate and key for 127.0.0.1 under $OUT/tls (made once per run).
tls_files() {
  CERT="$OUT/tls/cert.pem"; KEY="$OUT/tls/key.pem"
  [ -s "$CERT" ] && [ -s "$KEY" ] && return 0
  mkdir -p "$OUT/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$KEY" -out "$CERT" 2>"$OUT/tls/openssl.log"
}

FAILED=()
# run_clients NAME CMD_TEMPLATE SUITE [--no-deflate-offered]
run_clients() {
  local name="$1" template="$2" suite="$3" extra="${4:-}" scheme=ws
  if [[ "$template" == *"{cert}"* ]]; then
    if ! tls_files; then FAILED+=("$name: openssl could not make a certificate"); return; fi
    template="${template//\{cert\}/$CERT}"; template="${template//\{key\}/$KEY}"
    scheme=wss; extra="$extra --ca $CERT"
  fi
  if ! start_server "$name" "$template"; then FAILED+=("$name: server start"); return; fi
  local url="$scheme://127.0.0.1:$PORT"
  echo "interop: [$name] Python websockets client, suite $suite"
  timeout -k 5 180 "$PY" "$HERE/py_client.py" --url "$url" --suite "$suite" $extra || FAILED+=("$name: python websockets")
  echo "interop: [$name] Node ws client, suite $suite"
  timeout -k 5 180 node "$HERE/node_client.mjs" --url "$url" --suite "$suite" $extra || FAILED+=("$name: node ws")
  stop_server
}

run_browser() {
  if [ ! -x /usr/bin/chromium ]; then
    echo "interop: /usr/bin/chromium missing (make interop installs it)"; FAILED+=("chromium: not installed"); return
  fi
  if ! start_server chat "$TARGET/release/examples/chat --port {port}"; then FAILED+=("chat: server start"); return; fi
  echo "interop: [chat] headless Chromium (playwright-core)"
  timeout -k 5 120 node "$HERE/browser.mjs" --url "http://127.0.0.1:$PORT/" --screenshot "$OUT" || FAILED+=("chat: chromium")
  stop_server
}

MODE=""; SERVER_CMD=""; SUITE="echo"; NAME="custom"; EXTRA=""
while [ $# -gt 0 ]; do
  case "$1" in
    --all) MODE=all ;;
    --server-cmd) SERVER_CMD="$2"; shift ;;
    --suite) SUITE="$2"; shift ;;
    --name) NAME="$2"; shift ;;
    --no-deflate-offered) EXTRA="--no-deflate-offered" ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

START=$(date +%s)
if [ "$MODE" = all ]; then
  run_clients core-scenarios "$TARGET/release/examples/scenarios --port {port}" scenarios
  run_clients core-echo "$TARGET/release/examples/echo --port {port} --deflate" echo
  run_clients core-echo-no-deflate "$TARGET/release/examples/echo --port {port}" echo --no-deflate-offered
  C_ECHO=""
  for c in "$ROOT/target/c/echo_server" "$TARGET/c/echo_server"; do [ -x "$c" ] && { C_ECHO="$c"; break; }; done
  if [ -n "$C_ECHO" ]; then
    run_clients c-echo "$C_ECHO {port} --deflate" echo
    run_clients c-echo-tls "$C_ECHO {port} --deflate --tls {cert} {key}" echo
  else
    FAILED+=("c-echo: target/c/echo_server absent (make build-c builds it)")
  fi
  if [ -f bench/servers/python_echo.py ] && .venv/bin/python -c 'import wssession' 2>/dev/null; then
    run_clients python-echo ".venv/bin/python bench/servers/python_echo.py --port {port} --deflate" echo
  else
    FAILED+=("python-echo: no importable wssession in .venv (make venv)")
  fi
  if [ -f bench/servers/node_echo.js ] && node -e "require('wssession')" 2>/dev/null; then
    run_clients node-echo "node bench/servers/node_echo.js --port {port} --deflate" echo
  else
    FAILED+=("node-echo: the wssession addon does not load (make node-install)")
  fi
  run_browser
elif [ -n "$SERVER_CMD" ]; then
  run_clients "$NAME" "$SERVER_CMD" "$SUITE" "$EXTRA"
else
  echo "run.sh: give --server-cmd CMD or --all (see --help)" >&2; exit 2
fi

echo "interop: finished in $(($(date +%s) - START)) s"
if [ ${#FAILED[@]} -gt 0 ]; then
  printf 'interop: FAILED: %s\n' "${FAILED[@]}"; exit 1
fi
echo "interop: all scenarios passed"
