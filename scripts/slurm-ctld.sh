#!/usr/bin/env bash
# Stops, kills or starts the slurmctld of one test cluster started by
# scripts/slurm-up.sh, keeping $GF_SLURM_DIR/pids true so that
# scripts/slurm-down.sh still stops exactly what runs. The Slurm backend's
# outage tests use it:
#   slurm-ctld.sh CLUSTER stop   # SIGTERM: slurmctld saves its state and exits
#   slurm-ctld.sh CLUSTER kill   # SIGKILL: a crash
#   slurm-ctld.sh CLUSTER start  # starts it again from its saved state
set -euo pipefail

DIR="${GF_SLURM_DIR:-/tmp/gf-slurm}"
c="${1:?usage: slurm-ctld.sh CLUSTER stop|kill|start}"
what="${2:?usage: slurm-ctld.sh CLUSTER stop|kill|start}"
d="$DIR/$c"
[ -f "$d/slurm.conf" ] || { echo "slurm-ctld: no cluster $c under $DIR" >&2; exit 1; }

recorded() { awk -v n="slurmctld-$c" '$2 == n { print $1 }' "$DIR/pids"; }

case "$what" in
stop | kill)
	sig=TERM
	[ "$what" = kill ] && sig=KILL
	for pid in $(recorded); do
		kill -"$sig" "$pid" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	done
	awk -v n="slurmctld-$c" '$2 != n' "$DIR/pids" >"$DIR/pids.new"
	mv "$DIR/pids.new" "$DIR/pids"
	;;
start)
	[ -z "$(recorded)" ] || { echo "slurm-ctld: slurmctld of $c already runs" >&2; exit 1; }
	# Without -i and with its state directory kept, it recovers its jobs.
	setsid env -u SLURM_JWT SLURM_CONF="$d/slurm.conf" slurmctld -D -f "$d/slurm.conf" \
		</dev/null >>"$d/log/slurmctld.out" 2>&1 &
	echo "$! slurmctld-$c" >>"$DIR/pids"
	until SLURM_CONF="$d/slurm.conf" scontrol ping 2>/dev/null | grep -q UP; do sleep 0.1; done
	;;
*)
	echo "slurm-ctld: unknown action $what (stop, kill or start)" >&2
	exit 1
	;;
esac
