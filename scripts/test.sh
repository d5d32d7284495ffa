#!/usr/bin/env bash
# Every test, on any machine: installs the system packages the build needs
# when they are missing (cmake and libclang for HiGHS, see
# ensure-build-deps.sh), then runs the workspace's tests. README's test
# command, and what .ci/run runs after formatting and lints.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-build-deps.sh
exec cargo test --workspace --all-targets "$@"
