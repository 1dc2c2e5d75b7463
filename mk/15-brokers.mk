# Brokers for the backplane tests (core/tests/backplane_*.rs): Debian's redis-server and
# nats-server, installed when missing. The tests start and stop their own instances on 127.0.0.1.
.PHONY: brokers

brokers:
	@command -v redis-server >/dev/null && command -v nats-server >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq redis-server nats-server)
	@# The packages may start system-wide daemons; the tests never use them (own ports).

test-rust: brokers
