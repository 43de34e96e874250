package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/catalog"
)

// rejected seeds the catalog with two DDLs the target refused: one of
// source s1 that quarantined table db.a, one that parked source s2.
func rejected(t *testing.T) *testControl {
	t.Helper()
	tc := seeded(t)
	tc.exec(
		catalog.Command{Op: catalog.OpShardDDL, Shard: &catalog.ShardOp{Kind: catalog.ShardReject, Task: "t", Source: "s1",
			Rejected: &catalog.RejectedDDL{Table: "db.a", Pos: dmnode.Position{File: "bin.000001", Pos: 40}, Stmts: []string{"ALTER TABLE a ADD x INT"}, Error: "refused"}}},
		catalog.Command{Op: catalog.OpShardDDL, Shard: &catalog.ShardOp{Kind: catalog.ShardReject, Task: "t", Source: "s2",
			Rejected: &catalog.RejectedDDL{Pos: dmnode.Position{File: "bin.000002", Pos: 80}, Stmts: []string{"DROP TABLE b"}, Error: "refused"}}},
	)
	return tc
}

// task skip and replace act on exactly one refused DDL: the only one, or
// the one of the source and table named; anything ambiguous or unknown
// is refused, naming what there is.
func TestControlDecide(t *testing.T) {
	ctx := context.Background()
	tc := seeded(t)
	_, err := tc.apiTaskSkip(ctx, &Request{Name: "t"})
	wantErr(t, "skip without a refused DDL", err, "no DDL was rejected by the target")
	_, err = tc.apiTaskSkip(ctx, &Request{Name: "nope"})
	wantErr(t, "skip of an unknown task", err, "task nope not found")

	tc = rejected(t)
	for _, c := range []struct {
		name string
		h    handler
		sr   *ShardRequest
		want string
	}{
		{"both match", tc.apiTaskSkip, nil, "table db.a of source s1, source s2; name one"},
		{"a table not quarantined", tc.apiTaskSkip, &ShardRequest{Table: "db.b"}, "table db.b is not quarantined"},
		{"a table without schema", tc.apiTaskSkip, &ShardRequest{Table: "a"}, "write it as schema.table"},
		{"replace without statements", tc.apiTaskReplace, &ShardRequest{Source: "s2"}, "--sql"},
	} {
		_, err := c.h(ctx, &Request{Name: "t", Shard: c.sr})
		wantErr(t, c.name, err, c.want)
	}
	if st := tc.fsm.State(); len(st.Rejections["t"].Decisions) != 0 {
		t.Fatalf("a refused request recorded decisions: %+v", st.Rejections["t"].Decisions)
	}

	resp, err := tc.apiTaskReplace(ctx, &Request{Name: "t", Shard: &ShardRequest{Source: "s2", SQL: []string{"DROP TABLE IF EXISTS b"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.Report[0], "the DDL at bin.000002:80 will be replaced with DROP TABLE IF EXISTS b") {
		t.Errorf("report %q", resp.Report)
	}
	resp, err = tc.apiTaskSkip(ctx, &Request{Name: "t", Shard: &ShardRequest{Table: "`db`.`a`"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.Report[0], "quarantined table db.a at bin.000001:40 will be skipped") {
		t.Errorf("report %q", resp.Report)
	}
	d := tc.fsm.State().Rejections["t"].Decisions
	if d["s2"] == nil || d["s2"].Action != catalog.DecideReplace || d["s1:db.a"] == nil || d["s1:db.a"].Action != catalog.DecideSkip {
		t.Errorf("decisions %+v", d)
	}

	// Status and ddl-locks show them: the quarantined table apart.
	st, err := tc.apiTaskStatus(ctx, &Request{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if ts := st.Tasks[0]; len(ts.Quarantined) != 1 || ts.Quarantined[0].Table != "db.a" || len(ts.Rejected) != 1 || ts.Rejected[0].Source != "s2" {
		t.Errorf("status: quarantined %+v, rejected %+v", ts.Quarantined, ts.Rejected)
	}
	locks, err := tc.apiDDLLocks(ctx, &Request{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if r := locks.ShardLocks.Rejected; len(r) != 2 || r[0].Source != "s1" || r[1].Source != "s2" {
		t.Errorf("ddl-locks rejected %+v", r)
	}
}

// A cutover starts only from a running task whose every source is in
// sync within the lag, with no table quarantined; the refusal lists
// every reason.
func TestCutoverCheckInSync(t *testing.T) {
	ctx := context.Background()
	tc := rejected(t)
	tc.exec(catalog.Command{Op: catalog.OpSubmitTask, Task: &catalog.Task{Name: "ok", File: "ok.yaml", YAML: strings.Replace(ctlTaskYAML, "name: t\n", "name: ok\n", 1),
		Mode: catalog.ModeAll, Sources: map[string]*catalog.TaskSource{"s1": {Stage: catalog.StageSync}}}})
	newCut := func(task string, lag time.Duration) *cutover {
		c := &cutover{n: tc.control, opt: Cutover{MaxLag: lag}, task: tc.fsm.State().Tasks[task], rep: &CutoverReport{}}
		for _, s := range c.task.SortedSources() {
			c.rep.Sources = append(c.rep.Sources, CutoverSource{Source: s})
		}
		return c
	}
	err := newCut("t", time.Minute).checkInSync(ctx)
	wantErr(t, "a source loading", err, "source s2 is in stage load, not sync")
	wantErr(t, "a quarantined table", err, "table db.a of source s1 is quarantined")

	now := time.Now()
	tc.progress.progress("apply", "ok", "s1", actors.ApplyProgress{Applied: dmnode.Position{File: "bin.000001", Pos: 4}, EventTime: uint32(now.Add(-90 * time.Second).Unix())})
	c := newCut("ok", time.Minute)
	wantErr(t, "a lagging source", c.checkInSync(ctx), "source s1 lags")
	if c.rep.Sources[0].LagSecs < 89 {
		t.Errorf("the report's lag %d", c.rep.Sources[0].LagSecs)
	}
	if err := newCut("ok", 5*time.Minute).checkInSync(ctx); err != nil {
		t.Errorf("within the lag: %v", err)
	}
	if _, err := tc.apiTaskPause(ctx, &Request{Name: "ok"}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "a paused task", newCut("ok", 5*time.Minute).checkInSync(ctx), "task ok is paused")
}
