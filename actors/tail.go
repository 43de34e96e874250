package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
)

// Tailer reads one source's binlog and publishes it, as batches of whole
// transactions, to the source's stream: the relay log every task on that
// source reads. Its checkpoint is the position of a transaction boundary
// and the schemas tracked up to there; after a restart it re-reads from the
// checkpoint and publishes only what the stream does not hold yet.
type Tailer struct {
	env    Env
	source string
}

// TailCheckpoint is the tailer's KV checkpoint.
type TailCheckpoint struct {
	Pos     dmnode.Position `json:"pos"`
	Flavor  string          `json:"flavor"`
	Schemas json.RawMessage `json:"schemas"` // schema.Tracker
	Epoch   uint64          `json:"epoch"`
}

// TailProgress is what the tailer reports for status.
type TailProgress struct {
	Published dmnode.Position `json:"published"`  // end of the last published batch
	Upstream  dmnode.Position `json:"upstream"`   // latest position the source reported
	EventTime uint32          `json:"event_time"` // commit time of the last published transaction
	// CaughtUp is when the source last said, by a heartbeat, that it had
	// nothing newer than what the tailer had published: the relay was
	// current then. An idle source keeps it fresh; a stuck tailer lets it
	// age.
	CaughtUp time.Time `json:"caught_up"`
	Updated  time.Time `json:"updated"`
}

// Batch bounds: a batch is published when it holds this many bytes of
// row data, or when its first transaction has waited this long.
const (
	batchBytes  = 512 << 10
	batchLinger = 20 * time.Millisecond
	// checkpointEvery bounds how much binlog a restarted tailer re-reads.
	checkpointEvery = 5 * time.Second
)

func tailKey(source string) string     { return jetstream.Key("tail", source) }
func tailProgKey(source string) string { return jetstream.Key("progress", "tail", source) }

func (t *Tailer) Run(ctx context.Context) error {
	log := t.env.Log
	st := t.env.Catalog()
	src, err := loadSource(st, t.source)
	if err != nil {
		return err
	}
	stream, err := t.env.Store.BinlogStream(ctx, t.source)
	if err != nil {
		return err
	}
	var cp TailCheckpoint
	rev, err := t.env.Store.Load(ctx, tailKey(t.source), &cp)
	if err != nil {
		return err
	}
	if rev == 0 {
		if cp, rev, err = t.initCheckpoint(ctx, src, st.Sources[t.source].TailFrom); err != nil {
			return err
		}
	}
	tracker := schema.NewTracker()
	if err := json.Unmarshal(cp.Schemas, tracker); err != nil {
		return Permanent(fmt.Errorf("decode tracked schemas of source %s: %w", t.source, err))
	}
	published, lastSeq, err := lastPublished(ctx, stream, jetstream.BinlogSubject(t.source))
	if err != nil {
		return err
	}
	cp.Epoch = t.env.Epoch
	if rev, err = t.env.Store.Save(ctx, tailKey(t.source), cp, rev); err != nil {
		return err
	}
	log.Info("tailing binlog", "source", t.source, "from", cp.Pos.String(), "published", published.String())
	r := &tailRun{
		t: t, src: src, log: log, tracker: tracker, cp: cp, rev: rev,
		published: published, lastSeq: lastSeq, subject: jetstream.BinlogSubject(t.source),
	}
	return r.run(ctx)
}

// initCheckpoint creates the first checkpoint when no dumper did: at the
// catalog's TailFrom, or the source's current position, with the schemas
// the source has now.
func (t *Tailer) initCheckpoint(ctx context.Context, src *config.Source, from dmnode.Position) (TailCheckpoint, uint64, error) {
	db, err := OpenDB(ctx, src.From, 1)
	if err != nil {
		return TailCheckpoint{}, 0, fmt.Errorf("source %s: %w", t.source, err)
	}
	defer db.Close()
	flavor, err := DetectFlavor(ctx, db, src.Flavor)
	if err != nil {
		return TailCheckpoint{}, 0, err
	}
	if from.IsZero() {
		if from, err = MasterPosition(ctx, db, flavor); err != nil {
			return TailCheckpoint{}, 0, err
		}
	}
	tr, err := LoadSchemas(ctx, db, flavor)
	if err != nil {
		return TailCheckpoint{}, 0, err
	}
	data, err := json.Marshal(tr)
	if err != nil {
		return TailCheckpoint{}, 0, fmt.Errorf("encode schemas: %w", err)
	}
	cp := TailCheckpoint{Pos: from, Flavor: flavor, Schemas: data, Epoch: t.env.Epoch}
	rev, err := t.env.Store.Save(ctx, tailKey(t.source), cp, 0)
	return cp, rev, err
}

// InitTailCheckpoint records where a source's tailer starts and the schemas
// there, unless the tailer already has a checkpoint. The dumper calls it
// with the position and schemas of its consistent snapshot.
func InitTailCheckpoint(ctx context.Context, store *jetstream.Store, source, flavor string, pos dmnode.Position, tr *schema.Tracker) error {
	data, err := json.Marshal(tr)
	if err != nil {
		return fmt.Errorf("encode schemas: %w", err)
	}
	_, err = store.Save(ctx, tailKey(source), TailCheckpoint{Pos: pos, Flavor: flavor, Schemas: data}, 0)
	if errors.Is(err, jetstream.ErrFenced) {
		return nil // the tailer exists already and keeps its own position
	}
	return err
}

// lastPublished returns the end position and sequence of the stream's
// last batch.
func lastPublished(ctx context.Context, stream njs.Stream, subject string) (dmnode.Position, uint64, error) {
	msg, err := stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, njs.ErrMsgNotFound) {
		return dmnode.Position{}, 0, nil
	}
	if err != nil {
		return dmnode.Position{}, 0, fmt.Errorf("read last message of %s: %w", subject, err)
	}
	p, _, err := jetstream.HeaderPosition(msg.Header)
	return p, msg.Sequence, err
}

// tailRun is one incarnation's reading state.
type tailRun struct {
	t         *Tailer
	src       *config.Source
	log       *slog.Logger
	tracker   *schema.Tracker
	cp        TailCheckpoint
	rev       uint64
	published dmnode.Position
	// lastSeq is the stream sequence of the last batch of this source: a
	// publish expects it, so a stale incarnation that lost its assignment
	// cannot append once its successor has.
	lastSeq uint64
	subject string
	// read is the end of the last transaction read, published or (when
	// re-reading what an earlier incarnation published) skipped. With no
	// transaction pending, the tracker's state is the state at read.
	read    dmnode.Position
	pubTime uint32

	file     string // current binlog file
	gtids    mysql.GTIDSet
	pending  dmnode.Batch // transactions not yet published
	pendSize int
	pendAt   time.Time
	txn      *dmnode.Txn // transaction being read
	upstream dmnode.Position
	caughtUp time.Time
	lastSave time.Time
}

func (r *tailRun) run(ctx context.Context) error {
	scfg := r.syncerConfig()
	tlsCfg, err := r.src.From.Security.TLSConfig(r.src.From.Host)
	if err != nil {
		return Permanent(fmt.Errorf("configure TLS to the source's binlog: security.%w", err))
	}
	scfg.TLSConfig = tlsCfg
	syncer := replication.NewBinlogSyncer(scfg)
	defer syncer.Close()
	var streamer *replication.BinlogStreamer
	r.file = r.cp.Pos.File
	if r.src.EnableGTID && r.cp.Pos.GTID != "" {
		if r.gtids, err = mysql.ParseGTIDSet(r.cp.Flavor, r.cp.Pos.GTID); err != nil {
			return Permanent(fmt.Errorf("parse checkpoint gtid %q: %w", r.cp.Pos.GTID, err))
		}
		streamer, err = syncer.StartSyncGTID(r.gtids.Clone())
	} else {
		if r.cp.Pos.GTID != "" {
			r.gtids, _ = mysql.ParseGTIDSet(r.cp.Flavor, r.cp.Pos.GTID)
		}
		streamer, err = syncer.StartSync(mysql.Position{Name: r.cp.Pos.File, Pos: r.cp.Pos.Pos})
	}
	if err != nil {
		return fmt.Errorf("start binlog sync from %s:%d: %w", r.src.From.Host, r.src.From.Port, err)
	}
	r.lastSave = time.Now()
	progress := time.NewTicker(time.Second)
	defer progress.Stop()
	for {
		wait := time.Second
		if len(r.pending.Txns) > 0 {
			wait = max(time.Until(r.pendAt.Add(batchLinger)), time.Millisecond)
		}
		ectx, cancel := context.WithTimeout(ctx, wait)
		ev, err := streamer.GetEvent(ectx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("read binlog of source %s: %w", r.t.source, err)
		}
		if ev != nil {
			if err := r.handle(ctx, ev); err != nil {
				return err
			}
		}
		if err := r.maybeFlush(ctx, ev == nil); err != nil {
			return err
		}
		select {
		case <-progress.C:
			r.reportProgress(ctx)
		default:
		}
	}
}

func (r *tailRun) syncerConfig() replication.BinlogSyncerConfig {
	serverID := r.src.ServerID
	if serverID == 0 {
		h := fnv.New32a()
		h.Write([]byte("dmnode/" + r.t.source))
		serverID = 1_000_000 + h.Sum32()%1_000_000_000
	}
	return replication.BinlogSyncerConfig{
		ServerID:                serverID,
		Flavor:                  r.cp.Flavor,
		Host:                    r.src.From.Host,
		Port:                    uint16(r.src.From.Port),
		User:                    r.src.From.User,
		Password:                r.src.From.Password,
		UseDecimal:              true,
		TimestampStringLocation: time.UTC,
		HeartbeatPeriod:         time.Second,
		ReadTimeout:             30 * time.Second,
		MaxReconnectAttempts:    1,
		Logger:                  slog.New(slog.DiscardHandler),
	}
}

// handle folds one binlog event into the transaction being read.
func (r *tailRun) handle(ctx context.Context, ev *replication.BinlogEvent) error {
	h := ev.Header
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		r.file = string(e.NextLogName)
		r.upstream = dmnode.Position{File: r.file, Pos: uint32(e.Position)}
		return nil
	case *replication.HeartbeatEvent:
		// The source had nothing newer for a heartbeat period.
		if h.LogPos > 0 {
			r.upstream = dmnode.Position{File: r.file, Pos: h.LogPos}
		}
		if r.txn == nil && len(r.pending.Txns) == 0 {
			r.caughtUp = time.Now()
		}
		return nil
	case *replication.GenericEvent:
		return nil
	}
	if h.LogPos > 0 {
		r.upstream = dmnode.Position{File: r.file, Pos: h.LogPos}
	}
	switch e := ev.Event.(type) {
	case *replication.MariadbGTIDEvent:
		r.begin(h)
		r.txn.End.GTID = e.GTID.String() // the GTID itself, folded into the set at commit
	case *replication.GTIDEvent:
		r.begin(h)
		if next, err := e.GTIDNext(); err == nil {
			r.txn.End.GTID = next.String()
		}
	case *replication.QueryEvent:
		return r.query(ctx, h, e)
	case *replication.RowsEvent:
		return r.rows(h, e)
	case *replication.XIDEvent:
		return r.commit(ctx, h)
	}
	return nil
}

func (r *tailRun) begin(h *replication.EventHeader) {
	r.txn = &dmnode.Txn{Time: h.Timestamp}
}

func (r *tailRun) query(ctx context.Context, h *replication.EventHeader, e *replication.QueryEvent) error {
	q := strings.TrimSpace(string(e.Query))
	switch strings.ToUpper(q) {
	case "BEGIN":
		if r.txn == nil {
			r.begin(h)
		}
		return nil
	case "COMMIT":
		return r.commit(ctx, h)
	}
	db := string(e.Schema)
	ddl, err := r.tracker.Apply(db, q)
	if errors.Is(err, schema.ErrUnknownTable) {
		// A table the tracker never saw (for example one of a system
		// schema): the rest of the statement is tracked; a row event for
		// an unknown table fails later, where it matters.
		r.log.Warn("DDL on a table whose schema is not tracked", "pos", fmt.Sprintf("%s:%d", r.file, h.LogPos), "ddl", abbreviate(q), "err", err)
	} else if err != nil {
		return Permanent(fmt.Errorf("source %s at %s:%d: %w", r.t.source, r.file, h.LogPos, err))
	}
	if r.txn == nil {
		r.begin(h)
	}
	if ddl.Kind != schema.Skip && !IsSystemSchema(ddlSchema(ddl, db)) {
		c := dmnode.Change{DDL: q, DDLSchema: db, Table: dmnode.TableID{Schema: ddlSchema(ddl, db)}}
		if len(ddl.Tables) > 0 {
			c.Table = dmnode.TableID{Schema: ddl.Tables[0].Schema, Table: ddl.Tables[0].Name}
		}
		r.txn.Changes = append(r.txn.Changes, c)
	}
	// A DDL commits implicitly.
	return r.commit(ctx, h)
}

func ddlSchema(d schema.DDL, db string) string {
	if d.Schema != "" {
		return d.Schema
	}
	if len(d.Tables) > 0 {
		return d.Tables[0].Schema
	}
	return db
}

func (r *tailRun) rows(h *replication.EventHeader, e *replication.RowsEvent) error {
	id := dmnode.TableID{Schema: string(e.Table.Schema), Table: string(e.Table.Table)}
	if IsSystemSchema(id.Schema) {
		return nil
	}
	tbl, ok := r.tracker.Get(id.Schema, id.Table)
	if !ok {
		return Permanent(fmt.Errorf("source %s at %s:%d: row event for %s, whose schema is not tracked", r.t.source, r.file, h.LogPos, id))
	}
	if int(e.ColumnCount) != len(tbl.Columns) {
		return Permanent(fmt.Errorf("source %s at %s:%d: %s has %d columns in the binlog but %d in the tracked schema %q",
			r.t.source, r.file, h.LogPos, id, e.ColumnCount, len(tbl.Columns), tbl.CreateSQL))
	}
	if r.txn == nil {
		r.begin(h)
	}
	c := dmnode.Change{Table: id, Columns: tbl.ColumnNames(), Key: tbl.Key}
	conv := func(row []any) []any {
		out := make([]any, len(row))
		for i, v := range row {
			out[i] = normalizeValue(tbl.Columns[i], v)
			r.pendSize += valueSize(out[i])
		}
		return out
	}
	switch h.EventType {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2,
		replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1:
		for _, row := range e.Rows {
			c.Rows = append(c.Rows, dmnode.RowChange{Kind: dmnode.Insert, After: conv(row)})
		}
	case replication.DELETE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2,
		replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		for _, row := range e.Rows {
			c.Rows = append(c.Rows, dmnode.RowChange{Kind: dmnode.Delete, Before: conv(row)})
		}
	default: // update events carry before/after pairs
		for i := 0; i+1 < len(e.Rows); i += 2 {
			c.Rows = append(c.Rows, dmnode.RowChange{Kind: dmnode.Update, Before: conv(e.Rows[i]), After: conv(e.Rows[i+1])})
		}
	}
	r.txn.Changes = append(r.txn.Changes, c)
	return nil
}

func valueSize(v any) int {
	switch x := v.(type) {
	case string:
		return len(x) + 2
	case []byte:
		return len(x) + 2
	}
	return 9
}

// commit ends the transaction being read at the event's end position.
func (r *tailRun) commit(ctx context.Context, h *replication.EventHeader) error {
	txn := r.txn
	r.txn = nil
	if txn == nil {
		txn = &dmnode.Txn{Time: h.Timestamp}
	}
	gtid := txn.End.GTID
	txn.End = dmnode.Position{File: r.file, Pos: h.LogPos}
	if gtid != "" {
		if r.gtids == nil {
			r.gtids, _ = mysql.ParseGTIDSet(r.cp.Flavor, "")
		}
		if r.gtids != nil {
			if err := r.gtids.Update(gtid); err != nil {
				return fmt.Errorf("track gtid %s: %w", gtid, err)
			}
		}
	}
	if r.gtids != nil {
		txn.End.GTID = r.gtids.String()
	}
	r.read = txn.End
	if txn.End.Compare(r.published) <= 0 {
		return nil // already in the stream: published by an earlier incarnation
	}
	if len(r.pending.Txns) == 0 {
		r.pendAt = time.Now()
	}
	r.pending.Txns = append(r.pending.Txns, *txn)
	r.pendSize += 32
	hasDDL := len(txn.Changes) > 0 && txn.Changes[0].DDL != ""
	if hasDDL || r.pendSize >= batchBytes {
		return r.flush(ctx)
	}
	return nil
}

func (r *tailRun) maybeFlush(ctx context.Context, idle bool) error {
	if len(r.pending.Txns) > 0 && (idle || time.Since(r.pendAt) >= batchLinger) {
		return r.flush(ctx)
	}
	if len(r.pending.Txns) == 0 && r.txn == nil && time.Since(r.lastSave) >= checkpointEvery && r.read.Compare(r.cp.Pos) > 0 {
		return r.saveCheckpoint(ctx)
	}
	return nil
}

// flush publishes the pending transactions as one message (or several, when
// a transaction alone is too large for one) and waits for the stream's
// acknowledgement, so a published batch is durable.
func (r *tailRun) flush(ctx context.Context) error {
	for len(r.pending.Txns) > 0 {
		n, data, err := encodeUpTo(r.pending.Txns)
		if err != nil {
			return Permanent(err)
		}
		b := dmnode.Batch{Txns: r.pending.Txns[:n]}
		msg := &nats.Msg{Subject: r.subject, Data: data, Header: jetstream.BatchHeaders(&b)}
		ack, err := r.t.env.Store.JS.PublishMsg(ctx, msg, njs.WithExpectLastSequencePerSubject(r.lastSeq))
		if jetstream.IsWrongLastSequence(err) {
			return Permanent(fmt.Errorf("publish binlog batch of source %s: another tailer appended to the stream: %w", r.t.source, jetstream.ErrFenced))
		}
		if err != nil {
			return fmt.Errorf("publish binlog batch of source %s: %w", r.t.source, err)
		}
		r.lastSeq = ack.Sequence
		r.countPublished(&b, len(data))
		r.published = b.End()
		r.pubTime = b.Txns[n-1].Time
		r.pending.Txns = r.pending.Txns[n:]
	}
	r.pending.Txns = nil
	r.pendSize = 0
	if r.txn == nil && time.Since(r.lastSave) >= checkpointEvery {
		return r.saveCheckpoint(ctx)
	}
	return nil
}

// encodeUpTo encodes as many leading transactions as fit in one message
// (always at least one) and returns how many it took.
func encodeUpTo(txns []dmnode.Txn) (int, []byte, error) {
	n := len(txns)
	for {
		data, err := jetstream.EncodeBatch(nil, &dmnode.Batch{Txns: txns[:n]})
		if err != nil {
			return 0, nil, err
		}
		if len(data) <= jetstream.MaxMessageBytes || n == 1 {
			if len(data) > 1<<20-4096 {
				return 0, nil, fmt.Errorf("one transaction encodes to %d bytes, more than a message can hold; splitting large transactions is not supported yet", len(data))
			}
			return n, data, nil
		}
		n = (n + 1) / 2
	}
}

// saveCheckpoint records the end of the last transaction read with the
// schemas tracked up to it. Only called between transactions with nothing
// pending, when everything up to r.read is in the stream and the tracker's
// state is exactly the state at r.read.
func (r *tailRun) saveCheckpoint(ctx context.Context) error {
	if r.read.IsZero() {
		return nil
	}
	data, err := json.Marshal(r.tracker)
	if err != nil {
		return fmt.Errorf("encode schemas: %w", err)
	}
	cp := TailCheckpoint{Pos: r.read, Flavor: r.cp.Flavor, Schemas: data, Epoch: r.t.env.Epoch}
	rev, err := r.t.env.Store.Save(ctx, tailKey(r.t.source), cp, r.rev)
	if err != nil {
		return err
	}
	r.cp, r.rev, r.lastSave = cp, rev, time.Now()
	return nil
}

// countPublished counts a published batch's row changes and bytes.
func (r *tailRun) countPublished(b *dmnode.Batch, size int) {
	var counts [3]int64
	for i := range b.Txns {
		for j := range b.Txns[i].Changes {
			for _, rc := range b.Txns[i].Changes[j].Rows {
				if rc.Kind >= dmnode.Insert && rc.Kind <= dmnode.Delete {
					counts[rc.Kind-dmnode.Insert]++
				}
			}
		}
	}
	m := r.t.env.metrics()
	for i, n := range counts {
		if n > 0 {
			m.Rows(PhaseRelay, (dmnode.Insert + dmnode.ChangeKind(i)).String(), n)
		}
	}
	m.Bytes(PhaseRelay, int64(size))
}

func (r *tailRun) reportProgress(ctx context.Context) {
	p := TailProgress{Published: r.published, Upstream: r.upstream, EventTime: r.pubTime, CaughtUp: r.caughtUp.UTC(), Updated: time.Now().UTC()}
	if err := r.t.env.Store.Put(ctx, tailProgKey(r.t.source), p); err != nil && ctx.Err() == nil {
		r.log.Debug("report tail progress", "err", err)
	}
}
