# shellcheck shell=bash
# Environment for WebAssembly builds (the playground and the sample workloads).
#
#   source scripts/wasm-env.sh
#
# Reads .tools/wasm.env, which scripts/setup.sh writes for this machine (untracked):
#   TABERNETES_WASM_MODE=rustup  rustup has the wasm32-unknown-unknown and
#                                wasm32-wasip1 targets: nothing to change.
#   TABERNETES_WASM_MODE=debian  rustup has no wasm targets (see TOOLCHAIN.md):
#                                Debian's rustc (rustc-web) builds std from source
#                                (-Z build-std), rust-lld links, wasi-libc provides
#                                libc for wasm32-wasip1. A `cargo` wrapper is put
#                                first on PATH so tools that call `cargo` (Trunk)
#                                get this toolchain.
#
# Only for wasm builds: source it in a script or subshell, not in your login
# shell, or native builds would use Debian's toolchain too.
# shellcheck disable=SC2317  # `exit` is reached when executed instead of sourced

_tb_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_tb_envfile="$_tb_root/.tools/wasm.env"

if [ ! -f "$_tb_envfile" ]; then
    echo "wasm-env: $_tb_envfile is missing; run scripts/setup.sh first" >&2
    unset _tb_root _tb_envfile
    return 1 2>/dev/null || exit 1
fi
# shellcheck disable=SC1090
. "$_tb_envfile"

# cargo-installed tools (trunk, wasm-bindgen) and rustup's proxies.
case ":$PATH:" in
    *":$HOME/.cargo/bin:"*) ;;
    *) export PATH="$HOME/.cargo/bin:$PATH" ;;
esac

case "${TABERNETES_WASM_MODE:-}" in
    rustup)
        ;;
    debian)
        export RUSTC=/usr/bin/rustc
        export RUSTDOC=/usr/bin/rustdoc
        export RUSTC_BOOTSTRAP=1
        # Same as `[unstable] build-std = [...]`; only applies when --target is given.
        export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
        export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$TABERNETES_WASM_LINKER"
        export CARGO_TARGET_WASM32_WASIP1_LINKER="$TABERNETES_WASM_LINKER"
        # Debian's std sources come without the self-contained wasi-libc objects;
        # link against the wasi-libc package instead. (An explicit RUSTFLAGS
        # would override this.)
        export CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS="-L ${TABERNETES_WASI_LIBC:-/usr/lib/wasm32-wasi} -C target-feature=-crt-static"
        export PATH="$_tb_root/.tools/bin:$PATH"
        ;;
    *)
        echo "wasm-env: unknown TABERNETES_WASM_MODE '${TABERNETES_WASM_MODE:-}' in $_tb_envfile; rerun scripts/setup.sh" >&2
        unset _tb_root _tb_envfile
        return 1 2>/dev/null || exit 1
        ;;
esac

unset _tb_root _tb_envfile
