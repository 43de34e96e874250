#!/usr/bin/env bash
# quickstart.sh runs TiDB DM's classic quick start on dmnode, on this machine
# alone: three MariaDB sources (127.0.0.1:3307, 3308, 3309) each holding a
# shard dmtest.t1 of 256 rows, merged by the task in task.yaml into one table
# dmtest.t on a target MariaDB (127.0.0.1:4000, standing in for TiDB). It then
# writes to every source and waits until the target shows the changes.
#
# Run it from anywhere with bin/dmnode built (`make quickstart` does both);
# DMNODE=/path/to/dmnode overrides the binary. Everything it creates is under
# .quickstart/ in the repository root, kept after the run for inspection
# (dmnode.log, */error.log) and wiped by the next run. Everything it starts is
# stopped when it exits, also on failure or Ctrl-C; processes left behind by
# an earlier run that was killed are stopped before it starts.
set -euo pipefail
shopt -s nullglob

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
HERE=deploy/quickstart
QS=$ROOT/.quickstart
DMNODE=${DMNODE:-$ROOT/bin/dmnode}
# The quick start talks to its own dev node only, never to a cluster a saved
# client context (dmnode context save) names.
export DMNODE_CONTEXT=none
SOURCE_PORTS=(3307 3308 3309)
TARGET_PORT=4000
NATS_PORT=4222
ROWS_PER_SOURCE=256
export PATH=$PATH:/usr/sbin # mariadbd lives there on Debian

section() { printf '\n=== %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() {
	printf 'quickstart: %s\n' "$*" >&2
	exit 1
}

# shellcheck source=deploy/lib/proc.sh
. "$ROOT/deploy/lib/proc.sh"

# ours PID: whether PID runs with an argument under .quickstart/, that is, was
# started by a quick start in this repository (pid files can outlive their
# process and the pid be reused).
ours() {
	[ -r "/proc/$1/cmdline" ] && tr '\0' '\n' <"/proc/$1/cmdline" | grep -qF -- "$QS/"
}

# stop_pid NAME PID TIMEOUT: SIGTERM, wait up to TIMEOUT seconds, then SIGKILL.
stop_pid() {
	local name=$1 pid=$2 deadline=$((SECONDS + $3))
	kill -TERM "$pid" 2>/dev/null || return 0
	while alive "$pid"; do
		if ((SECONDS >= deadline)); then
			info "$name (pid $pid) did not stop within $3s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
			return 0
		fi
		sleep 0.2
	done
}

# stop_all [--leftovers]: stop dmnode, then every mariadbd, that have a pid
# file in .quickstart/pids. With --leftovers only processes that ours() owns
# are touched, for pid files left by an earlier run.
stop_all() {
	local f pid name
	for f in "$QS"/pids/dmnode.pid "$QS"/pids/mariadb-*.pid; do
		[ -f "$f" ] || continue
		pid=$(<"$f")
		name=$(basename "$f" .pid)
		if alive "$pid" && { [ "${1:-}" != --leftovers ] || ours "$pid"; }; then
			info "stopping $name (pid $pid)"
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done
	# SIGTERM went to all at once; now wait for each, dmnode first.
	for f in "$QS"/pids/dmnode.pid "$QS"/pids/mariadb-*.pid; do
		[ -f "$f" ] || continue
		pid=$(<"$f")
		name=$(basename "$f" .pid)
		if alive "$pid" && { [ "${1:-}" != --leftovers ] || ours "$pid"; }; then
			stop_pid "$name" "$pid" 60
		fi
		rm -f "$f"
	done
}

on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "$rc" -ne 0 ] && [ -s "$QS/dmnode.log" ]; then
		section "Last lines of .quickstart/dmnode.log"
		tail -n 40 "$QS/dmnode.log" | sed 's/^/    /'
	fi
	section "Stopping everything the quick start started"
	stop_all
	if [ "$rc" -eq 0 ]; then
		section "Quick start finished: logs and data are in .quickstart/ until the next run"
	elif [ "$rc" -ge 128 ]; then
		printf '\nquickstart: interrupted; logs are in .quickstart/\n' >&2
	else
		printf '\nquickstart: FAILED (exit %s); logs are in .quickstart/\n' "$rc" >&2
	fi
	exit "$rc"
}

# sql PORT ARGS...: the mariadb client as root over TCP to 127.0.0.1:PORT.
sql() {
	local port=$1
	shift
	mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$port" -uroot "$@"
}

# port_in_use PORT: whether something accepts connections on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_mariadb NAME PORT SERVER_ID [MARIADBD_ARGS...]: initialise a data dir
# under .quickstart/NAME and start mariadbd in the background.
start_mariadb() {
	local name=$1 port=$2 id=$3
	shift 3
	local dir=$QS/$name
	local sock=$dir/mysql.sock
	if [ "${#sock}" -gt 100 ]; then # sockets paths are limited to 107 bytes
		sock=${TMPDIR:-/tmp}/dmnode-quickstart-$port.sock
	fi
	local as_root=()
	[ "$(id -u)" -ne 0 ] || as_root=(--user=root)

	mkdir -p "$dir"
	if ! mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal \
		--skip-test-db "${as_root[@]}" >"$dir/install.log" 2>&1; then
		cat "$dir/install.log" >&2
		die "mariadb-install-db for $name failed (log above, also in $dir/install.log)"
	fi
	mariadbd --no-defaults --datadir="$dir/data" --bind-address=127.0.0.1 --port="$port" \
		--socket="$sock" --pid-file="$dir/mariadbd.pid" --log-error="$dir/error.log" \
		--server-id="$id" --skip-name-resolve \
		--character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
		--innodb-buffer-pool-size=64M --innodb-flush-log-at-trx-commit=2 --sync-binlog=0 \
		"${as_root[@]}" "$@" >"$dir/mariadbd.out" 2>&1 &
	echo $! >"$QS/pids/mariadb-$name.pid"
	info "$name: mariadbd on 127.0.0.1:$port, server-id $id, pid $!"
}

# wait_mariadb NAME PORT: wait until root can log in over TCP.
wait_mariadb() {
	local name=$1 port=$2 deadline=$((SECONDS + 60))
	local pid
	pid=$(<"$QS/pids/mariadb-$name.pid")
	until sql "$port" -e 'SELECT 1' >/dev/null 2>"$QS/$name/login.err"; do
		if ! alive "$pid" || ((SECONDS >= deadline)); then
			cat "$QS/$name/login.err" >&2
			tail -n 30 "$QS/$name/error.log" >&2 || true
			die "$name did not start on port $port (error log above, in .quickstart/$name/error.log)"
		fi
		sleep 0.2
	done
}

# dm ARGS...: run dmnode, showing the command.
dm() {
	printf '    $ dmnode %s\n' "$*"
	"$DMNODE" "$@"
}

# target_summary: the rows of the merged table per source port, and totals.
target_summary() {
	sql "$TARGET_PORT" --table -e "
		SELECT port, COUNT(*) AS \`rows\`, COUNT(DISTINCT id) AS distinct_ids, MIN(id), MAX(id)
		FROM dmtest.t GROUP BY port ORDER BY port;
		SELECT COUNT(*) AS total_rows, COUNT(DISTINCT id) AS distinct_ids FROM dmtest.t;"
}

# expect_totals ROWS: fail unless the target has ROWS rows with distinct ids.
expect_totals() {
	local got
	got=$(sql "$TARGET_PORT" -N -B -e "SELECT COUNT(*), COUNT(DISTINCT id) FROM dmtest.t" | tr '\t' ' ')
	[ "$got" = "$1 $1" ] || die "the target has $got rows/distinct ids in dmtest.t, want $1 $1"
	info "OK: $1 rows, $1 distinct ids"
}

# fingerprint PORT TABLE: row count and a checksum of c per source port.
fingerprint() {
	sql "$1" -N -B -e "SELECT port, COUNT(*), SUM(CRC32(c)) FROM $2 GROUP BY port ORDER BY port"
}

main() {
	section "Checking prerequisites"
	if ! command -v mariadbd >/dev/null || ! command -v mariadb >/dev/null || ! command -v mariadb-install-db >/dev/null; then
		info "MariaDB is missing; running $HERE/install-deps.sh"
		"$HERE/install-deps.sh"
	fi
	[ -x "$DMNODE" ] || die "$DMNODE not found: build it first (make quickstart builds it)"
	info "dmnode: $DMNODE"
	info "mariadbd: $(command -v mariadbd)"

	section "Cleaning up after any earlier run (.quickstart/)"
	stop_all --leftovers
	rm -rf "$QS"
	mkdir -p "$QS/pids"
	trap on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	local port
	for port in "${SOURCE_PORTS[@]}" "$TARGET_PORT" "$NATS_PORT"; do
		if port_in_use "$port"; then
			die "port $port on 127.0.0.1 is taken by another program; the quick start needs ports ${SOURCE_PORTS[*]} $TARGET_PORT $NATS_PORT free"
		fi
	done

	section "Starting three MariaDB sources (binlog on, ROW format) and a target"
	local i
	for i in 0 1 2; do
		start_mariadb "source$((i + 1))" "${SOURCE_PORTS[i]}" "$((i + 1))" \
			--log-bin=mysql-bin --binlog-format=ROW --binlog-row-image=FULL
	done
	start_mariadb target "$TARGET_PORT" 100
	for i in 0 1 2; do
		wait_mariadb "source$((i + 1))" "${SOURCE_PORTS[i]}"
	done
	wait_mariadb target "$TARGET_PORT"
	info "all four accept connections"

	section "Loading $ROWS_PER_SOURCE rows into dmtest.t1 on every source"
	for port in "${SOURCE_PORTS[@]}"; do
		sql "$port" -e "
			CREATE DATABASE dmtest;
			CREATE TABLE dmtest.t1 (id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, c char(32), port int);
			INSERT INTO dmtest.t1 (id, c, port) SELECT seq, MD5(seq), @@port FROM dmtest.seq_1_to_$ROWS_PER_SOURCE;"
		info "127.0.0.1:$port: dmtest.t1 ids 1..$ROWS_PER_SOURCE"
	done

	section "Starting dmnode (dev mode: one node with embedded NATS on port $NATS_PORT)"
	"$DMNODE" dev --data-dir "$QS/dmnode-data" --nats-port "$NATS_PORT" --log-format text >"$QS/dmnode.log" 2>&1 &
	local dmnode_pid=$!
	echo "$dmnode_pid" >"$QS/pids/dmnode.pid"
	info "pid $dmnode_pid, log in .quickstart/dmnode.log"
	local deadline=$((SECONDS + 60))
	until "$DMNODE" task list >"$QS/task-list.out" 2>&1; do
		if ! alive "$dmnode_pid"; then
			die "dmnode exited while starting"
		fi
		if ((SECONDS >= deadline)); then
			cat "$QS/task-list.out" >&2
			die "dmnode did not answer 'dmnode task list' within 60s"
		fi
		sleep 0.5
	done
	info "dmnode answers"

	section "Adding the three sources"
	dm source add "$HERE/source1.yaml" "$HERE/source2.yaml" "$HERE/source3.yaml"

	section "Checking the task (merged tables and id ranges)"
	dm task check "$HERE/task.yaml"

	section "Submitting the task"
	dm task submit "$HERE/task.yaml"

	section "Waiting until the task has copied everything and follows the binlog"
	dm task wait test --stage sync --timeout 120s

	section "The merged table dmtest.t on the target (127.0.0.1:$TARGET_PORT)"
	target_summary
	expect_totals $((ROWS_PER_SOURCE * ${#SOURCE_PORTS[@]}))

	section "Task status"
	dm task status test

	section "Writing to every source: 2 inserts, 1 update (id 10), 1 delete (id 20)"
	for port in "${SOURCE_PORTS[@]}"; do
		sql "$port" -e "
			INSERT INTO dmtest.t1 (c, port) VALUES ('inserted after sync', @@port), ('inserted after sync', @@port);
			UPDATE dmtest.t1 SET c = 'updated after sync' WHERE id = 10;
			DELETE FROM dmtest.t1 WHERE id = 20;"
		info "127.0.0.1:$port: done"
	done

	section "Waiting until the target reflects the writes (rows and checksum per port)"
	local want got
	want=$(for port in "${SOURCE_PORTS[@]}"; do fingerprint "$port" dmtest.t1; done)
	deadline=$((SECONDS + 60))
	until got=$(fingerprint "$TARGET_PORT" dmtest.t 2>&1) && [ "$got" = "$want" ]; do
		if ((SECONDS >= deadline)); then
			printf 'sources (port rows checksum):\n%s\ntarget:\n%s\n' "$want" "$got" >&2
			die "the target did not catch up with the sources within 60s"
		fi
		sleep 0.5
	done
	info "the target matches the sources"

	section "The merged table after the writes"
	target_summary
	expect_totals $(((ROWS_PER_SOURCE + 1) * ${#SOURCE_PORTS[@]}))

	section "Rows inserted or updated after the sync started"
	sql "$TARGET_PORT" --table -e "
		SELECT id, c, port FROM dmtest.t
		WHERE c IN ('inserted after sync', 'updated after sync') ORDER BY port, id"
}

main "$@"
