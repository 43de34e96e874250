# dmnode — build, test, demo.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go

.PHONY: build test unit e2e chaos upgrade-check quickstart bench bench-deps deps clean

build:
	$(GO) build -o bin/dmnode ./cmd/dmnode

# The whole suite: vet, unit tests with the race detector, then the
# end-to-end tests on real MariaDB servers and dmnode processes.
test: unit e2e

# The unit step runs every package's tests with the race detector (some of
# actors' and jetstream's start MariaDB or an in-process NATS server), then
# measures the coverage of actors/ and node/ by the tests that need neither:
# under -short the helpers that start a server skip their test.
UNITCOVER := $(or $(TMPDIR),/tmp)/dmnode-unit.cover
unit:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 10m $$($(GO) list ./... | grep -v /tests)
	$(GO) test -short -count=1 -timeout 10m -coverprofile=$(UNITCOVER) ./actors/ ./node/ > /dev/null
	@echo "unit coverage of actors/ and node/ without MariaDB or a NATS server: $$($(GO) tool cover -func=$(UNITCOVER) | tail -1 | awk '{print $$NF}')"

e2e:
	GO=$(GO) bash tests/run-e2e.sh

# The cluster fault scenarios (node loss during load and sync, leader loss,
# full restart, join and leave, a frozen node) three times over, then the
# random workload of DML and DDL for 20 seeds with the node SIGKILLed in
# each (a failing seed prints DMNODE_SEED=n to replay it). Then an external
# 3-server NATS cluster behind one URL loses one server, then two, and gets
# them back: status and /readyz must report it, rows must flow again (the
# recovery times are printed, lines RECOVERY), streams stay R3.
chaos:
	$(GO) test -count=3 -timeout 30m -v -run 'TestCluster' ./tests/
	DMNODE_CHAOS=1 $(GO) test -count=1 -timeout 20m -v -run '^TestNATSClusterOutage$$' ./tests/
	DMNODE_CHAOS=1 DMNODE_SEEDS=20 DMNODE_OPS=250 $(GO) test -count=1 -timeout 60m -v -run '^TestRandomLoad$$' ./tests/

# An earlier build (FROM, any git revision) dumps a merged copy and is
# SIGKILLed with every chunk still queued; this build finishes the copy on
# the same data directory and replicates (TestUpgradeMidCopy).
UPGRADEDIR := $(or $(TMPDIR),/tmp)/dmnode-upgrade-from
upgrade-check:
	@test -n "$(FROM)" || { echo "usage: make upgrade-check FROM=<git revision>"; exit 2; }
	rm -rf $(UPGRADEDIR) && git worktree prune
	git worktree add --detach $(UPGRADEDIR) $(FROM)
	cd $(UPGRADEDIR) && $(GO) build -o $(UPGRADEDIR).bin ./cmd/dmnode
	git worktree remove --force $(UPGRADEDIR)
	DMNODE_UPGRADE_FROM=$(UPGRADEDIR).bin $(GO) test -count=1 -timeout 10m -v -run '^TestUpgradeMidCopy$$' ./tests/

deps:
	bash deploy/quickstart/install-deps.sh
	$(GO) mod download

# Three MariaDB shards merged into one target table, full copy then live
# replication, with a summary of what arrived.
quickstart: deps build
	bash deploy/quickstart/quickstart.sh

# The Go micro-benchmarks (codec, rules), then the pipeline benchmark on
# MariaDB servers it starts itself: full copy against mydumper+myloader and
# the target's INSERT ceiling, shard fan-in, binlog catch-up and one big
# transaction against a MariaDB replica, a copy of 10,000 tables,
# steady-state lag and cluster failover. It prints a table and writes
# bench/results/<time>.json. Select and scale with BENCH=full,fanin,incr,
# bigtxn,manytables,steady,failover, BENCH_SCALE, BENCH_RUNS, ...
# (tests/bench/config_test.go lists them). The default run takes about
# 12 minutes.
bench: bench-deps
	$(GO) test -run '^$$' -bench . -benchmem ./core/... ./jetstream/...
	DMNODE_BENCH=1 $(GO) test -count=1 -timeout 90m -v -run '^TestBench$$' ./tests/bench/ 2>&1 | tee /tmp/dmnode-bench.log \
		| grep --line-buffered -vE '^\s*$$|^=== (RUN|NAME|PAUSE|CONT)' ; exit $${PIPESTATUS[0]}

bench-deps:
	bash deploy/quickstart/install-deps.sh --bench

clean:
	rm -rf bin .quickstart
