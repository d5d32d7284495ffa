#!/usr/bin/env bash
# Every test, on any machine: installs the system packages the build needs
# when they are missing (cmake and libclang for HiGHS, see
# ensure-build-deps.sh), then runs the workspace's tests. README's test
# command, and what .ci/run runs after formatting and lints.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-build-deps.sh

# Slurm: two real single-host clusters on loopback for gf-slurm's tests
# (scripts/slurm-up.sh installs and starts them, slurm-down.sh stops exactly
# the daemons it started, whatever happens to the tests).
export GF_SLURM_DIR="${GF_SLURM_DIR:-/tmp/gf-slurm}"
export GF_SLURM_ENV="$GF_SLURM_DIR/env"
trap 'bash scripts/slurm-down.sh' EXIT
bash scripts/slurm-up.sh

cargo test --workspace --all-targets "$@"
