package actors

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode"
)

func pos(file string, p uint32) dmnode.Position { return dmnode.Position{File: file, Pos: p} }

func TestPurgeTarget(t *testing.T) {
	for _, c := range []struct {
		name                     string
		first, last, need, young uint64
		want                     uint64
	}{
		{"the oldest task needs message 40", 10, 100, 40, 0, 40},
		{"no task needs anything: all but the last message", 10, 100, 101, 0, 100},
		{"a task needs the first message: nothing", 10, 100, 10, 0, 0},
		{"a task needs from before the first message: nothing", 10, 100, 5, 0, 0},
		{"one message, needed by no task: it stays", 7, 7, 8, 0, 0},
		{"expires keeps what is younger", 10, 100, 90, 60, 60},
		{"expires does not free what a task needs", 10, 100, 30, 60, 30},
		{"everything is younger than expires", 10, 100, 101, 10, 0},
	} {
		if got := purgeTarget(c.first, c.last, c.need, c.young); got != c.want {
			t.Errorf("%s: purgeTarget(%d, %d, %d, %d) = %d, want %d", c.name, c.first, c.last, c.need, c.young, got, c.want)
		}
	}
}

func TestOldestNeed(t *testing.T) {
	for _, c := range []struct {
		name  string
		needs []taskNeed
		tail  dmnode.Position
		want  dmnode.Position
		by    string
		hold  bool
	}{
		{name: "no task", want: dmnode.Position{}},
		{
			name:  "the task furthest behind holds the relay",
			needs: []taskNeed{{Task: "a", Pos: pos("bin.000003", 400)}, {Task: "b", Pos: pos("bin.000002", 900)}, {Task: "c", Pos: pos("bin.000010", 4)}},
			want:  pos("bin.000002", 900), by: "task b",
		},
		{
			name:  "files compare by number, not by text",
			needs: []taskNeed{{Task: "a", Pos: pos("bin.000010", 4)}, {Task: "b", Pos: pos("bin.000009", 800)}},
			want:  pos("bin.000009", 800), by: "task b",
		},
		{
			name:  "tasks caught up: the tailer's checkpoint holds what follows it",
			needs: []taskNeed{{Task: "a", Pos: pos("bin.000003", 400)}},
			tail:  pos("bin.000003", 300),
			want:  pos("bin.000003", 300), by: "the tailer's checkpoint",
		},
		{
			name: "no task: the tailer's checkpoint",
			tail: pos("bin.000003", 300),
			want: pos("bin.000003", 300), by: "the tailer's checkpoint",
		},
		{
			name:  "a task behind the tailer",
			needs: []taskNeed{{Task: "a", Pos: pos("bin.000002", 400)}},
			tail:  pos("bin.000003", 300),
			want:  pos("bin.000002", 400), by: "task a",
		},
		{
			name:  "a task with no position holds everything",
			needs: []taskNeed{{Task: "a", Pos: pos("bin.000003", 400)}, {Task: "b", Why: "it has no binlog position yet"}},
			tail:  pos("bin.000001", 4),
			by:    "task b holds the whole relay: it has no binlog position yet", hold: true,
		},
	} {
		got, by, hold := oldestNeed(c.needs, c.tail)
		if got != c.want || by != c.by || hold != c.hold {
			t.Errorf("%s: got %v %q %v, want %v %q %v", c.name, got, by, hold, c.want, c.by, c.hold)
		}
	}
}

func TestEvalGuard(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	logs := []binlogFile{{"bin.000004", 1000}, {"bin.000005", 2000}, {"bin.000006", 500}}
	for _, c := range []struct {
		name      string
		in        guardInput
		left      int64
		warn      bool
		lost      bool
		ahead     int64
		inMessage string
	}{
		{
			name: "no expiry and no size limit: nothing to foresee",
			in:   guardInput{Logs: logs, Need: pos("bin.000004", 300), Margin: time.Hour, Now: now},
			left: -1, ahead: 300,
		},
		{
			name: "expiry: the needed file closed 50 minutes ago and expires after an hour",
			in: guardInput{Logs: logs, Need: pos("bin.000005", 100), ClosedAt: now.Add(-50 * time.Minute),
				Expire: time.Hour, Margin: 30 * time.Minute, Now: now},
			left: 600, warn: true, ahead: 1100, inMessage: "due to be purged by the source's binlog expiry in about 10m0s",
		},
		{
			name: "expiry: without an observed close, a commit time in the file bounds it",
			in: guardInput{Logs: logs, Need: pos("bin.000005", 100), NeedTime: now.Add(-2 * time.Hour),
				Expire: 24 * time.Hour, Margin: time.Hour, Now: now},
			left: 22 * 3600, ahead: 1100,
		},
		{
			name: "expiry: the active file goes no sooner than the expiry",
			in:   guardInput{Logs: logs, Need: pos("bin.000006", 10), Expire: 2 * time.Hour, Margin: time.Hour, Now: now},
			left: 7200, ahead: 3010,
		},
		{
			name: "expiry overdue: zero left",
			in: guardInput{Logs: logs, Need: pos("bin.000004", 10), ClosedAt: now.Add(-3 * time.Hour),
				Expire: time.Hour, Margin: time.Minute, Now: now},
			left: 0, warn: true, ahead: 10,
		},
		{
			name: "size limit: the needed file goes when the binlog from its start exceeds the limit",
			// From bin.000005 on: 2500 bytes; limit 4500; 100 bytes/s: 20 s.
			in:   guardInput{Logs: logs, Need: pos("bin.000005", 100), SizeLimit: 4500, Rate: 100, Margin: time.Minute, Now: now},
			left: 20, warn: true, ahead: 1100,
		},
		{
			name: "size limit sooner than expiry: the sooner counts",
			in: guardInput{Logs: logs, Need: pos("bin.000005", 100), ClosedAt: now, Expire: time.Hour,
				SizeLimit: 4500, Rate: 1, Margin: time.Minute, Now: now},
			left: 2000, ahead: 1100,
		},
		{
			name: "the needed file is gone",
			in:   guardInput{Logs: logs, Need: pos("bin.000003", 100), Expire: time.Hour, Margin: time.Hour, Now: now},
			left: -1, lost: true, inMessage: "binlog bin.000003, which dmnode still has to read (from bin.000003:100), is no longer on the source (its oldest binlog is bin.000004)",
		},
	} {
		g := evalGuard(c.in)
		if g.SecondsLeft != c.left || g.Warn != c.warn || g.Lost != c.lost || g.BytesAhead != c.ahead {
			t.Errorf("%s: left %d warn %v lost %v ahead %d, want %d %v %v %d", c.name, g.SecondsLeft, g.Warn, g.Lost, g.BytesAhead, c.left, c.warn, c.lost, c.ahead)
		}
		if (g.Warn || g.Lost) != (g.Message != "") || !strings.Contains(g.Message, c.inMessage) {
			t.Errorf("%s: message %q, want it to contain %q", c.name, g.Message, c.inMessage)
		}
	}
}

func TestGuardSampler(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	var s guardSampler
	s.sample([]binlogFile{{"bin.000001", 1000}, {"bin.000002", 400}}, t0)
	if s.rate != 0 || len(s.closedAt) != 0 {
		t.Fatalf("first sample: rate %v closed %v", s.rate, s.closedAt)
	}
	// 10 s later: bin.000002 grew by 600 and closed; bin.000003 holds 1000.
	s.sample([]binlogFile{{"bin.000001", 1000}, {"bin.000002", 1000}, {"bin.000003", 1000}}, t0.Add(10*time.Second))
	if s.rate != 160 {
		t.Errorf("rate %v, want 160", s.rate)
	}
	if got := s.closedAt["bin.000002"]; !got.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("bin.000002 closed at %v", got)
	}
	// bin.000001 and bin.000002 purged: their close times go.
	s.sample([]binlogFile{{"bin.000003", 1000}}, t0.Add(20*time.Second))
	if len(s.closedAt) != 0 {
		t.Errorf("closed %v after purge", s.closedAt)
	}
	if got := binlogWritten([]binlogFile{{"bin.000009", 5}}, []binlogFile{{"bin.000001", 5}}); got != 0 {
		t.Errorf("written across a reset: %d", got)
	}
}

func TestRelayGate(t *testing.T) {
	g := newRelayGate(1000)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	g.measured(600)
	if g.full() {
		t.Fatal("600 of 1000 is not full")
	}
	g.published(400)
	if !g.full() {
		t.Fatal("600 stored and 400 published is full")
	}
	// Reading resumes below nine tenths of the cap, not at the cap.
	for held, roomy := range map[uint64]bool{1000: false, 950: false, 900: false, 899: true} {
		h := newRelayGate(1000)
		h.measured(held)
		if h.roomy() != roomy {
			t.Errorf("%d of 1000 held: roomy %v, want %v", held, h.roomy(), roomy)
		}
	}
	done := make(chan error, 1)
	go func() { done <- g.waitRoom(context.Background(), log) }()
	deadline := time.Now().Add(10 * time.Second)
	for !g.waiting.Load() {
		if time.Now().After(deadline) {
			t.Fatal("waitRoom does not wait")
		}
		time.Sleep(time.Millisecond)
	}
	// A measure that still finds the relay full keeps it waiting; one
	// after a purge lets it go.
	for _, held := range []uint64{1200, 950} { // full, then not full but above 9/10
		g.startMeasure()
		g.measured(held)
		select {
		case err := <-done:
			t.Fatalf("waitRoom returned %v with %d of 1000 bytes held", err, held)
		default:
		}
	}
	g.startMeasure()
	g.measured(100)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if g.waiting.Load() {
		t.Error("still marked waiting")
	}
	// A wait ends with its context.
	g.measured(5000)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.waitRoom(ctx, log); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
}

func TestLostBinlogError(t *testing.T) {
	e := &LostBinlogError{Source: "s1", Need: pos("bin.000003", 1234), Oldest: "bin.000005", Tasks: []string{"t1"}}
	want := "source s1: binlog file bin.000003, which dmnode still has to read (from bin.000003:1234), is no longer on the source (its oldest binlog is bin.000005): " +
		"it was purged before it was relayed, and the changes it held cannot reach the target. The way out is a fresh copy: " +
		"dmnode task stop t1; dmnode task delete t1 --purge; dmnode source remove s1 (this removes its relay and tailer checkpoint); " +
		"dmnode source add SOURCE.yaml; empty the tasks' target tables; dmnode task start <file of task t1> --remove-meta; and keep the source's binlog longer than the copy takes (binlog_expire_logs_seconds) so it does not happen again"
	if e.Error() != want {
		t.Errorf("got  %s\nwant %s", e.Error(), want)
	}
}

func TestRelayGap(t *testing.T) {
	for _, c := range []struct {
		from, start dmnode.Position
		gap         bool
	}{
		{pos("bin.000003", 100), dmnode.Position{}, false},      // never purged
		{pos("bin.000003", 100), pos("bin.000003", 100), false}, // purged up to exactly what it applied
		{pos("bin.000004", 4), pos("bin.000003", 900), false},   // purged before it
		{pos("bin.000003", 99), pos("bin.000003", 100), true},   // a transaction it needs is gone
		{pos("bin.000002", 900), pos("bin.000010", 4), true},    // files compare by number
	} {
		if got := relayGap(c.from, c.start); got != c.gap {
			t.Errorf("relayGap(%v, %v) = %v, want %v", c.from, c.start, got, c.gap)
		}
	}
}
