package actors

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/config"
)

// feedParts applies a transaction sent in parts as the read loop does,
// each part a transaction's changes; the last ends at end. On errPieces it
// reads the sequence again from its start, as Run does.
func feedParts(ctx context.Context, r *applyRun, begin, end dmnode.Position, parts [][]dmnode.Change) error {
	for {
		err := feedPartsOnce(ctx, r, begin, end, parts)
		if !errors.Is(err, errPieces) {
			return err
		}
		r.abandonBig()
		r.lastEnd = r.applied
	}
}

func feedPartsOnce(ctx context.Context, r *applyRun, begin, end dmnode.Position, parts [][]dmnode.Change) error {
	r.big = &bigTxn{begin: begin}
	for i, cs := range parts {
		t := &dmnode.Txn{Changes: cs}
		last := i == len(parts)-1
		if last {
			t.End, t.Time = end, 9
		}
		if err := r.part(ctx, t, last); err != nil {
			return err
		}
	}
	return nil
}

// bigParts is a transaction of three parts of 1000 inserts into db.t.
func bigParts() [][]dmnode.Change {
	var parts [][]dmnode.Change
	for p := range 3 {
		var rows [][]any
		for i := range 1000 {
			rows = append(rows, loopRow(int64(1000*p+i), "v"))
		}
		parts = append(parts, []dmnode.Change{loopIns("t", rows...)})
	}
	return parts
}

// committedRows counts the rows the statements of commits write.
func committedRows(f *fakeTarget) (rows int, replace bool) {
	for _, s := range f.statements() {
		rows += strings.Count(s, "(?,?)")
		replace = replace || strings.HasPrefix(s, "REPLACE")
	}
	return rows, replace
}

// A transaction sent in parts commits whole: one target transaction with
// its rows and the checkpoint at its end.
func TestApplyPartsWhole(t *testing.T) {
	ctx := context.Background()
	f := newFakeTarget(t)
	r := ddlRun(t, f, ddlCatalog(), loopAt(0))
	begin := dmnode.Position{File: "bin.000001", Pos: 50}
	if err := feedParts(ctx, r, begin, loopAt(1), bigParts()); err != nil {
		t.Fatal(err)
	}
	rows, replace := committedRows(f)
	if len(f.commits) != 1 || f.checkpoint() != loopAt(1) || rows != 3000 || replace {
		t.Fatalf("%d commits of %d rows (replace %v), checkpoint %s; want one of 3000 inserts at %s", len(f.commits), rows, replace, f.checkpoint(), loopAt(1))
	}
	if r.applied != loopAt(1) || r.big != nil || !f.window.IsZero() {
		t.Fatalf("applied %s, sequence %v, window %s", r.applied, r.big, f.window)
	}
	// Read again (a rewind): applied before, passed over.
	if err := feedParts(ctx, r, begin, loopAt(1), bigParts()); err != nil || len(f.commits) != 1 {
		t.Fatalf("read again: %d commits, %v", len(f.commits), err)
	}
}

// When the target refuses the transaction for its size, nothing of it is
// written; the apply window is recorded at its first event and it is read
// again and written in pieces, in safe mode, the checkpoint with the last.
func TestApplyPartsTooLarge(t *testing.T) {
	ctx := context.Background()
	f := newFakeTarget(t)
	f.maxArgs = 2 * 2500 // rows of two columns
	r := ddlRun(t, f, ddlCatalog(), loopAt(0))
	begin := dmnode.Position{File: "bin.000001", Pos: 50}
	if err := feedParts(ctx, r, begin, loopAt(1), bigParts()); err != nil {
		t.Fatal(err)
	}
	if f.window != begin || r.safeUntil != begin || r.piecesAt != begin {
		t.Fatalf("window %s, safe until %s, pieces at %s; want %s", f.window, r.safeUntil, r.piecesAt, begin)
	}
	rows, replace := committedRows(f)
	if len(f.commits) < 2 || rows != 3000 || !replace || f.checkpoint() != loopAt(1) {
		t.Fatalf("%d commits of %d rows (replace %v), checkpoint %s; want pieces of 3000 rows in safe mode up to %s",
			len(f.commits), rows, replace, f.checkpoint(), loopAt(1))
	}
	for _, c := range f.commits[:len(f.commits)-1] {
		if !c.pos.IsZero() && c.pos != loopAt(0) {
			t.Fatalf("a piece moved the checkpoint to %s", c.pos)
		}
	}
	if r.applied != loopAt(1) || r.prog.PiecesTxns != 1 || r.prog.InPieces != "" || r.prog.PiecesLast != begin.String() {
		t.Fatalf("applied %s, progress %+v", r.applied, r.prog)
	}
	// Other transactions are written whole again.
	f.maxArgs = 0
	next := dmnode.Position{File: "bin.000001", Pos: 150}
	n := len(f.commits)
	if err := feedParts(ctx, r, next, loopAt(2), bigParts()); err != nil {
		t.Fatal(err)
	}
	if len(f.commits) != n+1 || f.checkpoint() != loopAt(2) {
		t.Fatalf("next transaction: %d commits, checkpoint %s; want one more at %s", len(f.commits)-n, f.checkpoint(), loopAt(2))
	}
}

// A refusal for size that comes only with the checkpoint, after every
// row was written into the transaction, is handled as one at the rows: the
// sequence is read again and written in pieces, every row of it (it is no
// replay for the resync state).
func TestApplyPartsRefusedAtCheckpoint(t *testing.T) {
	ctx := context.Background()
	f := newFakeTarget(t)
	f.refuseCheckpoint = true
	r := ddlRun(t, f, ddlCatalog(), loopAt(0))
	if err := r.openShard(ctx); err != nil {
		t.Fatal(err)
	}
	begin := dmnode.Position{File: "bin.000001", Pos: 50}
	if err := feedParts(ctx, r, begin, loopAt(1), bigParts()); err != nil {
		t.Fatal(err)
	}
	rows, replace := committedRows(f)
	if r.piecesAt != begin || rows != 3000 || !replace || f.checkpoint() != loopAt(1) {
		t.Fatalf("pieces at %s, %d commits of %d rows (replace %v), checkpoint %s; want pieces of 3000 rows in safe mode up to %s",
			r.piecesAt, len(f.commits), rows, replace, f.checkpoint(), loopAt(1))
	}
}

// With the task's safe mode the sequence is written idempotently, and the
// resync state (a quarantined table here) commits with its checkpoint.
func TestApplyPartsSafeModeAndState(t *testing.T) {
	ctx := context.Background()
	f := newFakeTarget(t)
	r := loopRun(t, f, config.SyncSettings{WorkerCount: 1, SafeMode: true}, loopAt(0), dmnode.Position{})
	r.shard = &shardState{Holds: map[string]*hold{quarantineKey("db.z"): {Target: "db.z", From: loopAt(5), Held: true}},
		targets: map[string]string{}, route: func(db, table string) string { return db + "." + table }}
	if err := feedParts(ctx, r, dmnode.Position{File: "bin.000001", Pos: 50}, loopAt(1), bigParts()); err != nil {
		t.Fatal(err)
	}
	if rows, replace := committedRows(f); rows != 3000 || !replace || len(f.commits) != 1 {
		t.Fatalf("%d commits of %d rows (replace %v); want one of 3000 in safe mode", len(f.commits), rows, replace)
	}
	if !strings.Contains(f.resync, `"target":"db.z"`) || !r.shard.written {
		t.Fatalf("resync state %q (written %v); want the quarantined table", f.resync, r.shard.written)
	}
}
