package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/jetstream/memstore"
)

// Applier.Run whole, on the fake Target (applyloop_test.go) and the
// in-memory stores: its start-up (StartTarget) and the read loop after
// it. No MariaDB, no NATS.

// fakeStarts opens sessions on one fake target, as successive
// incarnations would, and keeps what outlives them: the fence and the
// start-up calls.
type fakeStarts struct {
	f *fakeTarget
	// fence is the epoch that holds the target fence.
	fence uint64
	// calls are the StartTarget calls of every session, in order.
	calls  []string
	closed int
	// hang makes the next ClaimFence wait until its context ends, as a
	// call to a server that never answers would.
	hang bool
	// deadline is the shortest time left to a ClaimFence's deadline.
	deadline time.Duration
}

func (s *fakeStarts) open(ctx context.Context, spec targetSpec) (TargetSession, error) {
	s.f.rules = spec.Rules
	return &fakeSession{fakeTarget: s.f, starts: s, epoch: spec.Epoch}, nil
}

// fakeSession is one incarnation's session on the fake target.
type fakeSession struct {
	*fakeTarget
	starts *fakeStarts
	epoch  uint64
}

func (s *fakeSession) Prepare(ctx context.Context) error {
	s.starts.calls = append(s.starts.calls, "prepare")
	return nil
}

func (s *fakeSession) ClaimFence(ctx context.Context) error {
	s.starts.calls = append(s.starts.calls, "fence")
	if dl, ok := ctx.Deadline(); ok && (s.starts.deadline == 0 || time.Until(dl) < s.starts.deadline) {
		s.starts.deadline = time.Until(dl)
	}
	if s.starts.hang {
		s.starts.hang = false
		<-ctx.Done()
		return fmt.Errorf("claim target fence: %w", ctx.Err())
	}
	if s.starts.fence > s.epoch {
		return fmt.Errorf("target fence held by epoch %d, this incarnation has %d: %w", s.starts.fence, s.epoch, jetstream.ErrFenced)
	}
	s.starts.fence = s.epoch
	return nil
}

func (s *fakeSession) Checkpoint(ctx context.Context) (dmnode.Position, error) {
	s.starts.calls = append(s.starts.calls, "checkpoint")
	return s.checkpoint(), nil
}

func (s *fakeSession) ApplyWindow(ctx context.Context) (dmnode.Position, error) {
	s.starts.calls = append(s.starts.calls, "window")
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.window, nil
}

func (s *fakeSession) Rewind() { s.ForgetAll() }

func (s *fakeSession) Close() error {
	s.starts.closed++
	return nil
}

// startAt is the task's start position in the catalog.
var startAt = dmnode.Position{File: "bin.000001", Pos: 4}

// startEnv is task t's applier of source s at epoch, in stage sync from
// startAt, on st.
func startEnv(st *memstore.Store, epoch uint64) Env {
	env := taskEnvAt(st, epoch, catalog.StageSync, new([]catalog.Command))
	env.Catalog().Tasks["t"].Sources["s"].Start = startAt
	return env
}

// relayBatch publishes txns to the relay of source s as one batch.
func relayBatch(t *testing.T, st *memstore.Store, txns ...dmnode.Txn) {
	t.Helper()
	b := dmnode.Batch{Txns: txns}
	data, err := jetstream.EncodeBatch(nil, &b)
	if err != nil {
		t.Fatal(err)
	}
	relayPublish(t, st, data, jetstream.BatchHeaders(&b))
}

// relayParts publishes a transaction that begins at begin and ends at
// end to the relay of source s as a part sequence, one part per element
// of parts.
func relayParts(t *testing.T, st *memstore.Store, begin, end dmnode.Position, parts [][]dmnode.Change) {
	t.Helper()
	for i, cs := range parts {
		txn := &dmnode.Txn{Changes: cs}
		var last *dmnode.Txn
		if i == len(parts)-1 {
			txn.End, txn.Time = end, 9
			last = txn
		}
		data, err := jetstream.EncodeTxnPart(nil, txn)
		if err != nil {
			t.Fatal(err)
		}
		relayPublish(t, st, data, jetstream.PartHeaders(begin, i, last))
	}
}

func relayPublish(t *testing.T, st *memstore.Store, data []byte, h jetstream.Header) {
	t.Helper()
	r, err := st.Relay(t.Context(), "s")
	if err != nil {
		t.Fatal(err)
	}
	last, _, err := r.Last(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(t.Context(), data, h, last.Seq); err != nil {
		t.Fatal(err)
	}
}

// runApplier runs task t's applier of source s at epoch on the fake
// target until the target's checkpoint reaches until, and returns what
// Run returned. A run that stops short of it fails the test (after a
// generous deadline, so that a broken loop does not hang the suite).
func runApplier(t *testing.T, st *memstore.Store, s *fakeStarts, epoch uint64, until dmnode.Position) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s.f.afterCommit = func(pos dmnode.Position) {
		if pos.Compare(until) >= 0 {
			cancel()
		}
	}
	defer func() { s.f.afterCommit = nil }()
	a := &Applier{env: startEnv(st, epoch), task: "t", source: "s", open: s.open}
	err := a.Run(ctx)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("the applier did not reach %s: the target's checkpoint is %s (Run: %v)", until, s.f.checkpoint(), err)
	}
	return err
}

// rowTxn is a transaction inserting row id into db.t with value v,
// ending at loopAt(n).
func rowTxn(n int, id int64, v string) dmnode.Txn {
	return dmnode.Txn{Changes: []dmnode.Change{loopIns("t", loopRow(id, v))}, End: loopAt(n), Time: uint32(n)}
}

// An incarnation whose epoch is older than the one holding the target
// fence stops with ErrFenced before it reads the checkpoint; nothing is
// written, the session is closed.
func TestApplyStartFenced(t *testing.T) {
	st := memstore.New()
	relayBatch(t, st, rowTxn(1, 1, "v1"))
	s := &fakeStarts{f: newFakeTarget(t), fence: 5}
	err := runApplier(t, st, s, 3, loopAt(1))
	if !errors.Is(err, jetstream.ErrFenced) {
		t.Fatalf("Run at epoch 3 under fence 5: %v, want ErrFenced", err)
	}
	if want := []string{"prepare", "fence"}; !slices.Equal(s.calls, want) || len(s.f.commits) != 0 || s.closed != 1 {
		t.Fatalf("calls %v, %d commits, closed %d; want %v, none, closed once", s.calls, len(s.f.commits), s.closed, want)
	}
	if s.fence != 5 {
		t.Fatalf("fence %d, want 5 kept", s.fence)
	}
}

// An incarnation resumes after the target's checkpoint, one in the
// middle of a relay message included; without a checkpoint it starts at
// the task's start. It claims the fence for its epoch before it reads
// the checkpoint.
func TestApplyStartResumes(t *testing.T) {
	st := memstore.New()
	relayBatch(t, st, rowTxn(1, 1, "v1"), rowTxn(2, 2, "v2"))
	relayBatch(t, st, rowTxn(3, 3, "v3"), rowTxn(4, 4, "v4"))
	relayBatch(t, st, rowTxn(5, 5, "v5"))
	for _, tc := range []struct {
		name string
		from dmnode.Position // the target's checkpoint; zero: none
		want []string        // the values written
	}{
		{"no checkpoint", dmnode.Position{}, []string{"v1", "v2", "v3", "v4", "v5"}},
		{"checkpoint inside a message", loopAt(3), []string{"v4", "v5"}},
		{"checkpoint at a message's end", loopAt(4), []string{"v5"}},
	} {
		s := &fakeStarts{f: newFakeTarget(t), fence: 1}
		if !tc.from.IsZero() {
			s.f.commits = []fakeCommit{{pos: tc.from}}
		}
		if err := runApplier(t, st, s, 2, loopAt(5)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if want := []string{"prepare", "fence", "checkpoint", "window"}; !slices.Equal(s.calls, want) || s.fence != 2 || s.closed != 1 {
			t.Fatalf("%s: calls %v, fence %d, closed %d; want %v, fence 2, closed once", tc.name, s.calls, s.fence, s.closed, want)
		}
		stmts := strings.Join(s.f.statements(), "\n")
		var got []string
		for i := 1; i <= 5; i++ {
			if v := fmt.Sprintf("v%d", i); strings.Contains(stmts, v) {
				got = append(got, v)
			}
		}
		if !slices.Equal(got, tc.want) || strings.Contains(stmts, "REPLACE") || s.f.checkpoint() != loopAt(5) {
			t.Fatalf("%s: wrote %v, checkpoint %s:\n%s\nwant %v inserted, checkpoint %s", tc.name, got, s.f.checkpoint(), stmts, tc.want, loopAt(5))
		}
	}
}

// An apply window past the checkpoint names a transaction the target
// refused whole before the restart: the next incarnation writes it in
// pieces, in safe mode, the checkpoint after the last piece, without first
// trying it whole; what follows it is written as usual.
func TestApplyStartWindowInPieces(t *testing.T) {
	st := memstore.New()
	begin := dmnode.Position{File: "bin.000001", Pos: 150}
	relayBatch(t, st, rowTxn(1, 9001, "before"))
	relayParts(t, st, begin, loopAt(2), bigParts())
	relayBatch(t, st, rowTxn(3, 9002, "after"))
	s := &fakeStarts{f: newFakeTarget(t), fence: 1}
	s.f.commits = []fakeCommit{{pos: loopAt(1)}}
	s.f.window = begin
	if err := runApplier(t, st, s, 2, loopAt(3)); err != nil {
		t.Fatal(err)
	}
	commits := s.f.commits[1:]
	var pieces []fakeCommit
	for _, c := range commits {
		if strings.Contains(strings.Join(c.stmts, "\n"), "REPLACE INTO `db`.`t`") {
			pieces = append(pieces, c)
		}
	}
	if len(pieces) < 2 {
		t.Fatalf("the transaction in %d target transactions, want pieces: %+v", len(pieces), commits)
	}
	rows := 0
	for i, c := range pieces {
		for _, q := range c.stmts {
			rows += strings.Count(q, "(?,?)")
		}
		if c.pos != loopAt(1) {
			t.Fatalf("piece %d moved the checkpoint to %s", i, c.pos)
		}
	}
	if rows != 3000 || len(commits) != len(pieces)+2 || commits[len(pieces)].pos != loopAt(2) {
		t.Fatalf("pieces of %d rows, then %+v; want 3000 rows, then the checkpoint %s", rows, commits[len(pieces):], loopAt(2))
	}
	last := commits[len(commits)-1]
	if q := strings.Join(last.stmts, "\n"); last.pos != loopAt(3) || !strings.HasPrefix(q, "INSERT INTO `db`.`t`") || !strings.Contains(q, "after") {
		t.Fatalf("after the pieces: %+v, want the next transaction inserted at %s", last, loopAt(3))
	}
	if all := strings.Join(s.f.statements(), "\n"); strings.Contains(all, "before") {
		t.Fatalf("the transaction before the checkpoint was written again:\n%s", all)
	}
}

// A start whose call never returns fails after applyStartTimeout, naming
// the step it waited in, with its session closed; the next start (the
// host's retry) applies.
func TestApplyStartHangs(t *testing.T) {
	defer func(d time.Duration) { applyStartTimeout = d }(applyStartTimeout)
	applyStartTimeout = 100 * time.Millisecond
	st := memstore.New()
	relayBatch(t, st, rowTxn(1, 1, "v1"))
	s := &fakeStarts{f: newFakeTarget(t), hang: true}
	err := runApplier(t, st, s, 3, loopAt(1))
	if err == nil || !strings.Contains(err.Error(), "applier start: claiming the target's fence and reading its checkpoint did not finish within 100ms") {
		t.Fatalf("Run whose fence claim hangs: %v", err)
	}
	if want := []string{"prepare", "fence"}; !slices.Equal(s.calls, want) || len(s.f.commits) != 0 || s.closed != 1 {
		t.Fatalf("calls %v, %d commits, closed %d; want %v, none, closed once", s.calls, len(s.f.commits), s.closed, want)
	}
	// The start's bound is a cancellation, not a deadline: a JetStream
	// call under a context with a deadline waits for all of it instead of
	// its own few seconds. (runApplier's own minute is the only one.)
	if s.deadline != 0 && s.deadline < 30*time.Second {
		t.Fatalf("the start's calls had a deadline %v away", s.deadline)
	}
	applyStartTimeout = time.Minute
	if err := runApplier(t, st, s, 3, loopAt(1)); err != nil {
		t.Fatalf("the start after the hang: %v", err)
	}
	if stmts := strings.Join(s.f.statements(), "\n"); !strings.Contains(stmts, "v1") || s.f.checkpoint() != loopAt(1) || s.closed != 2 {
		t.Fatalf("after the retried start: checkpoint %s, closed %d:\n%s", s.f.checkpoint(), s.closed, stmts)
	}
}
