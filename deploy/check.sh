#!/usr/bin/env bash
# check.sh validates the deployment files offline, without a cluster, a
# systemd host or a network:
#
#   - shell syntax of every script under deploy/ (bash -n; sh -n for the
#     Kubernetes entry point), and shellcheck when it is installed;
#   - the systemd unit with `systemd-analyze verify`, and that every variable
#     its ExecStart= uses is set in the sample environment file;
#   - the Kubernetes manifests: well-formed YAML (PyYAML), the expected
#     objects and ports, and `kubectl kustomize` when kubectl is installed;
#   - the flags the files pass to `dmnode start`, against `bin/dmnode start
#     --help` once the binary has that command and --help is safe to ask;
#   - the behaviour of local-cluster.sh (start, stop, status, kill, restart,
#     clean) and of the Kubernetes entry point's join decision, each against
#     a stand-in for dmnode that records how it was started.
#
# A check whose tool is missing is skipped with a message. Exits non-zero
# when any check fails. DMNODE=/path/to/dmnode overrides bin/dmnode for the
# flag check.
set -euo pipefail
shopt -s nullglob globstar

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DMNODE=${DMNODE:-$ROOT/bin/dmnode}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

failed=0
ok() { printf 'ok    %s\n' "$*"; }
skip() { printf 'skip  %s\n' "$*"; }
fail() {
	printf 'FAIL  %s\n' "$*"
	failed=$((failed + 1))
}
# indent: show a command's output under its result line.
indent() { sed 's/^/      | /'; }

have_pyyaml() { command -v python3 >/dev/null && python3 -c 'import yaml' 2>/dev/null; }

# ---------------------------------------------------------------- scripts

for f in deploy/**/*.sh; do
	if out=$(bash -n "$f" 2>&1); then ok "bash -n $f"; else
		fail "bash -n $f"
		indent <<<"$out"
	fi
done

# The Kubernetes entry point lives in a ConfigMap and runs under /bin/sh.
START_SH=$TMP/start.sh
if have_pyyaml; then
	python3 - deploy/kubernetes/dmnode.yaml >"$START_SH" <<-'EOF'
		import sys, yaml
		for d in yaml.safe_load_all(open(sys.argv[1])):
		    if d and d.get("kind") == "ConfigMap" and "start.sh" in d.get("data", {}):
		        sys.stdout.write(d["data"]["start.sh"])
	EOF
	if [ ! -s "$START_SH" ]; then
		fail "deploy/kubernetes/dmnode.yaml has no ConfigMap with start.sh"
	else
		for sh in dash sh bash; do
			command -v "$sh" >/dev/null || continue
			if out=$("$sh" -n "$START_SH" 2>&1); then ok "$sh -n start.sh (ConfigMap dmnode-start)"; else
				fail "$sh -n start.sh (ConfigMap dmnode-start)"
				indent <<<"$out"
			fi
		done
	fi
else
	skip "start.sh syntax: PyYAML is not importable (python3 -c 'import yaml')"
fi

if command -v shellcheck >/dev/null; then
	files=(deploy/**/*.sh)
	[ -s "$START_SH" ] && files+=("$START_SH")
	if out=$(shellcheck -x "${files[@]}" 2>&1); then ok "shellcheck ${#files[@]} scripts"; else
		fail "shellcheck"
		indent <<<"$out"
	fi
else
	skip "shellcheck is not installed"
fi

# ---------------------------------------------------------------- systemd

UNIT=deploy/systemd/dmnode.service
ENVFILE=deploy/systemd/dmnode.env
if command -v systemd-analyze >/dev/null; then
	# verify insists that ExecStart's binary exists; point it at one that does.
	mkdir -p "$TMP/unit"
	sed 's#/usr/local/bin/dmnode#/bin/true#' "$UNIT" >"$TMP/unit/dmnode.service"
	# It exits 0 on unknown keys and only prints them, so any output fails.
	out=$(cd "$TMP/unit" && systemd-analyze verify ./dmnode.service 2>&1) && rc=0 || rc=$?
	if [ "$rc" -eq 0 ] && [ -z "$out" ]; then ok "systemd-analyze verify $UNIT"; else
		fail "systemd-analyze verify $UNIT"
		indent <<<"$out"
	fi
	if out=$(cd "$TMP/unit" && systemd-analyze security --offline=yes --threshold=30 ./dmnode.service 2>&1 | tail -n 1); then
		ok "systemd-analyze security: ${out#→ }"
	else
		fail "systemd-analyze security (exposure above 3.0)"
		indent <<<"$out"
	fi
else
	skip "systemd-analyze is not installed: $UNIT not verified"
fi

# Every ${VAR} or $VAR in ExecStart= must be set in the sample environment
# file or by an Environment= line, or systemd passes an empty argument.
# shellcheck disable=SC2016
used=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$UNIT" | grep -oE '\$\{?[A-Z_][A-Z0-9_]*' | tr -d '${' | sort -u)
missing=()
for v in $used; do
	grep -qE "^$v=" "$ENVFILE" || grep -qE "^Environment=.*\b$v=" "$UNIT" || missing+=("$v")
done
if [ ${#missing[@]} -eq 0 ]; then ok "$ENVFILE sets every variable ExecStart uses ($(echo $used))"; else
	fail "$ENVFILE lacks ${missing[*]}"
fi
if bad=$(grep -nvE '^[[:space:]]*(#.*)?$|^[A-Z_][A-Z0-9_]*=' "$ENVFILE"); then
	fail "$ENVFILE has lines that are neither comments nor KEY=value"
	indent <<<"$bad"
else
	ok "$ENVFILE is comments and KEY=value lines"
fi

# ---------------------------------------------------------------- kubernetes

if have_pyyaml; then
	if out=$(python3 - deploy/kubernetes/*.yaml 2>&1 <<-'EOF'
		import sys, yaml
		errors = []
		objs = {}
		for path in sys.argv[1:]:
		    try:
		        docs = [d for d in yaml.safe_load_all(open(path)) if d is not None]
		    except yaml.YAMLError as e:
		        errors.append(f"{path}: {e}")
		        continue
		    for d in docs:
		        if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d:
		            errors.append(f"{path}: a document without kind and apiVersion")
		            continue
		        objs[(d["kind"], d.get("metadata", {}).get("name", ""))] = d
		
		def need(cond, msg):
		    if not cond:
		        errors.append(msg)
		
		def ports(svc):
		    return {p["name"]: p["port"] for p in svc["spec"]["ports"]}
		
		want = {"client": 4222, "cluster": 6222, "raft": 7222, "http": 8290}
		h = objs.get(("Service", "dmnode-headless"))
		need(h, "no Service dmnode-headless")
		if h:
		    need(h["spec"].get("clusterIP") == "None", "dmnode-headless is not headless")
		    need(h["spec"].get("publishNotReadyAddresses") is True, "dmnode-headless must publish not-ready pods")
		    need(ports(h) == want, f"dmnode-headless ports {ports(h)} != {want}")
		c = objs.get(("Service", "dmnode"))
		need(c, "no client Service dmnode")
		if c:
		    need(ports(c).get("client") == 4222, "Service dmnode lacks client port 4222")
		s = objs.get(("StatefulSet", "dmnode"))
		need(s, "no StatefulSet dmnode")
		if s:
		    spec = s["spec"]
		    need(spec.get("serviceName") == "dmnode-headless", "StatefulSet serviceName is not dmnode-headless")
		    need(spec.get("replicas") == 3, "StatefulSet replicas != 3")
		    need(spec.get("volumeClaimTemplates"), "StatefulSet has no volumeClaimTemplates")
		    labels = spec["template"]["metadata"]["labels"]
		    need(all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()),
		         "StatefulSet selector does not match its pod labels")
		    pod = spec["template"]["spec"]
		    need(pod.get("terminationGracePeriodSeconds"), "no terminationGracePeriodSeconds")
		    need(pod.get("affinity", {}).get("podAntiAffinity"), "no pod anti-affinity")
		    (ctr,) = pod["containers"]
		    cports = {p["name"]: p["containerPort"] for p in ctr["ports"]}
		    need(cports == want, f"container ports {cports} != {want}")
		    need(ctr.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", "readiness probe is not /readyz")
		    need(ctr.get("livenessProbe"), "no liveness probe")
		    need(ctr.get("resources", {}).get("requests"), "no resource requests")
		    mounts = {m["name"] for m in ctr.get("volumeMounts", [])}
		    vols = {v["name"] for v in pod.get("volumes", [])} | {v["metadata"]["name"] for v in spec["volumeClaimTemplates"]}
		    need(mounts <= vols, f"mounts {mounts - vols} have no volume")
		p = objs.get(("PodDisruptionBudget", "dmnode"))
		need(p and p["spec"].get("maxUnavailable") == 1, "no PodDisruptionBudget with maxUnavailable 1")
		print("\n".join(errors) if errors else ", ".join(f"{k} {n}".strip() for k, n in objs))
		sys.exit(1 if errors else 0)
	EOF
	); then ok "manifests: $out"; else
		fail "manifests"
		indent <<<"$out"
	fi
else
	skip "manifests: PyYAML is not importable (python3 -c 'import yaml'); YAML not checked"
fi

if command -v kubectl >/dev/null; then
	if out=$(kubectl kustomize deploy/kubernetes 2>&1); then
		ok "kubectl kustomize deploy/kubernetes ($(grep -c '^kind:' <<<"$out") objects)"
	else
		fail "kubectl kustomize deploy/kubernetes"
		indent <<<"$out"
	fi
else
	skip "kubectl is not installed: kustomization not rendered"
fi

# ---------------------------------------------------------------- flags

# The flags given to `dmnode start` anywhere under deploy/ must be ones the
# binary accepts. `start --help` is only asked when --help is known not to
# run the command as well: `task list --help` against a closed port must
# succeed (if it ran, it would fail to connect).
if [ -x "$DMNODE" ] && ! timeout 10 "$DMNODE" --server nats://127.0.0.1:1 task list --help >/dev/null 2>&1; then
	skip "flags: '$DMNODE task list --help' also runs the command, so 'start --help' would start a node"
elif [ -x "$DMNODE" ] && help=$(timeout 10 "$DMNODE" start --help 2>&1); then
	flags=$(cat deploy/cluster/local-cluster.sh "$UNIT" "$ENVFILE" deploy/kubernetes/dmnode.yaml |
		grep -oE -- '--(name|data-dir|host|advertise|[a-z]+-port|join|nats-url|heartbeat-timeout|log-format|cluster-creds|http-host|tls-cert|tls-key|tls-ca)\b' | sort -u)
	unknown=()
	for f in $flags; do
		grep -qE -- "$f\b" <<<"$help" || unknown+=("$f")
	done
	if [ ${#unknown[@]} -eq 0 ]; then ok "dmnode start accepts $(echo $flags)"; else
		fail "dmnode start --help does not list ${unknown[*]}"
	fi
else
	skip "flags: $DMNODE has no 'start' command yet (or is not built)"
fi

# ---------------------------------------------------------------- local-cluster.sh

# A stand-in for dmnode: `start` listens on its NATS and HTTP ports (/healthz, /readyz
# answers 200), keeps its name in the data directory and records its flags;
# `cluster status -o json` lists every node ever started, with its health.
# Starting without --join while another node has data is recorded as a
# second cluster.
write_stub() {
	cat >"$1" <<-'EOF'
		#!/usr/bin/env python3
		import http.server, json, os, signal, socket, sys, threading
		state = os.environ["STUB_STATE"]
		argv, server, i = [], "nats://127.0.0.1:4222", 1
		while i < len(sys.argv):
		    if sys.argv[i] == "--server":
		        server, i = sys.argv[i + 1], i + 2
		    elif sys.argv[i] == "--creds":
		        i += 2
		    else:
		        argv, i = argv + [sys.argv[i]], i + 1
		def alive(pid):
		    try:
		        os.kill(pid, 0)
		        return True
		    except OSError:
		        return False
		if argv[:1] == ["start"]:
		    known = {"name", "data-dir", "host", "advertise", "nats-port", "cluster-port", "raft-port",
		             "http-port", "join", "nats-url", "heartbeat-timeout", "log-format", "cluster-creds"}
		    f, rest = {}, argv[1:]
		    while rest:
		        if not rest[0].startswith("--") or rest[0][2:] not in known or len(rest) < 2:
		            sys.exit(f"stub: bad argument {rest[0]!r}")
		        f[rest[0][2:]], rest = rest[1], rest[2:]
		    ident = os.path.join(f["data-dir"], "identity")
		    members = os.path.join(state, "members")
		    os.makedirs(members, exist_ok=True)
		    if not os.path.exists(f.get("cluster-creds", "")):
		        sys.exit("stub: no cluster credentials")
		    if not os.path.exists(ident):
		        if "join" not in f and os.listdir(members):
		            open(os.path.join(state, "errors"), "a").write(f"{f['name']} bootstrapped a second cluster\n")
		        if "join" in f:
		            socket.create_connection(("127.0.0.1", int(f["join"].rsplit(":", 1)[1])), 2).close()
		        open(ident, "w").write(f["name"])
		    elif open(ident).read() != f["name"]:
		        sys.exit("stub: data directory belongs to another node")
		    with open(os.path.join(state, "launches"), "a") as log:
		        log.write(f"{f['name']} join={f.get('join', '')}\n")
		    nats = socket.socket()
		    nats.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		    nats.bind(("127.0.0.1", int(f["nats-port"])))
		    nats.listen(16)
		    class H(http.server.BaseHTTPRequestHandler):
		        def do_GET(self):
		            self.send_response(200 if self.path in ("/healthz", "/readyz") else 404)
		            self.end_headers()
		        def log_message(self, *a):
		            pass
		    web = http.server.HTTPServer(("127.0.0.1", int(f["http-port"])), H)
		    threading.Thread(target=web.serve_forever, daemon=True).start()
		    def accept():
		        while True:
		            nats.accept()[0].close()
		    threading.Thread(target=accept, daemon=True).start()
		    open(os.path.join(members, f["name"]), "w").write(str(os.getpid()))
		    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
		    print(f"stub {f['name']} up", flush=True)
		    while True:
		        signal.pause()
		elif argv[:3] == ["creds", "generate", "--out"]:
		    os.makedirs(argv[3], exist_ok=True)
		    for n in ("cluster.auth", "admin.nk", "viewer.nk"):
		        open(os.path.join(argv[3], n), "w").write("stub\n")
		elif argv[:2] == ["cluster", "status"]:
		    try:
		        socket.create_connection(("127.0.0.1", int(server.rsplit(":", 1)[1])), 2).close()
		    except OSError as e:
		        sys.exit(f"error: {server}: {e}")
		    members = os.path.join(state, "members")
		    out = [{"id": n, "health": "up" if alive(int(open(os.path.join(members, n)).read())) else "down"}
		           for n in sorted(os.listdir(members))]
		    print(json.dumps({"members": out}, indent=2))
		else:
		    sys.exit(f"stub: unexpected command {argv}")
	EOF
	chmod +x "$1"
}

selftest_local_cluster() {
	local t=$TMP/lc base
	mkdir -p "$t/state"
	write_stub "$t/dmnode"
	base=$((20000 + RANDOM % 5000))
	lc() {
		STUB_STATE=$t/state DMNODE=$t/dmnode CLUSTER_DIR=$t/cluster \
			NATS_PORT_BASE=$base CLUSTER_PORT_BASE=$((base + 10000)) \
			RAFT_PORT_BASE=$((base + 20000)) HTTP_PORT_BASE=$((base + 30000)) \
			START_TIMEOUT=20 STOP_TIMEOUT=10 \
			deploy/cluster/local-cluster.sh "$@" >>"$t/out" 2>&1
	}
	pid_of() { cat "$t/cluster/node$1.pid" 2>/dev/null; }
	runs() { [ -n "$(pid_of "$1")" ] && kill -0 "$(pid_of "$1")" 2>/dev/null; }
	launch_of() { grep "^node$1 " "$t/state/launches" | sed -n "${2}p"; }
	local errors=()
	expect() {
		local what=$1
		shift
		"$@" || errors+=("$what")
	}

	expect "start 3" lc start 3
	expect "nodes 1-3 run after start" eval 'runs 1 && runs 2 && runs 3'
	expect "node1 bootstraps" eval '[ "$(launch_of 1 1)" = "node1 join=" ]'
	expect "node2 joins node1" eval '[ "$(launch_of 2 1)" = "node2 join=nats://127.0.0.1:$base" ]'
	expect "node3 joins node1" eval '[ "$(launch_of 3 1)" = "node3 join=nats://127.0.0.1:$base" ]'
	local before
	before=$(pid_of 2)
	expect "start again is a no-op" lc start 3
	expect "start again keeps node2's process" eval '[ "$(pid_of 2)" = "$before" ]'
	expect "status" lc status -o json
	expect "kill 2" lc kill 2
	expect "node2 is gone after kill" eval '! runs 2'
	expect "kill 2 again fails" eval '! lc kill 2'
	expect "restart 2" lc restart 2
	expect "node2 restarts on its data without --join" eval '[ "$(launch_of 2 2)" = "node2 join=" ]'
	expect "stop" lc stop
	expect "no node runs after stop" eval '! runs 1 && ! runs 2 && ! runs 3'
	expect "stop again" lc stop
	expect "start after stop" lc start 3
	expect "node1 restarts without --join" eval '[ "$(launch_of 1 2)" = "node1 join=" ]'
	expect "node3 restarts without --join" eval '[ "$(launch_of 3 2)" = "node3 join=" ]'
	# node1's disk dies: it comes back empty and joins a running node.
	expect "kill 1" lc kill 1
	rm -rf "$t/cluster/node1"
	expect "restart 1 with an empty data directory" lc restart 1
	expect "node1 with no data joins node2" eval '[ "$(launch_of 1 3)" = "node1 join=nats://127.0.0.1:$((base + 1))" ]'
	expect "start 4 adds node4" lc start 4
	expect "node4 joins node1" eval '[ "$(launch_of 4 1)" = "node4 join=nats://127.0.0.1:$base" ]'
	expect "clean" lc clean
	expect "clean removes the cluster directory" eval '[ ! -e "$t/cluster" ]'
	expect "no second cluster was bootstrapped" eval '[ ! -s "$t/state/errors" ]'
	# A node that dies at once is reported, with its log.
	printf '#!/bin/sh\necho "cannot open data dir" >&2\nexit 1\n' >"$t/broken"
	chmod +x "$t/broken"
	if STUB_STATE=$t/state DMNODE=$t/broken CLUSTER_DIR=$t/cluster2 NATS_PORT_BASE=$base \
		START_TIMEOUT=10 deploy/cluster/local-cluster.sh start 1 >"$t/broken.out" 2>&1; then
		errors+=("start with a failing binary succeeds")
	elif ! grep -q "cannot open data dir" "$t/broken.out"; then
		errors+=("start with a failing binary does not show its log")
	fi
	# Whatever happened, leave nothing running.
	lc stop || true

	if [ ${#errors[@]} -eq 0 ]; then ok "local-cluster.sh start/stop/status/kill/restart/clean against a stand-in dmnode"; else
		fail "local-cluster.sh: ${errors[*]}"
		indent <"$t/out"
	fi
}

if command -v python3 >/dev/null; then
	selftest_local_cluster
else
	skip "local-cluster.sh behaviour: python3 is not installed (the stand-in dmnode needs it)"
fi

# ---------------------------------------------------------------- start.sh

# The Kubernetes entry point's decision, with a stand-in dmnode that records
# its arguments and answers `cluster status` for the pods listed in ANSWER.
selftest_start_sh() {
	local t=$TMP/k8s sh errors=()
	sh=$(command -v dash || command -v sh)
	mkdir -p "$t"
	cat >"$t/dmnode" <<-'EOF'
		#!/bin/sh
		if [ "$1" = --server ]; then
		    host=${2#*://}
		    pod=${host%%.*}
		    for p in $ANSWER; do [ "$p" = "$pod" ] && exit 0; done
		    exit 1
		fi
		echo "$*" >"$ARGS"
	EOF
	chmod +x "$t/dmnode"
	# run POD DATA_HAS_FILES ANSWER: run start.sh, print the join target or "none".
	run() {
		rm -rf "$t/data" "$t/args"
		mkdir -p "$t/data"
		[ "$2" = yes ] && touch "$t/data/raft.db"
		POD_NAME=$1 NAMESPACE=ns DMNODE_BIN=$t/dmnode DMNODE_DATA_DIR=$t/data ARGS=$t/args ANSWER=$3 \
			timeout 20 "$sh" "$START_SH" 2>>"$t/log" || return 1
		grep -oE -- '--join [^ ]+' "$t/args" | sed 's/--join //' || echo none
	}
	local svc=dmnode-headless.ns.svc.cluster.local
	[ "$(run dmnode-0 no "")" = none ] || errors+=("dmnode-0, empty, no peer: must bootstrap")
	[ "$(run dmnode-0 no "dmnode-2")" = "tls://dmnode-2.$svc:4222" ] || errors+=("dmnode-0, empty, dmnode-2 answers: must join it")
	[ "$(run dmnode-0 yes "dmnode-1")" = none ] || errors+=("dmnode-0 with data: must not join")
	[ "$(run dmnode-2 no "dmnode-0")" = "tls://dmnode-0.$svc:4222" ] || errors+=("dmnode-2, empty: must join dmnode-0")
	[ "$(run dmnode-1 yes "")" = none ] || errors+=("dmnode-1 with data: must restart without waiting")
	grep -q -- "--advertise dmnode-1.$svc " "$t/args" || errors+=("advertise address is not the pod's DNS name")
	if [ ${#errors[@]} -eq 0 ]; then ok "start.sh (ConfigMap dmnode-start) bootstraps, joins and restarts as intended, under $(basename "$sh")"; else
		fail "start.sh: ${errors[*]}"
		indent <"$t/log"
	fi
}

if [ -s "$START_SH" ] && command -v timeout >/dev/null; then
	selftest_start_sh
else
	skip "start.sh behaviour: needs PyYAML (to extract it) and timeout"
fi

echo
if [ "$failed" -ne 0 ]; then
	echo "check.sh: $failed check(s) failed"
	exit 1
fi
echo "check.sh: all checks passed (skips are listed above)"
