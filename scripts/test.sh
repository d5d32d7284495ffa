#!/usr/bin/env bash
# Every test, on any machine: installs the system packages the build needs
# when they are missing (cmake and libclang for HiGHS, see
# ensure-build-deps.sh), starts a throw-away PostgreSQL for gf-store's
# PostgreSQL tests (ensure-postgres.sh; skipped when GF_TEST_POSTGRES_URL
# already names a server), runs the workspace's tests, and always stops the
# PostgreSQL it started. README's test command, and what .ci/run runs after
# formatting and lints.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-build-deps.sh
if [ -z "${GF_TEST_POSTGRES_URL:-}" ]; then
  # An assignment keeps the script's exit status (`eval "$(...)"` would not).
  pg_env=$(bash scripts/ensure-postgres.sh start)
  eval "$pg_env"
  if [ "${GF_TEST_POSTGRES_STARTED:-0}" = 1 ]; then
    trap 'bash scripts/ensure-postgres.sh stop' EXIT
  fi
fi
export GF_TEST_POSTGRES_URL
cargo test --workspace --all-targets "$@"
