package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/shardddl"
)

// apiNode is a one-member cluster whose control API handlers run against
// the real Raft member and catalog (no NATS, no JetStream).
func apiNode(t *testing.T) *Node {
	t.Helper()
	c := newTestCluster(t, 1)
	c.seed(t)
	n := c.leader(t)
	n.ready.Store(true)
	return n
}

const sourceYAML = "source-id: s1\nfrom:\n  host: 10.0.0.7\n  port: 3307\n  user: dm\n  password: \"\"\n"

func TestServeRefusesBadRequests(t *testing.T) {
	n := apiNode(t)
	ctx := context.Background()
	if r := n.ctl.serve(ctx, nil, "no.such", []byte(`{}`)); !strings.Contains(r.Error, `unknown method "no.such"`) {
		t.Errorf("unknown method: %q", r.Error)
	}
	h := n.ctl.handlers()["task.pause"]
	if r := n.ctl.serve(ctx, h, "task.pause", []byte(`{`)); !strings.HasPrefix(r.Error, "decode request") {
		t.Errorf("bad json: %q", r.Error)
	}
	n.ready.Store(false)
	if r := n.ctl.serve(ctx, h, "task.pause", []byte(`{"name":"t"}`)); !strings.Contains(r.Error, "still loading its catalog") {
		t.Errorf("not ready: %q", r.Error)
	}
	if !ReadOnly("task.status") || ReadOnly("task.pause") {
		t.Error("read-only methods misclassified")
	}
}

// Pause, resume and stop set the task's desired state through Raft; an
// unknown task is named in the error; a running task is not deleted, a
// stopped one is.
func TestTaskLifecycleHandlers(t *testing.T) {
	n := apiNode(t)
	ctx := context.Background()
	for _, c := range []struct {
		h    handler
		want string
		says string
	}{
		{n.ctl.apiTaskPause, catalog.Paused, "next: dmnode task resume t"},
		{n.ctl.apiTaskResume, catalog.Running, "resumed from its checkpoints"},
		{n.ctl.apiTaskStop, catalog.Stopped, "its checkpoints are kept"},
	} {
		resp, err := c.h(ctx, &Request{Name: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if got := n.fsm.State().Tasks["t"].Desired; got != c.want {
			t.Errorf("desired %s, want %s", got, c.want)
		}
		if !strings.Contains(strings.Join(resp.Report, "\n"), c.says) {
			t.Errorf("report %q does not say %q", resp.Report, c.says)
		}
		if _, err := c.h(ctx, &Request{Name: "nope"}); err == nil || !strings.Contains(err.Error(), `no task "nope"`) {
			t.Errorf("unknown task: %v", err)
		}
	}
	if _, err := n.ctl.apiTaskResume(ctx, &Request{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.ctl.apiTaskDelete(ctx, &Request{Name: "t"}); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("delete a running task: %v", err)
	}
	if _, err := n.ctl.apiTaskStop(ctx, &Request{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	resp, err := n.ctl.apiTaskDelete(ctx, &Request{Name: "t"})
	if err != nil || !strings.Contains(resp.Report[0], "checkpoints are kept") {
		t.Fatalf("delete a stopped task: %v %v", resp, err)
	}
	if _, ok := n.fsm.State().Tasks["t"]; ok {
		t.Fatal("deleted task still in the catalog")
	}
	if _, err := n.ctl.apiTaskDelete(ctx, &Request{Name: "t"}); err == nil {
		t.Fatal("deleted a task twice")
	}
}

// A command the catalog refuses comes back as a RejectedError, apart from
// Raft's own failures.
func TestRequestRejected(t *testing.T) {
	n := apiNode(t)
	_, err := n.request(context.Background(), catalog.Command{Op: catalog.OpRemoveSource, Name: "s1"})
	var rej *catalog.RejectedError
	if !errors.As(err, &rej) || !errors.Is(err, catalog.ErrInUse) {
		t.Fatalf("removing a source in use: %v", err)
	}
}

func TestSourceHandlers(t *testing.T) {
	n := apiNode(t)
	ctx := context.Background()
	if _, err := n.ctl.apiSourceAdd(ctx, &Request{}); err == nil {
		t.Error("source add without a file")
	}
	if _, err := n.ctl.apiSourceAdd(ctx, &Request{Files: []File{{Name: "bad.yaml", Data: "source-id: [\n"}}}); err == nil || !strings.Contains(err.Error(), "bad.yaml") {
		t.Errorf("undecodable source file: %v", err)
	}
	// The seeded source carries no file; give it one as source add would.
	if err := n.propose(ctx, catalog.Command{Op: catalog.OpAddSource, Source: &catalog.Source{ID: "s2", File: "s2.yaml", YAML: strings.Replace(sourceYAML, "s1", "s2", 1)}}); err != nil {
		t.Fatal(err)
	}
	resp, err := n.ctl.apiSourceList(ctx, &Request{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Sources) != 2 {
		t.Fatalf("sources %+v", resp.Sources)
	}
	s1, s2 := resp.Sources[0], resp.Sources[1]
	if s1.ID != "s1" || strings.Join(s1.Tasks, ",") != "t" {
		t.Errorf("s1: %+v", s1)
	}
	if s2.Address != "10.0.0.7:3307" || s2.User != "dm" || len(s2.Tasks) != 0 {
		t.Errorf("s2: %+v", s2)
	}
}

func TestClusterStatusHandler(t *testing.T) {
	n := apiNode(t)
	if err := n.sched.proposeLeading(context.Background(), n.raft.CurrentTerm(), catalog.Command{Op: catalog.OpAssign, Assign: map[string]string{"tail/s1": n.id, "apply/t/s1": n.id}}); err != nil {
		t.Fatal(err)
	}
	resp, err := n.ctl.apiClusterStatus(context.Background(), &Request{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Members) != 1 {
		t.Fatalf("members %+v", resp.Members)
	}
	m := resp.Members[0]
	if m.ID != n.id || !m.Voter || !m.Leader || !m.Healthy || m.Actors != 2 || strings.Join(m.ActorIDs, ",") != "apply/t/s1,tail/s1" {
		t.Errorf("member %+v", m)
	}
}

func TestShardDDLHandlers(t *testing.T) {
	n := apiNode(t)
	ctx := context.Background()
	if _, err := n.ctl.apiDDLLocks(ctx, &Request{Name: "nope"}); err == nil {
		t.Error("locks of an unknown task")
	}
	resp, err := n.ctl.apiDDLLocks(ctx, &Request{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if l := resp.ShardLocks; l.Task != "t" || l.Locks == nil || l.Registered == nil || len(l.Locks) != 0 {
		t.Errorf("locks of a task without shard DDL: %+v", l)
	}
	if _, err := n.ctl.apiDDLUnlock(ctx, &Request{Name: "t"}); err == nil || !strings.Contains(err.Error(), "name the lock") {
		t.Errorf("unlock without a lock: %v", err)
	}
	if _, err := n.ctl.apiDDLUnlock(ctx, &Request{Name: "t", Shard: &ShardRequest{Lock: "db.tb"}}); err == nil || !strings.Contains(err.Error(), "no shard DDL locks") {
		t.Errorf("unlock in a task without locks: %v", err)
	}
}

func refOf(db, table string) schema.TableRef { return schema.TableRef{Schema: db, Name: table} }

// The shard DDL arguments as the CLI passes them: a lock by id or by
// target table, a member as source:schema.table, names maybe backquoted.
func TestShardArguments(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"t-`db`.`tb`", "t-`db`.`tb`"},
		{"db.tb", shardddl.LockID("t", refOf("db", "tb"))},
		{"`my db`.`t``b`", shardddl.LockID("t", refOf("my db", "t`b"))},
		{"plain", "plain"},
		{"`db.v2`.`tb`", shardddl.LockID("t", refOf("db.v2", "tb"))},
		{"`db`.`t.b`", shardddl.LockID("t", refOf("db", "t.b"))},
		{"`d``b.x`.tb", shardddl.LockID("t", refOf("d`b.x", "tb"))},
	} {
		if got := lockID("t", c.in); got != c.want {
			t.Errorf("lockID(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	m, err := parseMember("s1:`my db`.tb")
	if err != nil || m.Source != "s1" || m.Schema != "my db" || m.Table != "tb" {
		t.Errorf("parseMember: %+v %v", m, err)
	}
	if m, err := parseMember("s1:`shop.eu`.`orders.2024`"); err != nil || m.Schema != "shop.eu" || m.Table != "orders.2024" {
		t.Errorf("parseMember with dots in backquoted names: %+v %v", m, err)
	}
	for _, bad := range []string{"s1", "s1:db", ":db.tb", "s1:.tb"} {
		if _, err := parseMember(bad); err == nil {
			t.Errorf("parseMember(%q) accepted", bad)
		}
	}
	if a, b := requestID(), requestID(); a == b || !strings.HasPrefix(a, "api-") {
		t.Errorf("request ids %q %q", a, b)
	}
}

// Before JetStream is open, task status answers from the catalog alone and
// says why the progress is missing; an unknown task is an error.
func TestTaskStatusWithoutJetStream(t *testing.T) {
	n := apiNode(t)
	n.storeReady.Store(false)
	resp, err := n.ctl.apiTaskStatus(context.Background(), &Request{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Tasks) != 1 || len(resp.Tasks[0].Sources) != 1 {
		t.Fatalf("status %+v", resp.Tasks)
	}
	ts := resp.Tasks[0]
	if ss := ts.Sources[0]; ts.Name != "t" || ts.Mode != catalog.ModeIncremental || ts.State != catalog.Running ||
		ss.Stage != catalog.StageSync || !strings.Contains(ss.LastError, "jetstream is not available yet") {
		t.Errorf("status %+v", ts)
	}
	if _, err := n.ctl.apiTaskStatus(context.Background(), &Request{Name: "nope"}); err == nil {
		t.Error("status of an unknown task")
	}
}

// Streams get one copy per live node up to three.
func TestReplicas(t *testing.T) {
	n := &Node{}
	for live, want := range map[int]int{0: 1, 1: 1, 2: 2, 3: 3, 5: 3} {
		if got := n.replicas(live); got != want {
			t.Errorf("replicas(%d) = %d, want %d", live, got, want)
		}
	}
}

// Requests the handlers refuse before touching a database, each with an
// error that names what is wrong.
func TestRequestValidation(t *testing.T) {
	n := apiNode(t)
	ctx := context.Background()
	full := &catalog.Task{Name: "f", YAML: "f", Mode: catalog.ModeFull, Sources: map[string]*catalog.TaskSource{"s1": {}}}
	if err := n.propose(ctx, catalog.Command{Op: catalog.OpSubmitTask, Task: full}); err != nil {
		t.Fatal(err)
	}
	bad := []File{{Name: "task.yaml", Data: "name: [\n"}}
	for _, c := range []struct {
		name string
		h    handler
		req  *Request
		want string
	}{
		{"check without a file", n.ctl.apiTaskCheck, &Request{}, "exactly one task file"},
		{"check of an undecodable file", n.ctl.apiTaskCheck, &Request{Files: bad}, "task.yaml"},
		{"submit without a file", n.ctl.apiTaskSubmit, &Request{}, "exactly one task file"},
		{"submit of two files", n.ctl.apiTaskSubmit, &Request{Files: append(bad, bad...)}, "exactly one task file"},
		{"update without a file", n.ctl.apiTaskUpdate, &Request{}, "exactly one task file"},
		{"update of an undecodable file", n.ctl.apiTaskUpdate, &Request{Files: bad}, "task.yaml"},
		{"cutover with an unknown freeze", n.ctl.apiTaskCutover, &Request{Name: "t", Cutover: &Cutover{Freeze: "lock"}}, `freeze "lock"`},
		{"cutover with a long freeze", n.ctl.apiTaskCutover, &Request{Name: "t", Cutover: &Cutover{FreezeTimeout: time.Hour}}, "at most"},
		{"verify of an unknown task", n.ctl.apiTaskVerify, &Request{Name: "nope"}, "task nope not found"},
		{"verify while dumping", n.ctl.apiTaskVerify, &Request{Name: "f"}, "still in stage dump"},
	} {
		if _, err := c.h(ctx, c.req); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}
