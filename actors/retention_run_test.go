package actors

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/jetstream/memstore"
)

// The retention loop around the tailer, the purge of a removed source and
// the relay's time search, on the in-memory stores.

// around runs the tailer's loop until it ends: again after it stopped for
// room, its error as it is, the relay's figures reported meanwhile.
func TestRetentionAround(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	r := relayOf(t, st, "s", 100, 200, 300)
	k := retentionOn(st, r, pos("mysql-bin.000001", 150))
	k.src.From = config.DBConfig{Host: "127.0.0.1", Port: freePort(t), User: "dm"}
	runs := 0
	err := k.around(ctx, func(context.Context) error {
		runs++
		if runs == 1 {
			return errRelayFull
		}
		return nil
	}, func() dmnode.Position { return pos("mysql-bin.000001", 300) })
	if err != nil || runs != 2 {
		t.Fatalf("around: %v after %d runs; want nil after 2", err, runs)
	}
	if k.prog.Msgs != 3 || k.prog.Bytes == 0 {
		t.Errorf("relay measured %+v", k.prog)
	}

	// An error of the tail is returned as it is, also one that says the
	// binlog is gone when the source cannot be asked to confirm it.
	for _, want := range []error{errInjected, &mysql.MySQLError{Number: 1236, Message: "Could not find first log file name in binary log index file"}} {
		k := retentionOn(st, r, pos("mysql-bin.000001", 150))
		k.src.From = config.DBConfig{Host: "127.0.0.1", Port: freePort(t), User: "dm"}
		err := k.around(ctx, func(context.Context) error { return want }, func() dmnode.Position { return pos("mysql-bin.000001", 300) })
		if !errors.Is(err, want) || IsPermanent(err) {
			t.Errorf("around with the tail failing: %v, want %v", err, want)
		}
	}
	k.report(ctx)
	var p RelayProgress
	if _, err := st.Load(ctx, relayProgKey("s"), &p); err != nil || p.Msgs != 3 || p.Full {
		t.Errorf("relay progress %+v, %v", p, err)
	}
}

// Removing a source removes its relay and its tailer's keys; another
// source keeps its own.
func TestPurgeSource(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	relayOf(t, st, "s", 100, 200)
	relayOf(t, st, "s2", 100)
	for _, src := range []string{"s", "s2"} {
		for _, k := range []string{tailKey(src), tailProgKey(src), relayProgKey(src), relayStartKey(src)} {
			st.Put(ctx, k, 1)
		}
	}
	if err := PurgeSource(ctx, st, "s"); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"s", "s2"} {
		for _, k := range []string{tailKey(src), tailProgKey(src), relayProgKey(src), relayStartKey(src)} {
			if _, ok, _ := st.Get(ctx, k); ok != (src == "s2") {
				t.Errorf("key %s there: %v", k, ok)
			}
		}
		r, _ := st.Relay(ctx, src)
		info, err := r.Info(ctx)
		if err != nil || (info.Msgs == 0) != (src == "s") {
			t.Errorf("relay of %s after the purge of s: %+v, %v", src, info, err)
		}
	}
	st.Inject(memstore.Fault{Op: memstore.Delete, Nth: 1, Err: errInjected})
	if err := PurgeSource(ctx, st, "s2"); !errors.Is(err, errInjected) {
		t.Errorf("purge with the store failing: %v", err)
	}
}

// firstNewer finds the first message stored after a time.
func TestFirstNewer(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	before := time.Now().Add(-time.Hour)
	r := relayOf(t, st, "s", 100, 200, 300)
	var times []time.Time
	for seq := uint64(1); seq <= 3; seq++ {
		m, err := r.Get(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, m.Time)
	}
	for _, c := range []struct {
		at   time.Time
		want uint64
	}{{before, 1}, {times[2], 4}, {time.Now().Add(time.Hour), 4}, {times[0].Add(-time.Nanosecond), 1}} {
		if got, err := firstNewer(ctx, r, c.at); err != nil || got != c.want {
			t.Errorf("firstNewer(%v) = %d, %v; want %d", c.at, got, err, c.want)
		}
	}
}

// The message of a binlog lost before it was relayed names the way out,
// for each task on the source.
func TestLostBinlogErrorText(t *testing.T) {
	e := &LostBinlogError{Source: "s", Need: pos("mysql-bin.000004", 4), Oldest: "mysql-bin.000007", Tasks: []string{"a", "b"}, Err: errInjected}
	msg := e.Error()
	for _, want := range []string{"source s: binlog file mysql-bin.000004", "its oldest binlog is mysql-bin.000007",
		"dmnode task stop a;", "dmnode task delete b --purge;", "dmnode source remove s", "binlog_expire_logs_seconds"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if !errors.Is(e, errInjected) {
		t.Error("the cause is not wrapped")
	}
	bare := (&LostBinlogError{Source: "s", Need: pos("mysql-bin.000004", 4)}).Error()
	if !strings.Contains(bare, "dmnode task stop TASK;") || strings.Contains(bare, "oldest") {
		t.Errorf("without tasks or binlogs: %s", bare)
	}
	gap := (&RelayGapError{Task: "t", Source: "s", From: pos("mysql-bin.000001", 4), Start: pos("mysql-bin.000002", 4)}).Error()
	if !strings.Contains(gap, "task t needs the binlog of source s") {
		t.Errorf("relay gap: %s", gap)
	}
}

// The purge guard reads the source's binlogs and retention settings and
// says whether the binlog the tailer still needs is safe, at risk, or gone.
func TestCheckGuard(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	r := relayOf(t, st, "s", 100)
	k := retentionOn(st, r, pos("mysql-bin.000002", 150))
	if err := st.Put(ctx, tailKey("s"), TailCheckpoint{Pos: pos("mysql-bin.000002", 150)}); err != nil {
		t.Fatal(err)
	}
	db, mock := newSourceMock(t)
	k.srcDB = db
	logs := func(names ...string) *sqlmock.Rows {
		rs := sqlmock.NewRows([]string{"Log_name", "File_size"})
		for _, n := range names {
			rs.AddRow(n, "1000")
		}
		return rs
	}
	settings := func(expire string) {
		mock.ExpectQuery(q("SELECT @@GLOBAL.binlog_expire_logs_seconds")).WillReturnRows(sqlmock.NewRows([]string{"v"}).AddRow(expire))
		if expire == "0" {
			mock.ExpectQuery(q("SELECT @@GLOBAL.expire_logs_days")).WillReturnError(errors.New("unknown variable"))
		}
		mock.ExpectQuery(q("SELECT @@GLOBAL.max_binlog_total_size")).WillReturnError(errors.New("unknown variable"))
	}
	// The file needed is there, no expiry: safe.
	mock.ExpectQuery(q("SHOW BINARY LOGS")).WillReturnRows(logs("mysql-bin.000001", "mysql-bin.000002", "mysql-bin.000003"))
	settings("0")
	if err := k.checkGuard(ctx); err != nil {
		t.Fatal(err)
	}
	if g := k.prog.Guard; g.Lost || g.Warn || g.Oldest != "mysql-bin.000001" || g.Need != pos("mysql-bin.000002", 150) || g.Checked.IsZero() {
		t.Errorf("guard with the binlog there: %+v", g)
	}
	// The file needed was purged: lost.
	mock.ExpectQuery(q("SHOW BINARY LOGS")).WillReturnRows(logs("mysql-bin.000003"))
	settings("3600")
	if err := k.checkGuard(ctx); err != nil {
		t.Fatal(err)
	}
	if g := k.prog.Guard; !g.Lost || g.Oldest != "mysql-bin.000003" || g.ExpireSeconds != 3600 {
		t.Errorf("guard with the binlog gone: %+v", g)
	}
	mock.ExpectQuery(q("SHOW BINARY LOGS")).WillReturnError(errors.New("access denied"))
	if err := k.checkGuard(ctx); err == nil || !strings.Contains(err.Error(), "show binary logs") {
		t.Errorf("binlogs unreadable: %v", err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Error(err)
	}
	// No connection to the source: the error names it.
	k2 := retentionOn(st, r, pos("mysql-bin.000002", 150))
	k2.src.From = config.DBConfig{Host: "127.0.0.1", Port: freePort(t), User: "dm"}
	if err := k2.checkGuard(ctx); err == nil || !strings.Contains(err.Error(), "source s") {
		t.Errorf("source unreachable: %v", err)
	}
	if e, l := k2.retentionSettings(ctx); e != 0 || l != 0 {
		t.Errorf("settings of an unreachable source: %v, %d", e, l)
	}
}

// HoldReached: applied past the position, read beyond it, or an idle
// source whose heartbeat came after the position was asked.
func TestHoldReachedAndApplied(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	p := pos("mysql-bin.000001", 500)
	since := time.Now().Add(-time.Minute)
	for _, c := range []struct {
		name    string
		applied dmnode.Position
		beyond  bool
		tail    jetstream.TailProgress
		want    bool
	}{
		{"applied", pos("mysql-bin.000001", 500), false, jetstream.TailProgress{}, true},
		{"read beyond", pos("mysql-bin.000001", 100), true, jetstream.TailProgress{}, true},
		{"idle source", pos("mysql-bin.000001", 400), false,
			jetstream.TailProgress{Upstream: pos("mysql-bin.000001", 600), Published: pos("mysql-bin.000001", 400), CaughtUp: time.Now()}, true},
		{"heartbeat too old", pos("mysql-bin.000001", 400), false,
			jetstream.TailProgress{Upstream: pos("mysql-bin.000001", 600), Published: pos("mysql-bin.000001", 400), CaughtUp: since.Add(-time.Second)}, false},
		{"published not applied", pos("mysql-bin.000001", 300), false,
			jetstream.TailProgress{Upstream: pos("mysql-bin.000001", 600), Published: pos("mysql-bin.000001", 400), CaughtUp: time.Now()}, false},
	} {
		if err := st.Put(ctx, tailProgKey("s"), c.tail); err != nil {
			t.Fatal(err)
		}
		if got, err := HoldReached(ctx, st, "s", c.applied, p, c.beyond, since); err != nil || got != c.want {
			t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	if err := st.Put(ctx, applyProgKey("t", "s"), ApplyProgress{Applied: p}); err != nil {
		t.Fatal(err)
	}
	ap, tp, err := Applied(ctx, st, "t", "s")
	if err != nil || ap.Applied != p || tp.Published != pos("mysql-bin.000001", 400) {
		t.Errorf("Applied: %+v %+v %v", ap, tp, err)
	}
}
