#!/usr/bin/env bash
# Every test: unit and integration on SQLite and on PostgreSQL, then the browser tests.
# Runs all suites even when one fails, prints each runner's summary, and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

PG_TEST_URL=${PG_TEST_URL:-postgres://postgres@127.0.0.1:5432}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
results=()
failed=0

suite() {
  local name=$1 log
  shift
  printf '\n\033[1m==> %s\033[0m\n' "$name"
  log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  local summary
  # cargo prints one "test result" line per test binary, Playwright one line per outcome: add them up.
  summary=$(awk '
    /^test result:/ { for (i = 1; i <= NF; i++) if ($i ~ /^(passed|failed);?$/) { k = $i; sub(/;/, "", k); n[k] += $(i-1) } }
    /^ +[0-9]+ (passed|failed|flaky|skipped)/ { n[$2] += $1 }
    END { for (k in n) printf "%s%d %s", (s++ ? ", " : ""), n[k], k }' "$log")
  rm -f "$log"
  if [ "$status" -eq 0 ]; then
    results+=("PASS  $name${summary:+  ($summary)}")
  else
    results+=("FAIL  $name${summary:+  ($summary)}")
    failed=1
  fi
}

# Test databases left by earlier runs (a test cannot drop its own database while connected).
drop_old_test_databases() {
  psql "$PG_TEST_URL/postgres" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'iap_test_%'" |
    while read -r db; do psql "$PG_TEST_URL/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"; done
}

suite "shared vocabulary and console crate (unit)" cargo test -p model -p app --features app/ssr
suite "server on SQLite (unit + integration)" cargo test -p server
drop_old_test_databases
suite "server on PostgreSQL (integration)" env IAP_TEST_DATABASE="$PG_TEST_URL" cargo test -p server --test api
suite "reliability, short (PostgreSQL)" env IAP_TEST_DATABASE="$PG_TEST_URL" cargo test -p server --test reliability
suite "store fakes through the stores' own libraries (Python)" \
  env SERVER_BIN="$TARGET_DIR/debug/server" tools/venv/bin/python server/tests/official_libraries/test_fakes.py
suite "fuzz, 10 s per target" scripts/fuzz.sh 10
suite "console build (cargo-leptos)" cargo leptos build
suite "browser (Playwright, headless Chromium)" \
  env -C end2end SERVER_BIN="$TARGET_DIR/debug/server" npx playwright test

printf '\n\033[1m==> Summary\033[0m\n'
printf '%s\n' "${results[@]}"
exit $failed
