# Reliability: fuzz smoke (cargo-fuzz/libFuzzer on stable via RUSTC_BOOTSTRAP) and the hostile-peer suite.
.PHONY: fuzz-smoke fuzz-replay test-reliability
TEST_TARGETS += fuzz-smoke test-reliability

FUZZ_TARGETS := decoder handshake negotiate inflate utf8 session
# Seconds per target for `make fuzz-smoke` (6 targets).
FUZZ_SECONDS ?= 20
FUZZ_FLAGS := --sanitizer none -O
# The fuzz crate has its own workspace; keep its build next to the main one.
FUZZ_TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(ROOT)/target)

## fuzz-smoke: every fuzz target for FUZZ_SECONDS under libFuzzer (fails on any crash); falls back
## to fuzz-replay when cargo-fuzz cannot be installed or built here
fuzz-smoke:
	@if ! command -v cargo-fuzz >/dev/null 2>&1; then \
	  echo "fuzz-smoke: installing cargo-fuzz from crates.io"; \
	  cargo install --locked cargo-fuzz --version 0.13.2 || true; \
	fi
	@if command -v cargo-fuzz >/dev/null 2>&1 && \
	    (cd fuzz && CARGO_TARGET_DIR=$(FUZZ_TARGET_DIR) RUSTC_BOOTSTRAP=1 cargo fuzz build $(FUZZ_FLAGS)); then \
	  set -e; for t in $(FUZZ_TARGETS); do \
	    work=$$(mktemp -d); log=$$work.log; \
	    if (cd fuzz && CARGO_TARGET_DIR=$(FUZZ_TARGET_DIR) RUSTC_BOOTSTRAP=1 cargo fuzz run $(FUZZ_FLAGS) $$t \
	        $$work corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -rss_limit_mb=2048 -timeout=20) \
	        >$$log 2>&1; then \
	      echo "fuzz-smoke: $$t ok: $$(grep -E '^Done' $$log | tail -1)"; \
	    else \
	      tail -40 $$log; echo "fuzz-smoke: target $$t FAILED; the input is in fuzz/artifacts/$$t/"; \
	      rm -rf $$work $$log; exit 1; \
	    fi; \
	    rm -rf $$work $$log; \
	  done; \
	  echo "fuzz-smoke: 6 passed, 0 failed"; \
	else \
	  echo "fuzz-smoke: cargo-fuzz unavailable; replaying corpora + a longer random loop instead"; \
	  $(MAKE) --no-print-directory fuzz-replay FUZZ_RANDOM_ITERS=20000; \
	fi

## fuzz-replay: the committed corpora and crash regressions through the targets, no fuzzer needed
FUZZ_RANDOM_ITERS ?= 300
fuzz-replay:
	FUZZ_RANDOM_ITERS=$(FUZZ_RANDOM_ITERS) cargo test --locked -p wssession-core --test fuzz_corpus

## test-reliability: hostile peers, faults and connection load against a real server (debug build, shared
## with test-rust; the figures in RELIABILITY.md use --release)
RELIABILITY_CONNS ?= 2000
RELIABILITY_CYCLES ?= 5000
test-reliability:
	RELIABILITY_CONNS=$(RELIABILITY_CONNS) RELIABILITY_CYCLES=$(RELIABILITY_CYCLES) \
	  cargo test --locked -p wssession-core --test reliability -- --test-threads=2 --nocapture

## deny: dependency review with cargo-deny (not in `make test`: installing it takes ~8 min on 2 cores)
.PHONY: deny
deny:
	@command -v cargo-deny >/dev/null 2>&1 || cargo install --locked cargo-deny --version 0.20.2
	cargo deny check licenses bans sources
	-cargo deny check advisories
