# Same behaviour, proven: one scenario suite (tests/surfaces/suite.py) against the scenario servers of the
# core, C, Python and Node surfaces; a missing or unbuildable server fails the run. The table it prints is
# kept in CONFORMANCE.md (checked here, rewritten by `make surfaces-table`). Then hostile peers against
# every surface's echo server: fds back to baseline, no RSS growth over repeated churn.
.PHONY: surfaces surfaces-deps surfaces-table
TEST_TARGETS += surfaces

SURFACES_C_SERVER := $(C_OUT)/scenario_server

## surfaces-deps: the four scenario servers (core example, C program) and the Python/Node packages
surfaces-deps: build-c venv node-install
	cargo build --release --locked -p wssession-core --example scenario_server --example echo
	gcc $(C_CFLAGS) tests/surfaces/servers/scenario_server.c $(C_LIBDIR)/libwssession.a $(C_STATIC_LIBS) \
	    -o $(SURFACES_C_SERVER)

## surfaces: every scenario x every surface, one table; fails on any failed cell or a stale CONFORMANCE.md table;
## then the hostile peers of core/tests/reliability.rs against every surface's echo server (tests/surfaces/hostile.py)
surfaces: surfaces-deps
	$(VPY) -m mypy --strict tests/surfaces
	$(VPY) tests/surfaces/suite.py --doc CONFORMANCE.md
	$(VPY) tests/surfaces/hostile.py

## surfaces-table: run the suite and rewrite its table in CONFORMANCE.md
surfaces-table: surfaces-deps
	$(VPY) tests/surfaces/suite.py --doc CONFORMANCE.md --write-doc
