package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/plan"
	"github.com/dmnode/dmnode/core/shardddl"
	"github.com/dmnode/dmnode/jetstream"
)

// TaskStatus is the status of one task, as `task status -o json` prints it.
// The field names are a stable interface for scripts.
type TaskStatus struct {
	Name    string         `json:"name"`
	Mode    string         `json:"mode"`
	State   string         `json:"state"` // running | paused | stopped
	Sources []SourceStatus `json:"sources"`
	// ShardLocks are the shard DDL locks holding a DDL (shard-mode), and
	// Rejected the DDLs the target refused, on which a source is paused.
	// Quarantined are the target tables held at a DDL the target (or
	// TiDB's table of refusals) rejected while the task's other tables go
	// on: table, source, position, statements and the reason.
	ShardLocks  []shardddl.LockStatus `json:"shard_ddl_locks,omitempty"`
	Rejected    []catalog.RejectedDDL `json:"rejected_ddls,omitempty"`
	Quarantined []catalog.RejectedDDL `json:"quarantined_tables,omitempty"`
	// Notes are the keys of the task file dmnode runs with its nearest
	// behaviour rather than DM's ("import-mode: physical: loaded
	// logically: ..."), as task check reported them.
	Notes []string `json:"notes,omitempty"`
}

// SourceStatus is the status of one source within a task.
type SourceStatus struct {
	Source string `json:"source"`
	// Stage is dump, load, sync, done (a finished full task), paused,
	// stopped, or error (an actor stopped on an error that needs an
	// operator).
	Stage         string `json:"stage"`
	TablesTotal   int    `json:"tables_total"`
	ChunksTotal   int    `json:"chunks_total"`
	ChunksDone    int    `json:"chunks_done"`
	RowsDumped    int64  `json:"rows_dumped"`
	RowsLoaded    int64  `json:"rows_loaded"`
	RowsInserted  int64  `json:"rows_inserted"`
	RowsUpdated   int64  `json:"rows_updated"`
	RowsDeleted   int64  `json:"rows_deleted"`
	Upstream      string `json:"upstream_position"`
	Relayed       string `json:"relayed_position"`
	Applied       string `json:"applied_position"`
	LagSeconds    int64  `json:"lag_seconds"`
	LastError     string `json:"last_error,omitempty"`
	LastErrorTime string `json:"last_error_time,omitempty"`
	// RelayUnavailable says, while this node or one running the source's
	// actors cannot use JetStream, since when and why ("relay unavailable
	// since T: cause (seen by node N)"); the figures above are then the
	// last known or missing, and task status exits non-zero.
	RelayUnavailable string `json:"relay_unavailable,omitempty"`

	// RowsEstimated is the dump's estimate of the rows to copy.
	RowsEstimated int64 `json:"rows_estimated"`
	// Percent is the share of RowsEstimated loaded (dump and load).
	Percent float64 `json:"percent"`
	// RowsPerSecond is the recent rate: rows loaded (dump and load) or row
	// changes applied (sync).
	RowsPerSecond float64 `json:"rows_per_second"`
	// ETASeconds is the time the load needs still at the current rate;
	// -1 when unknown (no rate yet, or not loading).
	ETASeconds int64 `json:"eta_seconds"`
	// GapBytes is how far the applied position trails the upstream one in
	// the binlog; -1 when they are in different files.
	GapBytes int64 `json:"gap_bytes"`
	// Next is the command that moves a paused, stopped or failed source on.
	Next string `json:"next,omitempty"`
	// Connections is how many target connections the loader (while
	// copying) or the applier (while replicating) uses now, as its
	// adaptive limit chose, and ConnectionsWhy the limit's reason.
	Connections    int    `json:"connections,omitempty"`
	ConnectionsWhy string `json:"connections_why,omitempty"`
	// InPieces names the transaction (its first position) the applier is
	// writing in pieces in safe mode because the target refused it whole
	// for its size; PiecesTxns counts the transactions so written and
	// PiecesLast names the last one. While one is written, the target may
	// show it in part.
	InPieces   string `json:"in_pieces,omitempty"`
	PiecesTxns int64  `json:"pieces_txns,omitempty"`
	PiecesLast string `json:"pieces_last,omitempty"`

	// The source's relay (its binlog stream, shared by the tasks on the
	// source): the bytes it holds and its cap (relay-max-size); RelayFull
	// while the tailer has stopped reading the source for lack of room;
	// RelayHeldBy is the task whose position keeps the oldest message.
	RelayBytes    int64  `json:"relay_bytes"`
	RelayMaxBytes int64  `json:"relay_max_bytes"`
	RelayFull     bool   `json:"relay_full"`
	RelayHeldBy   string `json:"relay_held_by,omitempty"`
	// The purge guard: seconds until the source's binlog retention removes
	// the binlog dmnode still has to read (-1: cannot be told),
	// BinlogPurgeWarning when that is within binlog-purge-margin,
	// BinlogPurged when it is gone already.
	BinlogPurgeSecondsLeft int64 `json:"binlog_purge_seconds_left"`
	BinlogPurgeWarning     bool  `json:"binlog_purge_warning"`
	BinlogPurged           bool  `json:"binlog_purged"`
	// Warnings say what needs attention before it becomes an error.
	Warnings []string `json:"warnings,omitempty"`
	// Validator is the continuous validator of the source, when the task
	// has one (validation.go).
	Validator *ValidationStatus `json:"validator,omitempty"`
}

// relayStale is the age past which a relay report no longer says what the
// tailer does: it reports every 2 s while it runs.
const relayStale = 30 * time.Second

// relayFigures fills in the relay's and the purge guard's figures. A
// stale report (its tailer no longer runs) keeps its figures but not its
// full flag or warnings, except a lost binlog, which stays true.
func relayFigures(ss *SourceStatus, relay actors.RelayProgress, now time.Time) {
	ss.BinlogPurgeSecondsLeft = -1
	if relay.Updated.IsZero() {
		return
	}
	fresh := now.Sub(relay.Updated) < relayStale
	ss.RelayBytes, ss.RelayMaxBytes, ss.RelayFull = int64(relay.Bytes), relay.MaxBytes, relay.Full && fresh
	ss.RelayHeldBy = relay.HeldBy
	if ss.RelayFull {
		ss.Warnings = append(ss.Warnings, fmt.Sprintf("relay full: the tailer stopped reading the source (relay %s of %s, since %s; oldest message held by %s); "+
			"it reads on when the tasks on the source apply and free space, or raise relay-max-size in the source file",
			humanBytes(int64(relay.Bytes)), humanBytes(relay.MaxBytes), relay.FullSince.Format(time.RFC3339), relay.HeldBy))
	}
	g := relay.Guard
	if g.Checked.IsZero() || (!fresh && !g.Lost) {
		return
	}
	ss.BinlogPurgeSecondsLeft, ss.BinlogPurgeWarning, ss.BinlogPurged = g.SecondsLeft, g.Warn, g.Lost
	if g.Warn || g.Lost {
		ss.Warnings = append(ss.Warnings, "purge guard: "+g.Message)
	}
}

// humanBytes prints a byte count in binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// heartbeatSlack is how old the source's last heartbeat may be for an
// applier that applied everything relayed to count as current.
const heartbeatSlack = 3 * time.Second

// figures is what status derives from the actors' progress records: rate,
// share done and ETA of the copy; lag and binlog gap of replication.
//
// Lag is the age of the newest moment at which everything upstream is
// known to be on the target: the upstream commit time of the last applied
// transaction, or, once the applier has applied all the tailer relayed,
// the last heartbeat at which the source had nothing newer (current when at
// most heartbeatSlack old). An idle source so reads as current (its
// heartbeats keep arriving), and a stuck tailer or applier as lagging more
// every second.
func figures(ss *SourceStatus, dump actors.DumpProgress, load actors.LoadProgress, apply actors.ApplyProgress, tail jetstream.TailProgress, now time.Time) {
	ss.RowsEstimated = dump.RowsTotal
	ss.ETASeconds, ss.GapBytes = -1, -1
	switch ss.Stage {
	case catalog.StageDump, catalog.StageLoad:
		ss.RowsPerSecond = load.Rate
		ss.Connections, ss.ConnectionsWhy = load.Connections, load.ConnectionsWhy
		if dump.RowsTotal > 0 {
			ss.Percent = min(100, 100*float64(load.RowsLoaded)/float64(dump.RowsTotal))
			if load.Rate > 0 {
				ss.ETASeconds = int64(float64(max(0, dump.RowsTotal-load.RowsLoaded)) / load.Rate)
			}
		}
	case catalog.StageSync:
		ss.RowsPerSecond = apply.Rate
		ss.Connections, ss.ConnectionsWhy = apply.Connections, apply.ConnectionsWhy
		if apply.Applied.IsZero() {
			return
		}
		if apply.Applied.File == tail.Upstream.File {
			ss.GapBytes = max(0, int64(tail.Upstream.Pos)-int64(apply.Applied.Pos))
		}
		current := time.Time{}
		if apply.EventTime > 0 {
			current = time.Unix(int64(apply.EventTime), 0)
		}
		if apply.Applied.Compare(tail.Published) >= 0 && tail.CaughtUp.After(current) {
			// Heartbeats come every second and progress is reported every
			// second: a heartbeat that recent means current.
			if now.Sub(tail.CaughtUp) <= heartbeatSlack {
				return
			}
			current = tail.CaughtUp
		}
		if !current.IsZero() {
			ss.LagSeconds = max(0, int64(now.Sub(current).Seconds()))
		}
	case catalog.StageDone:
		ss.Percent = 100
	}
}

func (n *control) apiTaskStatus(ctx context.Context, req *Request) (*Response, error) {
	st := n.fsm.State()
	resp := &Response{}
	hs := n.clusterHealth(ctx, st)
	for _, name := range st.TaskNames() {
		if req.Name != "" && name != req.Name {
			continue
		}
		ts, err := n.taskStatusWith(ctx, st.Tasks[name], hs)
		if err != nil {
			return nil, err
		}
		if sd := st.ShardDDL[name]; sd != nil {
			ts.ShardLocks = sd.Manager.Locks()
		}
		for _, r := range rejectedOf(st, name) {
			if r.Table != "" {
				ts.Quarantined = append(ts.Quarantined, r)
			} else {
				ts.Rejected = append(ts.Rejected, r)
			}
		}
		resp.Tasks = append(resp.Tasks, ts)
	}
	if req.Name != "" && len(resp.Tasks) == 0 {
		return nil, errors.New("task " + req.Name + " not found")
	}
	return resp, nil
}

func (n *control) taskStatus(ctx context.Context, t *catalog.Task) (TaskStatus, error) {
	return n.taskStatusWith(ctx, t, map[string]NodeHealth{n.id: n.health.report()})
}

// statusReadTimeout bounds the progress reads of one source's status: a
// bucket that lost its quorum would otherwise hold status until the
// caller's timeout.
const statusReadTimeout = 5 * time.Second

// taskStatusWith is taskStatus with the nodes' health (clusterHealth): a
// source whose relay a node cannot reach says so, with the errors the
// nodes keep in memory while the KV is down.
func (n *control) taskStatusWith(ctx context.Context, t *catalog.Task, hs map[string]NodeHealth) (TaskStatus, error) {
	out := TaskStatus{Name: t.Name, Mode: t.Mode, State: t.Desired}
	st := n.fsm.State()
	if p, err := plan.Of(t); err == nil {
		out.Notes = p.Task.Notes
	}
	for _, src := range t.SortedSources() {
		ss := SourceStatus{Source: src, Stage: t.Sources[src].Stage}
		var dump actors.DumpProgress
		var load actors.LoadProgress
		var apply actors.ApplyProgress
		var tail jetstream.TailProgress
		var relay actors.RelayProgress
		loads := []struct {
			key string
			v   any
		}{
			{jetstream.ProgressKey("dump", t.Name, src), &dump},
			{jetstream.ProgressKey("load", t.Name, src), &load},
			{jetstream.ProgressKey("apply", t.Name, src), &apply},
			{jetstream.TailProgressKey(src), &tail},
			{jetstream.ProgressKey("relay", "", src), &relay},
		}
		ss.RelayUnavailable = relayUnavailable(st, t.Name, src, n.id, hs)
		unrecorded := func() {
			if e, ok := unrecordedError(t.Name, src, hs); ok && e.Time.Format(time.RFC3339) >= ss.LastErrorTime {
				ss.LastError, ss.LastErrorTime = e.Actor+": "+e.Error+" (not recorded yet: jetstream unavailable)", e.Time.Format(time.RFC3339)
				if e.Permanent {
					ss.Stage = "error"
				}
			}
		}
		if !n.storeReady.Load() {
			ss.LastError = "jetstream is not available yet: a cluster serves it once at least two nodes are up and routed to each other"
			out.Sources = append(out.Sources, ss)
			continue
		}
		if up, _, _ := n.health.available(); !up && ss.RelayUnavailable != "" {
			// This node cannot read the progress: what the catalog and
			// the nodes' memory hold is all there is; the figures are
			// unknown, not zero.
			ss.ETASeconds, ss.GapBytes, ss.BinlogPurgeSecondsLeft, ss.LagSeconds = -1, -1, -1, -1
			unrecorded()
			out.Sources = append(out.Sources, ss)
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, statusReadTimeout)
		var loadErr error
		for _, l := range loads {
			if _, err := n.progress.Load(rctx, l.key, l.v); err != nil {
				loadErr = err
			}
		}
		if loadErr != nil {
			cancel()
			// JetStream is electing a leader or a node is down: say so
			// and show what the catalog knows.
			ss.LastError = "progress unavailable: " + loadErr.Error()
			unrecorded()
			out.Sources = append(out.Sources, ss)
			continue
		}
		ss.TablesTotal, ss.ChunksTotal, ss.ChunksDone, ss.RowsDumped = dump.Tables, dump.ChunksTotal, dump.ChunksDone, dump.RowsDumped
		ss.RowsLoaded = load.RowsLoaded
		ss.RowsInserted, ss.RowsUpdated, ss.RowsDeleted = apply.RowsInsert, apply.RowsUpdate, apply.RowsDelete
		ss.Upstream, ss.Relayed = tail.Upstream.String(), tail.Published.String()
		ss.Applied = apply.Applied.String()
		ss.InPieces, ss.PiecesTxns, ss.PiecesLast = apply.InPieces, apply.PiecesTxns, apply.PiecesLast
		if mode := taskValidators(t)[src]; mode != "" { // validation.go
			ss.Validator, _ = n.validatorStatus(ctx, n.fsm.State(), t.Name, src, mode, nil)
		}
		figures(&ss, dump, load, apply, tail, time.Now())
		relayFigures(&ss, relay, time.Now())
		if err := n.lastError(rctx, t.Name, src, &ss); err != nil {
			ss.LastError = "progress unavailable: " + err.Error()
		}
		cancel()
		unrecorded()
		switch {
		case t.Desired != catalog.Running:
			ss.Stage = t.Desired // paused or stopped
			ss.Next = "dmnode task resume " + t.Name
		case ss.Stage == "error":
			ss.Next = "fix the cause above, then: dmnode task stop " + t.Name + " && dmnode task resume " + t.Name
		}
		out.Sources = append(out.Sources, ss)
	}
	return out, nil
}

// lastError fills in the most recent error of the source's actors; an
// actor parked on a permanent error puts the source in stage error.
func (n *control) lastError(ctx context.Context, task, src string, ss *SourceStatus) error {
	var latest ActorError
	for _, kind := range []string{catalog.KindDump, catalog.KindLoad, catalog.KindApply, catalog.KindTail} {
		var e ActorError
		key := jetstream.ErrorKey(kind, task, src)
		if kind == catalog.KindTail {
			key = jetstream.ErrorKey(kind, "", src)
		}
		if _, err := n.progress.Load(ctx, key, &e); err != nil {
			return err
		}
		if e.Error != "" && e.Time.After(latest.Time) {
			latest = e
		}
	}
	if latest.Error == "" {
		return nil
	}
	ss.LastError = latest.Actor + ": " + latest.Error
	ss.LastErrorTime = latest.Time.Format(time.RFC3339)
	if latest.Permanent {
		ss.Stage = "error"
	}
	return nil
}
