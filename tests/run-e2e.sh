#!/usr/bin/env bash
# run-e2e.sh runs the end-to-end suite (make e2e): the small harness and
# bench packages, then the tests of ./tests in two shards at once. Most of
# an end-to-end test's time is spent waiting (on MariaDB, on JetStream, on
# a node to notice a kill), so two shards share two cores well; each test
# starts its own servers on free ports and temp dirs, so they cannot meet.
# Each shard's full output is kept in /tmp/dmnode-e2e-<shard>.log; the
# summary lines are printed as they come, prefixed by the shard.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
GO=${GO:-go}
FILTER='^(=== RUN|--- |PASS|FAIL|ok|panic)|_test.go|dialect check'
# Shard a: cluster, security, HTTP, relay and size tests; shard b: the rest.
SHARD_A='^Test(Cluster|Secure|Security|NATS|External|HTTP|Console|IndexAfterLoad|Relay|Purge|BigTxn|BigRows|ManyTables)'

$GO test -count=1 -timeout 10m ./harness/... ./bench/... || exit 1
bin=$(mktemp -d)/e2e.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
$GO test -c -o "$bin" . || exit 1

shard() { # name, then the binary's selection flag
	local name=$1 sel=$2
	"$bin" -test.count=1 -test.timeout 30m -test.v "$sel" "$SHARD_A" 2>&1 |
		tee "/tmp/dmnode-e2e-$name.log" | grep --line-buffered -E "$FILTER" | sed -u "s/^/[$name] /"
	return "${PIPESTATUS[0]}"
}
shard a -test.run &
a=$!
shard b -test.skip &
b=$!
status=0
wait $a || status=1
wait $b || status=1
if [ $status -ne 0 ]; then
	echo "e2e: FAIL (full output: /tmp/dmnode-e2e-a.log, /tmp/dmnode-e2e-b.log)"
else
	echo "e2e: ok"
fi
exit $status
