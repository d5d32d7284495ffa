#!/usr/bin/env bash
# Writes a scenario without its inference services: every [[service]] table
# and every [[scenario.inference]] table of IN dropped, the rest as it is.
# docs/performance.md measures the twin's training path on
# examples/scale-20m.toml made so:
#
#   scripts/training-only.sh examples/scale-20m.toml /tmp/s20-training.toml
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 IN.toml OUT.toml" >&2; exit 2; }
awk '
  /^\[\[service\]\]/ || /^\[\[scenario\.inference\]\]/ { skip = 1; next }
  /^\[/ { skip = 0 }
  !skip { print }
' "$1" > "$2"
