#!/usr/bin/env bash
# Stops exactly the daemons scripts/slurm-up.sh (and scripts/slurm-ctld.sh)
# started, by the pids recorded in $GF_SLURM_DIR/pids; never by name, so
# another checkout's clusters or a system Slurm are left alone. Running it
# when nothing is up does nothing.
set -uo pipefail

DIR="${GF_SLURM_DIR:-/tmp/gf-slurm}"
[ -s "$DIR/pids" ] || exit 0

# Jobs still running (a test that failed half-way) are cancelled through
# Slurm first: their processes belong to slurmstepd, not to a recorded pid.
# Only where that cluster's slurmctld still runs: scancel would wait for an
# absent one.
while read -r pid name; do
	case "$name" in slurmctld-*) ;; *) continue ;; esac
	conf="$DIR/${name#slurmctld-}/slurm.conf"
	kill -0 "$pid" 2>/dev/null && [ -f "$conf" ] || continue
	SLURM_CONF="$conf" timeout 10 scancel --full --user="${GF_SLURM_USER:-gfslurm}" 2>/dev/null
done <"$DIR/pids"

pids=()
while read -r pid _; do
	kill -0 "$pid" 2>/dev/null && pids+=("$pid")
done <"$DIR/pids"
# munged is listed first and stopped last, after every Slurm daemon that
# talks to it.
for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
	kill -TERM "${pids[$i]}" 2>/dev/null
done
for _ in $(seq 50); do
	left=0
	for pid in "${pids[@]}"; do
		kill -0 "$pid" 2>/dev/null && left=1
	done
	[ "$left" = 0 ] && break
	sleep 0.1
done
for pid in "${pids[@]}"; do
	kill -KILL "$pid" 2>/dev/null
done
rm -f "$DIR/pids" "$DIR/env"
echo "slurm-down: stopped ${#pids[@]} daemons" >&2
