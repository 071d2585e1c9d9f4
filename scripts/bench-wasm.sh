#!/usr/bin/env bash
# Builds one of core's benchmarks for wasm32-wasip1 and runs it in headless
# Chromium (the engine the playground runs in), so its figures sit next to
# the native ones (cargo bench -p tabernetes-core).
#   scripts/bench-wasm.sh store
#   scripts/bench-wasm.sh scheduler TopologySpreading   # one workload
#   WASM_ENGINE=node scripts/bench-wasm.sh scheduler    # on Node's V8 instead
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BENCH="${1:?usage: scripts/bench-wasm.sh BENCH (e.g. store)}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
. scripts/wasm-env.sh
cargo bench --locked -p tabernetes-core --bench "$BENCH" --target wasm32-wasip1 --no-run
wasm="$(ls -t "$CARGO_TARGET_DIR"/wasm32-wasip1/release/deps/"$BENCH"-*.wasm | head -1)"
case "${WASM_ENGINE:-chromium}" in
    chromium) node scripts/run-wasi-chromium.mjs "$wasm" "${@:2}" ;;
    # Node 20 may crash (SIGSEGV) on exit after the figures are printed.
    node) node scripts/run-wasi.mjs "$wasm" "${@:2}" ;;
    *) echo "WASM_ENGINE must be chromium or node" >&2; exit 2 ;;
esac
