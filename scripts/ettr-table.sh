#!/usr/bin/env bash
# ETTR of one frontier job against its gang size, under the 2023 and today's
# checkpoint/restart practice, with and without hot spares: the table in
# docs/fidelity.md. Each cell is the mean over three seeds of one job of
# 10 days of compute alone on a GB200 NVL72 cluster with room to re-place it,
# the fleet failing at the Llama 3 rate (all failure kinds at their defaults),
# scheduling passes every 10 minutes (the seeds' example): a gang whose
# failed rack no spare replaces waits for the next pass to be re-placed.
# Partial restart uses data-parallel replica groups of 1,024 GPUs. A GPU
# fault takes its whole rack out for 4 h (`tray_gpus = 0`, the model this
# table was first measured with); scripts/tray-restart-table.sh compares
# tray-level failures.
#
#   scripts/ettr-table.sh [path/to/gigafleet]
set -euo pipefail
BIN=${1:-target/release/gigafleet}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

practice_2023='cost_min = 5.0
restart_overhead_min = 10.0'
practice_today='cost_min = 0.17
persist_min = 5.0
in_memory_replicas = true
detect_s = 30.0
restart_overhead_min = 0.5
init_s_per_1k_gpus = 3.0'

cell() { # gpus practice spares (a count, or L: Little's law) [replica group GPUs]
  local gpus=$1 practice=$2 spares=$3 group=${4:-0} sum=0 n=0
  local domains=$(( (gpus + 71) / 72 + 60 + gpus / 720 ))
  for seed in 1 2 3; do
    cat >"$tmp/s.toml" <<TOML
version = 1
[[team]]
name = "t"
[[provider]]
name = "p"
[[provider.region]]
name = "r"
power_mw = 100000.0
zone = "z"
[[provider.region.cluster]]
name = "nvl"
accelerator = "gb200"
domains = $domains
price = { model = "reserved", usd_per_gpu_hour = 3.0 }
[[job]]
name = "frontier"
team = "t"
gpus = $gpus
accelerators = ["gb200"]
work_gpu_hours = $(( gpus * 24 * 10 * 25 / 10 ))
preemptible = false
$(if [ "$practice" = today ]; then echo 'checkpoint_cost_min = 0.17'; else echo 'checkpoint_cost_min = 5.0'; fi)
[scenario]
start = "2026-01-01"
horizon_days = 200
sample_hours = 24
schedule_interval_min = 10
autoscale_interval_min = 1440
[scenario.failures]
tray_gpus = 0
hot_spare_min_gpus = 1
$(if [ "$spares" = L ]; then echo 'hot_spare_domains = 2
hot_spares_by_littles_law = true'; else echo "hot_spare_domains = $spares"; fi)
retry_budget = { hardware = 1000000, software = 1000000, preemption = 1000000 }
[scenario.checkpoint]
$(if [ "$practice" = today ]; then echo "$practice_today"; else echo "$practice_2023"; fi)
replica_group_gpus = $group
TOML
    "$BIN" simulate "$tmp/s.toml" --seed "$seed" --json "$tmp/o.json" >/dev/null 2>&1
    # The one job's ETTR (the fleet's ETTR percentiles are over completed jobs).
    sum=$(python3 -c "import json;e=json.load(open('$tmp/o.json'))['training']['ettr'];print($sum + (e['mean'] if e['n'] == 1 else float('nan')))")
    n=$((n + 1))
  done
  python3 -c "print(f'{$sum / $n:.3f}')"
}

echo "| GPUs | 2023, no spares | 2023, 2 spare racks | today, no spares | today, 2 spare racks | today, Little's-law spares | today, 2 spare racks, partial restart |"
echo "|---|---|---|---|---|---|---|"
for g in 1024 16384 32768 65536 100000; do
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$g" "$(cell $g 2023 0)" "$(cell $g 2023 2)" \
    "$(cell $g today 0)" "$(cell $g today 2)" "$(cell $g today L)" "$(cell $g today 2 1024)"
done
