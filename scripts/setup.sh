#!/usr/bin/env bash
# Installs what the build and the tests need, only when it is missing. Idempotent.
# Usage: scripts/setup.sh build|release|browser|libraries|postgres ...
# Reaches only the package registries (crates.io, npm, Debian): never GitHub.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq "$@"
}

build() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32 target"
    rustup target add wasm32-unknown-unknown
  fi
  # 0.3.11 needs a newer rustc than this toolchain; building it takes about 15 minutes, once.
  if [ "$(cargo leptos --version 2>/dev/null || true)" != "cargo-leptos 0.3.10" ]; then
    log "installing cargo-leptos 0.3.10"
    cargo install cargo-leptos --version 0.3.10 --locked
  fi
  # The CLI must equal the wasm-bindgen crate in Cargo.lock; --locked fails on a yanked dependency.
  local wbg
  wbg=$(awk '$0=="name = \"wasm-bindgen\""{getline; gsub(/"/,"",$3); print $3}' Cargo.lock)
  if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $wbg" ]; then
    log "installing wasm-bindgen-cli $wbg"
    cargo install wasm-bindgen-cli --version "$wbg" --force
  fi
}

release() {
  build
  # wasm-opt from npm's binaryen 132; Debian's binaryen 108 produces a wasm that does not hydrate.
  if [ ! -x tools/node_modules/.bin/wasm-opt ]; then
    log "installing binaryen (wasm-opt) from npm"
    npm ci --prefix tools --no-audit --no-fund
  fi
}

browser() {
  if [ ! -x /usr/bin/chromium ]; then
    log "installing Chromium from Debian"
    apt_install chromium
  fi
  if [ ! -d end2end/node_modules/@playwright/test ]; then
    log "installing Playwright (library only; it uses Debian's Chromium)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix end2end --no-audit --no-fund
  fi
}

libraries() {
  # The stores' own client libraries, pinned, that the fakes are checked against.
  local want=server/tests/official_libraries/requirements.txt
  if ! cmp -s "$want" tools/venv/installed.txt 2>/dev/null; then
    log "installing the stores' client libraries (PyPI) into tools/venv"
    python3 -m venv tools/venv
    tools/venv/bin/pip install --quiet --disable-pip-version-check -r "$want"
    cp "$want" tools/venv/installed.txt
  fi
}

postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    return
  fi
  local fresh=""
  if ! ls -d /etc/postgresql/*/main >/dev/null 2>&1; then
    log "installing PostgreSQL from Debian"
    apt_install postgresql
    fresh=1
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -1)
  if [ -n "$fresh" ]; then
    # The tests connect as postgres over TCP without a password, as on the project's machines.
    as_root sed -i '1i host all postgres 127.0.0.1/32 trust' "/etc/postgresql/$version/main/pg_hba.conf"
  fi
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && return
    sleep 1
  done
  echo "PostgreSQL did not start on 127.0.0.1:5432" >&2
  exit 1
}

for step in "$@"; do
  "$step"
done
