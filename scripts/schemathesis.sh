#!/usr/bin/env bash
# Fuzzes the purchase API with schemathesis: starts the server binary on a fresh SQLite database
# with the demo project, runs schemathesis against the OpenAPI document it serves, and reports
# server errors, answers that break the document (status codes, content types, headers, bodies)
# and requests the document allows that the server refuses. Ends with the line
# `schemathesis: N cases, E server errors, V schema violations`; exits non-zero when any check
# failed, the run could not finish, or the server died.
#
# Usage: scripts/schemathesis.sh [SERVER_BINARY] [EXAMPLES_PER_OPERATION]
#   SERVER_BINARY           default ${CARGO_TARGET_DIR:-target}/release/server (built beforehand;
#                           this script never builds)
#   EXAMPLES_PER_OPERATION  default 100: the fuzzing phase's cases per operation; the coverage
#                           phase adds about 650 of its own (about 2,150 in all at 100, over the
#                           document's 15 operations; 945 at 20)
# Environment:
#   SCHEMATHESIS_SEED       default 1; the same seed against the same binary sends the same cases
#   SCHEMATHESIS_WORKERS    default 1
#   SCHEMATHESIS_CHECKS     default: every check, less those NHN's always-200 paths cannot pass
#                           (see below); a comma-separated list, or "all" for every check everywhere
#   PYTHON                  default python3 (3.11 or newer: schemathesis 4.32 needs it)
# Needs: python3 with venv, curl. Reaches only PyPI (once, to fill the venv) and 127.0.0.1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

SCHEMATHESIS_VERSION=4.32.5
APP_KEY=DEMOAPPKEY0000000001
SECRET_KEY=demo-secret-key-0000000000000000000000001

server_bin=${1:-${CARGO_TARGET_DIR:-target}/release/server}
examples=${2:-100}
seed=${SCHEMATHESIS_SEED:-1}
workers=${SCHEMATHESIS_WORKERS:-1}
python=${PYTHON:-python3}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'schemathesis.sh: %s\n' "$*" >&2; exit 2; }

[[ $examples =~ ^[1-9][0-9]*$ ]] || die "EXAMPLES_PER_OPERATION must be a positive integer, got '$examples'"
[[ -x $server_bin ]] || die "no server binary at $server_bin (build it first: cargo build --release -p server)"
# The server runs from its own folder (so no iap.toml of the caller's is picked up): the path
# must not depend on where we are.
server_bin=$(cd "$(dirname "$server_bin")" && pwd)/$(basename "$server_bin")
command -v curl >/dev/null || die "curl is needed"

# --- schemathesis, in a venv of its own, installed only when missing or pinned differently -----
venv="${XDG_CACHE_HOME:-$HOME/.cache}/iap-schemathesis"
requirements="$here/schemathesis-requirements.txt"
if [[ -f $requirements ]]; then
  grep -qx "schemathesis==$SCHEMATHESIS_VERSION" "$requirements" \
    || die "$requirements does not pin schemathesis==$SCHEMATHESIS_VERSION"
  install_args=(-r "$requirements")
  stamp_want="$(sha256sum "$requirements" | cut -d' ' -f1)"
else
  install_args=("schemathesis==$SCHEMATHESIS_VERSION")
  stamp_want="schemathesis==$SCHEMATHESIS_VERSION"
fi
if [[ ! -x $venv/bin/st || "$(cat "$venv/.installed" 2>/dev/null || true)" != "$stamp_want" ]]; then
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$python is older than 3.11, which schemathesis $SCHEMATHESIS_VERSION needs (set PYTHON)"
  log "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${install_args[@]}"
  printf '%s\n' "$stamp_want" >"$venv/.installed"
fi
[[ "$("$venv/bin/st" --version)" == *" $SCHEMATHESIS_VERSION" ]] \
  || die "$venv/bin/st is not schemathesis $SCHEMATHESIS_VERSION; remove $venv and retry"

# --- the server, on a database of its own ----------------------------------------------------
run_dir=$(mktemp -d /tmp/iap-schemathesis.XXXXXX)
data_dir=$run_dir/data
report_dir=$run_dir/report
mkdir -p "$data_dir" "$report_dir"
server_pid=
st_pid=
tail_pid=

stop_server() {
  [[ -n $server_pid ]] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}
cleanup() {
  local pid
  for pid in $st_pid $tail_pid; do kill "$pid" 2>/dev/null || true; done
  stop_server
  # The database and the data folder are throwaway; the reports and logs stay for reading.
  rm -rf "$data_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "starting IAP_DATA_DIR=$data_dir IAP_SWEEPS__INTERVAL_SECS=0 $server_bin serve --seed-demo --addr 127.0.0.1:0 --database-url sqlite://$data_dir/iap.db (logs: $run_dir/server.log)"
# The subshell execs into the server, so $! is the server's own pid, for the trap to stop.
# Sweeps are off so no background job changes data under the fuzzer between two requests.
(
  cd "$data_dir"
  exec env IAP_DATA_DIR="$data_dir" IAP_SWEEPS__INTERVAL_SECS=0 \
    "$server_bin" serve --seed-demo --addr 127.0.0.1:0 --database-url "sqlite://$data_dir/iap.db"
) >"$run_dir/server.out" 2>"$run_dir/server.log" </dev/null &
server_pid=$!

server_died() {
  printf 'schemathesis.sh: the server exited%s; the end of its log:\n' "${1:-}" >&2
  tail -n 30 "$run_dir/server.out" "$run_dir/server.log" >&2 || true
}

# It prints its address once listening; migrations and the demo seed come first, so give a
# slow, busy machine time.
addr=
for _ in $(seq 1200); do
  addr=$(sed -n 's|^IAP console: http://\([^/]*\)/.*|\1|p' "$run_dir/server.out" | head -n 1)
  [[ -n $addr ]] && break
  kill -0 "$server_pid" 2>/dev/null || { server_died " before listening"; exit 1; }
  sleep 0.1
done
[[ -n $addr ]] || { server_died; die "the server printed no address within 120 s"; }

base="http://$addr"
for _ in $(seq 300); do
  curl -fsS -o "$run_dir/openapi.json" "$base/openapi.json" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { server_died " before serving"; exit 1; }
  sleep 0.1
done
[[ -s $run_dir/openapi.json ]] || die "$base/openapi.json did not answer within 30 s"
log "server at $base"

# --- schemathesis ----------------------------------------------------------------------------
# Which checks run where, as a schemathesis config file (per-operation settings exist only there).
# Every check is on, so the run catches server errors, answers that break the document (status,
# Content-Type, headers, body), requests the document allows but the server refuses
# (positive_data_acceptance) and, on the SDK paths, invalid requests, missing keys or undeclared
# methods the server does not refuse with a 4xx. The exceptions are NHN's
# /v1/service/* paths, which answer HTTP 200 whatever happened, with the outcome in the envelope,
# by design (as NHN Cloud IAP does): there a 4xx for invalid data, a missing key header or an
# undeclared method, or a 401 without keys, cannot be asked for. use_after_free,
# ensure_resource_availability and object_level_authorization only act in the stateful phase,
# which needs links the document does not declare yet: on, so they work once it does.
config=$run_dir/schemathesis.toml
cat >"$config" <<TOML
# Failing cases kept for \`st replay\`: in the run's folder, never in the caller's work tree
# (where a commit would pick them up).
[cache]
directory = "$run_dir/cache"

[checks]
not_a_server_error.enabled = true
status_code_conformance.enabled = true
content_type_conformance.enabled = true
response_headers_conformance.enabled = true
response_schema_conformance.enabled = true
positive_data_acceptance.enabled = true
negative_data_rejection.enabled = true
missing_required_header.enabled = true
unsupported_method.enabled = true
allow_header_conformance.enabled = true
ignored_auth.enabled = true
use_after_free.enabled = true
ensure_resource_availability.enabled = true
object_level_authorization.enabled = true

[[operations]]
include-path-regex = "^/v1/service/"
checks.negative_data_rejection.enabled = false
checks.missing_required_header.enabled = false
checks.unsupported_method.enabled = false
checks.ignored_auth.enabled = false

# Which proof a purchase needs depends on its store (a purchase token for GG and ONESTORE; a
# signed transaction, transaction id or receipt for AS), which the document says in words: a
# schema-valid request without its store's proof is rightly refused with 1100.
[[operations]]
include-path-regex = "^/v1/sdk/(verify|restore)$"
checks.positive_data_acceptance.enabled = false
TOML
# SCHEMATHESIS_CHECKS=all (or a list) overrides the file for every operation, NHN's included:
# schemathesis lets --checks win over the per-operation settings.
checks_arg=()
if [[ -n ${SCHEMATHESIS_CHECKS:-} ]]; then checks_arg=(--checks "$SCHEMATHESIS_CHECKS"); fi
st_args=(
  --config-file "$config"
  run "$base/openapi.json"
  "${checks_arg[@]}"
  # The demo project's keys: without them every case stops at the key check and nothing past it
  # is exercised. Spelled exactly as the document's security schemes name them: schemathesis
  # matches names case-sensitively, and the ignored_auth check must find and drop them to test
  # requests without keys; lowercase copies survive the drop and the check then reports a
  # false "API accepts requests without authentication" (seen with x-nhn-tciap-appkey).
  --header "X-NHN-TCIAP-AppKey: $APP_KEY"
  --header "X-Secret-Key: $SECRET_KEY"
  # Every phase: documented examples, the coverage phase's boundary and invalid values (most of
  # the validation bugs), random fuzzing, and stateful sequences if the document ever links.
  --phases examples,coverage,fuzzing,stateful
  # Valid and invalid inputs: invalid ones must still get a documented answer, never a 5xx.
  --mode all
  --max-examples "$examples"
  # Reproducible: the same seed sends the same cases to the same binary. No example database,
  # which would replay earlier runs' failures first and make two runs differ.
  --seed "$seed"
  --generation-database none
  # One worker keeps the order of requests, and so the server's state, the same from run to run;
  # the machine has 2 cores, one of them busy with the server.
  --workers "$workers"
  # Keep testing an operation after its first failure, so every distinct failure is reported
  # in one run rather than one per operation per run.
  --continue-on-failure
  # A hung request is a bug too: fail it instead of waiting forever.
  --request-timeout 10
  # The demo keys are public; unsanitized output keeps the printed curl commands runnable.
  --output-sanitize false
  # Whole responses and schemas in failure messages, to see what exactly did not match.
  --output-truncate false
  # JUnit for CI, JSON for the summary below (failure groups by type and operation).
  --report junit,json
  --report-junit-path "$report_dir/junit.xml"
  --report-json-path "$report_dir/report.json"
  --no-color
)

log "schemathesis $SCHEMATHESIS_VERSION, seed $seed, $examples examples per operation (log: $run_dir/schemathesis.log)"
started=$(date +%s)
# From the run's folder: Hypothesis keeps its .hypothesis/ in the current directory. In the
# background, with `wait`, so that an interrupt reaches the trap at once (bash holds traps until a
# foreground command ends) and the trap can stop schemathesis too; tail shows its output live.
st_log=$run_dir/schemathesis.log
: >"$st_log"
(cd "$run_dir" && exec "$venv/bin/st" "${st_args[@]}") >"$st_log" 2>&1 </dev/null &
st_pid=$!
tail -n +1 -s 0.2 -f --pid="$st_pid" "$st_log" &
tail_pid=$!
st_status=0
wait "$st_pid" || st_status=$?
st_pid=
wait "$tail_pid" || true
tail_pid=
elapsed=$(($(date +%s) - started))

server_alive=1
kill -0 "$server_pid" 2>/dev/null || server_alive=0

# --- summary ---------------------------------------------------------------------------------
# Failures are counted once per distinct failure (schemathesis deduplicates them by operation,
# check and cause); server errors are ST101/ST102, everything else breaks the document.
echo "reports: $report_dir/junit.xml $report_dir/report.json; log: $st_log; server log: $run_dir/server.log"
echo "(the curl commands above target this run's server, stopped now: start one as the first line shows and change the port)"
summary_status=0
"$venv/bin/python" - "$report_dir/report.json" "$elapsed" <<'PY' || summary_status=$?
import json, sys

path, elapsed = sys.argv[1], sys.argv[2]
try:
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
except (OSError, ValueError) as err:
    print(f"schemathesis: no report ({err})")
    sys.exit(1)
server_errors = sum(g["count"] for g in report["failures"] if g["code"] in ("ST101", "ST102"))
violations = sum(g["count"] for g in report["failures"] if g["code"] not in ("ST101", "ST102"))
errors = sum(e["count"] for e in report["errors"])
for g in report["failures"]:
    print(f"  {g['code']} {g['title']}: {g['count']} in {', '.join(g['operations']) or 'the run'}")
for e in report["errors"]:
    print(f"  error: {e['title']}: {e['count']}")
cases = report["test_cases"]["generated"]
line = f"schemathesis: {cases} cases, {server_errors} server errors, {violations} schema violations"
if errors:
    line += f", {errors} errors"
print(f"schemathesis ran {elapsed} s, stop reason: {report['stop_reason']}")
print(line)
sys.exit(1 if server_errors or violations or errors or not report["complete"] else 0)
PY

if [[ $server_alive == 0 ]]; then
  server_died " during the run"
  exit 1
fi
if [[ $st_status != 0 || $summary_status != 0 ]]; then
  exit 1
fi
