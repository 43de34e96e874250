package actors

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
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
	// queue is the task's snapshot queue, opened by Run.
	queue jetstream.SnapshotQueue
	// openSource opens the source's connection pool: OpenDB when nil (a
	// test gives a stand-in).
	openSource func(ctx context.Context, c config.DBConfig, maxConns int) (*sql.DB, error)
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

func (d *Dumper) Run(ctx context.Context) error {
	te, err := loadTask(d.env, d.task, d.source)
	if err != nil {
		return err
	}
	if te.state.Stage != catalog.StageDump {
		return nil
	}
	if d.queue, err = d.env.Store.SnapshotQueue(ctx, d.task); err != nil {
		return err
	}
	var cp DumpCheckpoint
	rev, err := d.env.Store.Load(ctx, dumpKey(d.task, d.source), &cp)
	if err != nil {
		return err
	}
	threads := max(te.inst.Dump.Threads, 1)
	open := d.openSource
	if open == nil {
		open = OpenDB
	}
	db, err := open(ctx, te.source.From, threads+1)
	if err != nil {
		return fmt.Errorf("source %s: %w", d.source, err)
	}
	defer db.Close()
	start := time.Now()
	snap, err := takeSnapshot(ctx, db, te.source.Flavor, threads)
	if err != nil {
		return err
	}
	defer snap.close()
	if err := handOverSnapshot(ctx, d.env.Store, d.task, d.source, snap.flavor, snap.pos, snap.tracker); err != nil {
		return err
	}
	if err := d.env.Propose(ctx, catalog.Command{Op: catalog.OpSnapshotTaken, Name: d.task, Src: d.source, Pos: snap.pos}); err != nil {
		return fmt.Errorf("record snapshot position: %w", err)
	}
	d.env.Log.Info("consistent snapshot taken", "pos", snap.pos.String(), "readers", threads,
		"tables", len(snap.tracker.Tables()), "took", time.Since(start).Round(time.Millisecond))
	// Claim the dump first: an older incarnation still running finds the
	// summary moved on at its next check and stops.
	cp.Epoch = d.env.Epoch
	if rev, err = d.env.Store.Save(ctx, dumpKey(d.task, d.source), &cp, rev); err != nil {
		return err
	}
	plan, err := d.loadPlan(ctx)
	if err != nil {
		return err
	}
	ok, why, err := plan.resumable(cp, d.env.Epoch)
	if err != nil {
		return err
	}
	var w *dumpWriter
	if ok {
		w = newDumpWriter(d, &cp, rev)
		w.resume(plan)
	} else {
		start := time.Now()
		tables, err := d.plan(ctx, snap, te)
		if err != nil {
			return err
		}
		if rev, err = d.replacePlan(ctx, &cp, rev, plan, tables); err != nil {
			return err
		}
		if err := recordDumpSchemas(ctx, d.env, d.task, d.source, snap.pos); err != nil {
			return err
		}
		w = newDumpWriter(d, &cp, rev)
		w.planned(plan, tables)
		d.env.Log.Info("dump planned", "why", why, "tables", len(tables), "took", time.Since(start).Round(time.Millisecond))
	}
	w.where = te.inst.Dump.Where
	if err := w.dumpAll(ctx, snap); err != nil {
		return err
	}
	w.report(ctx)
	if err := d.env.Propose(ctx, catalog.Command{Op: catalog.OpStageDone, Name: d.task, Src: d.source, Stage: catalog.StageDump}); err != nil {
		return fmt.Errorf("record dump done: %w", err)
	}
	first := time.Duration(0)
	if f := w.firstPublished.Load(); f > 0 {
		first = time.Unix(0, f).Sub(start)
	}
	d.env.Log.Info("dump finished", "tables", len(w.tables), "chunks", w.chunksDone.Load(), "messages", w.published.Load(),
		"took", time.Since(start).Round(time.Millisecond), "first_message_after", first.Round(time.Millisecond),
		"readers", len(snap.conns), "reading", time.Duration(w.readNs.Load()).Round(time.Millisecond),
		"publishing", time.Duration(w.publishNs.Load()).Round(time.Millisecond),
		"recording", time.Duration(w.recordNs.Load()).Round(time.Millisecond))
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
	if s.tracker, err = readSchemas(ctx, lock, s.conns, flavor); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// readSchemas reads every table's schema, as LoadSchemas does, with the
// SHOW CREATE TABLEs spread over the snapshot's readers: they run under
// the global read lock, which FLUSH TABLES left with every table to open
// again, and an estate has thousands.
func readSchemas(ctx context.Context, lock *sql.Conn, readers []*sql.Conn, flavor string) (*schema.Tracker, error) {
	tr := schema.NewTracker()
	tr.SetFlavor(flavor)
	if err := loadCharsets(ctx, lock, tr); err != nil {
		return nil, err
	}
	ids, err := ListTables(ctx, lock)
	if err != nil {
		return nil, err
	}
	tables := make([]*schema.Table, len(ids))
	if err := eachOn(ctx, readers, len(ids), func(ctx context.Context, c *sql.Conn, i int) (err error) {
		tables[i], err = ShowCreateTable(ctx, c, ids[i])
		return err
	}); err != nil {
		return nil, err
	}
	for _, t := range tables {
		tr.Put(t)
	}
	return tr, nil
}

// ReadSchemas reads every table's schema, as LoadSchemas does, on up to
// readers connections of db at once: as many as the server lets the user
// open (a user limited by max_user_connections reads on fewer; the
// precheck says what that limit means for the task).
func ReadSchemas(ctx context.Context, db *sql.DB, flavor string, readers int) (*schema.Tracker, error) {
	conns := make([]*sql.Conn, 0, readers)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range max(readers, 1) {
		c, err := db.Conn(ctx)
		if err != nil {
			if len(conns) > 0 {
				break
			}
			return nil, fmt.Errorf("read schemas: %w", err)
		}
		conns = append(conns, c)
	}
	return readSchemas(ctx, conns[0], conns, flavor)
}

// eachOn calls fn for 0..n-1, spread over the connections, one call at a
// time on each, and returns the first error.
func eachOn(ctx context.Context, conns []*sql.Conn, n int, fn func(ctx context.Context, c *sql.Conn, i int) error) error {
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range conns {
		g.Go(func() error {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || gctx.Err() != nil {
					return gctx.Err()
				}
				if err := fn(gctx, c, i); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

// plan lists the task's tables with their chunks. Tables whose key (of
// one column or several) starts with an integer column are split into
// ranges of that column of about rows-per-chunk rows; others are one
// chunk.
func (d *Dumper) plan(ctx context.Context, snap *snapshot, te *taskEnv) ([]*DumpTable, error) {
	estimates, err := estimateRows(ctx, snap.conns[0])
	if err != nil {
		return nil, err
	}
	var out []*DumpTable
	for _, t := range snap.tracker.Tables() {
		if !te.rules.Replicated(t.Schema, t.Name) || !te.inst.Dump.Selects(t.Schema, t.Name) {
			continue
		}
		dt := &DumpTable{Schema: t, KeyCol: -1, Chunks: 1, Epoch: d.env.Epoch}
		if len(t.Key) > 0 && isIntType(t.Columns[t.Key[0]].Type) {
			dt.KeyCol = t.Key[0]
		}
		dt.Estimate = estimates[dt.ID()]
		out = append(out, dt)
	}
	perChunk := int64(max(te.inst.Dump.ChunkRows, 1))
	err = eachOn(ctx, snap.conns, len(out), func(ctx context.Context, c *sql.Conn, i int) error {
		return planChunks(ctx, c, out[i], perChunk)
	})
	return out, err
}

// estimateRows returns the server's estimate of every table's rows
// (information_schema.TABLES.TABLE_ROWS), in one query: one per table
// costs a round trip, and on MariaDB the opening of the table, each.
func estimateRows(ctx context.Context, c *sql.Conn) (map[dmnode.TableID]int64, error) {
	rows, err := c.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'`)
	if err != nil {
		return nil, fmt.Errorf("read row estimates: %w", err)
	}
	defer rows.Close()
	out := map[dmnode.TableID]int64{}
	for rows.Next() {
		var id dmnode.TableID
		var n sql.NullInt64
		if err := rows.Scan(&id.Schema, &id.Table, &n); err != nil {
			return nil, fmt.Errorf("read row estimates: %w", err)
		}
		if n.Valid && !rules.IsSystemSchema(id.Schema) {
			out[id] = n.Int64
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read row estimates: %w", err)
	}
	return out, nil
}

func isIntType(t string) bool {
	switch t {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		return true
	}
	return false
}

// planChunks sets the chunk plan of a table split on an integer key from
// the key's range.
func planChunks(ctx context.Context, c *sql.Conn, dt *DumpTable, perChunk int64) error {
	dt.Chunks = 1
	if dt.KeyCol < 0 {
		return nil
	}
	col := sqlgen.QuoteIdent(dt.Schema.Columns[dt.KeyCol].Name)
	var lo, hi sql.NullString
	q := fmt.Sprintf("SELECT MIN(%s), MAX(%s) FROM %s.%s", col, col, sqlgen.QuoteIdent(dt.Schema.Schema), sqlgen.QuoteIdent(dt.Schema.Name))
	if err := c.QueryRowContext(ctx, q).Scan(&lo, &hi); err != nil {
		return fmt.Errorf("key range of %s.%s: %w", dt.Schema.Schema, dt.Schema.Name, err)
	}
	if !lo.Valid {
		return nil
	}
	// Split on the value range; a one-column key is assumed dense enough
	// that a range of perChunk values holds about perChunk rows. The first
	// column of a longer key may repeat a value on many rows: the
	// estimate of the table's rows says how many share one.
	var rows int64
	if len(dt.Schema.Key) > 1 {
		rows = dt.Estimate
	}
	var err error
	dt.Min, dt.Step, dt.Chunks, err = splitKeyRange(lo.String, hi.String, dt.Schema.Columns[dt.KeyCol].Unsigned, perChunk, rows)
	if err != nil {
		return Permanent(fmt.Errorf("key range of %s.%s: %w", dt.Schema.Schema, dt.Schema.Name, err))
	}
	return nil
}

// loadPlan reads the dump's table keys.
func (d *Dumper) loadPlan(ctx context.Context) (*dumpPlan, error) {
	p := newDumpPlan()
	if err := d.env.Store.LoadPrefix(ctx, dumpTablesPrefix(d.task, d.source), p.add); err != nil {
		return nil, err
	}
	return p, nil
}

// dumpPlanWriters is how many table keys writePlan saves at once: each
// save waits for the bucket's write to disk.
const dumpPlanWriters = 8

// replacePlan prepares the stored plan to be replaced by tables: the
// summary says the plan is not complete, and the keys of tables no longer
// planned go. It returns the summary's revision. The writer then writes
// the table keys (writePlan).
func (d *Dumper) replacePlan(ctx context.Context, cp *DumpCheckpoint, rev uint64, plan *dumpPlan, tables []*DumpTable) (uint64, error) {
	var err error
	if cp.Planned {
		cp.Planned, cp.Tables = false, 0
		if rev, err = d.env.Store.Save(ctx, dumpKey(d.task, d.source), cp, rev); err != nil {
			return 0, err
		}
	}
	keep := make(map[string]bool, len(tables))
	for _, t := range tables {
		keep[dumpTableKey(d.task, d.source, t.ID())] = true
	}
	var gone []string
	for k := range plan.tables {
		if !keep[k] {
			gone = append(gone, k)
		}
	}
	return rev, d.env.Store.Delete(ctx, gone...)
}

// writePlan writes the key of every table not yet written, marking each
// ready for the readers as it goes, then the summary saying the plan is
// complete. Readers dump the tables written meanwhile: a dumper
// interrupted before the summary plans again, and dumps those again.
func (w *dumpWriter) writePlan(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(dumpPlanWriters)
	for _, st := range w.tables {
		select {
		case <-st.ready:
			continue
		default:
		}
		g.Go(func() error {
			st.mu.Lock()
			defer st.mu.Unlock()
			rev, err := w.d.env.Store.Save(gctx, st.key, st.t, st.rev)
			if err != nil {
				return err
			}
			st.rev = rev
			close(st.ready)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	w.cp.Planned, w.cp.Tables = true, len(w.tables)
	w.fenceMu.Lock()
	defer w.fenceMu.Unlock()
	rev, err := w.d.env.Store.Save(ctx, dumpKey(w.d.task, w.d.source), w.cp, w.sumRev)
	if err != nil {
		return err
	}
	w.sumRev = rev
	return nil
}

// dumpWriter reads chunks on the snapshot's connections and publishes them.
type dumpWriter struct {
	d       *Dumper
	pubMu   sync.RWMutex      // keeps a fragmented message's fragments consecutive (publish)
	where   string            // the task's mydumpers.*.where: a condition on every row read
	tables  []*dumpTableState // by key
	cp      *DumpCheckpoint
	fenceMu sync.Mutex // guards sumRev
	sumRev  uint64     // the summary's revision this incarnation wrote
	// chunksDone counts the chunks this incarnation finished, for the
	// progress reporter.
	chunksDone atomic.Int64
	// Where the readers' time went, summed over them, for the finish log:
	// reading and encoding rows, publishing messages (each waits for the
	// stream's acknowledgement), and recording chunks done; and when the
	// first message was stored.
	readNs, publishNs, recordNs atomic.Int64
	published                   atomic.Int64
	firstPublished              atomic.Int64 // unix ns
	// Every message this writer publishes has an id of its own, runID
	// and a number (msgSeq), so that publishing it again after a lost
	// reply stores it once (publish).
	runID  string
	msgSeq atomic.Int64
}

// dumpTableState is one table's checkpoint as this incarnation last
// saved it.
type dumpTableState struct {
	mu  sync.Mutex // guards t and rev
	key string
	rev uint64
	t   *DumpTable
	// ready is closed once the table's key is written: its chunks may be
	// dumped.
	ready chan struct{}
}

func newDumpWriter(d *Dumper, cp *DumpCheckpoint, sumRev uint64) *dumpWriter {
	return &dumpWriter{d: d, cp: cp, sumRev: sumRev, runID: rand.Text()}
}

// resume takes the tables of a complete stored plan.
func (w *dumpWriter) resume(plan *dumpPlan) {
	for k, t := range plan.tables {
		st := &dumpTableState{key: k, rev: plan.revs[k], t: t, ready: make(chan struct{})}
		close(st.ready)
		w.tables = append(w.tables, st)
	}
	slices.SortFunc(w.tables, func(a, b *dumpTableState) int { return strings.Compare(a.key, b.key) })
}

// planned takes a new plan, whose keys writePlan writes over those of the
// stored one.
func (w *dumpWriter) planned(stored *dumpPlan, tables []*DumpTable) {
	for _, t := range tables {
		k := dumpTableKey(w.d.task, w.d.source, t.ID())
		w.tables = append(w.tables, &dumpTableState{key: k, rev: stored.revs[k], t: t, ready: make(chan struct{})})
	}
	slices.SortFunc(w.tables, func(a, b *dumpTableState) int { return strings.Compare(a.key, b.key) })
}

type chunkRef struct {
	state *dumpTableState
	table *DumpTable
	n     int
}

func (w *dumpWriter) dumpAll(ctx context.Context, snap *snapshot) error {
	// The readers stop when the summary shows a newer incarnation.
	fctx, fenced := context.WithCancelCause(ctx)
	defer fenced(nil)
	work := make(chan chunkRef) // unbuffered: a reader takes the next chunk when free
	g, gctx := errgroup.WithContext(fctx)
	if !w.cp.Planned {
		g.Go(func() error { return w.writePlan(gctx) })
	}
	g.Go(func() error {
		defer close(work)
		for _, st := range w.tables {
			select {
			case <-st.ready:
			case <-gctx.Done():
				return gctx.Err()
			}
			st.mu.Lock()
			t := st.t
			var todo []int
			for i := range t.Chunks {
				if !t.IsDone(i) {
					todo = append(todo, i)
				}
			}
			st.mu.Unlock()
			for _, i := range todo {
				select {
				case work <- chunkRef{st, t, i}:
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
	// should not jump from nothing to done. The summary is checked every
	// second.
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
				done := w.chunksDone.Load()
				if done == reported && now.Sub(last) < time.Second {
					continue
				}
				w.report(ctx)
				reported, last = done, now
				if err := w.checkFence(ctx); err != nil {
					fenced(err)
					return
				}
			}
		}
	})
	err := g.Wait()
	close(stop)
	rep.Wait()
	if cause := context.Cause(fctx); errors.Is(cause, jetstream.ErrFenced) {
		return cause
	}
	return err
}

// checkFence returns ErrFenced when the dump's summary was written since
// this incarnation wrote it.
func (w *dumpWriter) checkFence(ctx context.Context) error {
	w.fenceMu.Lock()
	defer w.fenceMu.Unlock()
	var cp DumpCheckpoint
	rev, err := w.d.env.Store.Load(ctx, dumpKey(w.d.task, w.d.source), &cp)
	if err != nil || rev == w.sumRev {
		return nil // an unreadable summary is checked again next time
	}
	return fmt.Errorf("dump summary written by epoch %d, this is %d: %w", cp.Epoch, w.d.env.Epoch, jetstream.ErrFenced)
}

// dumpProgressEvery is how often the dumper checks whether a chunk
// finished since it last reported progress.
const dumpProgressEvery = 100 * time.Millisecond

// Snapshot message sizes, by the encoding: a chunk's rows are published
// once they reach dumpMsgBytes, and a message never exceeds dumpMaxMsg
// (the stream's 1 MiB max payload, less room for headers). Every message
// costs an fsync of the stream (SyncAlways) and one of the loader's
// acknowledgement, and the stream stores one message at a time, so the
// dump's time goes mostly to that: on the 2-core bench host under load a
// reader spent 80 % of its time publishing, and 960 KiB messages instead
// of 512 KiB halved the dump's time (3 x 100k rows; 256 KiB had loaded
// ~13 % slower than 512 KiB on a quiet host).
const (
	dumpMaxMsg   = 1<<20 - 4096
	dumpMsgBytes = dumpMaxMsg - 64<<10
)

// dumpPublishWait bounds the wait for the stream to store a message. (A
// reader that published without waiting, up to two messages ahead, made
// the dump slower, not faster: 3 of 3 interleaved runs on the bench host.)
// Within it, each attempt waits dumpPublishAttempt for the stream's
// reply: a reply can be lost (the stream's leader killed holding it), and
// the message, published again under its id, is stored once.
const dumpPublishWait = time.Minute

var dumpPublishAttempt = 10 * time.Second

func (w *dumpWriter) dumpChunk(ctx context.Context, conn *sql.Conn, ref chunkRef) error {
	began := time.Now()
	var publishing time.Duration // this chunk's
	defer func() { w.readNs.Add(int64(time.Since(began) - publishing)) }()
	publish := func(data []byte, rows int) error {
		p := time.Now()
		err := w.publish(ctx, ref.table.Schema, data, rows)
		publishing += time.Since(p)
		return err
	}
	t := ref.table.Schema
	q, args := chunkQuery(ref.table, ref.table.Chunk(ref.n), w.where)
	rows, err := conn.QueryContext(ctx, q, args...)
	if isMissingTable(err) {
		// Only a dump resumed on a new snapshot reads a table its plan
		// holds and the source no longer has: dropped or renamed since
		// the dump began. Skipping the rest of it could lose rows (a
		// renamed table lives on under its new name), and reading again
		// fails again: the task stops here, saying how to go on.
		return Permanent(fmt.Errorf("read %s.%s chunk %d: the table was dropped or renamed on the source after the dump began, "+
			"and a resumed dump cannot read the rest of it: start the task's copy again with "+
			"dmnode task stop %[4]s && dmnode task delete %[4]s && dmnode task start --remove-meta TASK.yaml (rows copied already are replaced; "+
			"to leave the table out, exclude it in the file's block-allow-list first): %[5]w", t.Schema, t.Name, ref.n, w.d.task, err))
	}
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
			if err := publish(buf, msgRows); err != nil {
				return err
			}
			enc.Reset(over)
			part++
		}
		if enc.Size() > dumpMaxMsg {
			// One row larger than a message: a message of its own, which
			// publish sends as fragments.
			buf = enc.Message(buf[:0], part, false, false)
			if err := publish(buf, 1); err != nil {
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
	if err := publish(enc.Message(buf[:0], part, true, false), enc.Rows()); err != nil {
		return err
	}
	recording := time.Now()
	defer func() {
		publishing += time.Since(recording) // not reading either
		w.recordNs.Add(int64(time.Since(recording)))
	}()
	return w.chunkDone(ctx, ref, n)
}

// chunkQuery reads one chunk of a table; where, when set, is the task's
// row condition (DM's mydumpers.*.where), ANDed with the chunk's range.
func chunkQuery(t *DumpTable, c DumpChunk, where string) (string, []any) {
	cols := make([]string, len(t.Schema.Columns))
	for i, col := range t.Schema.Columns {
		cols[i] = sqlgen.QuoteIdent(col.Name)
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + sqlgen.QuoteIdent(t.Schema.Schema) + "." + sqlgen.QuoteIdent(t.Schema.Name)
	var conds []string
	var args []any
	if where != "" {
		conds = append(conds, "("+where+")")
	}
	key := ""
	if t.KeyCol >= 0 {
		key = sqlgen.QuoteIdent(t.Schema.Columns[t.KeyCol].Name)
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
	// The client's default wait for the stream's confirmation (5 s) is
	// short for a server that fsyncs every message on a loaded host: a
	// publish that timed out restarted the dump and published its chunk
	// again.
	ctx, cancel := context.WithTimeout(ctx, dumpPublishWait)
	defer cancel()
	began := time.Now()
	for _, f := range frags {
		id := w.runID + "." + strconv.FormatInt(w.msgSeq.Add(1), 10)
		if err := inAttempts(ctx, dumpPublishAttempt, func(ctx context.Context) error {
			return w.d.queue.Publish(ctx, w.d.source, id, f)
		}); err != nil {
			return fmt.Errorf("publish chunk of %s.%s: %w", t.Schema, t.Name, err)
		}
	}
	now := time.Now()
	w.publishNs.Add(int64(now.Sub(began)))
	w.published.Add(1)
	w.firstPublished.CompareAndSwap(0, now.UnixNano())
	m := w.d.env.metrics()
	m.Rows(PhaseDump, dmnode.Insert.String(), int64(rows))
	m.Bytes(PhaseDump, int64(len(data)))
	return nil
}

// chunkDone records that chunk ref.n is in the stream, in its table's key.
func (w *dumpWriter) chunkDone(ctx context.Context, ref chunkRef, n int64) error {
	st := ref.state
	st.mu.Lock()
	defer st.mu.Unlock()
	t := *st.t
	t.Done = slices.Clone(t.Done)
	t.Epoch = w.d.env.Epoch
	t.markDone(ref.n, n)
	for range 3 {
		rev, err := w.d.env.Store.Save(ctx, st.key, &t, st.rev)
		if err == nil {
			st.t, st.rev = &t, rev
			w.chunksDone.Add(1)
			return nil
		}
		if !errors.Is(err, jetstream.ErrFenced) {
			return err
		}
		// Someone else wrote the key: merge with what it holds.
		var stored DumpTable
		if st.rev, err = w.d.env.Store.Load(ctx, st.key, &stored); err != nil {
			return err
		}
		if err := mergeChunkDone(&stored, ref.n, n, w.d.env.Epoch); err != nil {
			return err
		}
		t = stored
	}
	return fmt.Errorf("save checkpoint %s: written concurrently again and again: %w", st.key, jetstream.ErrFenced)
}

func (w *dumpWriter) report(ctx context.Context) {
	p := DumpProgress{Tables: len(w.tables), Updated: time.Now().UTC()}
	for _, st := range w.tables {
		st.mu.Lock()
		t := st.t
		st.mu.Unlock()
		done := t.ChunksDone()
		p.ChunksTotal += t.Chunks
		p.ChunksDone += done
		p.RowsDumped += t.Rows
		// A table's rows: as counted once it is dumped, else estimated.
		if done < t.Chunks {
			p.RowsTotal += max(t.Estimate, t.Rows)
		} else {
			p.RowsTotal += t.Rows
		}
	}
	if err := w.d.env.Store.Put(ctx, dumpProgKey(w.d.task, w.d.source), p); err != nil && ctx.Err() == nil {
		w.d.env.Log.Debug("report dump progress", "err", err)
	}
}
