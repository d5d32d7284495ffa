#!/usr/bin/env bash
# Starts two real, independent single-host Slurm clusters on loopback for
# the Slurm backend's tests, standing for two providers' regions: one munged
# serves both; each cluster has its own slurmctld, a few slurmd (one per node
# name, all on this host, advertising stand-in GPUs through GRES) and a
# slurmrestd (openapi/v0.0.38, JWT). Installs the Debian packages when they
# are missing.
#
# Everything lives under GF_SLURM_DIR (default /tmp/gf-slurm); ports start at
# GF_SLURM_PORT_BASE (default 16800) so two checkouts can run side by side.
# It writes $GF_SLURM_DIR/env (shell syntax, one GF_SLURM_<C>_* block per
# cluster: URL, TOKEN, TOKEN_FILE, USER, PARTITION, NODES, GPUS_PER_NODE,
# CONF for Slurm's own commands, WORKDIR writable by the jobs' user) and records every pid it started in $GF_SLURM_DIR/pids,
# which scripts/slurm-down.sh stops. Running it again while the clusters are
# up changes nothing.
set -euo pipefail

DIR="${GF_SLURM_DIR:-/tmp/gf-slurm}"
BASE="${GF_SLURM_PORT_BASE:-16800}"
RUSER="${GF_SLURM_USER:-gfslurm}"
CLUSTERS=(a b)
NODES_PER_CLUSTER=4
GPUS_PER_NODE=4
HERE="$(cd "$(dirname "$0")" && pwd)"

log() { echo "slurm-up: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# Already up: every daemon of every cluster recorded and alive, and the env
# file written (a slurmctld stopped by slurm-ctld.sh is not up).
if [ -s "$DIR/pids" ] && [ -s "$DIR/env" ]; then
	alive=1
	for c in "${CLUSTERS[@]}"; do
		for d in "slurmctld-$c" "slurmrestd-$c"; do
			grep -q " $d\$" "$DIR/pids" || alive=0
		done
		[ "$(grep -c " slurmd-gf$c-" "$DIR/pids")" = "$NODES_PER_CLUSTER" ] || alive=0
	done
	while read -r pid _; do
		kill -0 "$pid" 2>/dev/null || alive=0
	done <"$DIR/pids"
	if [ "$alive" = 1 ]; then
		log "already up ($DIR/env)"
		exit 0
	fi
	log "a daemon is missing or gone; restarting from scratch"
fi
bash "$HERE/slurm-down.sh" >/dev/null 2>&1 || true

install_packages() {
	local pkgs="slurm-wlm slurmrestd slurm-wlm-jwt-plugin munge"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	# The image's apt clean-up hook can make the first dpkg call fail; a
	# `dpkg --configure -a` and a second try get past it.
	# shellcheck disable=SC2086
	if ! apt-get install -y -q $pkgs >/dev/null; then
		dpkg --configure -a || true
		apt-get install -y -q $pkgs >/dev/null
	fi
}
if ! command -v slurmctld >/dev/null || ! command -v slurmrestd >/dev/null ||
	! command -v munged >/dev/null ||
	! ls /usr/lib/*/slurm-wlm/auth_jwt.so >/dev/null 2>&1; then
	[ "$(id -u)" = 0 ] || die "Slurm is not installed and installing it needs root"
	log "installing slurm-wlm slurmrestd slurm-wlm-jwt-plugin munge"
	install_packages
fi

# slurmrestd refuses to run as root, and jobs run as the user the token names.
if ! id "$RUSER" >/dev/null 2>&1; then
	useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$RUSER"
fi

# Only a directory this script made (or an empty or absent one) is wiped.
if [ -d "$DIR" ] && [ -n "$(ls -A "$DIR")" ] && [ ! -f "$DIR/.gf-slurm" ]; then
	die "$DIR exists and was not made by slurm-up.sh; set GF_SLURM_DIR to another directory"
fi
rm -rf "$DIR"
mkdir -p "$DIR/munge" "$DIR/dev" "$DIR/work"
: >"$DIR/.gf-slurm"
chmod 755 "$DIR" "$DIR/dev"
# munged refuses a socket directory others may write; slurmrestd (not root)
# must reach the socket, hence 755.
chmod 755 "$DIR/munge"
# Where jobs write their output: owned by the user they run as.
chown "$RUSER:" "$DIR/work"
: >"$DIR/pids"

# Starts a daemon in the foreground of its own session, detached from this
# script's output, and records its pid.
start() {
	local name="$1" logf="$2"
	shift 2
	setsid "$@" </dev/null >>"$logf" 2>&1 &
	echo "$! $name" >>"$DIR/pids"
}

dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$DIR/munge/munge.key"
start munged "$DIR/munge/munged.out" munged -F --force \
	--socket="$DIR/munge/munge.socket.2" --key-file="$DIR/munge/munge.key" \
	--pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" \
	--seed-file="$DIR/munge/munged.seed"

# Stand-in GPU devices: slurmd 22.05 ignores a GPU GRES without a device
# file. Major 1 minor 3 is /dev/null, so nothing real is exposed.
for i in $(seq 0 $((GPUS_PER_NODE - 1))); do
	mknod "$DIR/dev/gpu$i" c 1 3
done

host="$(hostname -s)"
: >"$DIR/env"
n=0
for c in "${CLUSTERS[@]}"; do
	d="$DIR/$c"
	mkdir -p "$d/state" "$d/spool" "$d/log" "$d/run"
	ctld_port=$((BASE + 100 * n + 17))
	rest_port=$((BASE + 100 * n + 30))
	first_node_port=$((BASE + 100 * n + 40))
	dd if=/dev/urandom of="$d/jwt.key" bs=32 count=1 status=none
	chmod 600 "$d/jwt.key"
	nodes=()
	for i in $(seq 1 "$NODES_PER_CLUSTER"); do nodes+=("gf$c-$i"); done
	{
		cat <<EOF
# Written by scripts/slurm-up.sh: cluster $c of gigafleet's Slurm tests.
ClusterName=gf$c
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket.2
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$d/jwt.key
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool/%n
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd-%n.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
SlurmdParameters=config_overrides
SchedulerParameters=sched_interval=1
ReturnToService=2
SlurmdTimeout=10
MessageTimeout=4
KillWait=2
MinJobAge=300
EOF
		i=0
		for node in "${nodes[@]}"; do
			echo "NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$host Port=$((first_node_port + i)) CPUs=8 RealMemory=4000 Gres=gpu:$GPUS_PER_NODE State=UNKNOWN"
			i=$((i + 1))
		done
		echo "PartitionName=gpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
	} >"$d/slurm.conf"
	{
		echo "AutoDetect=off"
		for node in "${nodes[@]}"; do
			echo "NodeName=$node Name=gpu File=$DIR/dev/gpu[0-$((GPUS_PER_NODE - 1))]"
		done
	} >"$d/gres.conf"
	chmod 644 "$d/slurm.conf" "$d/gres.conf"

	# SLURM_JWT must never reach slurmctld: it would make it use JWT itself.
	start "slurmctld-$c" "$d/log/slurmctld.out" env -u SLURM_JWT SLURM_CONF="$d/slurm.conf" \
		slurmctld -D -i -f "$d/slurm.conf"
	for node in "${nodes[@]}"; do
		start "slurmd-$node" "$d/log/slurmd-$node.out" env -u SLURM_JWT SLURM_CONF="$d/slurm.conf" \
			slurmd -D -N "$node" -f "$d/slurm.conf"
	done
	start "slurmrestd-$c" "$d/log/slurmrestd.out" env SLURM_JWT=daemon SLURM_CONF="$d/slurm.conf" \
		slurmrestd -f "$d/slurm.conf" -u "$RUSER" -g "$RUSER" -a rest_auth/jwt -s openapi/v0.0.38 \
		"127.0.0.1:$rest_port"
	n=$((n + 1))
done

# Every node idle in every cluster: poll rather than sleep a guess.
deadline=$((SECONDS + 60))
for c in "${CLUSTERS[@]}"; do
	d="$DIR/$c"
	while :; do
		states="$(SLURM_CONF="$d/slurm.conf" sinfo -h -N -o '%t' 2>/dev/null | sort -u | tr '\n' ' ')"
		[ "$states" = "idle " ] && break
		[ "$SECONDS" -lt "$deadline" ] ||
			die "cluster $c not idle after 60 s (states: ${states:-no answer}); see $d/log"
		sleep 0.1
	done
done

n=0
for c in "${CLUSTERS[@]}"; do
	d="$DIR/$c"
	C="$(echo "$c" | tr a-z A-Z)"
	rest_port=$((BASE + 100 * n + 30))
	token="$(SLURM_CONF="$d/slurm.conf" scontrol token username="$RUSER" lifespan=86400 | sed -n 's/^SLURM_JWT=//p')"
	[ -n "$token" ] || die "scontrol token gave no token for cluster $c"
	url="http://127.0.0.1:$rest_port"
	# The same token in a file, as a server reads it (token_file).
	(umask 077 && echo "$token" >"$d/token")
	# slurmrestd answers once it listens.
	until curl -fsS -o /dev/null -H "X-SLURM-USER-NAME: $RUSER" -H "X-SLURM-USER-TOKEN: $token" \
		"$url/slurm/v0.0.38/ping"; do
		[ "$SECONDS" -lt "$deadline" ] || die "slurmrestd of cluster $c does not answer at $url"
		sleep 0.1
	done
	cat >>"$DIR/env" <<EOF
GF_SLURM_${C}_URL=$url
GF_SLURM_${C}_TOKEN=$token
GF_SLURM_${C}_TOKEN_FILE=$d/token
GF_SLURM_${C}_USER=$RUSER
GF_SLURM_${C}_PARTITION=gpu
GF_SLURM_${C}_NODES=gf$c-[1-$NODES_PER_CLUSTER]
GF_SLURM_${C}_GPUS_PER_NODE=$GPUS_PER_NODE
GF_SLURM_${C}_CONF=$d/slurm.conf
GF_SLURM_${C}_WORKDIR=$DIR/work
EOF
	n=$((n + 1))
done
(IFS=,; echo "GF_SLURM_CLUSTERS=${CLUSTERS[*]}") >>"$DIR/env"
log "up in ${SECONDS} s: $DIR/env"
