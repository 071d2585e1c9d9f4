#!/usr/bin/env bash
# Starts the playground with this machine joined as a node: installs what is
# missing, builds the playground and node-host, then runs node-host on
# http://127.0.0.1:8080 (or the address given as $1). Open the join URL it
# prints. Extra arguments go to node-host (see `node-host --help`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export PATH="$HOME/.cargo/bin:$PATH"
LISTEN="${1:-127.0.0.1:8080}"
shift || true

scripts/setup.sh
scripts/build-web.sh
cargo build --locked --release -p node-host
exec "$CARGO_TARGET_DIR/release/node-host" --listen "$LISTEN" --dist "$ROOT/dist" "$@"
