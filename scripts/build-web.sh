#!/usr/bin/env bash
# Build the playground into dist/: the Yew app (web/) through Trunk, then the
# sample workloads into dist/modules/.
#
#   scripts/build-web.sh
#
# Trunk reads Trunk.toml (entry static/index.html, output dist/). The app is
# built with the size-optimised cargo profile `web` (data-cargo-profile-release
# in static/index.html). Trunk runs offline, using the wasm-bindgen pinned in
# Trunk.toml (installed by scripts/setup.sh), so nothing is downloaded at build
# time; crates are fetched by `cargo fetch` first. Uses CARGO_TARGET_DIR if set
# (default: target/).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# shellcheck source=scripts/wasm-env.sh
. "$ROOT/scripts/wasm-env.sh"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

say() { printf '==> %s\n' "$*"; }

command -v trunk >/dev/null || { echo "trunk not found; run scripts/setup.sh" >&2; exit 1; }

start=$SECONDS
# `trunk --offline` makes cargo offline too: fetch the app's crates (and, with
# build-std, std's own dependencies) now.
say "cargo fetch --target wasm32-unknown-unknown"
cargo fetch --quiet --manifest-path web/Cargo.toml --target wasm32-unknown-unknown

say "trunk build --release (profile web)"
trunk --offline=true build --release
say "  dist/ built in $((SECONDS - start)) s"

"$ROOT/scripts/build-workloads.sh" "$ROOT/dist/modules"

for f in dist/*.wasm; do
    say "$(basename "$f"): $(wc -c <"$f") bytes, $(gzip -9c "$f" | wc -c) gzipped"
done
say "playground in dist/ ($((SECONDS - start)) s); serve it with e.g. python3 -m http.server -d dist"
