# Benchmarks (issue 7). `make bench` runs the whole matrix unattended and writes BENCHMARKS.md;
# `make bench-server IMPL=<name> PORT=N [DEFLATE=1]` runs one echo server in the foreground.
# Benchmarks are not tests: only the cheap functional `bench-smoke` joins TEST_TARGETS.
# Knobs: BENCH_SECS (window, default 2), BENCH_RUNS (default 3), BENCH_IDLE_RUNS (default 1),
# BENCH_IMPLS and BENCH_SCENARIOS (comma lists). Installs go to target/bench/.
# `make bench-fanout` runs only the topics fan-out benchmark (issue 18) and rewrites its section.
.PHONY: bench bench-fanout bench-server bench-smoke
TEST_TARGETS += bench-smoke
BENCH_IMPL_NAMES := rust c python python-callback node node-http node-https tokio-tungstenite fastwebsockets rawtcp \
	ws websockets websockets-uvloop picows aiohttp

bench:
	python3 bench/run.py matrix
	python3 bench/run.py fanout

bench-fanout:
	python3 bench/run.py fanout

bench-server:
	@$(if $(filter $(IMPL),$(BENCH_IMPL_NAMES)),true,echo "IMPL must be one of: $(BENCH_IMPL_NAMES)" >&2; exit 2)
	python3 bench/run.py serve $(IMPL) --port $(PORT) $(if $(filter 1,$(DEFLATE)),--deflate)

bench-smoke:
	python3 bench/run.py smoke
