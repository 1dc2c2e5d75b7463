# Rust workspace: format, lint, build, unit + integration tests.
.PHONY: fmt-check clippy build-rust test-rust
TEST_TARGETS += fmt-check clippy test-rust

fmt-check:
	cargo fmt --all --check

clippy:
	cargo clippy --locked --workspace --all-targets -- -D warnings

build-rust:
	cargo build --locked --release --workspace

test-rust:
	cargo test --locked --workspace
