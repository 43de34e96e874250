package node

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/jetstream"
)

// Files of the control layer's tests. The sources and the target listen
// on 127.0.0.1:1, where nothing answers: a check that reaches for them
// fails at once, naming what it could not reach.
const (
	ctlSourceYAML = "source-id: SRC\nfrom:\n  host: 127.0.0.1\n  port: 1\n  user: dm\n  password: \"\"\n"
	ctlTaskYAML   = `name: t
task-mode: all
target-database:
  host: 127.0.0.1
  port: 1
  user: root
  password: ""
mysql-instances:
  - source-id: s1
    block-allow-list: ba
  - source-id: s2
    block-allow-list: ba
block-allow-list:
  ba:
    do-dbs: ["db"]
`
)

func ctlSource(id string) *catalog.Source {
	return &catalog.Source{ID: id, File: id + ".yaml", YAML: strings.Replace(ctlSourceYAML, "SRC", id, 1)}
}

// seeded is a control layer whose catalog holds sources s1 and s2 and
// task t on both, s1 in stage sync and s2 in stage load.
func seeded(t *testing.T) *testControl {
	t.Helper()
	tc := newFakeControl()
	tc.exec(
		catalog.Command{Op: catalog.OpAddSource, Source: ctlSource("s1")},
		catalog.Command{Op: catalog.OpAddSource, Source: ctlSource("s2")},
		catalog.Command{Op: catalog.OpAddSource, Source: ctlSource("s3")},
		catalog.Command{Op: catalog.OpSubmitTask, Task: &catalog.Task{Name: "t", File: "t.yaml", YAML: ctlTaskYAML, Mode: catalog.ModeAll,
			Sources: map[string]*catalog.TaskSource{"s1": {Stage: catalog.StageSync}, "s2": {Stage: catalog.StageLoad}}}},
	)
	return tc
}

func wantErr(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: error %v, want one saying %q", what, err, want)
	}
}

// Pause, resume and stop propose the desired state of the named task and
// say what comes next; a command the cluster cannot apply is the answer's
// error, and an unknown task is refused before anything is proposed.
func TestControlLifecycle(t *testing.T) {
	tc := seeded(t)
	ctx := context.Background()
	for _, c := range []struct {
		h       handler
		desired string
		says    string
	}{
		{tc.apiTaskPause, catalog.Paused, "dmnode task resume t"},
		{tc.apiTaskStop, catalog.Stopped, "dmnode task delete t"},
		{tc.apiTaskResume, catalog.Running, "resumed"},
	} {
		resp, err := c.h(ctx, &Request{Name: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if got := tc.fsm.State().Tasks["t"].Desired; got != c.desired {
			t.Errorf("desired %q, want %q", got, c.desired)
		}
		if !strings.Contains(strings.Join(resp.Report, "\n"), c.says) {
			t.Errorf("report %q does not say %q", resp.Report, c.says)
		}
	}
	before := len(tc.cmd.ops())
	_, err := tc.apiTaskPause(ctx, &Request{Name: "nope"})
	wantErr(t, "pause of an unknown task", err, `no task "nope"`)
	if len(tc.cmd.ops()) != before {
		t.Errorf("a command was proposed for an unknown task: %v", tc.cmd.ops())
	}
	tc.cmd.fail = ErrNotLeader
	_, err = tc.apiTaskStop(ctx, &Request{Name: "t"})
	if !errors.Is(err, ErrNotLeader) {
		t.Errorf("stop without a leader: %v", err)
	}
}

// Delete refuses a running task, removes a stopped one keeping its
// checkpoints, and says how to start afresh under the same name.
func TestControlDelete(t *testing.T) {
	tc := seeded(t)
	ctx := context.Background()
	_, err := tc.apiTaskDelete(ctx, &Request{Name: "t"})
	wantErr(t, "delete of a running task", err, "dmnode task stop t")
	_, err = tc.apiTaskDelete(ctx, &Request{Name: "x"})
	wantErr(t, "delete of an unknown task", err, `no task "x"`)
	if _, err := tc.apiTaskStop(ctx, &Request{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	resp, err := tc.apiTaskDelete(ctx, &Request{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.Report[0], "--remove-meta") {
		t.Errorf("report %q", resp.Report)
	}
	if _, ok := tc.fsm.State().Tasks["t"]; ok {
		t.Error("the task is still in the catalog")
	}
	if ops := tc.cmd.ops(); ops[len(ops)-1] != catalog.OpDeleteTask {
		t.Errorf("last command %v", ops)
	}
}

// Update replaces the task's file when only settings that may change in
// place differ, and refuses any other change naming the keys.
func TestControlUpdate(t *testing.T) {
	tc := seeded(t)
	ctx := context.Background()
	changed := ctlTaskYAML + "ignore-checking-items: [\"table_schema\"]\n"
	resp, err := tc.apiTaskUpdate(ctx, &Request{Files: []File{{Name: "t2.yaml", Data: changed}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := tc.fsm.State().Tasks["t"]; got.YAML != changed || got.File != "t2.yaml" {
		t.Errorf("catalog holds %s: %q", got.File, got.YAML)
	}
	if !strings.Contains(resp.Report[0], "restart with the new file") {
		t.Errorf("report %q", resp.Report)
	}
	moved := strings.Replace(changed, "host: 127.0.0.1\n  port: 1\n  user: root", "host: 127.0.0.2\n  port: 1\n  user: root", 1)
	_, err = tc.apiTaskUpdate(ctx, &Request{Files: []File{{Name: "t3.yaml", Data: moved}}})
	var refused *config.RefusedUpdateError
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "target-database") {
		t.Errorf("update of the target: %v", err)
	}
	other := strings.Replace(ctlTaskYAML, "name: t\n", "name: u\n", 1)
	_, err = tc.apiTaskUpdate(ctx, &Request{Files: []File{{Name: "u.yaml", Data: other}}})
	wantErr(t, "update of an unknown task", err, "submit it instead")
	tc.keys = fakeSealer{fail: errors.New("this node holds no cluster key yet")}
	_, err = tc.apiTaskUpdate(ctx, &Request{Files: []File{{Name: "t2.yaml", Data: changed}}})
	wantErr(t, "update without keys", err, "no cluster key")
}

// Check and submit refuse a task file naming a source the catalog does
// not hold, and one whose sources or target cannot be reached, each error
// naming the file and the source or key; nothing is proposed.
func TestControlCheckErrors(t *testing.T) {
	tc := seeded(t)
	ctx := context.Background()
	unknown := strings.Replace(ctlTaskYAML, "source-id: s2", "source-id: s9", 1)
	for _, h := range []handler{tc.apiTaskCheck, tc.apiTaskSubmit} {
		before := len(tc.cmd.ops())
		_, err := h(ctx, &Request{Files: []File{{Name: "task.yaml", Data: unknown}}})
		wantErr(t, "a source not added", err, "task.yaml: source s9: not added yet")
		wantErr(t, "an unreachable source", err, "task.yaml: source s1:")
		wantErr(t, "an unreachable target", err, "task.yaml: target-database:")
		if len(tc.cmd.ops()) != before {
			t.Errorf("commands proposed after a failed check: %v", tc.cmd.ops()[before:])
		}
	}
	resp, err := tc.apiTaskCheck(ctx, &Request{Files: []File{{Name: "task.yaml", Data: ctlTaskYAML + "unknown-key: 1\n"}}})
	if err == nil {
		t.Fatalf("check passed: %+v", resp)
	}
	if !strings.Contains(err.Error(), "unknown-key") {
		t.Errorf("an unknown key: %v", err)
	}
}

// Source add refuses a source it cannot reach, naming file and source;
// source remove refuses a source a task uses.
func TestControlSourceErrors(t *testing.T) {
	tc := seeded(t)
	ctx := context.Background()
	_, err := tc.apiSourceAdd(ctx, &Request{Files: []File{{Name: "s4.yaml", Data: strings.Replace(ctlSourceYAML, "SRC", "s4", 1)}}})
	wantErr(t, "an unreachable source", err, "s4.yaml: source s4:")
	if _, ok := tc.fsm.State().Sources["s4"]; ok {
		t.Error("an unreachable source was added")
	}
	_, err = tc.apiSourceRemove(ctx, &Request{Name: "s1"})
	if !errors.Is(err, catalog.ErrInUse) {
		t.Errorf("removing a source in use: %v", err)
	}
}

// A task name or source id that differs from an existing one only in case
// is refused before anything is opened or proposed: on a target whose
// dmnode_meta tables compare without case the two would share their
// checkpoint and fence rows. The same name again is the task itself.
func TestControlCaseTwins(t *testing.T) {
	tc := seeded(t)
	ctx := context.Background()
	opened := 0
	tc.openDB = func(context.Context, config.DBConfig, int) (*sql.DB, error) {
		opened++
		return nil, errors.New("connection refused")
	}
	tc.openTarget = tc.openDB
	before := len(tc.cmd.ops())
	_, err := tc.apiSourceAdd(ctx, &Request{Files: []File{{Name: "S1.yaml", Data: strings.Replace(ctlSourceYAML, "SRC", "S1", 1)}}})
	wantErr(t, "a source id differing in case", err, `S1.yaml: source-id: "S1": source "s1" exists`)
	task := strings.Replace(checkTaskYAML, "name: c", "name: T", 1)
	for _, h := range []handler{tc.apiTaskCheck, tc.apiTaskSubmit} {
		_, err = h(ctx, &Request{Files: []File{{Name: "T.yaml", Data: task}}})
		wantErr(t, "a task name differing in case", err, `T.yaml: name: "T": task "t" exists`)
	}
	if opened != 0 || len(tc.cmd.ops()) != before {
		t.Errorf("opened %d servers and proposed %v", opened, tc.cmd.ops()[before:])
	}
	_, err = tc.apiTaskCheck(ctx, &Request{Files: []File{{Name: "t.yaml", Data: strings.Replace(checkTaskYAML, "name: c", "name: t", 1)}}})
	wantErr(t, "the task's own name", err, "connection refused")
}

func (p *fakeProgress) progress(kind, task, src string, v any) {
	p.put(jetstream.ProgressKey(kind, task, src), v)
}

// Status puts together, per source, the catalog's stage, the actors'
// progress records and their last errors: figures, positions, the most
// recent error, and what to run next.
func TestControlStatus(t *testing.T) {
	tc := seeded(t)
	ctx := context.Background()
	now := time.Now()
	p := tc.progress
	p.progress("dump", "t", "s2", actors.DumpProgress{Tables: 3, ChunksTotal: 10, ChunksDone: 4, RowsDumped: 400, RowsTotal: 1000})
	p.progress("load", "t", "s2", actors.LoadProgress{RowsLoaded: 250, Rate: 50})
	p.progress("apply", "t", "s1", actors.ApplyProgress{Applied: dmnode.Position{File: "bin.000002", Pos: 100}, RowsInsert: 7, RowsUpdate: 2, RowsDelete: 1,
		EventTime: uint32(now.Add(-time.Minute).Unix())})
	p.progress("tail", "", "s1", jetstream.TailProgress{Upstream: dmnode.Position{File: "bin.000002", Pos: 400}, Published: dmnode.Position{File: "bin.000002", Pos: 400}})
	p.put(jetstream.ErrorKey(catalog.KindLoad, "t", "s2"), ActorError{Actor: "load/t/s2", Error: "old", Time: now.Add(-time.Hour)})
	p.put(jetstream.ErrorKey(catalog.KindDump, "t", "s2"), ActorError{Actor: "dump/t/s2", Error: "access denied", Permanent: true, Time: now})

	resp, err := tc.apiTaskStatus(ctx, &Request{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Tasks) != 1 || len(resp.Tasks[0].Sources) != 2 {
		t.Fatalf("status %+v", resp.Tasks)
	}
	ts := resp.Tasks[0]
	if ts.Name != "t" || ts.State != catalog.Running || ts.Mode != catalog.ModeAll {
		t.Errorf("task %+v", ts)
	}
	s1, s2 := ts.Sources[0], ts.Sources[1]
	if s1.Stage != catalog.StageSync || s1.Applied != "bin.000002:100" || s1.Upstream != "bin.000002:400" || s1.GapBytes != 300 ||
		s1.RowsInserted != 7 || s1.RowsUpdated != 2 || s1.RowsDeleted != 1 || s1.LagSeconds < 59 || s1.LastError != "" || s1.Next != "" {
		t.Errorf("s1 %+v", s1)
	}
	if s2.Stage != "error" || s2.LastError != "dump/t/s2: access denied" || !strings.Contains(s2.Next, "dmnode task stop t && dmnode task resume t") ||
		s2.TablesTotal != 3 || s2.ChunksDone != 4 || s2.RowsLoaded != 250 || s2.Percent != 25 || s2.ETASeconds != 15 {
		t.Errorf("s2 %+v", s2)
	}

	// A paused task's sources say so, and how to resume.
	if _, err := tc.apiTaskPause(ctx, &Request{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	resp, err = tc.apiTaskStatus(ctx, &Request{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if s := resp.Tasks[0].Sources[0]; s.Stage != catalog.Paused || s.Next != "dmnode task resume t" {
		t.Errorf("paused: %+v", s)
	}

	// The bucket does not answer: the catalog's stage, and why no figures.
	p.fail = errors.New("no responders")
	resp, err = tc.apiTaskStatus(ctx, &Request{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if s := resp.Tasks[0].Sources[0]; s.LastError != "progress unavailable: no responders" {
		t.Errorf("bucket down: %+v", s)
	}

	// Before JetStream opens.
	tc.storeReady.Store(false)
	resp, _ = tc.apiTaskStatus(ctx, &Request{Name: "t"})
	if s := resp.Tasks[0].Sources[1]; !strings.Contains(s.LastError, "jetstream is not available yet") {
		t.Errorf("no jetstream: %+v", s)
	}

	_, err = tc.apiTaskStatus(ctx, &Request{Name: "nope"})
	wantErr(t, "status of an unknown task", err, "task nope not found")
}

// While JetStream is down, status asks every member for its health:
// the relay is unavailable with the time and cause a node saw, the
// figures are unknown (-1), and an error a node holds in memory shows.
func TestControlStatusJetStreamDown(t *testing.T) {
	tc := seeded(t)
	ctx := context.Background()
	m := catalog.Member{ID: "n2", Control: "nats://n2"}
	self := catalog.Member{ID: "n1", Control: "nats://n1"}
	tc.exec(catalog.Command{Op: catalog.OpAddMember, Member: &self}, catalog.Command{Op: catalog.OpAddMember, Member: &m},
		catalog.Command{Op: catalog.OpAssign, Assign: map[string]string{"apply/t/s1": "n2"}})
	since := time.Now().Add(-time.Minute).UTC()
	tc.hl.down, tc.hl.h.JetStream = true, false
	tc.hl.h.JetStreamSince, tc.hl.h.JetStreamCause = since, "no quorum"
	tc.cl.healths["n2"] = NodeHealth{Node: "n2", JetStream: true, Unrecorded: []ActorError{
		{Actor: "apply/t/s1", Error: "lost the connection", Permanent: true, Time: since.Add(time.Second)}}}
	resp, err := tc.apiTaskStatus(ctx, &Request{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tc.cl.asked, ",") != "n2" {
		t.Errorf("health asked of %v, want n2 only", tc.cl.asked)
	}
	s1 := resp.Tasks[0].Sources[0]
	if !strings.Contains(s1.RelayUnavailable, "no quorum (seen by node n1)") || s1.LagSeconds != -1 || s1.GapBytes != -1 || s1.ETASeconds != -1 {
		t.Errorf("s1 %+v", s1)
	}
	if s1.Stage != "error" || !strings.Contains(s1.LastError, "lost the connection (not recorded yet") {
		t.Errorf("s1's unrecorded error: %+v", s1)
	}
}

// Cluster status lists every member with Raft's view (voter, leader),
// its heartbeat, its actors and its own health; a member's stored URL
// never shows a password.
func TestControlClusterStatus(t *testing.T) {
	tc := seeded(t)
	ctx := context.Background()
	for _, m := range []catalog.Member{{ID: "n1", Control: "nats://n1"}, {ID: "n2", Control: "nats://dm:secret@n2:4222"}, {ID: "n3"}} {
		tc.exec(catalog.Command{Op: catalog.OpAddMember, Member: &m})
	}
	tc.exec(catalog.Command{Op: catalog.OpAssign, Assign: map[string]string{"apply/t/s1": "n2", "tail/s1": "n2", "dump/t/s2": "n1"}})
	tc.cl.voter = map[string]bool{"n1": true, "n2": true, "n3": false}
	tc.cl.lead, tc.cl.live = "n2", map[string]bool{"n2": true}
	tc.cl.healths["n2"] = NodeHealth{Node: "n2", NATSConnected: true, JetStream: true}
	resp, err := tc.apiClusterStatus(ctx, &Request{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Members) != 3 {
		t.Fatalf("members %+v", resp.Members)
	}
	n1, n2, n3 := resp.Members[0], resp.Members[1], resp.Members[2]
	if !n1.Voter || n1.Leader || !n1.Healthy || n1.Actors != 1 || n1.JetStream != "ok" {
		t.Errorf("n1 %+v", n1)
	}
	if !n2.Voter || !n2.Leader || !n2.Healthy || strings.Join(n2.ActorIDs, ",") != "apply/t/s1,tail/s1" || strings.Contains(n2.Control, "secret") {
		t.Errorf("n2 %+v", n2)
	}
	if n3.Voter || n3.Healthy || n3.Actors != 0 || n3.Health == nil || !strings.Contains(n3.Health.Error, "not answering") {
		t.Errorf("n3 %+v", n3)
	}
}

// Verify and cutover refuse a task that cannot be verified yet, before
// touching a database: unknown, a source still copying, JetStream not
// open; cutover also refuses settings out of range, and names the
// source it cannot reach.
func TestControlVerifyCutoverRefusals(t *testing.T) {
	tc := seeded(t)
	ctx := context.Background()
	_, err := tc.apiTaskVerify(ctx, &Request{Name: "nope"})
	wantErr(t, "verify of an unknown task", err, "task nope not found")
	_, err = tc.apiTaskVerify(ctx, &Request{Name: "t"})
	wantErr(t, "verify while loading", err, "source s2 is still in stage load")
	_, err = tc.apiTaskCutover(ctx, &Request{Name: "t"})
	wantErr(t, "cutover while loading", err, "source s2 is still in stage load")
	_, err = tc.apiTaskCutover(ctx, &Request{Name: "t", Cutover: &Cutover{Freeze: "flush"}})
	wantErr(t, "cutover with an unknown freeze", err, `freeze "flush"`)
	_, err = tc.apiTaskCutover(ctx, &Request{Name: "t", Cutover: &Cutover{FreezeTimeout: 5 * time.Minute}})
	wantErr(t, "cutover with a long freeze", err, "at most 1m40s")

	// Both sources replicate: what verify holds are the running sources
	// in sync.
	tc.exec(catalog.Command{Op: catalog.OpSubmitTask, Task: &catalog.Task{Name: "v", File: "v.yaml", YAML: strings.Replace(ctlTaskYAML, "name: t\n", "name: v\n", 1),
		Mode: catalog.ModeAll, Sources: map[string]*catalog.TaskSource{"s1": {Stage: catalog.StageSync}, "s2": {Stage: catalog.StageDone}}}})
	in, err := tc.verifyInput("v")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(in.HoldSources, ",") != "s1" || in.Task.Name != "v" || len(in.Sources) != 2 || in.Sources["s2"].Config.From.Port != 1 {
		t.Errorf("verify input: holds %v, sources %v", in.HoldSources, in.Sources)
	}
	_, err = tc.apiTaskCutover(ctx, &Request{Name: "v", Cutover: &Cutover{DryRun: true}})
	wantErr(t, "cutover with a source down", err, "source s1:")

	tc.storeReady.Store(false)
	_, err = tc.apiTaskVerify(ctx, &Request{Name: "v"})
	wantErr(t, "verify without jetstream", err, "jetstream is not available yet")
}

// serve answers only once the catalog is loaded (cluster methods
// always), catches up with the leader before a write and refuses it when
// it cannot, and answers a read from what it has.
func TestControlServe(t *testing.T) {
	tc := seeded(t)
	ctx := context.Background()
	hs := tc.handlers()
	tc.cl.catchUp = errors.New("no leader")
	if r := tc.serve(ctx, hs["task.pause"], "task.pause", []byte(`{"name":"t"}`)); r.Error != "task.pause: no leader" {
		t.Errorf("write without the leader: %q", r.Error)
	}
	if got := tc.fsm.State().Tasks["t"].Desired; got != catalog.Running {
		t.Errorf("the refused write changed the task to %s", got)
	}
	if r := tc.serve(ctx, hs["task.list"], "task.list", []byte(`{}`)); r.Error != "" || len(r.Tasks) != 1 {
		t.Errorf("read without the leader: %+v", r)
	}
	tc.ready.Store(false)
	if r := tc.serve(ctx, hs["source.list"], "source.list", []byte(`{}`)); !strings.Contains(r.Error, "still loading its catalog") {
		t.Errorf("not loaded: %q", r.Error)
	}
	if r := tc.serve(ctx, hs["cluster.leave"], "cluster.leave", []byte(`{}`)); r.Error != "" || r.Report[0] != "leave" {
		t.Errorf("cluster method while loading: %+v", r)
	}
	if r := tc.serve(ctx, hs["node.health"], "node.health", []byte(`{}`)); len(r.Health) != 0 {
		t.Errorf("node.health answered before the catalog loaded: %+v", r)
	}
	tc.ready.Store(true)
	tc.cl.catchUp = nil
	if r := tc.serve(ctx, hs["node.health"], "node.health", []byte(`{}`)); len(r.Health) != 1 || r.Health[0].Node != "n1" {
		t.Errorf("node.health: %+v", r)
	}
}

// The validation methods read the validator states of the task's sources
// with a validator, list errors by state, and refuse a task without one.
func TestControlValidation(t *testing.T) {
	tc := seeded(t)
	ctx := context.Background()
	_, err := tc.apiValidationStatus(ctx, &Request{Name: "t"})
	wantErr(t, "a task without validators", err, "task t has no validator")
	_, err = tc.apiValidationStatus(ctx, &Request{Name: "nope"})
	wantErr(t, "an unknown task", err, `no task "nope"`)

	validated := strings.Replace(ctlTaskYAML, "name: t\n", "name: w\n", 1)
	validated = strings.Replace(validated, "  - source-id: s1\n    block-allow-list: ba\n", "  - source-id: s1\n    block-allow-list: ba\n    validator-config-name: v\n", 1)
	validated += "validators:\n  v:\n    mode: full\n"
	if _, err := config.DecodeTask("w.yaml", []byte(validated)); err != nil {
		t.Fatal(err)
	}
	tc.exec(catalog.Command{Op: catalog.OpSubmitTask, Task: &catalog.Task{Name: "w", File: "w.yaml", YAML: validated, Mode: catalog.ModeAll,
		Sources: map[string]*catalog.TaskSource{"s1": {Stage: catalog.StageSync}, "s2": {Stage: catalog.StageSync}}}},
		catalog.Command{Op: catalog.OpAssign, Assign: map[string]string{"validate/w/s1": "n1"}})
	tc.progress.put(actors.ValidatorKey("w", "s1"), actors.ValidatorState{Checked: 40, Pending: 2, Position: dmnode.Position{File: "bin.000001", Pos: 4},
		Errors: []actors.ValidationError{{ID: 1, State: actors.ValidationUnprocessed}, {ID: 2, State: actors.ValidationIgnored}}})
	tc.progress.put(jetstream.Key("error", actors.KindValidate, "w", "s1"), ActorError{Error: "target gone"})
	resp, err := tc.apiValidationStatus(ctx, &Request{Name: "w"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Validation) != 1 {
		t.Fatalf("validation %+v", resp.Validation)
	}
	v := resp.Validation[0]
	if v.Source != "s1" || v.Mode != "full" || !v.Running || v.Checked != 40 || v.Pending != 2 || v.Position != "bin.000001:4" || v.LastError != "target gone" || len(v.ErrorList) != 0 {
		t.Errorf("validator %+v", v)
	}
	resp, err = tc.apiValidationShowError(ctx, &Request{Name: "w", Validation: &ValidationRequest{ErrorState: actors.ValidationIgnored}})
	if err != nil {
		t.Fatal(err)
	}
	if l := resp.Validation[0].ErrorList; len(l) != 1 || l[0].ID != 2 {
		t.Errorf("ignored errors %+v", l)
	}
	_, err = tc.apiValidationShowError(ctx, &Request{Name: "w", Validation: &ValidationRequest{ErrorState: "new"}})
	wantErr(t, "an unknown error state", err, `--error-state "new"`)
	_, err = tc.apiValidationChange("clear")(ctx, &Request{Name: "w"})
	wantErr(t, "clear without an id", err, "--error-id N or --all")
	_, err = tc.apiValidationChange("resolve")(ctx, &Request{Name: "w", Validation: &ValidationRequest{ErrorID: 1, All: true}})
	wantErr(t, "both an id and --all", err, "--error-id N or --all")

	// task status shows the validator with the source.
	st, err := tc.apiTaskStatus(ctx, &Request{Name: "w"})
	if err != nil {
		t.Fatal(err)
	}
	if v := st.Tasks[0].Sources[0].Validator; v == nil || v.Checked != 40 {
		t.Errorf("status of w/s1 shows validator %+v", v)
	}
}

// Submitting with --remove-meta is for a new task only; a purge waits
// until none of the task's actors is placed, and gives up with the
// request.
func TestControlNewTaskAndPurge(t *testing.T) {
	tc := seeded(t)
	ctx := context.Background()
	task, err := config.DecodeTask("t.yaml", []byte(ctlTaskYAML))
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "remove-meta of an existing task", tc.prepareNewTask(ctx, task, []string{"s1", "s2"}, true), "--remove-meta starts a new task only")
	if err := tc.prepareNewTask(ctx, task, []string{"s1", "s2"}, false); err != nil {
		t.Errorf("submit again of the same task: %v", err)
	}

	tc.exec(catalog.Command{Op: catalog.OpAssign, Assign: map[string]string{"apply/t/s1": "n1"}},
		catalog.Command{Op: catalog.OpSetDesired, Name: "t", Desired: catalog.Stopped})
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = tc.apiTaskDelete(cctx, &Request{Name: "t", Purge: true})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("purge while an actor is placed: %v", err)
	}
	if _, ok := tc.fsm.State().Tasks["t"]; !ok {
		t.Error("the task was deleted before its actors were unplaced")
	}
}
