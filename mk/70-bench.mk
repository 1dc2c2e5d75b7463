# Benchmarks (issue 7). `make bench` runs the whole matrix unattended and writes BENCHMARKS.md;
# `make bench-server IMPL=<name> PORT=N [DEFLATE=1]` runs one echo server in the foreground.
# Benchmarks are not tests: only the cheap functional `bench-smoke` joins TEST_TARGETS.
# Knobs: BENCH_SECS (window, default 2), BENCH_RUNS (default 3), BENCH_IDLE_RUNS (default 1),
# BENCH_IMPLS and BENCH_SCENARIOS (comma lists). Installs go to target/bench/.
# `make bench-fanout` runs only the topics fan-out benchmark (issue 18) and rewrites its section.
.PHONY: bench bench-fanout bench-server bench-smoke
TEST_TARGETS += bench-smoke
BENCH_IMPL_NAMES := rust c python python-callback node node-http node-https tokio-tungstenite fastwebsockets rawtcp \
	ws uws websockets websockets-uvloop picows aiohttp
# Issue 16: the Rust and Python servers with their log records at INFO (the logging-cost row).
BENCH_IMPL_NAMES += rust-log-info python-log-info
# Issue 19: the host-loop modes and the core without idle tasks.
BENCH_IMPL_NAMES += python-hostloop python-callback-hostloop python-hostloop-uvloop python-callback-hostloop-uvloop \
	node-hostloop rust-no-idle-tasks

# The Python extension and the Node addon are built from this tree first (a stale .venv or
# node_modules would measure another build).
bench: venv node-install
	python3 bench/run.py matrix
	python3 bench/run.py fanout

bench-fanout: venv node-install
	python3 bench/run.py fanout

bench-server:
	@$(if $(filter $(IMPL),$(BENCH_IMPL_NAMES)),true,echo "IMPL must be one of: $(BENCH_IMPL_NAMES)" >&2; exit 2)
	python3 bench/run.py serve $(IMPL) --port $(PORT) $(if $(filter 1,$(DEFLATE)),--deflate)

bench-smoke:
	python3 bench/run.py smoke
