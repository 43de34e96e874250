package node

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/jetstream"
)

func TestFigures(t *testing.T) {
	now := time.Unix(10_000, 0)
	at := func(file string, pos uint32) dmnode.Position { return dmnode.Position{File: file, Pos: pos} }
	cases := []struct {
		name          string
		stage         string
		dump          actors.DumpProgress
		load          actors.LoadProgress
		apply         actors.ApplyProgress
		tail          jetstream.TailProgress
		percent, rate float64
		eta, lag, gap int64
	}{
		{name: "loading at 100 rows/s", stage: "load",
			dump: actors.DumpProgress{RowsTotal: 1000}, load: actors.LoadProgress{RowsLoaded: 250, Rate: 100},
			percent: 25, rate: 100, eta: 7, gap: -1},
		{name: "loading, no rate yet", stage: "dump",
			dump: actors.DumpProgress{RowsTotal: 1000}, load: actors.LoadProgress{RowsLoaded: 0},
			eta: -1, gap: -1},
		{name: "applier behind the stream: age of the last applied commit", stage: "sync",
			apply: actors.ApplyProgress{Applied: at("b.1", 500), EventTime: 9_990, Rate: 40},
			tail:  jetstream.TailProgress{Published: at("b.1", 900), Upstream: at("b.1", 900), CaughtUp: now.Add(-time.Second)},
			rate:  40, eta: -1, lag: 10, gap: 400},
		{name: "idle source, all applied: heartbeats keep it current", stage: "sync",
			apply: actors.ApplyProgress{Applied: at("b.1", 900), EventTime: 5_000},
			tail:  jetstream.TailProgress{Published: at("b.1", 900), Upstream: at("b.1", 900), CaughtUp: now.Add(-time.Second)},
			eta:   -1, lag: 0, gap: 0},
		{name: "stuck tailer: its last heartbeat ages", stage: "sync",
			apply: actors.ApplyProgress{Applied: at("b.1", 900), EventTime: 5_000},
			tail:  jetstream.TailProgress{Published: at("b.1", 900), Upstream: at("b.1", 900), CaughtUp: now.Add(-2 * time.Minute)},
			eta:   -1, lag: 120, gap: 0},
		{name: "applied in an older file: gap unknown", stage: "sync",
			apply: actors.ApplyProgress{Applied: at("b.1", 900), EventTime: 9_999},
			tail:  jetstream.TailProgress{Published: at("b.2", 100), Upstream: at("b.2", 100)},
			eta:   -1, lag: 1, gap: -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ss := SourceStatus{Stage: tc.stage}
			figures(&ss, tc.dump, tc.load, tc.apply, tc.tail, now)
			if ss.Percent != tc.percent || ss.RowsPerSecond != tc.rate || ss.ETASeconds != tc.eta || ss.LagSeconds != tc.lag || ss.GapBytes != tc.gap {
				t.Fatalf("percent %v rate %v eta %d lag %d gap %d; want %v %v %d %d %d",
					ss.Percent, ss.RowsPerSecond, ss.ETASeconds, ss.LagSeconds, ss.GapBytes,
					tc.percent, tc.rate, tc.eta, tc.lag, tc.gap)
			}
		})
	}
}

// The JSON of task status is a documented interface for scripts: every
// field it has is in the README's table, and every field there exists.
func TestStatusJSONSchema(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "## Task status as JSON")
	if start < 0 {
		t.Fatal("README has no section \"Task status as JSON\"")
	}
	section = section[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, f := range strings.Split(first, ",") {
			documented[strings.Trim(strings.TrimSpace(f), "`")] = true
		}
	}
	// The task level is documented in the sentence above the table.
	for _, f := range []string{"name", "mode", "state", "sources", "shard_ddl_locks", "rejected_ddls"} {
		if !strings.Contains(section, `"`+f+`"`) && !strings.Contains(section, "`"+f+"`") {
			t.Errorf("task field %q is not documented", f)
		}
	}
	fields := map[string]bool{} // every field, also those omitted when empty
	st := reflect.TypeOf(SourceStatus{})
	for i := range st.NumField() {
		name, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			fields[name] = true
		}
	}
	for f := range fields {
		if !documented[f] {
			t.Errorf("source field %q is not documented in the README", f)
		}
	}
	for f := range documented {
		if _, ok := fields[f]; !ok {
			t.Errorf("the README documents source field %q, which status does not have", f)
		}
	}
}

func TestRelayFigures(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	full := actors.RelayProgress{Bytes: 5 << 20, MaxBytes: 4 << 20, Full: true, HeldBy: "task t", FullSince: now.Add(-time.Minute),
		Guard:   actors.PurgeGuard{SecondsLeft: 600, Warn: true, Message: "binlog b.000002 … due", Checked: now},
		Updated: now.Add(-time.Second)}
	var ss SourceStatus
	relayFigures(&ss, full, now)
	if !ss.RelayFull || ss.RelayBytes != 5<<20 || ss.RelayMaxBytes != 4<<20 || ss.RelayHeldBy != "task t" ||
		ss.BinlogPurgeSecondsLeft != 600 || !ss.BinlogPurgeWarning || len(ss.Warnings) != 2 ||
		!strings.Contains(ss.Warnings[0], "relay full: the tailer stopped reading the source (relay 5.0 MiB of 4.0 MiB") ||
		ss.Warnings[1] != "purge guard: binlog b.000002 … due" {
		t.Errorf("fresh report: %+v", ss)
	}
	// A report its tailer no longer refreshes keeps the figures, not the
	// flags; a lost binlog stays lost.
	stale := full
	stale.Updated = now.Add(-time.Hour)
	ss = SourceStatus{}
	relayFigures(&ss, stale, now)
	if ss.RelayFull || ss.BinlogPurgeWarning || len(ss.Warnings) != 0 || ss.RelayBytes != 5<<20 || ss.BinlogPurgeSecondsLeft != -1 {
		t.Errorf("stale report: %+v", ss)
	}
	stale.Guard = actors.PurgeGuard{SecondsLeft: -1, Lost: true, Message: "binlog b.000001 … gone", Checked: now.Add(-time.Hour)}
	ss = SourceStatus{}
	relayFigures(&ss, stale, now)
	if !ss.BinlogPurged || len(ss.Warnings) != 1 {
		t.Errorf("stale report of a lost binlog: %+v", ss)
	}
	ss = SourceStatus{}
	relayFigures(&ss, actors.RelayProgress{}, now)
	if ss.BinlogPurgeSecondsLeft != -1 || ss.RelayMaxBytes != 0 || len(ss.Warnings) != 0 {
		t.Errorf("no report: %+v", ss)
	}
}
