# Brokers for the backplane tests (core/tests/backplane_*.rs): Debian's redis-server and
# nats-server, installed when missing. The tests start and stop their own instances on 127.0.0.1.
.PHONY: brokers

brokers:
	@command -v redis-server >/dev/null && command -v nats-server >/dev/null || \
		{ SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server nats-server; }
	@# The packages may start system-wide daemons; the tests never use them (own ports).

test-rust: brokers
test-c: brokers
test-python: brokers
test-node: brokers

.PHONY: demo-rooms
BACKPLANE ?= redis://127.0.0.1:6379
## demo-rooms: the chat demo (rooms as topics) on 127.0.0.1:$(PORT) sharing its rooms through $(BACKPLANE), the port shared too (SO_REUSEPORT); run it in two terminals
demo-rooms:
	cargo run --release --locked -p wssession-core --example chat -- --port $(PORT) --reuse-port --backplane '$(BACKPLANE)'

.PHONY: bench-backplane
## bench-backplane: added cross-node p99 latency through Redis and NATS on loopback (bench/src/bin/backplane-latency.rs)
bench-backplane: brokers
	cargo run --release --locked -p wssession-bench --bin backplane-latency -- $(BENCH_BACKPLANE_ARGS)
