package plan

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
)

const taskYAML = `name: orders
task-mode: all
target-database:
  host: 127.0.0.1
  port: 4000
  user: root
  password: ""
mysql-instances:
  - source-id: s1
    block-allow-list: ba
    route-rules: [merge]
  - source-id: s2
    block-allow-list: ba
    route-rules: [merge]
    validator-config-name: check
block-allow-list:
  ba:
    do-dbs: [shop]
validators:
  check:
    mode: full
routes:
  merge:
    schema-pattern: shop
    table-pattern: "order_*"
    target-schema: shop
    target-table: orders
`

func sourceYAML(id string, port int) string {
	return fmt.Sprintf("source-id: %s\nfrom:\n  host: 127.0.0.1\n  user: root\n  password: \"\"\n  port: %d\n", id, port)
}

func catTask(yaml string) *catalog.Task {
	return &catalog.Task{Name: "orders", File: "orders.yaml", YAML: yaml}
}

func catSource(id string, port int) *catalog.Source {
	return &catalog.Source{ID: id, File: id + ".yaml", YAML: sourceYAML(id, port)}
}

// A version is decoded once: the same pointer for the same version, a new
// plan for a new version, and the older one still served while kept.
func TestCacheVersions(t *testing.T) {
	c := NewCache()
	updated := strings.Replace(taskYAML, "mode: full", "mode: fast", 1)
	steps := []struct {
		name    string
		task    *catalog.Task
		same    int // index of the step whose plan this one must be, -1 a new one
		decoded int64
	}{
		{"first read decodes", catTask(taskYAML), -1, 1},
		{"same version: same plan", catTask(taskYAML), 0, 0},
		{"same text in a new record: same plan", &catalog.Task{Name: "orders", File: "orders.yaml", YAML: strings.Clone(taskYAML)}, 0, 0},
		{"new version: rebuilt", catTask(updated), -1, 1},
		{"new version again: same plan", catTask(updated), 3, 0},
		{"old version still kept", catTask(taskYAML), 0, 0},
		{"another file name is another version", &catalog.Task{Name: "orders", File: "other.yaml", YAML: taskYAML}, -1, 1},
		{"a third version dropped the least recent", catTask(updated), -1, 1},
	}
	var plans []*Plan
	for _, s := range steps {
		before := Decodes()
		p, err := c.Get(s.task)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := Decodes() - before; got != s.decoded {
			t.Errorf("%s: %d decodes, want %d", s.name, got, s.decoded)
		}
		if s.same >= 0 && p != plans[s.same] {
			t.Errorf("%s: another plan than step %d's", s.name, s.same)
		}
		for i, q := range plans {
			if s.same < 0 && p == q {
				t.Errorf("%s: the plan of step %d again", s.name, i)
			}
		}
		plans = append(plans, p)
	}
	if got := plans[3].Task.MySQLInstances[1].Validate.Mode; got != config.ValidateFast {
		t.Errorf("updated plan: validator mode %q, want fast", got)
	}
	if got := plans[0].Task.MySQLInstances[1].Validate.Mode; got != config.ValidateFull {
		t.Errorf("first plan: validator mode %q, want full", got)
	}
}

// A file that does not decode gives config's error, naming file, line and
// key, and is not kept: the next call decodes again.
func TestCacheBadFile(t *testing.T) {
	c := NewCache()
	bad := strings.Replace(taskYAML, "route-rules: [merge]\n  - source-id: s2", "route-rulez: [merge]\n  - source-id: s2", 1)
	want := "orders.yaml:11:5: mysql-instances[0].route-rulez: unknown key"
	for i := range 2 {
		before := Decodes()
		p, err := c.Get(catTask(bad))
		if p != nil || err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("call %d: plan %v, error %v; want the error %q", i, p, err, want)
		}
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Errorf("call %d: error %T is not a *config.Error", i, err)
		}
		if Decodes()-before != 1 {
			t.Errorf("call %d: %d decodes, want 1 (errors are not kept)", i, Decodes()-before)
		}
	}
	if _, err := c.Get(catTask(taskYAML)); err != nil {
		t.Fatalf("good version after a bad one: %v", err)
	}
}

// The cache holds a bounded number of tasks and versions.
func TestCacheBounded(t *testing.T) {
	c := NewCache()
	for i := range maxTasks + 10 {
		tk := &catalog.Task{Name: fmt.Sprintf("t%d", i), File: "t.yaml", YAML: taskYAML}
		if _, err := c.Get(tk); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.tasks) > maxTasks {
		t.Errorf("%d tasks kept, want at most %d", len(c.tasks), maxTasks)
	}
	for i := range 5 {
		tk := catTask(strings.Replace(taskYAML, "port: 4000", fmt.Sprintf("port: %d", 4000+i), 1))
		if _, err := c.Get(tk); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.tasks["orders"]); n != keepVersions {
		t.Errorf("%d versions of a task kept, want %d", n, keepVersions)
	}
}

// A source's part is compiled once per version of the source's file, with
// the instance of that source, and errors name the source and the step.
func TestPlanSource(t *testing.T) {
	p, err := NewCache().Get(catTask(taskYAML))
	if err != nil {
		t.Fatal(err)
	}
	s1, err := p.Source(catSource("s1", 3306))
	if err != nil {
		t.Fatal(err)
	}
	if s1.Instance != &p.Task.MySQLInstances[0] || s1.Config.From.Port != 3306 || s1.ID != "s1" {
		t.Errorf("s1: instance %p (want %p), port %d", s1.Instance, &p.Task.MySQLInstances[0], s1.Config.From.Port)
	}
	if ts, tt, err := s1.Rules.Route("shop", "order_1"); err != nil || ts+"."+tt != "shop.orders" {
		t.Errorf("s1 routes shop.order_1 to %s.%s (%v), want shop.orders", ts, tt, err)
	}
	if again, _ := p.Source(catSource("s1", 3306)); again != s1 {
		t.Error("same source version: compiled again")
	}
	moved, err := p.Source(catSource("s1", 3307))
	if err != nil || moved == s1 || moved.Config.From.Port != 3307 {
		t.Errorf("new source version: %v, %v; want a new part on port 3307", moved, err)
	}
	s2, err := p.Source(catSource("s2", 3308))
	if err != nil || s2.Instance.Validate.Mode != config.ValidateFull {
		t.Errorf("s2: %v, %v", s2, err)
	}

	cases := []struct {
		name string
		src  *catalog.Source
		op   string
		msg  string
	}{
		{"source not in the task", catSource("s3", 3309), OpInstance, `task "orders" has no mysql-instance for source "s3"`},
		{"source file does not decode", &catalog.Source{ID: "s1", File: "s1.yaml", YAML: "source-id: s1\nfrom:\n  hots: x\n"},
			OpDecode, "s1.yaml:3:3: from.hots: unknown key (did you mean host?)"},
	}
	for _, tc := range cases {
		_, err := p.Source(tc.src)
		var se *SourceError
		if !errors.As(err, &se) || se.Op != tc.op || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v; want a %s error containing %q", tc.name, err, tc.op, tc.msg)
		}
		if tc.op == OpDecode && (!strings.HasPrefix(err.Error(), `decode source "s1": `) || !strings.HasPrefix(Cause(err).Error(), "s1.yaml:")) {
			t.Errorf("%s: cause %q does not start with the file", tc.name, Cause(err))
		}
	}
}

// Readers of one version at once get one decoding and one plan; the race
// detector checks that reading a shared plan is safe.
func TestCacheConcurrentReaders(t *testing.T) {
	c := NewCache()
	before := Decodes()
	const readers = 16
	plans := make([]*Plan, readers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := c.Get(catTask(taskYAML))
			if err != nil {
				t.Error(err)
				return
			}
			s, err := p.Source(catSource(fmt.Sprintf("s%d", 1+i%2), 3306))
			if err != nil {
				t.Error(err)
				return
			}
			if _, _, err := s.Rules.Route("shop", "order_9"); err != nil {
				t.Error(err)
			}
			_ = p.Task.TargetDatabase.Host
			plans[i] = p
		}()
	}
	wg.Wait()
	if got := Decodes() - before; got != 1 {
		t.Errorf("%d decodes for %d concurrent readers, want 1", got, readers)
	}
	for i, p := range plans {
		if p != plans[0] {
			t.Errorf("reader %d got another plan", i)
		}
	}
}

// The validator modes come from the decoded file: a source without a
// validator-config-name has none; a new version of the file its own.
func TestPlanValidators(t *testing.T) {
	c := NewCache()
	p, err := c.Get(catTask(taskYAML))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Validators(); len(got) != 1 || got["s2"] != config.ValidateFull {
		t.Errorf("validators = %v, want s2: full", got)
	}
	q, err := c.Get(catTask(strings.Replace(taskYAML, "mode: full", "mode: fast", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Validators(); len(got) != 1 || got["s2"] != config.ValidateFast {
		t.Errorf("validators of the new version = %v, want s2: fast", got)
	}
	off, err := c.Get(catTask(strings.Replace(taskYAML, "mode: full", "mode: none", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := off.Validators(); len(got) != 0 {
		t.Errorf("validators with mode none = %v, want none", got)
	}
}
