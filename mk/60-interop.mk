# Interop: real clients (Python websockets, Node ws) and a real browser (headless Debian Chromium via
# playwright-core) against the core's servers; the same client scenarios run against the C / Python / Node
# echo servers (built first: a missing one fails the run). Installs its own tools: a pinned venv, `npm ci`, apt-get chromium (and openssl, for the TLS run).
.PHONY: interop interop-deps
TEST_TARGETS += interop

INTEROP_TARGET := $(or $(CARGO_TARGET_DIR),$(ROOT)/target)
INTEROP_VENV := $(INTEROP_TARGET)/interop-venv
INTEROP_WEBSOCKETS := websockets==17.4

interop-deps:
	cargo build --release --locked -p wssession-core --example scenarios --example echo --example chat
	@if ! "$(INTEROP_VENV)/bin/python" -c 'import websockets, sys; sys.exit(websockets.__version__ != "$(subst websockets==,,$(INTEROP_WEBSOCKETS))")' 2>/dev/null; then \
	  echo "interop: creating $(INTEROP_VENV) with $(INTEROP_WEBSOCKETS)"; \
	  python3 -m venv "$(INTEROP_VENV)" && "$(INTEROP_VENV)/bin/pip" install --quiet --disable-pip-version-check "$(INTEROP_WEBSOCKETS)"; \
	fi
	@if [ ! -f tests/interop/node_modules/.package-lock.json ] || [ tests/interop/package-lock.json -nt tests/interop/node_modules/.package-lock.json ]; then \
	  cd tests/interop && npm ci --no-audit --no-fund; \
	fi
	@PKGS="$$( [ -x /usr/bin/chromium ] || echo chromium ) $$(command -v openssl >/dev/null || echo openssl)"; \
	if [ -n "$$(echo $$PKGS)" ]; then \
	  echo "interop: installing Debian's $$PKGS"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$PKGS; \
	fi

## interop: Python websockets, Node ws and headless Chromium against the core and the C, Python and Node echo servers
interop: interop-deps build-c venv node-install
	tests/interop/run.sh --all
