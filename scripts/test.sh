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
  summary=$(grep -E '^test result:|^ +[0-9]+ (passed|failed|flaky|skipped)' "$log" | sed 's/^ *//' | paste -sd ';' -)
  rm -f "$log"
  if [ "$status" -eq 0 ]; then
    results+=("PASS  $name  [$summary]")
  else
    results+=("FAIL  $name  [$summary]")
    failed=1
  fi
}

# Test databases left by earlier runs (a test cannot drop its own database while connected).
drop_old_test_databases() {
  psql "$PG_TEST_URL/postgres" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'iap_test_%'" |
    while read -r db; do psql "$PG_TEST_URL/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"; done
}

suite "console crate (unit)" cargo test -p app --features ssr
suite "server on SQLite (unit + integration)" cargo test -p server
drop_old_test_databases
suite "server on PostgreSQL (integration)" env IAP_TEST_DATABASE="$PG_TEST_URL" cargo test -p server --test api
suite "console build (cargo-leptos)" cargo leptos build
suite "browser (Playwright, headless Chromium)" \
  env -C end2end SERVER_BIN="$TARGET_DIR/debug/server" npx playwright test

printf '\n\033[1m==> Summary\033[0m\n'
printf '%s\n' "${results[@]}"
exit $failed
