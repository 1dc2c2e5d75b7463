# wssession — top-level entry points. `make test` and `make demo` are the two commands.
# Each area keeps its rules in mk/<area>.mk and appends its test target to TEST_TARGETS.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ROOT := $(CURDIR)
export CARGO_TERM_COLOR ?= never
PORT ?= 9001
TEST_TARGETS :=

include $(sort $(wildcard mk/*.mk))

.PHONY: test demo
## test: build every part and run every suite; non-zero on any failure
test: $(TEST_TARGETS)
	@echo "make test: all suites passed"

## demo: the chat server and its browser page on 127.0.0.1:$(PORT)
demo:
	cargo run --release --locked -p wssession-core --example chat -- --port $(PORT)
