#!/usr/bin/env bash
# Runs every test: installs what is missing (scripts/setup.sh), builds the
# playground and the sample workloads, then
#   1. the native workspace tests (core unit and scenario tests, node-host's
#      wasmtime runner and its end-to-end join test with the real protocol);
#   2. the in-page WASI shim's tests on a real WebAssembly engine (Node);
#   3. the playground in headless Chromium against a real node-host, and the
#      real kubectl against the cluster in that tab (node-host's relay); and
#      the runner that puts the wasm benchmarks in headless Chromium;
#   4. the real kubectl and the official Python client against node-host's
#      standalone mode (tests/kubectl);
#   5. a bounded fuzzing run of the API request handler (core/fuzz).
# Uses CARGO_TARGET_DIR if set (a cache outside the clone is fine), else target/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export PATH="$HOME/.cargo/bin:$PATH"
say() { printf '\n==> %s\n' "$*"; }
start=$SECONDS

say "setup"
scripts/setup.sh

say "build the playground and sample workloads"
scripts/build-web.sh

say "native tests (cargo test --workspace)"
TABERNETES_MODULES_DIR="$ROOT/dist/modules" cargo test --workspace --locked

say "in-page WASI shim tests on Node's WebAssembly engine"
(
    . scripts/wasm-env.sh
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
    cargo test --locked -p tabernetes-web --target wasm32-unknown-unknown --test wasi_shim
)

say "playground end to end in headless Chromium, and kubectl through the tab"
cargo build --locked -p node-host
(
    export PATH="$PATH:$ROOT/.tools/venv/bin"
    cd tests/e2e && NODE_HOST_BIN="$CARGO_TARGET_DIR/debug/node-host" DIST_DIR="$ROOT/dist" npm test
)

say "the real kubectl and the official Python client against node-host standalone"
(
    export PATH="$PATH:$ROOT/.tools/venv/bin" NODE_HOST_BIN="$CARGO_TARGET_DIR/debug/node-host" DIST_DIR="$ROOT/dist"
    cd tests/kubectl && "$ROOT/.tools/venv/bin/python" -m unittest -v test_kubectl test_python_client
)

say "fuzz the API request handler for ${TABERNETES_FUZZ_SECONDS:=60} s"
scripts/fuzz.sh "$TABERNETES_FUZZ_SECONDS"

say "all tests passed in $((SECONDS - start)) s"
