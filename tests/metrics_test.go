package tests

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/dmnode/dmnode/tests/harness"
)

// A node's /metrics while a task syncs under load: rows move through dump,
// load and sync, every source has a replication lag, and it drops to 0 once
// the writes stop and the target has caught up. /healthz answers 200.
func TestMetrics(t *testing.T) {
	c := newCluster(t, 2)
	c.seed(300)
	c.addSources()
	task := c.partitionIDTask("metrics", "    threads: 2\n    rows: 50\n")
	w := startWriters(t, c.sources, 6)
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "metrics", "--stage", "sync", "--timeout", "3m")

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", c.httpPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %s", resp.Status)
	}

	// Every source's lag is exported once its applier has reported, and
	// the sync counters advance while the writers run.
	var first scrape
	harness.Eventually(t, 30*time.Second, func() error {
		first = c.scrape()
		for i := range c.sources {
			if _, ok := first.value("dmnode_replication_lag_seconds", "task", "metrics", "source", sourceID(i)); !ok {
				return fmt.Errorf("no dmnode_replication_lag_seconds for %s", sourceID(i))
			}
		}
		return nil
	})
	for _, phase := range []string{"dump", "load"} {
		if n := first.sum("dmnode_rows_total", "task", "metrics", "phase", phase); n < 600 {
			t.Errorf("dmnode_rows_total{phase=%q} = %v, want at least the 600 seeded rows", phase, n)
		}
	}
	if n := first.sum("dmnode_rows_total", "phase", "relay"); n == 0 {
		t.Error("no relayed rows counted")
	}
	if v, _ := first.value("dmnode_task_state", "task", "metrics", "state", "running"); v != 1 {
		t.Errorf("dmnode_task_state{state=running} = %v, want 1", v)
	}
	if v, _ := first.value("dmnode_raft_leader"); v != 1 {
		t.Errorf("dmnode_raft_leader = %v on the only node, want 1", v)
	}
	synced := first.sum("dmnode_rows_total", "task", "metrics", "phase", "sync")
	waitForOps(t, w, w.count()+300)
	harness.Eventually(t, 30*time.Second, func() error {
		second := c.scrape()
		for i := range c.sources {
			if _, ok := second.value("dmnode_replication_lag_seconds", "task", "metrics", "source", sourceID(i)); !ok {
				return fmt.Errorf("no dmnode_replication_lag_seconds for %s", sourceID(i))
			}
		}
		if now := second.sum("dmnode_rows_total", "task", "metrics", "phase", "sync"); now <= synced {
			return fmt.Errorf("sync rows did not move: %v, then %v", synced, now)
		}
		return nil
	})
	w.stop(t)

	c.expectEqual("dmtest.t", partitionIDQuery, "SELECT id, c, port FROM dmtest.t")
	harness.Eventually(t, 30*time.Second, func() error {
		s := c.scrape()
		for i := range c.sources {
			if lag, _ := s.value("dmnode_replication_lag_seconds", "task", "metrics", "source", sourceID(i)); lag != 0 {
				return fmt.Errorf("lag of %s is %vs after catching up", sourceID(i), lag)
			}
		}
		return nil
	})
	s := c.scrape()
	t.Logf("rows: dump %v, load %v, sync %v; sync inserts %v, updates %v, deletes %v",
		s.sum("dmnode_rows_total", "phase", "dump"), s.sum("dmnode_rows_total", "phase", "load"),
		s.sum("dmnode_rows_total", "phase", "sync"), s.sum("dmnode_rows_total", "phase", "sync", "op", "insert"),
		s.sum("dmnode_rows_total", "phase", "sync", "op", "update"), s.sum("dmnode_rows_total", "phase", "sync", "op", "delete"))
}

// scrape is one parsed /metrics answer.
type scrape map[string]*dto.MetricFamily

func (c *cluster) scrape() scrape {
	c.t.Helper()
	// A restarted node opens its HTTP port once JetStream is up, a moment
	// after its control API answers.
	var resp *http.Response
	harness.Eventually(c.t, time.Minute, func() (err error) {
		resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", c.httpPort))
		return err
	})
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		c.t.Fatalf("scrape: %s %v\n%s", resp.Status, err, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		c.t.Fatalf("parse scrape: %v", err)
	}
	return mfs
}

// series calls fn for every series of name whose labels match the
// name/value pairs given.
func (s scrape) series(name string, labels []string, fn func(float64)) {
	mf, ok := s[name]
	if !ok {
		return
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			fn(m.GetCounter().GetValue())
		case m.GetGauge() != nil:
			fn(m.GetGauge().GetValue())
		}
	}
}

// value returns the value of the one series matching labels.
func (s scrape) value(name string, labels ...string) (v float64, ok bool) {
	s.series(name, labels, func(x float64) { v, ok = x, true })
	return v, ok
}

// sum adds up the series matching labels.
func (s scrape) sum(name string, labels ...string) float64 {
	var total float64
	s.series(name, labels, func(x float64) { total += x })
	return total
}
