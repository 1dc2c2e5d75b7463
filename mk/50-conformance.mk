# Autobahn|Testsuite conformance of the core's echo server (permessage-deflate on).
# `make conformance` (1–7, 10, 12, 13) is part of `make test`; `make conformance-full` adds 9.* (limits/performance).
.PHONY: conformance conformance-full conformance-report conformance-python-hostloop conformance-node-hostloop
TEST_TARGETS += conformance

# Two shards run in parallel (wstest is single-threaded); split so each takes about half the time.
CONFORMANCE_CASES ?= 1.*,2.*,3.*,4.*,5.*,6.*,7.*,10.*,12.1.*,12.2.*,12.3.*;12.4.*,12.5.*,13.*
CONFORMANCE_FULL_CASES ?= 1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*,12.1.*,12.2.*,12.3.*;12.4.*,12.5.*,13.*
CONFORMANCE_OUT ?= $(or $(CARGO_TARGET_DIR),$(ROOT)/target)/conformance

## conformance: Autobahn cases 1–7, 10, 12, 13 against the echo example; fails on any non-passing case
conformance:
	tests/conformance/autobahn.sh '$(CONFORMANCE_CASES)' '$(CONFORMANCE_OUT)/quick'

## conformance-full: all 517 Autobahn cases, 9.* included
conformance-full:
	tests/conformance/autobahn.sh '$(CONFORMANCE_FULL_CASES)' '$(CONFORMANCE_OUT)/full'

## conformance-report: run conformance-full and regenerate CONFORMANCE.md from its report
## (with the wall time of the last `make conformance`, when there is one)
conformance-report: conformance-full
	python3 tests/conformance/report.py '$(CONFORMANCE_OUT)/full' CONFORMANCE.md \
	  $(if $(wildcard $(CONFORMANCE_OUT)/quick/wall-seconds),--quick '$(CONFORMANCE_OUT)/quick')

## conformance-python-hostloop: the same cases against the Python echo server with host_loop=True
## (the asyncio loop reads the sockets; bench/servers/python_echo.py --host-loop)
conformance-python-hostloop: venv
	AUTOBAHN_SERVER_CMD='$(VPY) $(ROOT)/bench/servers/python_echo.py --host-loop' \
	  tests/conformance/autobahn.sh '$(CONFORMANCE_CASES)' '$(CONFORMANCE_OUT)/python-hostloop'

## conformance-node-hostloop: the same cases against the Node echo server with hostLoop: true
## (Node's libuv loop reads the sockets; bench/servers/node_echo.js --host-loop)
conformance-node-hostloop: node-install
	AUTOBAHN_SERVER_CMD='node $(ROOT)/bench/servers/node_echo.js --host-loop' \
	  tests/conformance/autobahn.sh '$(CONFORMANCE_CASES)' '$(CONFORMANCE_OUT)/node-hostloop'
