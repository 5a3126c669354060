# The two commands of this project: `make run` and `make test`. Each installs what is missing first.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

# Plain cargo and cargo-leptos must compile with the same LEPTOS_OUTPUT_NAME, or each rebuilds the
# other's leptos artifacts; tools installed by scripts/setup.sh are found on PATH.
export LEPTOS_OUTPUT_NAME := iap
export PATH := $(CURDIR)/tools/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

.PHONY: run test build setup bench reliability

## Build the release server and console, seed the demo project into ./data/iap.db if the
## database is empty (with 300 purchases made through the API and the store fakes), and serve on
## http://127.0.0.1:3000.
run:
	scripts/setup.sh release
	cargo leptos build --release
	$(TARGET_DIR)/release/server serve --seed-demo --demo-history 300

## Every test on SQLite and PostgreSQL, the store fakes through the stores' own libraries, then the
## browser tests in headless Chromium.
test:
	scripts/setup.sh build browser libraries postgres
	scripts/test.sh

## The benchmarks of BENCHMARKS.md on this machine, SQLite and PostgreSQL: prints a table and
## writes every figure to bench-results.json (an hour or more; seeding 10M payments takes most of it).
bench:
	scripts/setup.sh release postgres
	npm ci --prefix server/benches/node --no-audit --no-fund
	cargo leptos build --release
	cargo bench -p server --bench iap -- --out $(CURDIR)/bench-results.json

## The reliability suite of RELIABILITY.md at full size on SQLite and PostgreSQL, then schemathesis
## over the OpenAPI document. (`make test` runs a short version of the first part.)
reliability:
	scripts/setup.sh build postgres
	IAP_RELIABILITY=full cargo test --release -p server --test reliability -- --nocapture --test-threads=1
	IAP_RELIABILITY=full IAP_TEST_DATABASE=postgres://postgres@127.0.0.1:5432 \
	  cargo test --release -p server --test reliability -- --nocapture --test-threads=1
	cargo build --release -p server
	scripts/schemathesis.sh $(TARGET_DIR)/release/server 300
	scripts/fuzz.sh 60

## Debug build of the server and the console.
build:
	scripts/setup.sh build
	cargo leptos build

## Install the build and test tools without building anything.
setup:
	scripts/setup.sh release browser postgres
