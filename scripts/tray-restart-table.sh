#!/usr/bin/env bash
# Two tables of docs/fidelity.md, each cell the mean ETTR over three seeds of
# one frontier job of 10 days' compute alone on a GB200 cluster with room to
# re-place it, today's checkpoint/restart practice, no or two hot-spare racks,
# all failure kinds at their defaults, scheduling passes every 10 minutes (as
# scripts/ettr-table.sh):
#
# 1. What a GPU fault takes out: the whole rack for 4 h (the model before
#    trays, `tray_gpus = 0`), its compute tray for a 2.5 h swap with the rack
#    out meanwhile (no in-rack spares), or its tray with the rack running on
#    (64 of 72 GPUs scheduled, 2 spare trays per rack: the job restarts in
#    place).
# 2. Partial restart in data-parallel replica groups of 1,024 GPUs, the rest
#    of the gang waiting for the failed group or continuing without it.
#
#   scripts/tray-restart-table.sh [path/to/gigafleet]
set -euo pipefail
BIN=${1:-target/release/gigafleet}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# cell GPUS DOMAIN_GPUS TRAY_GPUS SPARE_TRAYS GROUP MODE [HOT_SPARE_RACKS]
cell() {
  local gpus=$1 dg=$2 tray=$3 spare_trays=$4 group=$5 mode=$6 racks=${7:-2} sum=0 n=0
  local domains=$(( (gpus + dg - 1) / dg + 60 + gpus / (10 * dg) ))
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
domain_gpus = $dg
domains = $domains
price = { model = "reserved", usd_per_gpu_hour = 3.0 }
[[job]]
name = "frontier"
team = "t"
gpus = $gpus
accelerators = ["gb200"]
work_gpu_hours = $(( gpus * 24 * 10 * 25 / 10 ))
preemptible = false
checkpoint_cost_min = 0.17
[scenario]
start = "2026-01-01"
horizon_days = 200
sample_hours = 24
schedule_interval_min = 10
autoscale_interval_min = 1440
[scenario.failures]
hot_spare_min_gpus = 1
hot_spare_domains = $racks
tray_gpus = $tray
spare_trays_per_rack = $spare_trays
retry_budget = { hardware = 1000000, software = 1000000, preemption = 1000000 }
[scenario.checkpoint]
cost_min = 0.17
persist_min = 5.0
in_memory_replicas = true
detect_s = 30.0
restart_overhead_min = 0.5
init_s_per_1k_gpus = 3.0
replica_group_gpus = $group
partial_restart = "$mode"
TOML
    "$BIN" simulate "$tmp/s.toml" --seed "$seed" --json "$tmp/o.json" >/dev/null 2>&1
    sum=$(python3 -c "import json;e=json.load(open('$tmp/o.json'))['training']['ettr'];print($sum + (e['mean'] if e['n'] == 1 else float('nan')))")
    n=$((n + 1))
  done
  python3 -c "print(f'{$sum / $n:.3f}')"
}

echo "| GPUs | hot-spare racks | rack out 4 h per GPU fault | tray swap 2.5 h, rack out meanwhile | tray swap, 2 in-rack spare trays (64 of 72 scheduled) |"
echo "|---|---|---|---|---|"
for g in 16384 65536; do
  for r in 0 2; do
    printf '| %s | %s | %s | %s | %s |\n' "$g" "$r" "$(cell $g 72 0 0 0 wait $r)" "$(cell $g 72 4 0 0 wait $r)" "$(cell $g 64 4 2 0 wait $r)"
  done
done
echo
echo "| GPUs | no partial restart | groups of 1,024, rest wait | groups of 1,024, rest continue |"
echo "|---|---|---|---|"
for g in 32768 65536 100000; do
  printf '| %s | %s | %s | %s |\n' "$g" "$(cell $g 72 4 0 0 wait)" "$(cell $g 72 4 0 1024 wait)" "$(cell $g 72 4 0 1024 continue)"
done
