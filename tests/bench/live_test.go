package bench

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dmnode/dmnode/tests/harness"
)

// The live workloads (steady, failover) replicate schema.sbtest1 and
// schema.marker of every source into dst.sbtest1 and dst.marker on the
// target with a task-mode all merge task, while writers and markers run.

// prepareLive recreates schema on every source, with base rows in sbtest1
// and an empty marker table, and the merged tables in dst on the target.
func (e *env) prepareLive(t *testing.T, schema, dst string) {
	g := errgroup.Group{}
	for i, s := range e.sources {
		execAll(t, e.srcDB[i], "DROP DATABASE IF EXISTS "+schema, "CREATE DATABASE "+schema,
			fmt.Sprintf(sbtestDDL, schema+".sbtest1"), fmt.Sprintf(markerDDL, schema+".marker"))
		db := openDB(t, s, schema)
		g.Go(func() error { return seed(db, "sbtest1", i+1, e.cfg.BaseRows) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	e.resetMerged(t, e.tgtDB, dst, "sbtest1", "marker")
}

// liveTaskYAML merges schema.sbtest1 and schema.marker of every source into
// dst, extracting the source id into c_source, with the applier's defaults.
func (e *env) liveTaskYAML(name, schema, dst string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\ntask-mode: all\nis-sharding: true\ntarget-database:\n  host: 127.0.0.1\n  port: %d\n  user: root\n  password: \"\"\nmysql-instances:\n",
		name, e.target.Port)
	for i := range e.sources {
		fmt.Fprintf(&b, "  - source-id: %q\n    block-allow-list: live\n    route-rules: [rows, markers]\n", sourceID(i))
	}
	fmt.Fprintf(&b, "block-allow-list:\n  live:\n    do-dbs: [%s]\nroutes:\n", schema)
	for _, r := range []struct{ name, table string }{{"rows", "sbtest1"}, {"markers", "marker"}} {
		fmt.Fprintf(&b, `  %s:
    schema-pattern: %s
    table-pattern: %s
    target-schema: %s
    target-table: %s
    extract-source:
      source-regexp: "mysql-replica-(.*)"
      target-column: c_source
`, r.name, schema, r.table, dst, r.table)
	}
	return b.String()
}

// live is a running write load: a paced mixer and a marker writer per
// source, and a poller measuring lag on the target.
type live struct {
	lag    *lagMeter
	start  time.Time
	events atomic.Int64

	stopWrites context.CancelFunc
	writers    errgroup.Group
	stopPoll   context.CancelFunc
	poller     errgroup.Group
	stopped    time.Time
}

// startLive starts writing rate row events per second over all sources
// into schema, and measuring lag on dst.marker of the target.
func (e *env) startLive(t *testing.T, schema, dst string, rate float64) *live {
	return e.startLiveOn(t, schema, rate, e.tgtDB, dst+".marker")
}

// startLiveOn is startLive measuring lag on db's markers: a table or a
// derived table with the columns c_source (tagIndex's "01".."03") and id.
func (e *env) startLiveOn(t *testing.T, schema string, rate float64, db *sql.DB, markers string) *live {
	l := &live{lag: newLagMeter(len(e.sources)), start: time.Now()}
	wctx, stopWrites := context.WithCancel(context.Background())
	pctx, stopPoll := context.WithCancel(context.Background())
	l.stopWrites, l.stopPoll = stopWrites, stopPoll
	l.poller.Go(func() error { return l.lag.poll(pctx, db, markers, tagIndex) })
	for i := range e.sources {
		db := e.srcDB[i]
		m := newMixer(schema+".sbtest1", i+1, e.cfg.BaseRows, uint64(time.Now().UnixNano()))
		l.writers.Go(func() error {
			n, err := m.paced(wctx, db, rate/float64(len(e.sources)))
			l.events.Add(int64(n))
			return err
		})
		l.writers.Go(func() error { return l.lag.mark(wctx, db, i, schema+".marker") })
	}
	t.Cleanup(func() { // on a failed test: stop everything before the servers go
		stopWrites()
		stopPoll()
		_ = l.writers.Wait()
		_ = l.poller.Wait()
	})
	return l
}

// finish stops the writers, waits until every marker reached the target
// (failing the test after timeout) and stops the poller. It returns the
// row events written and the rate they were written at.
func (l *live) finish(t *testing.T, timeout time.Duration) (events int64, rate float64) {
	t.Helper()
	l.stopWrites()
	if err := l.writers.Wait(); err != nil {
		t.Fatal(err)
	}
	l.stopped = time.Now()
	deadline := time.Now().Add(timeout)
	for !l.lag.caughtUp() {
		if time.Now().After(deadline) {
			t.Fatalf("the target did not receive every marker within %v of the writes ending", timeout)
		}
		time.Sleep(pollEvery)
	}
	l.stopPoll()
	if err := l.poller.Wait(); err != nil {
		t.Fatal(err)
	}
	events = l.events.Load()
	return events, float64(events) / l.stopped.Sub(l.start).Seconds()
}

// currentLag is the lag at the latest poll.
func (l *live) currentLag() time.Duration {
	l.lag.mu.Lock()
	defer l.lag.mu.Unlock()
	if len(l.lag.series) == 0 {
		return 0
	}
	return l.lag.series[len(l.lag.series)-1].lag
}

// verifyLive compares every source's tables with their rows in dst. The
// last marker can reach the target a moment before rows written earlier
// upstream (a batch's rows commit on several connections), so a difference
// is looked at again for up to 30 seconds before it counts.
func (e *env) verifyLive(t testing.TB, db *sql.DB, schema, dst string) {
	t.Helper()
	start := time.Now()
	err := harness.Within(30*time.Second, func() error {
		for i := range e.sources {
			for _, tc := range []struct {
				table string
				cols  []string
			}{{"sbtest1", sbtestCols}, {"marker", []string{"id", "ts"}}} {
				diff, err := sameTable(e.srcDB[i], schema+"."+tc.table, db, dst+"."+tc.table, "c_source = '"+sourceTag(i)+"'", tc.cols)
				if err != nil {
					return err
				}
				if diff != "" {
					return fmt.Errorf("rows differ: %s", diff)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Logf("source and target equal after %.1fs", d.Seconds())
	}
}
