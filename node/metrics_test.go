package node

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/catalog"
)

// exported returns the dmnode_ metrics a node exports, with their labels,
// from the collectors' descriptions.
func exported(t *testing.T) map[string][]string {
	t.Helper()
	m := newMetrics(&Node{})
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range m.own {
			c.Describe(ch)
		}
		close(ch)
	}()
	nameRE := regexp.MustCompile(`fqName: "([^"]+)"`)
	labelsRE := regexp.MustCompile(`variableLabels: \{([^}]*)\}\}$`)
	out := map[string][]string{}
	for d := range ch {
		s := d.String()
		name := nameRE.FindStringSubmatch(s)
		labels := labelsRE.FindStringSubmatch(s)
		if name == nil || labels == nil {
			t.Fatalf("cannot read description %s", s)
		}
		if !strings.HasPrefix(name[1], "dmnode_") {
			t.Errorf("metric %s lacks the dmnode_ prefix", name[1])
		}
		var ls []string
		if labels[1] != "" {
			ls = strings.Split(labels[1], ",")
		}
		out[name[1]] = ls
	}
	return out
}

// ruleFile mirrors Prometheus's rule file format (rulefmt); decoding it
// strictly rejects keys Prometheus does not know.
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval,omitempty"`
		Rules    []struct {
			Record        string            `yaml:"record,omitempty"`
			Alert         string            `yaml:"alert,omitempty"`
			Expr          string            `yaml:"expr"`
			For           string            `yaml:"for,omitempty"`
			KeepFiringFor string            `yaml:"keep_firing_for,omitempty"`
			Labels        map[string]string `yaml:"labels,omitempty"`
			Annotations   map[string]string `yaml:"annotations,omitempty"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var promDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)

// TestMetricsAlertRules loads deploy/monitoring/alert-rules.yml as
// Prometheus would and checks that every alert is complete and queries
// only metrics and labels a node exports.
func TestMetricsAlertRules(t *testing.T) {
	names := exported(t)
	data, err := os.ReadFile("../deploy/monitoring/alert-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalWithOptions(data, &rf, yaml.Strict()); err != nil {
		t.Fatalf("alert-rules.yml: %v", err)
	}
	if len(rf.Groups) == 0 {
		t.Fatal("alert-rules.yml holds no groups")
	}
	groups, alerts := map[string]bool{}, map[string]bool{}
	for _, g := range rf.Groups {
		if g.Name == "" || groups[g.Name] {
			t.Errorf("group name %q empty or repeated", g.Name)
		}
		groups[g.Name] = true
		for _, r := range g.Rules {
			if r.Alert == "" || r.Record != "" {
				t.Errorf("group %s: rule %q%q: every rule must be an alert", g.Name, r.Alert, r.Record)
				continue
			}
			if alerts[r.Alert] {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			alerts[r.Alert] = true
			if !promDuration.MatchString(r.For) {
				t.Errorf("alert %s: for %q is not a Prometheus duration", r.Alert, r.For)
			}
			if sev := r.Labels["severity"]; !slices.Contains([]string{"info", "warning", "critical"}, sev) {
				t.Errorf("alert %s: severity %q, want info, warning or critical", r.Alert, sev)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("alert %s: no %s annotation", r.Alert, a)
				}
			}
			if !strings.Contains(r.Annotations["description"], "`dmnode ") && !strings.Contains(r.Annotations["description"], "`systemctl ") {
				t.Errorf("alert %s: the description names no command for the operator to run", r.Alert)
			}
			checkExpr(t, "alert "+r.Alert, r.Expr, names)
		}
	}
}

// TestMetricsDashboard checks that every query of the Grafana dashboard
// uses metrics and labels a node exports.
func TestMetricsDashboard(t *testing.T) {
	names := exported(t)
	data, err := os.ReadFile("../deploy/monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	queried := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			for _, n := range checkExpr(t, "panel "+p.Title, q.Expr, names) {
				queried[n] = true
			}
		}
	}
	for _, v := range dash.Templating.List {
		if v.Definition != "" {
			checkExpr(t, "variable "+v.Name, v.Definition, names)
		}
	}
	for _, want := range []string{"dmnode_replication_lag_seconds", "dmnode_rows_total", "dmnode_remaining_seconds",
		"dmnode_actor_errors_total", "dmnode_jetstream_pending_messages", "dmnode_raft_leader", "dmnode_cluster_members"} {
		if !queried[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
}

var (
	metricRE   = regexp.MustCompile(`\bdmnode_[a-zA-Z0-9_]+`)
	selectorRE = regexp.MustCompile(`\b(dmnode_[a-zA-Z0-9_]+)\{([^}]*)\}`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
)

// checkExpr checks that expr names only exported metrics, selects them only
// by labels they have, and has balanced brackets; it returns the metrics.
func checkExpr(t *testing.T, where, expr string, names map[string][]string) []string {
	t.Helper()
	if strings.TrimSpace(expr) == "" {
		t.Errorf("%s: empty expression", where)
	}
	depth := 0
	for _, r := range expr {
		switch r {
		case '(', '{', '[':
			depth++
		case ')', '}', ']':
			depth--
		}
		if depth < 0 {
			break
		}
	}
	if depth != 0 {
		t.Errorf("%s: unbalanced brackets in %q", where, expr)
	}
	used := metricRE.FindAllString(expr, -1)
	if len(used) == 0 && !strings.HasPrefix(expr, "up{") {
		t.Errorf("%s: %q queries no dmnode metric", where, expr)
	}
	for _, n := range used {
		if _, ok := names[n]; !ok {
			t.Errorf("%s: %s is not a metric dmnode exports", where, n)
		}
	}
	for _, sel := range selectorRE.FindAllStringSubmatch(expr, -1) {
		for _, m := range matcherRE.FindAllStringSubmatch(sel[2], -1) {
			if !slices.Contains(names[sel[1]], m[1]) {
				t.Errorf("%s: %s has no label %s (it has %v)", where, sel[1], m[1], names[sel[1]])
			}
		}
	}
	return used
}

// Actors' counts reach the node's registry under their task and source.
func TestMetricsActorCounts(t *testing.T) {
	m := newMetrics(&Node{})
	spec := catalog.ActorSpec{Kind: catalog.KindApply, Task: "t1", Source: "s1"}
	am := m.actor(spec)
	am.Rows(actors.PhaseSync, "insert", 3)
	am.Rows(actors.PhaseSync, "insert", 2)
	am.Rows(actors.PhaseSync, "delete", 1)
	am.Pending("BINLOG_s1", 7)
	m.actorError(spec, true)
	if got := value(t, m, "dmnode_rows_total", "t1", "s1", "sync", "insert"); got != 5 {
		t.Errorf("sync inserts = %v, want 5", got)
	}
	if got := value(t, m, "dmnode_actor_errors_total", "apply", "t1", "s1", "permanent"); got != 1 {
		t.Errorf("permanent errors = %v, want 1", got)
	}
	if got := value(t, m, "dmnode_jetstream_pending_messages", "t1", "s1", "BINLOG_s1"); got != 7 {
		t.Errorf("pending = %v, want 7", got)
	}
	m.forget(spec)
	if got := value(t, m, "dmnode_jetstream_pending_messages", "t1", "s1", "BINLOG_s1"); got != -1 {
		t.Errorf("pending after the actor stopped = %v, want no series", got)
	}
	if _, err := m.reg.Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
}

// value gathers m's registry and returns the value of the series of name
// whose label values, in label name order, are values; -1 when absent.
func value(t *testing.T, m *metrics, name string, values ...string) float64 {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range s.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			want := exported(t)[name]
			for i, l := range want {
				if got[l] != values[i] {
					continue series
				}
			}
			switch {
			case s.GetCounter() != nil:
				return s.GetCounter().GetValue()
			case s.GetGauge() != nil:
				return s.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func TestMetricsFileGap(t *testing.T) {
	for _, c := range []struct {
		up, applied string
		gap         int
		ok          bool
	}{
		{"mysql-bin.000012:400", "mysql-bin.000012:100", 0, true},
		{"mysql-bin.000014:4", "mysql-bin.000012:100 (0-1-5)", 2, true},
		{"-", "mysql-bin.000012:100", 0, false},
	} {
		gap, ok := fileGap(c.up, c.applied)
		if gap != c.gap || ok != c.ok {
			t.Errorf("fileGap(%q, %q) = %d, %v; want %d, %v", c.up, c.applied, gap, ok, c.gap, c.ok)
		}
	}
}

// The remaining time follows the rate of progress: for dump and load what
// is left over the rate; for sync the lag over how fast it shrinks.
func TestMetricsRemaining(t *testing.T) {
	c := newTaskCollector(nodeMetrics{&Node{}})
	t0 := time.Unix(1_000_000, 0)
	k := etaKey{"t", "s", "dump"}
	if _, ok := c.estimate(k, t0, 100, 0, false); ok {
		t.Fatal("an estimate from one sample")
	}
	eta, ok := c.estimate(k, t0.Add(10*time.Second), 80, 20, false) // 2 chunks/s
	if !ok || eta != 40 {
		t.Fatalf("dump eta = %v, %v; want 40", eta, ok)
	}
	// Sync: applied event time advances 3 s per second, so a 60 s lag
	// shrinks by 2 s per second.
	k = etaKey{"t", "s", "sync"}
	c.estimate(k, t0, 90, 0, true)
	eta, ok = c.estimate(k, t0.Add(10*time.Second), 60, 30, true)
	if !ok || eta != 30 {
		t.Fatalf("sync eta = %v, %v; want 30", eta, ok)
	}
	if eta, ok := c.estimate(k, t0.Add(11*time.Second), 0, 100, true); !ok || eta != 0 {
		t.Fatalf("caught up: eta = %v, %v; want 0", eta, ok)
	}
	// Not catching up (the applied event time stands still): no estimate.
	k = etaKey{"t", "s2", "sync"}
	c.estimate(k, t0, 10, 100, true)
	if _, ok := c.estimate(k, t0.Add(10*time.Second), 20, 100, true); ok {
		t.Fatal("an estimate while the lag grows")
	}
}
