# fleetbench: `make demo` runs a real multi-agent benchmark against the simulated engine;
# `make test` runs every test. Both install what they need (the Rust components) themselves.

# Builds live outside the clone so that CI and later clones on the same machine reuse them.
export CARGO_TARGET_DIR ?= /var/cache/fleetbench/target
CARGO ?= cargo
BIN := $(CARGO_TARGET_DIR)/debug

.PHONY: all build test demo bench fmt lint toolchain clean-results

all: build

toolchain:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)"; exit 1; }
	@mkdir -p $(CARGO_TARGET_DIR) 2>/dev/null || true
	@if command -v rustup >/dev/null; then rustup component add rustfmt clippy >/dev/null 2>&1 || true; fi

build: toolchain
	$(CARGO) build --workspace --bins

# Unit tests next to the code, then the end-to-end tests (real processes on loopback) one at a
# time, since they measure timing on a small machine.
test: build
	$(CARGO) test --workspace --exclude fleetbench-e2e
	$(CARGO) test -p fleetbench-e2e -- --test-threads=1

demo: build
	BIN=$(BIN) bash scripts/demo.sh

bench: toolchain
	$(CARGO) build --release --workspace --bins
	$(CARGO_TARGET_DIR)/release/sim-bench

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean-results:
	rm -rf results
