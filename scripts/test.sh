#!/usr/bin/env bash
# Every test, on any machine: installs the system packages the build needs
# when they are missing (cmake and libclang for HiGHS, see
# ensure-build-deps.sh), starts two throw-away Slurm clusters on loopback
# (slurm-up.sh) and a throw-away PostgreSQL (ensure-postgres.sh; skipped when
# GF_TEST_POSTGRES_URL already names a server), runs the workspace's tests,
# fuzzes the HTTP API against its OpenAPI document (schemathesis.sh), and
# always stops what it started. README's test command, and what .ci/run
# runs after formatting and lints.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-build-deps.sh

# Slurm: two real single-host clusters on loopback for gf-slurm's tests
# (scripts/slurm-up.sh installs and starts them, slurm-down.sh stops exactly
# the daemons it started, whatever happens to the tests).
export GF_SLURM_DIR="${GF_SLURM_DIR:-/tmp/gf-slurm}"
export GF_SLURM_ENV="$GF_SLURM_DIR/env"
# One trap stops everything this script started, whatever happens.
pg_started=0
cleanup() {
  bash scripts/slurm-down.sh || true
  if [ "$pg_started" = 1 ]; then bash scripts/ensure-postgres.sh stop || true; fi
}
trap cleanup EXIT
bash scripts/slurm-up.sh

# PostgreSQL: a throw-away cluster on 127.0.0.1 for gf-store's suite and the
# replicated control plane (unless one is given in GF_TEST_POSTGRES_URL).
if [ -z "${GF_TEST_POSTGRES_URL:-}" ]; then
  # An assignment keeps the script's exit status (`eval "$(...)"` would not).
  pg_env=$(bash scripts/ensure-postgres.sh start)
  eval "$pg_env"
  pg_started="${GF_TEST_POSTGRES_STARTED:-0}"
fi
export GF_TEST_POSTGRES_URL

cargo test --workspace --all-targets "$@"

# The HTTP API fuzzed against its own OpenAPI document (schemathesis, pinned):
# never a 5xx, every answer as documented. `cargo test` has just built the
# binary; the script stops the server it starts itself.
bash scripts/schemathesis.sh target/debug/gigafleet
