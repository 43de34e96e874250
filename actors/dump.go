package actors

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
)

// Dumper takes a consistent snapshot of one source for one task and
// publishes its rows, chunk by chunk, to the task's snapshot stream.
//
// The snapshot: a brief FLUSH TABLES WITH READ LOCK, during which it reads
// the binlog position and every table's schema and opens one
// consistent-snapshot transaction per reader; then the lock is released and
// the readers share one point in time. A chunk is marked done in the
// checkpoint once all its messages are in the stream. A restarted dumper
// takes a new snapshot and dumps only the chunks not done: rows of chunks
// from an older snapshot are brought up to date by replaying the binlog
// from the first snapshot, idempotently, up to the newest one.
type Dumper struct {
	env    Env
	task   string
	source string
}

// DumpCheckpoint is the dumper's KV checkpoint.
type DumpCheckpoint struct {
	Tables []*DumpTable `json:"tables"`
	Epoch  uint64       `json:"epoch"`
}

// DumpTable is one table's chunk plan.
type DumpTable struct {
	Schema *schema.Table `json:"schema"`
	// KeyCol is the integer key column the table is split on; -1 when the
	// table is read as one chunk.
	KeyCol int          `json:"key_col"`
	Chunks []*DumpChunk `json:"chunks"`
	// Estimate is the server's estimate of the table's rows when it was
	// planned (information_schema.TABLES.TABLE_ROWS), for progress.
	Estimate int64 `json:"estimate,omitempty"`
}

// DumpChunk is a half-open key range [Lo, Hi); Last chunks have no Hi.
type DumpChunk struct {
	Lo   string `json:"lo,omitempty"`
	Hi   string `json:"hi,omitempty"`
	Done bool   `json:"done,omitempty"`
	Rows int64  `json:"rows,omitempty"`
}

// DumpProgress is what the dumper reports for status.
type DumpProgress struct {
	Tables      int       `json:"tables"`
	ChunksTotal int       `json:"chunks_total"`
	ChunksDone  int       `json:"chunks_done"`
	RowsDumped  int64     `json:"rows_dumped"`
	RowsTotal   int64     `json:"rows_estimated"`
	Updated     time.Time `json:"updated"`
}

func dumpKey(task, source string) string     { return jetstream.Key("dump", task, source) }
func dumpProgKey(task, source string) string { return jetstream.Key("progress", "dump", task, source) }

func (d *Dumper) Run(ctx context.Context) error {
	te, err := loadTask(d.env, d.task, d.source)
	if err != nil {
		return err
	}
	if te.state.Stage != catalog.StageDump {
		return nil
	}
	if _, err := d.env.Store.SnapshotStream(ctx, d.task); err != nil {
		return err
	}
	var cp DumpCheckpoint
	rev, err := d.env.Store.Load(ctx, dumpKey(d.task, d.source), &cp)
	if err != nil {
		return err
	}
	threads := max(te.inst.Dump.Threads, 1)
	db, err := OpenDB(ctx, te.source.From, threads+1)
	if err != nil {
		return fmt.Errorf("source %s: %w", d.source, err)
	}
	defer db.Close()
	snap, err := takeSnapshot(ctx, db, te.source.Flavor, threads)
	if err != nil {
		return err
	}
	defer snap.close()
	if err := InitTailCheckpoint(ctx, d.env.Store, d.source, snap.flavor, snap.pos, snap.tracker); err != nil {
		return err
	}
	if err := d.env.Propose(ctx, catalog.Command{Op: catalog.OpSnapshotTaken, Name: d.task, Src: d.source, Pos: snap.pos}); err != nil {
		return fmt.Errorf("record snapshot position: %w", err)
	}
	d.env.Log.Info("consistent snapshot taken", "pos", snap.pos.String(), "readers", threads)
	if cp.Tables == nil {
		if cp.Tables, err = d.plan(ctx, snap, te); err != nil {
			return err
		}
	}
	cp.Epoch = d.env.Epoch
	if rev, err = d.env.Store.Save(ctx, dumpKey(d.task, d.source), &cp, rev); err != nil {
		return err
	}
	w := &dumpWriter{d: d, cp: &cp, rev: rev, subject: jetstream.SnapshotSubject(d.task, d.source),
		where: te.inst.Dump.Where}
	if err := w.dumpAll(ctx, snap); err != nil {
		return err
	}
	w.report(ctx)
	if err := d.env.Propose(ctx, catalog.Command{Op: catalog.OpStageDone, Name: d.task, Src: d.source, Stage: catalog.StageDump}); err != nil {
		return fmt.Errorf("record dump done: %w", err)
	}
	d.env.Log.Info("dump finished", "rows", w.rows)
	return nil
}

// snapshot is a set of connections that read the same point in time.
type snapshot struct {
	pos     dmnode.Position
	flavor  string
	tracker *schema.Tracker
	conns   []*sql.Conn
}

func (s *snapshot) close() {
	for _, c := range s.conns {
		c.Close()
	}
}

func takeSnapshot(ctx context.Context, db *sql.DB, flavor string, readers int) (*snapshot, error) {
	lock, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open snapshot connection: %w", err)
	}
	defer lock.Close()
	if flavor, err = DetectFlavor(ctx, lock, flavor); err != nil {
		return nil, err
	}
	s := &snapshot{flavor: flavor}
	if _, err := lock.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
		return nil, Permanent(fmt.Errorf("flush tables with read lock (needs the RELOAD privilege): %w", err))
	}
	defer lock.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES")
	for range readers {
		c, err := db.Conn(ctx)
		if err == nil {
			_, err = c.ExecContext(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
		}
		if err == nil {
			_, err = c.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT")
		}
		if err != nil {
			if c != nil {
				c.Close()
			}
			s.close()
			return nil, fmt.Errorf("open consistent snapshot: %w", err)
		}
		s.conns = append(s.conns, c)
	}
	if s.pos, err = MasterPosition(ctx, lock, flavor); err != nil {
		s.close()
		return nil, err
	}
	if s.tracker, err = LoadSchemas(ctx, lock, flavor); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// plan lists the task's tables with their chunks. Tables with a one-column
// integer key are split into key ranges of about rows-per-chunk rows;
// others are one chunk.
func (d *Dumper) plan(ctx context.Context, snap *snapshot, te *taskEnv) ([]*DumpTable, error) {
	var out []*DumpTable
	for _, t := range snap.tracker.Tables() {
		if !te.rules.Replicated(t.Schema, t.Name) || !te.inst.Dump.Selects(t.Schema, t.Name) {
			continue
		}
		dt := &DumpTable{Schema: t, KeyCol: -1}
		if len(t.Key) == 1 && isIntType(t.Columns[t.Key[0]].Type) {
			dt.KeyCol = t.Key[0]
		}
		chunks, err := planChunks(ctx, snap.conns[0], dt, int64(max(te.inst.Dump.ChunkRows, 1)))
		if err != nil {
			return nil, err
		}
		dt.Chunks = chunks
		dt.Estimate = estimateRows(ctx, snap.conns[0], t.Schema, t.Name)
		out = append(out, dt)
	}
	return out, nil
}

// estimateRows returns the server's estimate of a table's rows, 0 when it
// has none.
func estimateRows(ctx context.Context, c *sql.Conn, schemaName, table string) int64 {
	var n sql.NullInt64
	_ = c.QueryRowContext(ctx, `SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
		schemaName, table).Scan(&n)
	return n.Int64
}

func isIntType(t string) bool {
	switch t {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		return true
	}
	return false
}

func planChunks(ctx context.Context, c *sql.Conn, dt *DumpTable, perChunk int64) ([]*DumpChunk, error) {
	if dt.KeyCol < 0 {
		return []*DumpChunk{{}}, nil
	}
	col := quoteIdent(dt.Schema.Columns[dt.KeyCol].Name)
	var lo, hi sql.NullString
	q := fmt.Sprintf("SELECT MIN(%s), MAX(%s) FROM %s.%s", col, col, quoteIdent(dt.Schema.Schema), quoteIdent(dt.Schema.Name))
	if err := c.QueryRowContext(ctx, q).Scan(&lo, &hi); err != nil {
		return nil, fmt.Errorf("key range of %s.%s: %w", dt.Schema.Schema, dt.Schema.Name, err)
	}
	if !lo.Valid {
		return []*DumpChunk{{}}, nil
	}
	// Split on the value range; keys are assumed dense enough that a range
	// of perChunk values holds about perChunk rows.
	var bounds []string
	if dt.Schema.Columns[dt.KeyCol].Unsigned {
		l, _ := strconv.ParseUint(lo.String, 10, 64)
		h, _ := strconv.ParseUint(hi.String, 10, 64)
		for v := l + uint64(perChunk); v <= h && v > l; v += uint64(perChunk) {
			bounds = append(bounds, strconv.FormatUint(v, 10))
		}
	} else {
		l, _ := strconv.ParseInt(lo.String, 10, 64)
		h, _ := strconv.ParseInt(hi.String, 10, 64)
		for v := l + perChunk; v <= h && v > l; v += perChunk {
			bounds = append(bounds, strconv.FormatInt(v, 10))
		}
	}
	chunks := make([]*DumpChunk, 0, len(bounds)+1)
	prev := ""
	for _, b := range bounds {
		chunks = append(chunks, &DumpChunk{Lo: prev, Hi: b})
		prev = b
	}
	return append(chunks, &DumpChunk{Lo: prev}), nil
}

// dumpWriter reads chunks on the snapshot's connections and publishes them.
type dumpWriter struct {
	d       *Dumper
	subject string
	mu      sync.Mutex   // guards cp, rev and rows
	pubMu   sync.RWMutex // keeps a fragmented message's fragments consecutive (publish)
	cp      *DumpCheckpoint
	rev     uint64
	rows    int64
	where   string // the task's mydumpers.*.where: a condition on every row read
}

type chunkRef struct {
	table *DumpTable
	n     int
}

func (w *dumpWriter) dumpAll(ctx context.Context, snap *snapshot) error {
	work := make(chan chunkRef) // unbuffered: a reader takes the next chunk when free
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(work)
		for _, t := range w.cp.Tables {
			for i, c := range t.Chunks {
				if c.Done {
					continue
				}
				select {
				case work <- chunkRef{t, i}:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
		}
		return nil
	})
	for _, conn := range snap.conns {
		g.Go(func() error {
			for ref := range work {
				if err := w.dumpChunk(gctx, conn, ref); err != nil {
					return err
				}
			}
			return nil
		})
	}
	// Progress is reported every second, and within dumpProgressEvery of
	// a chunk finishing: a chunk can take well under a second, and status
	// should not jump from nothing to done.
	stop := make(chan struct{})
	var rep sync.WaitGroup
	rep.Go(func() {
		t := time.NewTicker(dumpProgressEvery)
		defer t.Stop()
		reported, last := int64(-1), time.Time{}
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				w.mu.Lock()
				rows := w.rows
				w.mu.Unlock()
				if rows != reported || now.Sub(last) >= time.Second {
					w.report(ctx)
					reported, last = rows, now
				}
			}
		}
	})
	err := g.Wait()
	close(stop)
	rep.Wait()
	return err
}

// dumpProgressEvery is how often the dumper checks whether a chunk
// finished since it last reported progress.
const dumpProgressEvery = 100 * time.Millisecond

// Snapshot message sizes, by the encoding: a chunk's rows are published
// once they reach dumpMsgBytes, and a message never exceeds dumpMaxMsg
// (the stream's 1 MiB max payload, less room for headers). Every message
// costs an fsync of the stream and one of the loader's acknowledgement, so
// fewer, larger ones cost less CPU, up to a point: on the 2-core bench
// host 256 KiB loaded ~13% slower than 512 KiB, and 896 KiB no faster
// (larger messages also make the end of a load coarser).
const (
	dumpMsgBytes = 512 << 10
	dumpMaxMsg   = 1<<20 - 4096
)

func (w *dumpWriter) dumpChunk(ctx context.Context, conn *sql.Conn, ref chunkRef) error {
	t := ref.table.Schema
	chunk := ref.table.Chunks[ref.n]
	q, args := chunkQuery(ref.table, chunk, w.where)
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read %s.%s chunk %d: %w", t.Schema, t.Name, ref.n, err)
	}
	defer rows.Close()
	raw := make([]sql.RawBytes, len(t.Columns))
	ptrs := make([]any, len(raw))
	asString := make([]bool, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
		asString[i] = scansAsString(t.Columns[i])
	}
	// Rows are encoded as they are read: the text of string columns goes
	// into the message as it is, without a string per value.
	enc := jetstream.NewRowBatchEncoder(&jetstream.RowBatch{Source: w.d.source,
		Table: dmnode.TableID{Schema: t.Schema, Table: t.Name}, Columns: t.ColumnNames(), Key: t.Key, Chunk: ref.n})
	var buf []byte
	part := 0
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("read %s.%s: %w", t.Schema, t.Name, err)
		}
		enc.Row(len(raw))
		for i, b := range raw {
			if asString[i] {
				enc.StringBytes(b)
				continue
			}
			v, err := ScanValue(t.Columns[i], b)
			if err == nil {
				err = enc.Value(v)
			}
			if err != nil {
				return Permanent(fmt.Errorf("read %s.%s column %s: %w", t.Schema, t.Name, t.Columns[i].Name, err))
			}
		}
		n++
		if enc.Size() < dumpMsgBytes {
			continue
		}
		// Over the limit, the rows before this one make the message and
		// this one starts the next.
		over := enc.Size() > dumpMaxMsg
		msgRows := enc.Rows()
		if over {
			msgRows--
		}
		if msgRows > 0 {
			buf = enc.Message(buf[:0], part, false, over)
			if err := w.publish(ctx, t, buf, msgRows); err != nil {
				return err
			}
			enc.Reset(over)
			part++
		}
		if enc.Size() > dumpMaxMsg {
			// One row larger than a message: a message of its own, which
			// publish sends as fragments.
			buf = enc.Message(buf[:0], part, false, false)
			if err := w.publish(ctx, t, buf, 1); err != nil {
				return err
			}
			enc.Reset(false)
			part++
			if cap(buf) > 2*dumpMaxMsg {
				buf = nil // a huge row's encoding is not kept
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s.%s: %w", t.Schema, t.Name, err)
	}
	if err := w.publish(ctx, t, enc.Message(buf[:0], part, true, false), enc.Rows()); err != nil {
		return err
	}
	return w.chunkDone(ctx, ref, n)
}

// chunkQuery reads one chunk of a table; where, when set, is the task's
// row condition (DM's mydumpers.*.where), ANDed with the chunk's range.
func chunkQuery(t *DumpTable, c *DumpChunk, where string) (string, []any) {
	cols := make([]string, len(t.Schema.Columns))
	for i, col := range t.Schema.Columns {
		cols[i] = quoteIdent(col.Name)
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + quoteIdent(t.Schema.Schema) + "." + quoteIdent(t.Schema.Name)
	var conds []string
	var args []any
	if where != "" {
		conds = append(conds, "("+where+")")
	}
	key := ""
	if t.KeyCol >= 0 {
		key = quoteIdent(t.Schema.Columns[t.KeyCol].Name)
		if c.Lo != "" {
			conds, args = append(conds, key+" >= ?"), append(args, c.Lo)
		}
		if c.Hi != "" {
			conds, args = append(conds, key+" < ?"), append(args, c.Hi)
		}
	}
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	if key != "" {
		q += " ORDER BY " + key
	}
	return q, args
}

// publish writes one encoded message of a chunk's rows to the stream and
// returns once the stream has stored it. A message larger than dumpMaxMsg
// (a row that large) goes as fragments (jetstream.Fragment), which must
// be consecutive in the stream for the loader to put them together: the
// readers publish their messages under pubMu's read lock, a fragmented one
// under its write lock.
func (w *dumpWriter) publish(ctx context.Context, t *schema.Table, data []byte, rows int) error {
	frags, err := jetstream.Fragment(data, dumpMaxMsg)
	if err != nil {
		return Permanent(fmt.Errorf("publish chunk of %s.%s: %w", t.Schema, t.Name, err))
	}
	if len(frags) == 1 {
		w.pubMu.RLock()
		defer w.pubMu.RUnlock()
	} else {
		w.pubMu.Lock()
		defer w.pubMu.Unlock()
	}
	for _, f := range frags {
		if _, err := w.d.env.Store.JS.PublishMsg(ctx, &nats.Msg{Subject: w.subject, Data: f}); err != nil {
			return fmt.Errorf("publish chunk of %s.%s: %w", t.Schema, t.Name, err)
		}
	}
	m := w.d.env.metrics()
	m.Rows(PhaseDump, dmnode.Insert.String(), int64(rows))
	m.Bytes(PhaseDump, int64(len(data)))
	return nil
}

func (w *dumpWriter) chunkDone(ctx context.Context, ref chunkRef, n int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := ref.table.Chunks[ref.n]
	c.Done, c.Rows = true, n
	w.rows += n
	rev, err := w.d.env.Store.Save(ctx, dumpKey(w.d.task, w.d.source), w.cp, w.rev)
	if err != nil {
		return err
	}
	w.rev = rev
	return nil
}

func (w *dumpWriter) report(ctx context.Context) {
	w.mu.Lock()
	p := DumpProgress{Tables: len(w.cp.Tables), Updated: time.Now().UTC()}
	for _, t := range w.cp.Tables {
		var done int64
		pending := false
		for _, c := range t.Chunks {
			p.ChunksTotal++
			if c.Done {
				p.ChunksDone++
				done += c.Rows
			} else {
				pending = true
			}
		}
		p.RowsDumped += done
		// A table's rows: as counted once it is dumped, else estimated.
		if pending {
			p.RowsTotal += max(t.Estimate, done)
		} else {
			p.RowsTotal += done
		}
	}
	w.mu.Unlock()
	if err := w.d.env.Store.Put(ctx, dumpProgKey(w.d.task, w.d.source), p); err != nil && ctx.Err() == nil {
		w.d.env.Log.Debug("report dump progress", "err", err)
	}
}

// dumpSchemas returns the upstream table schemas recorded by the dumper.
func dumpSchemas(ctx context.Context, env Env, task, source string) (map[dmnode.TableID]*schema.Table, error) {
	var cp DumpCheckpoint
	if _, err := env.Store.Load(ctx, dumpKey(task, source), &cp); err != nil {
		return nil, err
	}
	m := map[dmnode.TableID]*schema.Table{}
	for _, t := range cp.Tables {
		m[dmnode.TableID{Schema: t.Schema.Schema, Table: t.Schema.Name}] = t.Schema
	}
	return m, nil
}
