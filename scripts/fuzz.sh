#!/usr/bin/env bash
# Runs every fuzz target of server/fuzz for SECONDS each (default 60) and fails on the first crash.
# cargo-fuzz needs nightly flags (-Zsanitizer); RUSTC_BOOTSTRAP lets this stable toolchain take them.
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
# Its own target dir: sanitizer flags would otherwise rebuild the main build from scratch each time.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
cd server/fuzz
targets=$(cargo fuzz list)
cargo fuzz build --release 2>&1 | tail -3
log=$(mktemp)
for target in $targets; do
  mkdir -p "corpus/$target"
  echo "==> fuzzing $target for ${seconds}s"
  # -max_len keeps inputs near the size of real bodies; the corpus is kept between runs.
  if ! cargo fuzz run --release "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=8192 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz target $target found a crash (input in server/fuzz/artifacts/$target)" >&2
    exit 1
  fi
  grep -E "^Done [0-9]+ runs" "$log" || tail -3 "$log"
done
rm -f "$log"
echo "fuzz: every target ran ${seconds}s without a crash"
