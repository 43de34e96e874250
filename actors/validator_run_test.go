package actors

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/jetstream/memstore"
)

// The continuous validator's reading of the relay, its comparison of a
// row on both sides (go-sqlmock source and target) and its saved state
// (the in-memory stores).

// valRunOn is a validator of task t (dumpTaskYAML), source s, in mode.
func valRunOn(t *testing.T, st *memstore.Store, mode string) (*valRun, sqlmock.Sqlmock, sqlmock.Sqlmock) {
	t.Helper()
	env := taskEnvAt(st, 1, catalog.StageSync, new([]catalog.Command))
	te, err := loadTask(env, "t", "s")
	if err != nil {
		t.Fatal(err)
	}
	sdb, smock := newSourceMock(t)
	tdb, tmock := newSourceMock(t)
	smock.MatchExpectationsInOrder(false)
	tmock.MatchExpectationsInOrder(false)
	r := &valRun{v: &Validator{env: env, task: "t", source: "s"}, te: te, set: config.ValidateSettings{Mode: mode},
		sdb: sdb, tdb: tdb, plans: map[string]*rules.TablePlan{}, upTables: map[dmnode.TableID]*schema.Table{},
		pending: map[string]*valRow{}}
	return r, smock, tmock
}

func insertT(id int64, v string) dmnode.Change {
	return dmnode.Change{Table: dmnode.TableID{Schema: "db", Table: "t"}, Columns: []string{"id", "v"}, Key: []int{0},
		Rows: []dmnode.RowChange{{Kind: dmnode.Insert, After: []any{id, v}}}}
}

// The validator reads batches and a transaction's part sequence from the
// relay: their rows become pending, the read position moves to their end.
func TestValidatorReadsMessages(t *testing.T) {
	ctx := t.Context()
	r, _, _ := valRunOn(t, memstore.New(), config.ValidateFull)
	end1 := dmnode.Position{File: "mysql-bin.000001", Pos: 200}
	data, err := jetstream.EncodeBatch(nil, &dmnode.Batch{Txns: []dmnode.Txn{{End: end1, Changes: []dmnode.Change{insertT(1, "a")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.message(ctx, jetstream.RelayHeaders{Last: true, End: end1}, data); err != nil {
		t.Fatal(err)
	}
	if len(r.pending) != 1 || r.read != end1 {
		t.Fatalf("after a batch: %d pending, read %s", len(r.pending), r.read)
	}
	// A big transaction in two parts, the second in fragments.
	begin := dmnode.Position{File: "mysql-bin.000001", Pos: 300}
	end2 := dmnode.Position{File: "mysql-bin.000001", Pos: 900}
	p0, _ := jetstream.EncodeTxnPart(nil, &dmnode.Txn{Changes: []dmnode.Change{insertT(2, "b")}})
	p1, _ := jetstream.EncodeTxnPart(nil, &dmnode.Txn{End: end2, Changes: []dmnode.Change{insertT(3, noise(3000))}})
	if err := r.message(ctx, jetstream.RelayHeaders{Part: true, Begin: begin, N: 0}, p0); err != nil {
		t.Fatal(err)
	}
	if r.read != end1 {
		t.Fatalf("read moved to %s before the transaction's last part", r.read)
	}
	frags, err := jetstream.Fragment(p1, 1024)
	if err != nil || len(frags) < 2 {
		t.Fatalf("fragments %d, %v", len(frags), err)
	}
	for i, f := range frags {
		h := jetstream.RelayHeaders{Part: true, Begin: begin, N: 1}
		if i == len(frags)-1 {
			h.Last, h.End = true, end2
		}
		if err := r.message(ctx, h, f); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.pending) != 3 || r.read != end2 {
		t.Fatalf("after the parts: %d pending, read %s", len(r.pending), r.read)
	}
	// Read again (a restart before the checkpoint): nothing changes.
	if err := r.message(ctx, jetstream.RelayHeaders{Last: true, End: end1}, data); err != nil || len(r.txns) != 2 {
		t.Fatalf("a batch read again: %v, %d transactions", err, len(r.txns))
	}
	// A DDL forgets the upstream schemas read.
	r.upTables[dmnode.TableID{Schema: "db", Table: "t"}] = &schema.Table{}
	end3 := dmnode.Position{File: "mysql-bin.000001", Pos: 1000}
	ddl, _ := jetstream.EncodeBatch(nil, &dmnode.Batch{Txns: []dmnode.Txn{{End: end3, Changes: []dmnode.Change{{DDL: "ALTER TABLE t ADD COLUMN w int", Table: dmnode.TableID{Schema: "db", Table: "t"}}}}}})
	if err := r.message(ctx, jetstream.RelayHeaders{Last: true, End: end3}, ddl); err != nil || len(r.upTables) != 0 {
		t.Fatalf("after a DDL: %v, %d schemas cached", err, len(r.upTables))
	}
	if err := r.message(ctx, jetstream.RelayHeaders{Last: true}, []byte{0xff}); err == nil || !IsPermanent(err) {
		t.Errorf("a broken batch: %v", err)
	}
}

// compare reads the row on both sides: equal, missing on the target,
// extra there, different, or nothing to compare when the source's table
// is gone.
func TestValidatorCompare(t *testing.T) {
	ctx := t.Context()
	tbl, _ := schema.ParseCreateTable("db", dumpCreates["t"])
	digest := RowDigestExpr(tbl.Columns)
	srcSel := q("SELECT " + digest + " FROM `db`.`t` WHERE `id` = ? LIMIT 1")
	create := func(m sqlmock.Sqlmock) {
		m.ExpectQuery(q("SHOW CREATE TABLE `db`.`t`")).WillReturnRows(sqlmock.NewRows([]string{"Table", "Create Table"}).AddRow("t", dumpCreates["t"]))
	}
	row := func(v string) *sqlmock.Rows {
		rs := sqlmock.NewRows([]string{"d"})
		if v != "" {
			rs.AddRow(v)
		}
		return rs
	}
	noTable := &mysql.MySQLError{Number: 1146, Message: "Table doesn't exist"}
	for _, c := range []struct {
		name     string
		mode     string
		src, dst func(sqlmock.Sqlmock)
		kind     string
		err      string
	}{
		{"equal", config.ValidateFull, func(m sqlmock.Sqlmock) {
			create(m)
			m.ExpectQuery(srcSel).WithArgs(int64(1)).WillReturnRows(row("d1"))
		}, func(m sqlmock.Sqlmock) { m.ExpectQuery(srcSel).WithArgs(int64(1)).WillReturnRows(row("d1")) }, "", ""},
		{"different", config.ValidateFull, func(m sqlmock.Sqlmock) {
			create(m)
			m.ExpectQuery(srcSel).WillReturnRows(row("d1"))
		}, func(m sqlmock.Sqlmock) { m.ExpectQuery(srcSel).WillReturnRows(row("d2")) }, ValidationDifferent, ""},
		{"missing", config.ValidateFull, func(m sqlmock.Sqlmock) {
			create(m)
			m.ExpectQuery(srcSel).WillReturnRows(row("d1"))
		}, func(m sqlmock.Sqlmock) { m.ExpectQuery(srcSel).WillReturnRows(row("")) }, ValidationMissing, ""},
		{"target table missing", config.ValidateFull, func(m sqlmock.Sqlmock) {
			create(m)
			m.ExpectQuery(srcSel).WillReturnRows(row("d1"))
		}, func(m sqlmock.Sqlmock) { m.ExpectQuery(srcSel).WillReturnError(noTable) }, ValidationMissing, ""},
		{"extra", config.ValidateFull, func(m sqlmock.Sqlmock) {
			create(m)
			m.ExpectQuery(srcSel).WillReturnRows(row(""))
		}, func(m sqlmock.Sqlmock) { m.ExpectQuery(srcSel).WillReturnRows(row("d1")) }, ValidationExtra, ""},
		{"gone on both sides", config.ValidateFull, func(m sqlmock.Sqlmock) {
			create(m)
			m.ExpectQuery(srcSel).WillReturnRows(row(""))
		}, func(m sqlmock.Sqlmock) { m.ExpectQuery(srcSel).WillReturnRows(row("")) }, "", ""},
		{"source table dropped", config.ValidateFull, func(m sqlmock.Sqlmock) {
			m.ExpectQuery(q("SHOW CREATE TABLE `db`.`t`")).WillReturnError(noTable)
		}, func(sqlmock.Sqlmock) {}, "", ""},
		{"fast: presence only", config.ValidateFast, func(m sqlmock.Sqlmock) {
			create(m)
			m.ExpectQuery(q("SELECT 1 FROM `db`.`t` WHERE `id` = ? LIMIT 1")).WillReturnRows(row("1"))
		}, func(m sqlmock.Sqlmock) {
			m.ExpectQuery(q("SELECT 1 FROM `db`.`t` WHERE `id` = ? LIMIT 1")).WillReturnRows(row("1"))
		}, "", ""},
		{"target unreadable", config.ValidateFull, func(m sqlmock.Sqlmock) {
			create(m)
			m.ExpectQuery(srcSel).WillReturnRows(row("d1"))
		}, func(m sqlmock.Sqlmock) { m.ExpectQuery(srcSel).WillReturnError(errors.New("connection reset")) }, "", "read target db.t"},
		{"source unreadable", config.ValidateFull, func(m sqlmock.Sqlmock) {
			create(m)
			m.ExpectQuery(srcSel).WillReturnError(errors.New("connection reset"))
		}, func(sqlmock.Sqlmock) {}, "", "read source db.t"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, smock, tmock := valRunOn(t, memstore.New(), c.mode)
			if err := r.txn(ctx, []dmnode.Change{insertT(1, "a")}, dmnode.Position{File: "mysql-bin.000001", Pos: 200}); err != nil {
				t.Fatal(err)
			}
			var row *valRow
			for _, p := range r.pending {
				row = p
			}
			c.src(smock)
			c.dst(tmock)
			kind, err := r.compare(ctx, row)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("compare: %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || kind != c.kind {
				t.Fatalf("compare: %q, %v; want %q", kind, err, c.kind)
			}
			if err := smock.ExpectationsWereMet(); err != nil {
				t.Error(err)
			}
			if err := tmock.ExpectationsWereMet(); err != nil {
				t.Error(err)
			}
		})
	}
}

// flush saves the position, the counts and what was found, and picks up
// a validation stop asked meanwhile.
func TestValidatorFlush(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	r, _, _ := valRunOn(t, st, config.ValidateFull)
	end := dmnode.Position{File: "mysql-bin.000001", Pos: 200}
	if err := r.txn(ctx, []dmnode.Change{insertT(1, "a"), insertT(2, "b")}, end); err != nil {
		t.Fatal(err)
	}
	for _, p := range r.pending {
		if p.upKey[0] == int64(1) {
			r.checked++
			r.done(p)
		}
	}
	r.found = []ValidationError{{Kind: ValidationMissing, Table: "`db`.`t`", Target: "`db`.`t`", Key: []string{"id=2"}, Position: end}}
	r.skipped = 3
	if err := r.flush(ctx); err != nil {
		t.Fatal(err)
	}
	var s ValidatorState
	if _, err := st.Load(ctx, ValidatorKey("t", "s"), &s); err != nil {
		t.Fatal(err)
	}
	if s.Checked != 1 || s.Skipped != 3 || s.Pending != 1 || s.Read != end || s.Mode != config.ValidateFull || !s.Position.IsZero() {
		t.Errorf("state %+v", s)
	}
	if r.checked != 0 || r.found != nil || r.dirty {
		t.Errorf("counts not reset after the flush")
	}
	// validation stop, then a flush with nothing new.
	if _, err := UpdateValidatorState(ctx, st, "t", "s", func(s *ValidatorState) error { s.Stopped = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := r.flush(ctx); err != nil || !r.stopped || r.reading() {
		t.Fatalf("after validation stop: %v, stopped %v, reading %v", err, r.stopped, r.reading())
	}
	st.Inject(memstore.Fault{Op: memstore.Load, Nth: 1, Err: errInjected})
	if err := r.flush(ctx); !errors.Is(err, errInjected) {
		t.Errorf("flush with the store failing: %v", err)
	}
}

const valTaskYAML = `name: t
task-mode: all
target-database: {host: 127.0.0.1, port: 4000, user: root, password: ""}
mysql-instances:
  - source-id: s
    block-allow-list: only
    validator-config-name: v
block-allow-list:
  only:
    do-dbs: [db]
validators:
  v:
    mode: full
    worker-count: 1
    row-error-delay: 1ms
    check-interval: 1ms
`

// The validator's run: it reads the relay from the task's start, compares
// each changed row once the applier's checkpoint on the target passed it,
// reports a row that stays missing on the target, moves its position past
// what it settled and saves its state.
func TestValidatorRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st := memstore.New()
	env := taskEnvAt(st, 1, catalog.StageSync, new([]catalog.Command))
	start := dmnode.Position{File: "mysql-bin.000001", Pos: 4}
	env.Catalog().Tasks["t"] = &catalog.Task{Name: "t", File: "t.yaml", YAML: valTaskYAML, Mode: "all",
		Sources: map[string]*catalog.TaskSource{"s": {Stage: catalog.StageSync, Start: start}}}
	end := dmnode.Position{File: "mysql-bin.000001", Pos: 300}
	r, _ := st.Relay(ctx, "s")
	b := dmnode.Batch{Txns: []dmnode.Txn{{End: end, Time: 1, Changes: []dmnode.Change{insertT(1, "a"), insertT(2, "b")}}}}
	data, err := jetstream.EncodeBatch(nil, &b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(ctx, data, jetstream.BatchHeaders(&b), 0); err != nil {
		t.Fatal(err)
	}

	sdb, smock, tdb, tmock, sel := valMocks(t)
	digest := func(v string) *sqlmock.Rows {
		rs := sqlmock.NewRows([]string{"d"})
		if v != "" {
			rs.AddRow(v)
		}
		return rs
	}
	// Row 1 is equal on both sides; row 2 is missing on the target, every
	// time it is compared.
	smock.ExpectQuery(sel).WithArgs(int64(1)).WillReturnRows(digest("d1"))
	tmock.ExpectQuery(sel).WithArgs(int64(1)).WillReturnRows(digest("d1"))
	for range 2 {
		smock.ExpectQuery(sel).WithArgs(int64(2)).WillReturnRows(digest("d2"))
		tmock.ExpectQuery(sel).WithArgs(int64(2)).WillReturnRows(digest(""))
	}
	s := runValidatorTo(ctx, t, env, st, sdb, tdb, tmock, end)
	if s.Position != end || s.Read != end || s.Checked != 1 || s.Pending != 0 || s.Mode != config.ValidateFull {
		t.Fatalf("state %+v", s)
	}
	if len(s.Errors) != 1 || s.Errors[0].Kind != ValidationMissing || s.Errors[0].Key[0] != "id=2" || s.Errors[0].Position != end {
		t.Fatalf("errors %+v", s.Errors)
	}
	if err := smock.ExpectationsWereMet(); err != nil {
		t.Error(err)
	}
}

// Binlog the relay purged before the validator read it (the retention
// follows the appliers) is counted in its state with where it ended, and
// validation status shows it: its rows were not compared. The rest is
// compared as usual.
func TestValidatorCountsGaps(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st := memstore.New()
	env := taskEnvAt(st, 1, catalog.StageSync, new([]catalog.Command))
	env.Catalog().Tasks["t"] = &catalog.Task{Name: "t", File: "t.yaml", YAML: valTaskYAML, Mode: "all",
		Sources: map[string]*catalog.TaskSource{"s": {Stage: catalog.StageSync, Start: dmnode.Position{File: "mysql-bin.000001", Pos: 4}}}}
	r, _ := st.Relay(ctx, "s")
	last, ends := publishInserts(ctx, t, r, 1, 2)
	end := ends[1]
	// The retention purges the first batch and records where the relay
	// now starts, as it does for the appliers.
	purgedTo := dmnode.Position{File: "mysql-bin.000001", Pos: 200}
	if err := st.Put(ctx, relayStartKey("s"), purgedTo); err != nil {
		t.Fatal(err)
	}
	if err := r.PurgeBelow(ctx, last); err != nil {
		t.Fatal(err)
	}

	sdb, smock, tdb, tmock, sel := valMocks(t)
	smock.ExpectQuery(sel).WithArgs(int64(2)).WillReturnRows(sqlmock.NewRows([]string{"d"}).AddRow("d2"))
	tmock.ExpectQuery(sel).WithArgs(int64(2)).WillReturnRows(sqlmock.NewRows([]string{"d"}).AddRow("d2"))
	s := runValidatorTo(ctx, t, env, st, sdb, tdb, tmock, end)
	if s.Position != end || s.Checked != 1 || s.Gaps != 1 || s.GapEnd != purgedTo || len(s.Errors) != 0 {
		t.Fatalf("state %+v", s)
	}
}

// A purge that overtakes the validator while it reads is counted too: its
// reader finds the next message past a gap, and the relay's recorded start
// says where the gap ended. (The retention records the start before it
// purges; here the cursor drops the first message as such a purge would,
// recording the start as it does, after the validator's own start-time
// check found nothing missing.)
func TestValidatorCountsGapWhileReading(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st := memstore.New()
	r, _ := st.Relay(ctx, "s")
	_, ends := publishInserts(ctx, t, r, 1, 2)
	purging := &purgingStore{Store: st, drop: 1, start: ends[0]}
	env := taskEnvAt(st, 1, catalog.StageSync, new([]catalog.Command))
	env.Store = purging
	env.Catalog().Tasks["t"] = &catalog.Task{Name: "t", File: "t.yaml", YAML: valTaskYAML, Mode: "all",
		Sources: map[string]*catalog.TaskSource{"s": {Stage: catalog.StageSync, Start: dmnode.Position{File: "mysql-bin.000001", Pos: 4}}}}

	sdb, smock, tdb, tmock, sel := valMocks(t)
	smock.ExpectQuery(sel).WithArgs(int64(2)).WillReturnRows(sqlmock.NewRows([]string{"d"}).AddRow("d2"))
	tmock.ExpectQuery(sel).WithArgs(int64(2)).WillReturnRows(sqlmock.NewRows([]string{"d"}).AddRow("d2"))
	s := runValidatorTo(ctx, t, env, st, sdb, tdb, tmock, ends[1])
	if !purging.dropped.Load() {
		t.Fatal("the validator never read past the purged message")
	}
	if s.Position != ends[1] || s.Checked != 1 || s.Gaps != 1 || s.GapEnd != ends[0] || len(s.Errors) != 0 {
		t.Fatalf("state %+v", s)
	}
}

// publishInserts publishes to r one batch per id, each a transaction
// inserting that id into db.t and ending 100 bytes after the one before
// (the first at 200); it returns the last sequence and the ends.
func publishInserts(ctx context.Context, t *testing.T, r jetstream.Relay, ids ...int64) (last uint64, ends []dmnode.Position) {
	t.Helper()
	for i, id := range ids {
		end := dmnode.Position{File: "mysql-bin.000001", Pos: uint32(200 + 100*i)}
		b := dmnode.Batch{Txns: []dmnode.Txn{{End: end, Time: 1, Changes: []dmnode.Change{insertT(id, "v")}}}}
		data, err := jetstream.EncodeBatch(nil, &b)
		if err != nil {
			t.Fatal(err)
		}
		if last, err = r.Publish(ctx, data, jetstream.BatchHeaders(&b), last); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, end)
	}
	return last, ends
}

// purgingStore is a store whose relay readers never see message drop: the
// first reader to pass it records start as the relay's start first, as
// the retention does before it purges.
type purgingStore struct {
	*memstore.Store
	drop    uint64
	start   dmnode.Position
	dropped atomic.Bool
}

func (p *purgingStore) Relay(ctx context.Context, source string) (jetstream.Relay, error) {
	r, err := p.Store.Relay(ctx, source)
	return purgingRelay{Relay: r, p: p}, err
}

type purgingRelay struct {
	jetstream.Relay
	p *purgingStore
}

func (r purgingRelay) Read(ctx context.Context, from uint64) (jetstream.RelayCursor, error) {
	cur, err := r.Relay.Read(ctx, from)
	return &purgingCursor{RelayCursor: cur, p: r.p, source: r.Source()}, err
}

type purgingCursor struct {
	jetstream.RelayCursor
	p      *purgingStore
	source string
}

func (c *purgingCursor) Next(wait time.Duration) (jetstream.RelayMsg, uint64, bool, error) {
	m, pending, ok, err := c.RelayCursor.Next(wait)
	if ok && m.Seq == c.p.drop {
		if err := c.p.Put(context.Background(), relayStartKey(c.source), c.p.start); err != nil {
			return m, pending, false, err
		}
		c.p.dropped.Store(true)
		return c.RelayCursor.Next(wait)
	}
	return m, pending, ok, err
}

// runValidatorTo runs the validator of task t and source s on sdb and tdb,
// with the applier's checkpoint on the target at end, until its saved
// position reaches end (or ctx ends); then stops it and returns its state.
func runValidatorTo(ctx context.Context, t *testing.T, env Env, st *memstore.Store, sdb, tdb *sql.DB, tmock sqlmock.Sqlmock, end dmnode.Position) ValidatorState {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range 50 {
		tmock.ExpectQuery(q("SELECT binlog_file, binlog_pos, binlog_gtid FROM dmnode_meta.checkpoint WHERE task = ? AND source = ?")).
			WithArgs("t", "s").WillReturnRows(sqlmock.NewRows([]string{"f", "p", "g"}).AddRow(end.File, end.Pos, nil))
	}
	oldS, oldT := valOpenSource, valOpenTarget
	valOpenSource = func(context.Context, config.DBConfig, int) (*sql.DB, error) { return sdb, nil }
	valOpenTarget = func(context.Context, config.DBConfig, int) (*sql.DB, error) { return tdb, nil }
	defer func() { valOpenSource, valOpenTarget = oldS, oldT }()

	done := make(chan error, 1)
	go func() { done <- (&Validator{env: env, task: "t", source: "s"}).Run(ctx) }()
	var s ValidatorState
	for {
		if _, err := st.Load(ctx, ValidatorKey("t", "s"), &s); err != nil {
			t.Fatal(err)
		}
		if s.Position == end || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return s
}

// valMocks are a source and a target for a validator's run over db.t: the
// source answers db.t's definition; sel is the query of one row's digest,
// on either side.
func valMocks(t *testing.T) (sdb *sql.DB, smock sqlmock.Sqlmock, tdb *sql.DB, tmock sqlmock.Sqlmock, sel string) {
	t.Helper()
	sdb, smock = newSourceMock(t)
	tdb, tmock = newSourceMock(t)
	smock.MatchExpectationsInOrder(false)
	tmock.MatchExpectationsInOrder(false)
	tbl, _ := schema.ParseCreateTable("db", dumpCreates["t"])
	sel = q("SELECT " + RowDigestExpr(tbl.Columns) + " FROM `db`.`t` WHERE `id` = ? LIMIT 1")
	smock.ExpectQuery(q("SHOW CREATE TABLE `db`.`t`")).WillReturnRows(sqlmock.NewRows([]string{"Table", "Create Table"}).AddRow("t", dumpCreates["t"]))
	return sdb, smock, tdb, tmock, sel
}
