package node

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/plan"
)

const planTaskYAML = `name: orders
task-mode: all
target-database: {host: 127.0.0.1, port: 4000, user: root, password: ""}
mysql-instances:
  - source-id: s1
    block-allow-list: ba
  - source-id: s2
    block-allow-list: ba
    validator-config-name: check
block-allow-list:
  ba:
    do-dbs: [shop]
validators:
  check:
    mode: full
`

// The status, the placement and the actors of a task read one decoding of
// each version of its file: reading it again decodes nothing, an update
// decodes the new version once.
func TestTaskDecodedOncePerVersion(t *testing.T) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := newFSM()
	for _, c := range []catalog.Command{
		{Op: catalog.OpAddSource, Source: &catalog.Source{ID: "s1", File: "s1.yaml", YAML: "source-id: s1\nfrom: {host: 127.0.0.1, port: 3306, user: root, password: \"\"}\n"}},
		{Op: catalog.OpAddSource, Source: &catalog.Source{ID: "s2", File: "s2.yaml", YAML: "source-id: s2\nfrom: {host: 127.0.0.1, port: 3307, user: root, password: \"\"}\n"}},
		{Op: catalog.OpSubmitTask, Task: &catalog.Task{Name: "orders", File: "orders.yaml", YAML: planTaskYAML, Mode: catalog.ModeAll,
			Sources: map[string]*catalog.TaskSource{"s1": {}, "s2": {}}}},
	} {
		if err := applyEntry(t, f, 1, c); err != nil {
			t.Fatal(err)
		}
	}
	tc := newFakeControl()
	tc.control.fsm, tc.cmd.f = f, f
	n := tc.control
	env := actors.Env{Node: "n1", Catalog: f.State, Log: discard}
	ctx := context.Background()

	// readAll reads the task as a node does: its status, the placement of
	// its validators, the start of its appliers and validators (which stop
	// at once: the sources are still in stage dump).
	readAll := func(wantValidator bool) {
		t.Helper()
		for range 3 {
			st := f.State()
			ts, err := n.taskStatusWith(ctx, st.Tasks["orders"], nil)
			if err != nil || len(ts.Sources) != 2 || ts.Sources[0].Stage != catalog.StageDump {
				t.Fatalf("status: %+v, %v", ts, err)
			}
			desired := withValidators(st, []catalog.ActorSpec{
				{Kind: catalog.KindApply, Task: "orders", Source: "s1"},
				{Kind: catalog.KindApply, Task: "orders", Source: "s2"},
			})
			var ids []string
			for _, a := range desired {
				ids = append(ids, a.ID())
			}
			if got := strings.Join(ids, " "); (strings.Contains(got, actors.KindValidate+"/") != wantValidator) || len(ids) < 2 {
				t.Fatalf("placement: %s; want a validator: %v", got, wantValidator)
			}
			for _, spec := range desired {
				a, err := actors.New(spec, env)
				if err != nil {
					t.Fatal(err)
				}
				if err := a.Run(ctx); err != nil {
					t.Fatalf("%s: %v", spec.ID(), err)
				}
			}
		}
	}
	before := plan.Decodes()
	readAll(true)
	if got := plan.Decodes() - before; got != 1 {
		t.Fatalf("first version: %d decodes, want 1", got)
	}

	updated := strings.Replace(planTaskYAML, "mode: full", "mode: none", 1)
	if err := applyEntry(t, f, 1, catalog.Command{Op: catalog.OpUpdateTask, Task: &catalog.Task{Name: "orders", File: "orders.yaml", YAML: updated}}); err != nil {
		t.Fatal(err)
	}
	readAll(false)
	if got := plan.Decodes() - before; got != 2 {
		t.Fatalf("after an update: %d decodes, want 2", got)
	}

	// An actor of a source the task does not have fails as before.
	a, _ := actors.New(catalog.ActorSpec{Kind: catalog.KindApply, Task: "orders", Source: "s3"}, env)
	if err := a.Run(ctx); err == nil || !actors.IsPermanent(err) || !strings.Contains(err.Error(), `task "orders" has no source "s3"`) {
		t.Errorf("applier of an unknown source: %v", err)
	}
}
