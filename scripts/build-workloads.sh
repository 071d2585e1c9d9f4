#!/usr/bin/env bash
# Build every sample workload (workloads/*/Cargo.toml) for wasm32-wasip1, release,
# and copy each binary's module into an output directory.
#
#   scripts/build-workloads.sh [OUT_DIR]      # default: <repo>/dist/modules
#
# Produces OUT_DIR/<binary>.wasm (e.g. dist/modules/hello.wasm). Uses
# CARGO_TARGET_DIR if set (default: target/ at the repository root), so the
# workloads share one target directory with everything else. If Node is
# available, a workload's smoke-test.mjs is run against its module.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/dist/modules}"
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac

# shellcheck source=scripts/wasm-env.sh
. "$ROOT/scripts/wasm-env.sh"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

say() { printf '==> %s\n' "$*"; }

mkdir -p "$OUT"
shopt -s nullglob
manifests=("$ROOT"/workloads/*/Cargo.toml)
[ ${#manifests[@]} -gt 0 ] || { echo "no workloads under $ROOT/workloads" >&2; exit 1; }

for manifest in "${manifests[@]}"; do
    dir="$(dirname "$manifest")"
    name="$(basename "$dir")"
    say "workload $name: cargo build --release --target wasm32-wasip1"
    start=$SECONDS
    # JSON messages on stdout name the built executables; diagnostics go to stderr.
    json="$(cargo build --release --target wasm32-wasip1 --manifest-path "$manifest" \
        --message-format=json-render-diagnostics)"
    mapfile -t wasms < <(printf '%s\n' "$json" | grep -o '"executable":"[^"]*\.wasm"' | cut -d'"' -f4)
    [ ${#wasms[@]} -gt 0 ] || { echo "workload $name: cargo produced no .wasm executable" >&2; exit 1; }
    for wasm in "${wasms[@]}"; do
        cp "$wasm" "$OUT/$(basename "$wasm")"
        say "  $OUT/$(basename "$wasm") ($(wc -c <"$wasm") bytes, $((SECONDS - start)) s)"
        if [ -f "$dir/smoke-test.mjs" ] && command -v node >/dev/null; then
            node --no-warnings "$dir/smoke-test.mjs" "$OUT/$(basename "$wasm")"
        fi
    done
done
