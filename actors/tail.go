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

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
)

// Tailer reads one source's binlog and publishes it, as batches of whole
// transactions, to the source's stream: the relay log every task on that
// source reads. A transaction larger than txnPartBytes goes as a sequence
// of parts instead, published while it is read, so the tailer never holds
// a large transaction whole (see jetstream/parts.go). Its checkpoint is the
// position of a transaction boundary; the schemas it tracks are versioned
// by position in the schema store (jetstream.SchemaStore): the starting
// versions at its start position and one version per table a DDL changes.
// After a restart it reads the versions in force at its checkpoint,
// re-reads from there and publishes only what the stream does not hold
// yet: whole transactions the stream holds are passed over, and a part
// sequence the stream holds the beginning of is continued after its last
// message. The cut into parts depends only on the rows, so the re-read
// transaction is cut where it was before.
type Tailer struct {
	env    Env
	source string
}

// TailCheckpoint is the tailer's KV checkpoint: where it reads, never what
// it tracks (the schema store has that), so its size does not grow with the
// number of tables.
type TailCheckpoint struct {
	Pos    dmnode.Position `json:"pos"`
	Flavor string          `json:"flavor"`
	Epoch  uint64          `json:"epoch"`
	// Schemas is only read: checkpoints written before the schema store
	// carried every table's schema here; the tailer moves them into the
	// store at the checkpoint's position and drops them.
	Schemas json.RawMessage `json:"schemas,omitempty"`
}

// Batch bounds: a batch is published when it holds this many bytes of
// row data, or when its first transaction has waited this long.
const (
	batchBytes = 512 << 10
	// txnPartBytes is the size of a part of a transaction too large for
	// one message, by the estimate rows makes of its changes' encoded
	// size: a part is cut after the rows event that reaches it. Changing it changes where a transaction
	// is cut, so a tailer that resumes a sequence an older version began
	// must cut it alike.
	txnPartBytes = 256 << 10
	batchLinger  = 20 * time.Millisecond
	// checkpointEvery bounds how much binlog a restarted tailer re-reads.
	checkpointEvery = 5 * time.Second
)

func tailKey(source string) string     { return jetstream.TailKey(source) }
func tailProgKey(source string) string { return jetstream.TailProgressKey(source) }

func (t *Tailer) Run(ctx context.Context) error {
	log := t.env.Log
	st := t.env.Catalog()
	src, err := loadSource(st, t.source)
	if err != nil {
		return err
	}
	relay, err := t.env.Store.Relay(ctx, t.source)
	if err != nil {
		return err
	}
	cp, rev, err := t.checkpoint(ctx, src, st.Sources[t.source].TailFrom)
	if err != nil {
		return err
	}
	schemas := t.env.Store.Schemas()
	tracker, guessed, err := t.loadTracker(ctx, schemas, &cp)
	if err != nil {
		return err
	}
	published, lastSeq, resume, err := lastPublished(ctx, relay)
	if err != nil {
		return err
	}
	cp.Epoch = t.env.Epoch
	if rev, err = t.env.Store.Save(ctx, tailKey(t.source), cp, rev); err != nil {
		return err
	}
	log.Info("tailing binlog", "source", t.source, "from", cp.Pos.String(), "published", published.String(), "tables", len(tracker.Tables()))
	if resume.Part {
		log.Info("resuming a transaction's part sequence", "source", t.source, "txn", resume.Begin.String(), "after_message", resume.N)
	}
	// The retention loop trims the relay beside the reading loop and
	// stops it while the relay is full (retention.go).
	keep := newRetention(t.env, t.source, src, relay, log)
	r := &tailRun{
		t: t, src: src, log: log, tracker: tracker, schemas: schemas, guessed: guessed, cp: cp, rev: rev,
		published: published, lastSeq: lastSeq, relay: relay, resume: resume,
		gate: keep.gate,
	}
	return keep.around(ctx, r.run, func() dmnode.Position { return r.cp.Pos })
}

// lastPublished returns what the stream holds: the end of its last whole
// transaction, the sequence of its last message and, when that message is
// a part of an unfinished sequence, its headers (resume.Part set). Then
// every transaction that ends before the sequence's first event is
// published, and the returned position is that event's.
func lastPublished(ctx context.Context, relay jetstream.Relay) (published dmnode.Position, seq uint64, resume jetstream.RelayHeaders, err error) {
	subject := jetstream.BinlogSubject(relay.Source())
	msg, ok, err := relay.Last(ctx)
	if err != nil {
		return dmnode.Position{}, 0, resume, err
	}
	if !ok {
		return dmnode.Position{}, 0, resume, nil
	}
	h, err := jetstream.ParseRelayHeaders(msg.Header)
	if err != nil {
		return dmnode.Position{}, 0, resume, Permanent(fmt.Errorf("last message of %s (sequence %d): %w", subject, msg.Seq, err))
	}
	if h.Last {
		return h.End, msg.Seq, jetstream.RelayHeaders{}, nil
	}
	return h.Begin, msg.Seq, h, nil
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
	relay   jetstream.Relay
	// gate says when the relay is full: the loop then stops reading the
	// source at the next transaction boundary (pauseForRoom).
	gate *relayGate
	// read is the end of the last transaction read, published or (when
	// re-reading what an earlier incarnation published) skipped. With no
	// transaction pending, the tracker's state is the state at read.
	read    dmnode.Position
	pubTime uint32

	file     string // current binlog file
	gtids    mysql.GTIDSet
	pending  dmnode.Batch      // transactions not yet published
	pendBeg  []dmnode.Position // first event of each pending transaction
	pendSize int
	pendAt   time.Time
	txn      *dmnode.Txn // transaction being read
	// seq is the part sequence of the transaction being read (n > 0 once
	// it has been cut), txnSize the estimated size of its changes not yet
	// in a part.
	seq     partSeq
	txnSize int
	// resume is the stream's unfinished part sequence at start, if any.
	resume   jetstream.RelayHeaders
	buf      []byte // encoding scratch
	batchBuf []byte // a batch's encoding, kept for the next batch
	memo     rowsMemo
	upstream dmnode.Position
	caughtUp time.Time
	lastSave time.Time

	// schemas is the schema history the tracker's versions go to; guessed
	// holds the tables whose tracked schema is a guess (see
	// jetstream.TableVersion.Guess) that nothing replaced yet.
	schemas jetstream.SchemaStore
	guessed map[schema.TableRef]bool
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
	var wait eventWait
	defer wait.stop()
	for {
		var ectx context.Context
		if len(r.pending.Txns) > 0 {
			ectx = wait.until(ctx, r.pendAt.Add(batchLinger), true)
		} else {
			ectx = wait.until(ctx, time.Now().Add(time.Second), false)
		}
		ev, err := streamer.GetEvent(ectx)
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
		if r.txn == nil && r.gate.full() {
			return r.pauseForRoom(ctx)
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
		RowsEventDecodeFunc:     decodeRows,
		HeartbeatPeriod:         time.Second,
		ReadTimeout:             30 * time.Second,
		MaxReconnectAttempts:    1,
		// Events read ahead of the tailer: go-mysql's default of 10,240
		// holds up to tens of megabytes of decoded rows per source
		// while the tailer waits on the relay, which the memory limit
		// then pays for in collections.
		EventCacheCount: tailReadAhead,
		Logger:          slog.New(slog.DiscardHandler),
	}
}

// tailReadAhead is how many binlog events the syncer reads ahead of the
// tailer.
const tailReadAhead = 512

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
		r.txn.End.GTID = mariadbGTIDText(&e.GTID) // the GTID itself, folded into the set at commit
	case *replication.GTIDEvent:
		r.begin(h)
		if next, err := e.GTIDNext(); err == nil {
			r.txn.End.GTID = next.String()
		}
	case *replication.QueryEvent:
		return r.query(ctx, h, e)
	case *replication.RowsEvent:
		return r.rows(ctx, h, e)
	case *replication.XIDEvent:
		return r.commit(ctx, h)
	}
	return nil
}

// begin starts a transaction at its first event, whose end position
// names it in a part sequence.
func (r *tailRun) begin(h *replication.EventHeader) {
	r.txn = &dmnode.Txn{Time: h.Timestamp}
	r.seq, r.txnSize = partSeq{begin: dmnode.Position{File: r.file, Pos: h.LogPos}}, 0
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
	ddl, info, err := r.readDDL(db, q)
	if errors.Is(err, schema.ErrUnknownTable) {
		// A table the tracker never saw (for example one of a system
		// schema): the rest of the statement is tracked; a row event for
		// an unknown table fails later, where it matters.
		r.log.Warn("DDL on a table whose schema is not tracked", "pos", fmt.Sprintf("%s:%d", r.file, h.LogPos), "ddl", abbreviate(q), "err", err)
	} else if err != nil {
		return Permanent(fmt.Errorf("source %s at %s:%d: %w", r.t.source, r.file, h.LogPos, err))
	}
	if err := r.recordDDL(ctx, ddl, dmnode.Position{File: r.file, Pos: h.LogPos}); err != nil {
		return err
	}
	if r.txn == nil {
		r.begin(h)
	}
	if ddl.Kind != schema.Skip && !rules.IsSystemSchema(ddlSchema(ddl, db)) {
		// The statement's typed form travels with it: the appliers read
		// it instead of parsing the text again.
		c := dmnode.Change{DDL: q, DDLSchema: db, Table: dmnode.TableID{Schema: ddlSchema(ddl, db)}, DDLInfo: info}
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

func (r *tailRun) rows(ctx context.Context, h *replication.EventHeader, e *replication.RowsEvent) error {
	id := r.memo.tableID(e.Table)
	if rules.IsSystemSchema(id.Schema) {
		return nil
	}
	tbl, ok := r.tracker.Get(id.Schema, id.Table)
	names := e.Table.ColumnNameString()
	if !ok && len(names) > 0 {
		// A table the start position's guess did not have (dropped since):
		// its schema is in the row metadata.
		var err error
		if tbl, err = r.rowMetadata(ctx, h, id, nil, e.Table); err != nil {
			return err
		}
		ok = true
	}
	if !ok {
		return Permanent(fmt.Errorf("source %s at %s:%d: row event for %s, whose schema is not tracked. "+
			"Fix: write its CREATE TABLE as of %s (where the tailer resumes) into a file and run dmnode binlog-schema update %s %s %s FILE; the tailer restarts with it",
			r.t.source, r.file, h.LogPos, id, r.cp.Pos, r.t.source, id.Schema, id.Table))
	}
	if len(names) > 0 && !tbl.SameColumns(names) {
		var err error
		if tbl, err = r.rowMetadata(ctx, h, id, tbl, e.Table); err != nil {
			return err
		}
	}
	if int(e.ColumnCount) != len(tbl.Columns) {
		return Permanent(fmt.Errorf("source %s at %s:%d: %s has %d columns in the binlog but %d in the tracked schema %q",
			r.t.source, r.file, h.LogPos, id, e.ColumnCount, len(tbl.Columns), tbl.CreateSQL))
	}
	if r.txn == nil {
		r.begin(h)
	}
	c := dmnode.Change{Table: id, Columns: r.memo.columnNames(tbl), Key: tbl.Key}
	size := 16
	for _, name := range c.Columns {
		size += len(name) + 1
	}
	// The event's rows are converted in place: nothing else reads them.
	conv := func(row []any) []any {
		size += 3
		for i, v := range row {
			row[i] = normalizeValue(tbl.Columns[i], v)
			size += valueSize(row[i])
		}
		return row
	}
	switch h.EventType {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2,
		replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1:
		c.Rows = make([]dmnode.RowChange, 0, len(e.Rows))
		for _, row := range e.Rows {
			c.Rows = append(c.Rows, dmnode.RowChange{Kind: dmnode.Insert, After: conv(row)})
		}
	case replication.DELETE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2,
		replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		c.Rows = make([]dmnode.RowChange, 0, len(e.Rows))
		for _, row := range e.Rows {
			c.Rows = append(c.Rows, dmnode.RowChange{Kind: dmnode.Delete, Before: conv(row)})
		}
	default: // update events carry before/after pairs
		c.Rows = make([]dmnode.RowChange, 0, len(e.Rows)/2)
		for i := 0; i+1 < len(e.Rows); i += 2 {
			c.Rows = append(c.Rows, dmnode.RowChange{Kind: dmnode.Update, Before: conv(e.Rows[i]), After: conv(e.Rows[i+1])})
		}
	}
	r.txn.Changes = append(r.txn.Changes, c)
	r.pendSize += size
	r.txnSize += size
	if r.txnSize >= txnPartBytes {
		return r.cut(ctx)
	}
	return nil
}

// valueSize is an upper bound of a value's encoded size, within the few
// bytes of a length above 2^14.
func valueSize(v any) int {
	switch x := v.(type) {
	case string:
		return len(x) + 4
	case []byte:
		return len(x) + 4
	}
	return 11
}

// commit ends the transaction being read at the event's end position.
func (r *tailRun) commit(ctx context.Context, h *replication.EventHeader) error {
	txn, seq := r.txn, r.seq
	r.txn, r.seq, r.txnSize = nil, partSeq{}, 0
	if txn == nil {
		txn, seq = &dmnode.Txn{Time: h.Timestamp}, partSeq{}
	}
	gtid := txn.End.GTID
	txn.End = dmnode.Position{File: r.file, Pos: h.LogPos}
	if gtid != "" {
		if r.gtids == nil {
			r.gtids, _ = mysql.ParseGTIDSet(r.cp.Flavor, "")
		}
		if r.gtids != nil {
			if err := updateGTIDSet(r.gtids, gtid); err != nil {
				return fmt.Errorf("track gtid %s: %w", gtid, err)
			}
		}
	}
	if r.gtids != nil {
		txn.End.GTID = gtidSetText(r.gtids)
	}
	r.read = txn.End
	if txn.End.Compare(r.published) <= 0 {
		return nil // already in the stream: published by an earlier incarnation
	}
	if seq.n > 0 {
		// The rest of a transaction that was cut into parts.
		if err := r.publishPart(ctx, &seq, txn, true); err != nil {
			return err
		}
		r.published, r.pubTime = txn.End, txn.Time
		r.pendSize = 0 // nothing pending: flushed before the first part
		return nil
	}
	if len(r.pending.Txns) == 0 {
		r.pendAt = time.Now()
	}
	r.pending.Txns = append(r.pending.Txns, *txn)
	r.pendBeg = append(r.pendBeg, seq.begin)
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
		n, data, err := encodeUpTo(r.batchBuf[:0], r.pending.Txns)
		if err != nil {
			return Permanent(err)
		}
		b := dmnode.Batch{Txns: r.pending.Txns[:n]}
		if data == nil {
			// One transaction that does not fit in a message by itself:
			// a sequence of one part, fragmented.
			if err := r.publishPart(ctx, &partSeq{begin: r.pendBeg[0]}, &b.Txns[0], true); err != nil {
				return err
			}
		} else {
			if err := r.publish(ctx, data, jetstream.BatchHeaders(&b)); err != nil {
				return err
			}
			r.countPublished(&b, len(data))
			if cap(data) <= 2*jetstream.MaxMessageBytes {
				r.batchBuf = data[:0] // published: the stream has its copy
			}
		}
		r.published = b.End()
		r.pubTime = b.Txns[n-1].Time
		r.pending.Txns, r.pendBeg = r.pending.Txns[n:], r.pendBeg[n:]
	}
	r.pending.Txns, r.pendBeg = nil, nil
	r.pendSize = 0
	if r.txn == nil && time.Since(r.lastSave) >= checkpointEvery {
		return r.saveCheckpoint(ctx)
	}
	return nil
}

// encodeUpTo encodes, into dst's space, as many leading transactions as
// fit in one message (always at least one) and returns how many it took.
// When the first transaction alone does not fit, it returns 1 and no data.
func encodeUpTo(dst []byte, txns []dmnode.Txn) (int, []byte, error) {
	n := len(txns)
	for {
		data, err := jetstream.EncodeBatch(dst[:0], &dmnode.Batch{Txns: txns[:n]})
		if err != nil {
			return 0, nil, err
		}
		dst = data[:0]
		if len(data) <= jetstream.MaxMessageBytes {
			return n, data, nil
		}
		if n == 1 {
			return 1, nil, nil
		}
		n = (n + 1) / 2
	}
}

// partSeq numbers the messages of one transaction's part sequence.
type partSeq struct {
	begin dmnode.Position // the transaction's first event
	n     int             // messages made so far, published or passed over
}

// cut publishes the changes read so far of the transaction being read as
// a part of its sequence, after the whole transactions before it.
func (r *tailRun) cut(ctx context.Context) error {
	if r.seq.begin.Compare(r.published) < 0 {
		// Begun before the end of a published transaction: the stream
		// holds it whole already.
		r.txn.Changes, r.txnSize = nil, 0
		return nil
	}
	if r.seq.n == 0 {
		if err := r.flush(ctx); err != nil {
			return err
		}
		r.log.Info("publishing a large transaction in parts", "source", r.t.source, "txn", r.seq.begin.String())
	}
	if err := r.publishPart(ctx, &r.seq, &dmnode.Txn{Changes: r.txn.Changes}, false); err != nil {
		return err
	}
	r.txn.Changes, r.txnSize = nil, 0
	return nil
}

// publishPart publishes a part of a transaction as one message, or as
// fragments when it does not fit in one, passing over the messages the
// stream holds already (see Tailer). With last set, t is the
// transaction's last part, with its end, and its last message carries the
// position.
func (r *tailRun) publishPart(ctx context.Context, s *partSeq, t *dmnode.Txn, last bool) error {
	data, err := jetstream.EncodeTxnPart(r.buf[:0], t)
	if err != nil {
		return Permanent(err)
	}
	r.buf = data[:0]
	frags, err := jetstream.Fragment(data, jetstream.MaxMessageBytes)
	if err != nil {
		return Permanent(fmt.Errorf("source %s: transaction at %s: %w", r.t.source, s.begin, err))
	}
	published := false
	for i, f := range frags {
		n := s.n
		s.n++
		if r.resume.Part && r.resume.Begin == s.begin && n <= r.resume.N {
			continue // in the stream already
		}
		var end *dmnode.Txn
		if last && i == len(frags)-1 {
			end = t
		}
		if err := r.publish(ctx, f, jetstream.PartHeaders(s.begin, n, end)); err != nil {
			return err
		}
		published = true
	}
	if published {
		r.countPublished(&dmnode.Batch{Txns: []dmnode.Txn{*t}}, len(data))
	}
	if cap(r.buf) > 4*jetstream.MaxMessageBytes {
		r.buf = nil // a huge row's encoding is not kept
	}
	return nil
}

// publish appends one message to the stream, expecting the stream's last
// message of the subject to be the one this incarnation appended last.
func (r *tailRun) publish(ctx context.Context, data []byte, h jetstream.Header) error {
	seq, err := r.relay.Publish(ctx, data, h, r.lastSeq)
	if errors.Is(err, jetstream.ErrFenced) {
		return Permanent(fmt.Errorf("publish binlog batch of source %s: another tailer appended to the stream: %w", r.t.source, jetstream.ErrFenced))
	}
	if err != nil {
		return fmt.Errorf("publish binlog batch of source %s: %w", r.t.source, err)
	}
	r.lastSeq = seq
	r.gate.published(len(data))
	return nil
}

// saveCheckpoint records the end of the last transaction read. Only called
// between transactions with nothing pending, when everything up to r.read
// is in the stream and every schema version up to r.read is in the store.
func (r *tailRun) saveCheckpoint(ctx context.Context) error {
	if r.read.IsZero() {
		return nil
	}
	cp := TailCheckpoint{Pos: r.read, Flavor: r.cp.Flavor, Epoch: r.t.env.Epoch}
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
	p := jetstream.TailProgress{Published: r.published, Upstream: r.upstream, EventTime: r.pubTime, CaughtUp: r.caughtUp.UTC(), Updated: time.Now().UTC()}
	if err := r.t.env.Store.Put(ctx, tailProgKey(r.t.source), p); err != nil && ctx.Err() == nil {
		r.log.Debug("report tail progress", "err", err)
	}
}
