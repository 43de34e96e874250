package node

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/catalog"
)

// The node's Prometheus metrics, served at /metrics on its HTTP port. Names
// follow TiDB DM's vocabulary (replication lag, remaining time, exit with
// error count, binlog file gap) under a dmnode_ prefix, in base units.
//
// Two kinds of series:
//
//   - Node series, exported by every node for what happens on it: rows and
//     bytes its actors moved, their errors, the messages waiting in their
//     streams, its Raft state.
//   - Task series, exported only by the Raft leader, computed at scrape
//     time from the catalog and the progress the actors report: task state,
//     stage, replication lag, remaining time, binlog file gap, members.
//     Exactly one node exports each, whichever leads; aggregate with max
//     by (task, source) across nodes.
//
// Labels are bounded by the number of tasks, sources, nodes and actor
// kinds: never a table name.
type metrics struct {
	reg *prometheus.Registry

	rows        *prometheus.CounterVec
	bytes       *prometheus.CounterVec
	actorErrors *prometheus.CounterVec
	actorsUp    *prometheus.GaugeVec
	pending     *prometheus.GaugeVec
	// own lists the dmnode_ collectors (the registry also holds the Go
	// runtime's and the process's).
	own []prometheus.Collector
}

func newMetrics(n *Node) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmnode_rows_total",
			Help: "Rows moved by this node's actors. phase dump: read from the snapshot and published; load: committed to the target; " +
				"sync: binlog row changes committed to the target; relay: binlog row changes published to the source's stream (task is empty). " +
				"op is insert, update or delete (dump and load rows are inserts).",
		}, []string{"task", "source", "phase", "op"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmnode_bytes_total",
			Help: "Bytes of encoded messages published (dump, relay) or consumed and committed (load, sync) by this node's actors.",
		}, []string{"task", "source", "phase"}),
		actorErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmnode_actor_errors_total",
			Help: "Errors that stopped an actor on this node. kind retryable: the actor is restarted with backoff; " +
				"kind permanent: the actor is parked until an operator acts (see `dmnode task status TASK`).",
		}, []string{"actor_kind", "task", "source", "kind"}),
		actorsUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dmnode_actor_running",
			Help: "Actors running on this node now, by kind (dump, load, apply, tail); excludes actors waiting out a backoff or parked on an error.",
		}, []string{"kind"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dmnode_jetstream_pending_messages",
			Help: "Messages in a JetStream stream that a loader or applier on this node has not read yet: " +
				"the relay's backlog for sync (stream BINLOG_<source>), the dump's for load (stream SNAPSHOT_<task>__<source>).",
		}, []string{"task", "source", "stream"}),
	}
	for _, kind := range []string{catalog.KindDump, catalog.KindLoad, catalog.KindApply, catalog.KindTail} {
		m.actorsUp.WithLabelValues(kind)
	}
	m.own = []prometheus.Collector{m.rows, m.bytes, m.actorErrors, m.actorsUp, m.pending, &nodeCollector{v: nodeMetrics{n}}, newTaskCollector(nodeMetrics{n})}
	m.reg.MustRegister(m.own...)
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// actor returns the actors.Metrics of one actor.
func (m *metrics) actor(spec catalog.ActorSpec) actors.Metrics {
	return actorMetrics{m: m, task: spec.Task, source: spec.Source}
}

// actorError counts an error that stopped an actor.
func (m *metrics) actorError(spec catalog.ActorSpec, permanent bool) {
	kind := "retryable"
	if permanent {
		kind = "permanent"
	}
	m.actorErrors.WithLabelValues(spec.Kind, spec.Task, spec.Source, kind).Inc()
}

// forget drops the gauges of an actor that no longer runs here.
func (m *metrics) forget(spec catalog.ActorSpec) {
	if spec.Kind == catalog.KindLoad || spec.Kind == catalog.KindApply {
		m.pending.DeletePartialMatch(prometheus.Labels{"task": spec.Task, "source": spec.Source})
	}
}

type actorMetrics struct {
	m            *metrics
	task, source string
}

func (a actorMetrics) Rows(phase, op string, n int64) {
	a.m.rows.WithLabelValues(a.task, a.source, phase, op).Add(float64(n))
}

func (a actorMetrics) Bytes(phase string, n int64) {
	a.m.bytes.WithLabelValues(a.task, a.source, phase).Add(float64(n))
}

func (a actorMetrics) Pending(stream string, n uint64) {
	a.m.pending.WithLabelValues(a.task, a.source, stream).Set(float64(n))
}

// metricsView is what the scrape-time collectors read of the node: its
// Raft state and health, the catalog, the members' heartbeats and the
// tasks' status. The node implements it (nodeMetrics); tests fake it.
type metricsView interface {
	// raftState is the node's Raft state; ok is false before Raft opened.
	raftState() (st raftStats, ok bool)
	// healthReport is the node's view of NATS and JetStream; ok is false
	// before the node watches them.
	healthReport() (h NodeHealth, ok bool)
	State() *catalog.State
	// alive reports whether a member was heard from recently (this node
	// always is).
	alive(id string) bool
	// catalogLoaded is set once the catalog holds the whole Raft log,
	// storeOpen once JetStream is open.
	catalogLoaded() bool
	storeOpen() bool
	taskStatus(ctx context.Context, t *catalog.Task) (TaskStatus, error)
}

// raftStats is what the metrics show of Raft.
type raftStats struct {
	leader, leaderKnown bool
	applied, last       uint64
}

// nodeMetrics is the node as the collectors see it.
type nodeMetrics struct{ n *Node }

func (v nodeMetrics) raftState() (raftStats, bool) {
	r := v.n.raft
	if r == nil {
		return raftStats{}, false
	}
	_, leader := r.LeaderWithID()
	return raftStats{leader: r.State() == raft.Leader, leaderKnown: leader != "", applied: r.AppliedIndex(), last: r.LastIndex()}, true
}

func (v nodeMetrics) healthReport() (NodeHealth, bool) {
	if v.n.health == nil {
		return NodeHealth{}, false
	}
	return v.n.health.report(), true
}

func (v nodeMetrics) State() *catalog.State { return v.n.fsm.State() }
func (v nodeMetrics) alive(id string) bool  { return id == v.n.id || v.n.beats.alive(id) }
func (v nodeMetrics) catalogLoaded() bool   { return v.n.ready.Load() }
func (v nodeMetrics) storeOpen() bool       { return v.n.storeReady.Load() }
func (v nodeMetrics) taskStatus(ctx context.Context, t *catalog.Task) (TaskStatus, error) {
	return v.n.ctl.taskStatus(ctx, t)
}

// nodeCollector reads the node's Raft state at scrape time.
type nodeCollector struct{ v metricsView }

var (
	descRaftLeader = prometheus.NewDesc("dmnode_raft_leader",
		"1 on the node that is the Raft leader (it schedules actors and exports the task series), 0 on the others.", nil, nil)
	descRaftLeaderKnown = prometheus.NewDesc("dmnode_raft_leader_known",
		"1 when this node knows a Raft leader; 0 means no quorum: the catalog cannot change and no actor moves.", nil, nil)
	descRaftApplied = prometheus.NewDesc("dmnode_raft_applied_index",
		"Index of the last Raft log entry this node applied to its catalog; a node far behind the leader is lagging.", nil, nil)
	descRaftLast = prometheus.NewDesc("dmnode_raft_last_index",
		"Index of the last entry in this node's Raft log.", nil, nil)
	descNATSConnected = prometheus.NewDesc("dmnode_nats_connected",
		"1 while this node's NATS connection is up, 0 while it is reconnecting.", nil, nil)
	descJetStreamAvailable = prometheus.NewDesc("dmnode_jetstream_available",
		"1 while JetStream answers this node (its probe every 2 s reads the account info and writes the checkpoint bucket), "+
			"0 after two failed probes or a lost connection: actors cannot read, write or checkpoint.", nil, nil)
	descUnderReplicated = prometheus.NewDesc("dmnode_jetstream_streams_underreplicated",
		"dmnode streams (and the checkpoint bucket) with fewer replicas than configured that the leader could not raise; "+
			"exported by the leader, which checks every 30 s.", nil, nil)
	descUnrecorded = prometheus.NewDesc("dmnode_actor_errors_unrecorded",
		"Actor errors this node holds in memory because the checkpoint bucket refused them; written once JetStream is back.", nil, nil)
)

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRaftLeader
	ch <- descRaftLeaderKnown
	ch <- descRaftApplied
	ch <- descRaftLast
	ch <- descNATSConnected
	ch <- descJetStreamAvailable
	ch <- descUnderReplicated
	ch <- descUnrecorded
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	r, ok := c.v.raftState()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(descRaftLeader, prometheus.GaugeValue, bool01(r.leader))
	ch <- prometheus.MustNewConstMetric(descRaftLeaderKnown, prometheus.GaugeValue, bool01(r.leaderKnown))
	ch <- prometheus.MustNewConstMetric(descRaftApplied, prometheus.GaugeValue, float64(r.applied))
	ch <- prometheus.MustNewConstMetric(descRaftLast, prometheus.GaugeValue, float64(r.last))
	if rep, ok := c.v.healthReport(); ok {
		ch <- prometheus.MustNewConstMetric(descNATSConnected, prometheus.GaugeValue, bool01(rep.NATSConnected))
		ch <- prometheus.MustNewConstMetric(descJetStreamAvailable, prometheus.GaugeValue, bool01(rep.JetStream))
		if r.leader {
			ch <- prometheus.MustNewConstMetric(descUnderReplicated, prometheus.GaugeValue, float64(len(rep.UnderReplicated)))
		}
		ch <- prometheus.MustNewConstMetric(descUnrecorded, prometheus.GaugeValue, float64(len(rep.Unrecorded)))
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Task states of dmnode_task_state: a task's desired state, or error when
// it should run but an actor of it is parked on a permanent error.
var taskStates = []string{catalog.Running, catalog.Paused, catalog.Stopped, "error"}

// Stages of dmnode_task_stage, as task status shows them.
var sourceStages = []string{catalog.StageDump, catalog.StageLoad, catalog.StageSync, catalog.StageDone, "error", catalog.Paused, catalog.Stopped}

var (
	descTaskState = prometheus.NewDesc("dmnode_task_state",
		"1 for the task's current state (running, paused, stopped, or error: an actor stopped on an error that needs an operator), 0 for the others. Exported by the Raft leader.",
		[]string{"task", "state"}, nil)
	descTaskStage = prometheus.NewDesc("dmnode_task_stage",
		"1 for the current stage of a source within a task (dump, load, sync, done, error, paused, stopped), 0 for the others. Exported by the Raft leader.",
		[]string{"task", "source", "stage"}, nil)
	descLag = prometheus.NewDesc("dmnode_replication_lag_seconds",
		"Seconds between now and the upstream commit time of the last transaction applied to the target, for a source in sync; 0 when the target has applied everything the source wrote. Exported by the Raft leader.",
		[]string{"task", "source"}, nil)
	descRemaining = prometheus.NewDesc("dmnode_remaining_seconds",
		"Estimated seconds until the phase finishes (dump, load) or the target catches up with the source (sync), from the recent rate; absent when no estimate is possible (no progress yet, or sync not catching up). Exported by the Raft leader.",
		[]string{"task", "source", "phase"}, nil)
	descFileGap = prometheus.NewDesc("dmnode_binlog_file_gap",
		"Binlog files between the source's current file and the one the target has applied up to (DM's binlog file gap); 0 when both are in the same file. Exported by the Raft leader.",
		[]string{"task", "source"}, nil)
	descDumpProgress = prometheus.NewDesc("dmnode_dump_chunks",
		"Chunks of a task's dump of a source, by state done or total. Exported by the Raft leader.",
		[]string{"task", "source", "state"}, nil)
	descConnections = prometheus.NewDesc("dmnode_target_connections",
		"Target connections a task's writer of a source uses now, as its adaptive limit chose, by stage. Exported by the Raft leader.",
		[]string{"task", "source", "stage"}, nil)
	descRelayBytes = prometheus.NewDesc("dmnode_relay_bytes",
		"Bytes a source's relay (its JetStream stream BINLOG_<source>) holds: the binlog some task on the source has not applied yet. Exported by the Raft leader.",
		[]string{"source"}, nil)
	descRelayMaxBytes = prometheus.NewDesc("dmnode_relay_max_bytes",
		"A source's relay cap (relay-max-size in its source file): when the relay holds this much, the tailer stops reading the source. Exported by the Raft leader.",
		[]string{"source"}, nil)
	descRelayFull = prometheus.NewDesc("dmnode_relay_full",
		"1 while a source's relay is full and its tailer has stopped reading the source until the tasks free space, else 0. Exported by the Raft leader.",
		[]string{"source"}, nil)
	descPurgeLeft = prometheus.NewDesc("dmnode_binlog_purge_seconds_left",
		"Estimated seconds until the source's binlog retention (expiry or size limit) removes the binlog dmnode still has to read from it; absent when it cannot be told. Exported by the Raft leader.",
		[]string{"source"}, nil)
	descPurgeWarning = prometheus.NewDesc("dmnode_binlog_purge_warning",
		"1 when the binlog dmnode still has to read from a source is due to be purged by the source within binlog-purge-margin, else 0. Exported by the Raft leader.",
		[]string{"source"}, nil)
	descPurged = prometheus.NewDesc("dmnode_binlog_purged",
		"1 when a binlog file dmnode still had to read is gone from the source (a fresh copy is needed; see task status), else 0. Exported by the Raft leader.",
		[]string{"source"}, nil)
	descQuarantined = prometheus.NewDesc("dmnode_quarantined_tables",
		"Target tables of a task's source held at a DDL the target (or TiDB's table of refusals) rejected, while the task's other tables go on; see `dmnode task status TASK` for each table and the way out. Exported by the Raft leader.",
		[]string{"task", "source"}, nil)
	descMembers = prometheus.NewDesc("dmnode_cluster_members",
		"Cluster members by state: healthy (heard from within the heartbeat timeout) or unhealthy. Exported by the Raft leader.",
		[]string{"state"}, nil)
)

// taskCollector computes the task series at scrape time, on the leader.
type taskCollector struct {
	v   metricsView
	mu  sync.Mutex // guards eta
	eta map[etaKey]*etaSample
}

func newTaskCollector(v metricsView) *taskCollector {
	return &taskCollector{v: v, eta: map[etaKey]*etaSample{}}
}

func (c *taskCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTaskState, descTaskStage, descLag, descRemaining, descFileGap, descDumpProgress, descConnections, descMembers, descQuarantined,
		descRelayBytes, descRelayMaxBytes, descRelayFull, descPurgeLeft, descPurgeWarning, descPurged} {
		ch <- d
	}
	ch <- descValidatorErrors // the validator's, validation.go
	ch <- descValidatorRows
}

// scrapeTimeout bounds the progress reads of one scrape.
const scrapeTimeout = 5 * time.Second

func (c *taskCollector) Collect(ch chan<- prometheus.Metric) {
	v := c.v
	if r, ok := v.raftState(); !ok || !r.leader || !v.catalogLoaded() {
		return
	}
	st := v.State()
	healthy := 0
	for _, id := range st.MemberIDs() {
		if v.alive(id) {
			healthy++
		}
	}
	ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(healthy), "healthy")
	ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(len(st.Members)-healthy), "unhealthy")
	if !v.storeOpen() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	now := time.Now()
	seen := map[etaKey]bool{}
	relays := map[string]bool{} // sources whose relay series are out
	for _, name := range st.TaskNames() {
		t := st.Tasks[name]
		ts, err := v.taskStatus(ctx, t)
		if err != nil {
			continue
		}
		state := t.Desired
		for _, ss := range ts.Sources {
			if ss.Stage == "error" && state == catalog.Running {
				state = "error"
			}
		}
		for _, s := range taskStates {
			ch <- prometheus.MustNewConstMetric(descTaskState, prometheus.GaugeValue, bool01(s == state), name, s)
		}
		quarantined := map[string]int{}
		if rj := st.Rejections[name]; rj != nil {
			for _, r := range rj.Rejected {
				if r.Table != "" {
					quarantined[r.Source]++
				}
			}
		}
		for _, ss := range ts.Sources {
			ch <- prometheus.MustNewConstMetric(descQuarantined, prometheus.GaugeValue, float64(quarantined[ss.Source]), name, ss.Source)
			c.collectSource(ch, t, ss, now, seen)
			if !relays[ss.Source] && ss.RelayMaxBytes > 0 {
				relays[ss.Source] = true
				collectRelay(ch, ss)
			}
		}
	}
	c.mu.Lock()
	for k := range c.eta {
		if !seen[k] {
			delete(c.eta, k)
		}
	}
	c.mu.Unlock()
}

func (c *taskCollector) collectSource(ch chan<- prometheus.Metric, t *catalog.Task, ss SourceStatus, now time.Time, seen map[etaKey]bool) {
	task, src := t.Name, ss.Source
	for _, s := range sourceStages {
		ch <- prometheus.MustNewConstMetric(descTaskStage, prometheus.GaugeValue, bool01(s == ss.Stage), task, src, s)
	}
	collectValidator(ch, task, ss) // validation.go
	if ss.Connections > 0 {
		ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, float64(ss.Connections), task, src, ss.Stage)
	}
	if ss.ChunksTotal > 0 {
		ch <- prometheus.MustNewConstMetric(descDumpProgress, prometheus.GaugeValue, float64(ss.ChunksDone), task, src, "done")
		ch <- prometheus.MustNewConstMetric(descDumpProgress, prometheus.GaugeValue, float64(ss.ChunksTotal), task, src, "total")
	}
	ts := t.Sources[src]
	if ts == nil || strings.HasPrefix(ss.LastError, "progress unavailable") || ss.RelayUnavailable != "" {
		return
	}
	// What is left of the phase, in units that shrink as it advances.
	var phase string
	var left, done float64
	switch ts.Stage {
	case catalog.StageDump:
		phase, left, done = catalog.StageDump, float64(ss.ChunksTotal-ss.ChunksDone), float64(ss.ChunksDone)
	case catalog.StageLoad:
		phase, left, done = catalog.StageLoad, float64(ss.RowsDumped-ss.RowsLoaded), float64(ss.RowsLoaded)
	case catalog.StageSync:
		lag := float64(ss.LagSeconds)
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, lag, task, src)
		if gap, ok := fileGap(ss.Upstream, ss.Applied); ok {
			ch <- prometheus.MustNewConstMetric(descFileGap, prometheus.GaugeValue, float64(gap), task, src)
		}
		// Applied event time advances by `done`; the lag shrinks by what
		// it gains on the clock.
		phase, left, done = catalog.StageSync, lag, float64(now.Unix())-lag
	default:
		return
	}
	k := etaKey{task, src, phase}
	seen[k] = true
	c.mu.Lock()
	eta, ok := c.estimate(k, now, left, done, phase == catalog.StageSync)
	c.mu.Unlock()
	if ok && t.Desired == catalog.Running {
		ch <- prometheus.MustNewConstMetric(descRemaining, prometheus.GaugeValue, eta, task, src, phase)
	}
}

// collectRelay exports a source's relay and purge guard series, once per
// source whichever tasks share it.
func collectRelay(ch chan<- prometheus.Metric, ss SourceStatus) {
	src := ss.Source
	ch <- prometheus.MustNewConstMetric(descRelayBytes, prometheus.GaugeValue, float64(ss.RelayBytes), src)
	ch <- prometheus.MustNewConstMetric(descRelayMaxBytes, prometheus.GaugeValue, float64(ss.RelayMaxBytes), src)
	ch <- prometheus.MustNewConstMetric(descRelayFull, prometheus.GaugeValue, bool01(ss.RelayFull), src)
	if ss.BinlogPurgeSecondsLeft >= 0 {
		ch <- prometheus.MustNewConstMetric(descPurgeLeft, prometheus.GaugeValue, float64(ss.BinlogPurgeSecondsLeft), src)
	}
	ch <- prometheus.MustNewConstMetric(descPurgeWarning, prometheus.GaugeValue, bool01(ss.BinlogPurgeWarning), src)
	ch <- prometheus.MustNewConstMetric(descPurged, prometheus.GaugeValue, bool01(ss.BinlogPurged), src)
}

type etaKey struct{ task, source, phase string }

// etaSample is the last progress seen for a phase and the smoothed rate at
// which it advances (units per second).
type etaSample struct {
	at   time.Time
	done float64
	rate float64 // exponentially weighted; 0 until two samples
}

// Minimum spacing of the samples the rate is computed from, so scrapes in
// quick succession do not make it jump.
const etaMinInterval = 2 * time.Second

// estimate updates the rate of key's phase with a new sample and returns
// the seconds left at that rate. For sync, the work left is the lag and the
// rate is how fast applied event time advances: the lag shrinks by what
// that rate exceeds the clock's.
func (c *taskCollector) estimate(k etaKey, now time.Time, left, done float64, sync bool) (float64, bool) {
	if left <= 0 {
		return 0, true
	}
	s, ok := c.eta[k]
	if !ok {
		c.eta[k] = &etaSample{at: now, done: done}
		return 0, false
	}
	if dt := now.Sub(s.at).Seconds(); dt >= etaMinInterval.Seconds() {
		r := (done - s.done) / dt
		if s.rate == 0 {
			s.rate = r
		} else {
			s.rate = 0.7*s.rate + 0.3*r
		}
		s.at, s.done = now, done
	}
	gain := s.rate
	if sync {
		gain = s.rate - 1
	}
	if gain <= 0 {
		return 0, false
	}
	return left / gain, true
}

// fileGap is the number of binlog files between two positions written as
// file:pos, from the files' numeric suffixes (mysql-bin.000042).
func fileGap(upstream, applied string) (int, bool) {
	u, ok1 := fileSeq(upstream)
	a, ok2 := fileSeq(applied)
	if !ok1 || !ok2 {
		return 0, false
	}
	return max(0, u-a), true
}

func fileSeq(pos string) (int, bool) {
	file, _, ok := strings.Cut(pos, ":")
	if !ok {
		return 0, false
	}
	dot := strings.LastIndexByte(file, '.')
	if dot < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(file[dot+1:])
	return n, err == nil
}
