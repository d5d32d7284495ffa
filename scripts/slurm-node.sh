#!/usr/bin/env bash
# Stops or starts the slurmd of one node of a test cluster started by
# scripts/slurm-up.sh, keeping $GF_SLURM_DIR/pids true so that
# scripts/slurm-down.sh still stops exactly what runs. The Slurm backend's
# tests use it for a host that stops answering:
#   slurm-node.sh CLUSTER NODE stop    # SIGKILL: the host is gone
#   slurm-node.sh CLUSTER NODE start   # it comes back
set -euo pipefail

DIR="${GF_SLURM_DIR:-/tmp/gf-slurm}"
usage="usage: slurm-node.sh CLUSTER NODE stop|start"
c="${1:?$usage}"
node="${2:?$usage}"
what="${3:?$usage}"
d="$DIR/$c"
[ -f "$d/slurm.conf" ] || { echo "slurm-node: no cluster $c under $DIR" >&2; exit 1; }
grep -q "^NodeName=$node " "$d/slurm.conf" || { echo "slurm-node: cluster $c has no node $node" >&2; exit 1; }

recorded() { awk -v n="slurmd-$node" '$2 == n { print $1 }' "$DIR/pids"; }

case "$what" in
stop)
	for pid in $(recorded); do
		kill -KILL "$pid" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	done
	awk -v n="slurmd-$node" '$2 != n' "$DIR/pids" >"$DIR/pids.new"
	mv "$DIR/pids.new" "$DIR/pids"
	;;
start)
	[ -z "$(recorded)" ] || { echo "slurm-node: slurmd of $node already runs" >&2; exit 1; }
	setsid env -u SLURM_JWT SLURM_CONF="$d/slurm.conf" slurmd -D -N "$node" -f "$d/slurm.conf" \
		</dev/null >>"$d/log/slurmd-$node.out" 2>&1 &
	echo "$! slurmd-$node" >>"$DIR/pids"
	;;
*)
	echo "slurm-node: unknown action $what (stop or start)" >&2
	exit 1
	;;
esac
