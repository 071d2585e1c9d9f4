#!/usr/bin/env bash
# Fuzzes the API server's request handler (core/fuzz, libFuzzer via cargo-fuzz)
# for a bounded time: scripts/fuzz.sh [SECONDS] (default 60). A crash input is
# kept under core/fuzz/artifacts/ and the script fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_TO_RUN="${1:-60}"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
cd "$ROOT/core"
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    # cargo-fuzz passes -Z flags; stable accepts them when told it is bootstrapping.
    export RUSTC_BOOTSTRAP=1
fi
# Safe Rust: look for panics and broken invariants, without a sanitizer's cost.
# The dev profile: an optimised, instrumented build of core takes over ten
# minutes on two cores, longer than the run it serves.
# libFuzzer reports every new input; that goes to a log, and only its
# summary (or, on a crash, its end) is printed.
log="$CARGO_TARGET_DIR/fuzz-api_request.log"
cargo "${toolchain[@]}" fuzz build api_request --sanitizer none --dev
if cargo "${toolchain[@]}" fuzz run api_request --sanitizer none --dev -- \
    -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1; then
    grep -E '^(Done|stat::)' "$log"
else
    tail -n 60 "$log"
    echo "fuzzing found a failure; the input is under core/fuzz/artifacts/ (full log: $log)" >&2
    exit 1
fi
