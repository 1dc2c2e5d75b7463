# Node addon (bindings-node): build from source through npm, check the generated loader/types, run node --test.
.PHONY: node-install node-dts-check test-node
TEST_TARGETS += node-dts-check test-node

NODE_STAMP := node_modules/.wssession-installed

# npm ci installs ws/typescript and builds the addon through bindings-node/scripts/build.js (cargo).
# allowScripts in package.json approves that install script (npm install-scripts approve wssession).
node-install:
	command -v node >/dev/null || { echo "node (>= 20) is required" >&2; exit 1; }
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

# Regenerates index.js/index.d.ts with the napi CLI and fails if they differ from the committed ones.
node-dts-check: node-install
	cd bindings-node && npm ci --ignore-scripts --no-audit --no-fund && npx napi build --platform --release --js index.js --dts index.d.ts
	git diff --exit-code -- bindings-node/index.js bindings-node/index.d.ts

# The https.Server tests make a self-signed certificate with openssl (installed from Debian if missing).
test-node: node-install
	@command -v openssl >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq openssl; }
	@command -v ss >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq iproute2; }  # backlog test reads ss
	node --test --test-concurrency=1 tests/node/
