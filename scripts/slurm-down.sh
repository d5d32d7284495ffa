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
# Job steps that outlived their cluster: a slurmctld killed mid-test forgets
# jobs whose processes keep running until the node registers again. They are
# found by their batch script under $DIR (never by a program's name) and
# stopped with their process group and their slurmstepd.
for p in /proc/[0-9]*; do
	cmd="$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" || continue
	case "$cmd" in
	*" $DIR/"*/spool/*/job*/slurm_script*)
		pid="${p#/proc/}"
		pgid="$(ps -o pgid= -p "$pid" | tr -d ' ')"
		ppid="$(ps -o ppid= -p "$pid" | tr -d ' ')"
		case "$(tr '\0' ' ' <"/proc/$ppid/cmdline" 2>/dev/null)" in
		slurmstepd:*) kill -KILL "$ppid" 2>/dev/null ;;
		esac
		[ -n "$pgid" ] && kill -KILL -- "-$pgid" 2>/dev/null
		;;
	esac
done
rm -f "$DIR/pids" "$DIR/env"
echo "slurm-down: stopped ${#pids[@]} daemons" >&2
