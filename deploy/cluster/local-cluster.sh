#!/usr/bin/env bash
# local-cluster.sh runs a dmnode cluster of N nodes on this machine, all on
# 127.0.0.1, for trying the cluster commands and failover by hand.
#
#   local-cluster.sh start [N]      start nodes 1..N (default 3) and wait until
#                                   `cluster status` lists them all and each
#                                   node's /readyz answers 200
#   local-cluster.sh stop           SIGTERM every node, wait for each (data kept)
#   local-cluster.sh status [ARGS]  which nodes run here, then `dmnode cluster
#                                   status ARGS` (e.g. -o json) from a live node
#   local-cluster.sh kill I         SIGKILL node I (a crash, for failover demos)
#   local-cluster.sh restart I      stop node I if it runs, start it again
#   local-cluster.sh clean          stop, then delete the cluster directory
#
# Node I is named nodeI and listens on NATS port 4222+I-1, cluster port
# 6222+I-1, Raft port 7222+I-1 and HTTP port 8290+I-1. Its data directory is
# .cluster/nodeI, its log .cluster/nodeI.log (appended to, one header line per
# start) and its pid file .cluster/nodeI.pid, in the repository root.
#
# The nodes authenticate: on the first start the script generates the
# cluster's credentials in .cluster/creds (`dmnode creds generate`); every
# node starts with --cluster-creds .cluster/creds/cluster.auth and the CLI
# commands run here use .cluster/creds/admin.nk. For your own commands:
#   bin/dmnode --creds .cluster/creds/admin.nk cluster status
# (or once: bin/dmnode --creds "$PWD/.cluster/creds/admin.nk" context save).
#
# A node whose data directory is empty joins a running node (node 1 when it
# runs); only when no node has any data does node 1 bootstrap a new cluster.
# A node with data restarts on it without --join: its identity and peers are
# in the data directory. So `stop` then `start` brings back the same cluster,
# and wiping .cluster/nodeI before `restart I` replaces a node whose disk died
# (run `dmnode cluster remove nodeI` first; see deploy/README.md).
#
# Environment:
#   DMNODE           the binary (default bin/dmnode; `make build` makes it)
#   CLUSTER_DIR      where data, logs and pid files go (default .cluster)
#   NATS_PORT_BASE, CLUSTER_PORT_BASE, RAFT_PORT_BASE, HTTP_PORT_BASE
#                    node 1's ports (defaults 4222, 6222, 7222, 8290)
#   DMNODE_ARGS      extra flags for `dmnode start`, e.g. "--heartbeat-timeout 2s"
#   LOG_FORMAT       text (default) or json
#   START_TIMEOUT    seconds `start` and `restart` wait for the cluster (60)
#   STOP_TIMEOUT     seconds to wait for a node after SIGTERM before SIGKILL (60)
set -euo pipefail
shopt -s nullglob

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DMNODE=${DMNODE:-$ROOT/bin/dmnode}
CLUSTER_DIR=$(realpath -m "${CLUSTER_DIR:-$ROOT/.cluster}")
NATS_PORT_BASE=${NATS_PORT_BASE:-4222}
CLUSTER_PORT_BASE=${CLUSTER_PORT_BASE:-6222}
RAFT_PORT_BASE=${RAFT_PORT_BASE:-7222}
HTTP_PORT_BASE=${HTTP_PORT_BASE:-8290}
DMNODE_ARGS=${DMNODE_ARGS:-}
LOG_FORMAT=${LOG_FORMAT:-text}
START_TIMEOUT=${START_TIMEOUT:-60}
STOP_TIMEOUT=${STOP_TIMEOUT:-60}

say() { printf 'local-cluster: %s\n' "$*"; }
die() {
	printf 'local-cluster: %s\n' "$*" >&2
	exit 1
}

usage() {
	cat >&2 <<EOF
usage: $0 start [N] | stop | status [-o json] | kill I | restart I | clean
  start [N]    start nodes 1..N (default 3) on 127.0.0.1 and wait for the cluster
  stop         SIGTERM every node and wait (data is kept; start brings it back)
  status       the local processes, then dmnode cluster status
  kill I       SIGKILL node I
  restart I    stop node I if it runs and start it again (joins when its data is gone)
  clean        stop, then delete $CLUSTER_DIR
EOF
	exit 2
}

nats_port() { echo $((NATS_PORT_BASE + $1 - 1)); }
cluster_port() { echo $((CLUSTER_PORT_BASE + $1 - 1)); }
raft_port() { echo $((RAFT_PORT_BASE + $1 - 1)); }
http_port() { echo $((HTTP_PORT_BASE + $1 - 1)); }
data_dir() { echo "$CLUSTER_DIR/node$1"; }
log_file() { echo "$CLUSTER_DIR/node$1.log"; }
pid_file() { echo "$CLUSTER_DIR/node$1.pid"; }

# shellcheck source=deploy/lib/proc.sh
. "$ROOT/deploy/lib/proc.sh"

# ours I PID: whether PID is node I of this cluster, that is, runs with node
# I's data directory as an argument (a pid file can outlive its process and
# the pid be reused by another).
ours() {
	if [ -r "/proc/$2/cmdline" ]; then
		tr '\0' '\n' <"/proc/$2/cmdline" | grep -qxF -- "$(data_dir "$1")"
	else
		ps -o args= -p "$2" 2>/dev/null | grep -qF -- "$(data_dir "$1")"
	fi
}

# node_pid I: print node I's pid and succeed when node I runs.
node_pid() {
	local f pid
	f=$(pid_file "$1")
	[ -s "$f" ] || return 1
	pid=$(<"$f")
	alive "$pid" && ours "$1" "$pid" && echo "$pid"
}

running() { node_pid "$1" >/dev/null; }

# has_data I: whether node I's data directory exists and is not empty.
has_data() { [ -d "$(data_dir "$1")" ] && [ -n "$(ls -A "$(data_dir "$1")")" ]; }

# known_nodes: the numbers of every node that has a directory, pid file or
# log in the cluster directory, ascending.
known_nodes() {
	local f n
	for f in "$CLUSTER_DIR"/node*; do
		n=${f##*/node}
		n=${n%.*}
		[[ $n =~ ^[1-9][0-9]*$ ]] && echo "$n"
	done | sort -nu
}

# port_in_use PORT: whether something accepts connections on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# first_running [EXCEPT]: the lowest-numbered running node other than EXCEPT
# whose NATS port accepts connections.
first_running() {
	local n
	for n in $(known_nodes); do
		[ "$n" != "${1:-}" ] || continue
		if running "$n" && port_in_use "$(nats_port "$n")"; then
			echo "$n"
			return 0
		fi
	done
	return 1
}

dm() {
	local n
	n=$(first_running) || die "no node is running"
	"$DMNODE" --server "nats://127.0.0.1:$(nats_port "$n")" --creds "$CREDS_DIR/admin.nk" "$@"
}

CREDS_DIR=$CLUSTER_DIR/creds

# ensure_creds: generate the cluster's credentials once.
ensure_creds() {
	[ -s "$CREDS_DIR/cluster.auth" ] && return 0
	mkdir -p "$CLUSTER_DIR"
	"$DMNODE" creds generate --out "$CREDS_DIR" >/dev/null || die "could not generate credentials in $CREDS_DIR"
	say "generated the cluster's credentials in $CREDS_DIR"
}

tail_log() {
	local f
	f=$(log_file "$1")
	[ -s "$f" ] || return 0
	printf '    last lines of %s:\n' "$f" >&2
	tail -n 20 "$f" | sed 's/^/    | /' >&2
}

need_binary() {
	[ -x "$DMNODE" ] || die "no dmnode binary at $DMNODE: run 'make build', or set DMNODE=/path/to/dmnode"
}

check_index() {
	[[ ${1:-} =~ ^[1-9][0-9]*$ ]] || die "a node number (1, 2, ...) is needed, got '${1:-}'"
}

# launch I: start node I in the background. With an empty data directory it
# joins a running node, or bootstraps when it is node 1 and no node has data.
launch() {
	local i=$1 join=() seed n port what
	local ports=("$(nats_port "$i")" "$(cluster_port "$i")" "$(raft_port "$i")" "$(http_port "$i")")
	local names=(NATS cluster Raft HTTP)
	for n in 0 1 2 3; do
		port=${ports[n]}
		if port_in_use "$port"; then
			die "node$i's ${names[n]} port $port is already in use by another process; stop it or move the ports with ${names[n]^^}_PORT_BASE"
		fi
	done
	if has_data "$i"; then
		what="restarting on its data directory"
	elif seed=$(first_running "$i"); then
		join=(--join "nats://127.0.0.1:$(nats_port "$seed")")
		what="joining node$seed"
	elif [ "$i" = 1 ] && ! any_data; then
		what="bootstrapping a new cluster"
	else
		die "node$i has no data and no other node is running to join: start a node that has data first (local-cluster.sh restart N)"
	fi
	ensure_creds
	mkdir -p "$(data_dir "$i")"
	local args=(start --name "node$i" --data-dir "$(data_dir "$i")"
		--host 127.0.0.1 --advertise 127.0.0.1
		--nats-port "${ports[0]}" --cluster-port "${ports[1]}"
		--raft-port "${ports[2]}" --http-port "${ports[3]}"
		--cluster-creds "$CREDS_DIR/cluster.auth"
		--log-format "$LOG_FORMAT" "${join[@]}")
	# DMNODE_ARGS is split on whitespace on purpose: it holds several flags.
	# shellcheck disable=SC2206
	args+=($DMNODE_ARGS)
	printf '=== %s: %s %s\n' "$(date '+%F %T')" "$DMNODE" "${args[*]}" >>"$(log_file "$i")"
	nohup "$DMNODE" "${args[@]}" </dev/null >>"$(log_file "$i")" 2>&1 &
	echo $! >"$(pid_file "$i")"
	say "node$i started (pid $!, nats 127.0.0.1:${ports[0]}), $what"
}

any_data() {
	local n
	for n in $(known_nodes); do
		has_data "$n" && return 0
	done
	return 1
}

# wait_port I DEADLINE: wait until node I accepts NATS connections; fail if
# it exits or DEADLINE (in $SECONDS) passes.
wait_port() {
	local i=$1 deadline=$2 pid
	pid=$(<"$(pid_file "$i")")
	until port_in_use "$(nats_port "$i")"; do
		if ! alive "$pid"; then
			tail_log "$i"
			die "node$i exited; its log is $(log_file "$i")"
		fi
		((SECONDS < deadline)) || die "node$i does not accept NATS connections on port $(nats_port "$i") after ${START_TIMEOUT}s; its log is $(log_file "$i")"
		sleep 0.2
	done
}

# healthy I: whether node I's /readyz answers 200 (skipped without curl).
healthy() {
	command -v curl >/dev/null || return 0
	curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$(http_port "$1")/readyz" 2>/dev/null
}

# wait_cluster DEADLINE I...: wait until `cluster status` lists every node I
# and each of them answers 200 on /readyz. Fails early when one exits.
wait_cluster() {
	local deadline=$1 i pid out missing next_note=$((SECONDS + 10))
	shift
	local status_file=$CLUSTER_DIR/status.out
	while :; do
		for i in "$@"; do
			pid=$(<"$(pid_file "$i")")
			if ! alive "$pid"; then
				tail_log "$i"
				die "node$i exited; its log is $(log_file "$i")"
			fi
		done
		missing=()
		if out=$(dm cluster status -o json 2>&1); then
			for i in "$@"; do
				grep -Eq "\"id\"[[:space:]]*:[[:space:]]*\"node$i\"" <<<"$out" || missing+=("node$i (not a member yet)")
			done
		else
			missing=("an answer from cluster status")
		fi
		printf '%s\n' "$out" >"$status_file"
		if [ ${#missing[@]} -eq 0 ]; then
			for i in "$@"; do
				healthy "$i" || missing+=("node$i (/readyz not 200)")
			done
			[ ${#missing[@]} -ne 0 ] || return 0
		fi
		if ((SECONDS >= deadline)); then
			printf '    last answer of cluster status:\n' >&2
			sed 's/^/    | /' "$status_file" >&2
			die "the cluster was not complete after ${START_TIMEOUT}s, waiting for: ${missing[*]}; logs are in $CLUSTER_DIR"
		fi
		if ((SECONDS >= next_note)); then
			say "still waiting for: ${missing[*]}"
			next_note=$((SECONDS + 10))
		fi
		sleep 0.5
	done
}

cmd_start() {
	local n=${1:-3} i deadline=$((SECONDS + START_TIMEOUT)) started=() empty=()
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "start takes a node count (default 3), got '$n'"
	need_binary
	mkdir -p "$CLUSTER_DIR"
	# Nodes with data first (they restart as they were), then node 1 alone
	# when no node has data (it bootstraps), then the empty ones, which join.
	for ((i = 1; i <= n; i++)); do
		if running "$i"; then
			say "node$i already runs (pid $(node_pid "$i"))"
		elif has_data "$i" || { [ "$i" = 1 ] && ! any_data; }; then
			launch "$i"
			started+=("$i")
		else
			empty+=("$i")
		fi
	done
	for i in "${started[@]}"; do
		wait_port "$i" "$deadline"
	done
	for i in "${empty[@]}"; do
		launch "$i"
		started+=("$i")
	done
	if [ ${#started[@]} -eq 0 ]; then
		say "all $n nodes already run"
	fi
	say "waiting until cluster status lists node1..node$n and every /readyz answers 200"
	wait_cluster "$deadline" $(seq 1 "$n")
	say "cluster of $n nodes is up; try: $DMNODE --server nats://127.0.0.1:$NATS_PORT_BASE --creds $CREDS_DIR/admin.nk cluster status"
}

# stop_nodes I...: SIGTERM every given node that runs, then wait for each,
# with SIGKILL after STOP_TIMEOUT seconds.
stop_nodes() {
	local i pid pids=() nodes=() k deadline
	for i in "$@"; do
		if pid=$(node_pid "$i"); then
			say "stopping node$i (pid $pid)"
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
			nodes+=("$i")
		fi
		# A pid file whose process is gone (or is not ours) is stale.
		[ -n "$pid" ] || rm -f "$(pid_file "$i")"
	done
	deadline=$((SECONDS + STOP_TIMEOUT))
	for k in "${!pids[@]}"; do
		while alive "${pids[k]}"; do
			if ((SECONDS >= deadline)); then
				say "node${nodes[k]} (pid ${pids[k]}) did not stop within ${STOP_TIMEOUT}s; killing it"
				kill -KILL "${pids[k]}" 2>/dev/null || true
				break
			fi
			sleep 0.2
		done
		rm -f "$(pid_file "${nodes[k]}")"
		say "node${nodes[k]} stopped"
	done
	[ ${#pids[@]} -ne 0 ]
}

cmd_stop() {
	[ -d "$CLUSTER_DIR" ] || {
		say "nothing to stop: $CLUSTER_DIR does not exist"
		return 0
	}
	# shellcheck disable=SC2046
	stop_nodes $(known_nodes) || say "no node was running"
}

cmd_status() {
	local i pid state
	if [ -z "$(known_nodes)" ]; then
		say "no cluster in $CLUSTER_DIR; start one with: $0 start"
		return 0
	fi
	printf '%-8s %-20s %6s %8s %6s %6s  %s\n' NODE PROCESS NATS CLUSTER RAFT HTTP DATA
	for i in $(known_nodes); do
		if pid=$(node_pid "$i"); then state="running (pid $pid)"; else state=stopped; fi
		printf '%-8s %-20s %6s %8s %6s %6s  %s\n' "node$i" "$state" "$(nats_port "$i")" \
			"$(cluster_port "$i")" "$(raft_port "$i")" "$(http_port "$i")" "$(data_dir "$i")"
	done
	echo
	first_running >/dev/null || {
		say "no node is running, so there is no cluster status to ask for"
		return 0
	}
	need_binary
	dm cluster status "$@"
}

cmd_kill() {
	local i=${1:-} pid
	check_index "$i"
	pid=$(node_pid "$i") || die "node$i is not running"
	kill -KILL "$pid"
	while alive "$pid"; do sleep 0.1; done
	rm -f "$(pid_file "$i")"
	say "node$i (pid $pid) killed with SIGKILL; its data directory is kept. Bring it back with: $0 restart $i"
}

cmd_restart() {
	local i=${1:-} deadline=$((SECONDS + START_TIMEOUT))
	check_index "$i"
	need_binary
	mkdir -p "$CLUSTER_DIR"
	stop_nodes "$i" || true
	launch "$i"
	wait_port "$i" "$deadline"
	say "waiting until cluster status lists node$i and its /readyz answers 200"
	wait_cluster "$deadline" "$i"
	say "node$i is back"
}

cmd_clean() {
	cmd_stop
	rm -rf "$CLUSTER_DIR"
	say "removed $CLUSTER_DIR"
}

case ${1:-} in
start) cmd_start "${@:2}" ;;
stop) cmd_stop ;;
status) cmd_status "${@:2}" ;;
kill) cmd_kill "${2:-}" ;;
restart) cmd_restart "${2:-}" ;;
clean) cmd_clean ;;
*) usage ;;
esac
