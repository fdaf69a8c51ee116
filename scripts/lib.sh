# Shared helpers for the scripts in this folder. Each `ensure_*` installs
# what is missing and does nothing when it is already there, so every script
# is safe to run twice and works on a fresh machine with Rust, Python, Node
# and apt.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
TOOLS_DIR="${GOVPULSE_TOOLS_DIR:-$HOME/.cache/govpulse/tools}"
export PATH="$HOME/.cargo/bin:$TOOLS_DIR/node_modules/.bin:$PATH"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

APT_UPDATED=""
ensure_apt() { # ensure_apt COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  say "installing $2 (apt)"
  if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

ensure_wasm_target() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown && return 0
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
}

# The wasm-bindgen CLI must match the library version in Cargo.lock exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

ensure_wasm_bindgen() {
  local want have
  want="$(wasm_bindgen_version)"
  have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
  [ "$have" = "$want" ] && return 0
  say "installing wasm-bindgen-cli $want (about 3 minutes, once)"
  cargo install --quiet wasm-bindgen-cli --version "$want" --force
}

# wasm-opt from the npm package binaryen (Debian's build miscompiles here).
BINARYEN_VERSION="${BINARYEN_VERSION:-132.0.0}"
ensure_wasm_opt() {
  if [ -x "$TOOLS_DIR/node_modules/.bin/wasm-opt" ]; then return 0; fi
  command -v npm >/dev/null 2>&1 || { echo "npm is needed for wasm-opt (binaryen)" >&2; return 1; }
  say "installing binaryen $BINARYEN_VERSION (npm) for wasm-opt"
  mkdir -p "$TOOLS_DIR"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS_DIR" "binaryen@$BINARYEN_VERSION" >/dev/null
}

ensure_chromium() {
  if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then return 0; fi
  ensure_apt chromium chromium
}
