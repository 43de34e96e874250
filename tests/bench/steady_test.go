package bench

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
	"golang.org/x/sync/errgroup"
)

// Without a measured ceiling (neither incr nor full ran) and without
// BENCH_STEADY_RATE, steady writes this many row events per second.
const defaultSteadyRate = 10_000

// saturatedLag ends the steady write phase early: past it the applier is not
// keeping up, and writing on only lengthens the catch-up.
const saturatedLag = 30 * time.Second

// steadyPoint is one rate the steady workload writes at.
type steadyPoint struct {
	label string // the contender column: what the rate is half of
	rate  float64
	why   string
}

// steadyRates are the rates the steady workload offers: BENCH_STEADY_RATE
// alone when set; otherwise half the apply ceiling measured by incr (the
// MariaDB replica's catch-up rate of the same transaction mix) or, without
// incr, half the full copy's INSERT ceiling, or a fixed default; and, when
// dmnode's own catch-up rate is lower, also half of that, which shows the
// lag of a pipeline that is not saturated.
func (e *env) steadyRates() []steadyPoint {
	if e.cfg.SteadyRate > 0 {
		return []steadyPoint{{"dmnode", float64(e.cfg.SteadyRate), "BENCH_STEADY_RATE"}}
	}
	var pts []steadyPoint
	if r := e.rep.find("incr", "MariaDB replica", "events/s"); r != nil && r.Median > 0 {
		pts = append(pts, steadyPoint{"dmnode @½ ceiling", r.Median / 2,
			fmt.Sprintf("50%% of the MariaDB replica's catch-up rate of the same mix (%s row events/s), the apply ceiling measured by incr", num(r.Median))})
	} else if r := e.rep.find("full", "INSERT ceiling", "rows/s"); r != nil && r.Median > 0 {
		pts = append(pts, steadyPoint{"dmnode @½ ceiling", r.Median / 2,
			fmt.Sprintf("50%% of the target's INSERT ceiling (%s rows/s) measured by full; incr did not run", num(r.Median))})
	} else {
		pts = append(pts, steadyPoint{"dmnode", defaultSteadyRate, "a fixed default: neither incr nor full ran to measure a ceiling"})
	}
	if r := e.rep.find("incr", "dmnode", "events/s"); r != nil && r.Median > 0 && r.Median/2 < pts[0].rate {
		pts = append(pts, steadyPoint{"dmnode @½ own", r.Median / 2,
			fmt.Sprintf("50%% of dmnode's own catch-up rate (%s row events/s) measured by incr", num(r.Median))})
	}
	return pts
}

// runSteady writes at a constant rate with a dmnode dev node replicating,
// and measures the lag of every marker, at every rate of steadyRates; then,
// unless BENCH_STEADY_PEER=0, with a MariaDB parallel replica following the
// same sources at the same rates.
func (e *env) runSteady(t *testing.T) {
	for i, pt := range e.steadyRates() {
		t.Run(fmt.Sprint(i+1), func(t *testing.T) { e.steadyAt(t, pt) })
		if t.Failed() {
			t.FailNow()
		}
		if !e.cfg.SteadyPeer {
			continue
		}
		t.Run(fmt.Sprintf("%d/replica", i+1), func(t *testing.T) { e.steadyReplicaAt(t, pt) })
		if t.Failed() {
			t.FailNow()
		}
	}
}

// steadyRun is what one steady run measured.
type steadyRun struct {
	p50, p99, max, rate float64
	note                string
}

// steadyRuns collects the runs of one contender at one rate.
type steadyRuns struct {
	p50s, p99s, maxs, achieved, rss []float64
	notes                           string
}

func (s *steadyRuns) add(r steadyRun) {
	s.p50s, s.p99s, s.maxs = append(s.p50s, r.p50), append(s.p99s, r.p99), append(s.maxs, r.max)
	s.achieved = append(s.achieved, r.rate)
	if r.note != "" {
		s.notes = r.note
	}
}

// report adds the runs to the report as contender label.
func (e *env) reportSteady(label string, pt steadyPoint, s *steadyRuns, what string) {
	e.rep.add("steady", label, "lag p50", "s", lowerIsBetter, s.p50s...).Note =
		fmt.Sprintf("offered %.0f row events/s for %v: %s; %s; lag = marker row written upstream → seen on the target by a %v poll",
			pt.rate, e.cfg.SteadyFor, pt.why, what, pollEvery)
	e.rep.add("steady", label, "lag p99", "s", lowerIsBetter, s.p99s...)
	e.rep.add("steady", label, "lag max", "s", lowerIsBetter, s.maxs...)
	res := e.rep.add("steady", label, "write rate", "row events/s", higherIsBetter, s.achieved...)
	if s.notes != "" {
		res.Note = s.notes
	}
	if len(s.rss) > 0 {
		e.rep.add("steady", label, "peak RSS", "MiB", lowerIsBetter, s.rss...)
	}
}

// measureSteady writes at pt's rate for SteadyFor (less when the lag
// passes saturatedLag), waits until every marker arrived, and returns the
// lag's percentiles. who names the follower in the notes.
func (e *env) measureSteady(t *testing.T, l *live, run int, who string) steadyRun {
	var note string
	deadline := time.Now().Add(e.cfg.SteadyFor)
	for time.Now().Before(deadline) {
		if l.currentLag() > saturatedLag {
			note = fmt.Sprintf("run %d: lag passed %v after %v: %s does not keep up with this rate; writes stopped early, so lag max/p99 are bounded by that cut-off",
				run, saturatedLag, time.Since(l.start).Round(time.Second), who)
			t.Log(note)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	events, got := l.finish(t, 10*time.Minute)
	p50, p99, pmax, n := l.lag.percentiles()
	t.Logf("%s: %d row events at %.0f/s; lag over %d markers: p50 %.3fs p99 %.3fs max %.3fs", who, events, got, n, p50, p99, pmax)
	// When the lag rose, to match with the follower's log.
	t.Logf("%s: lag ≥ 0.5s, seconds after the start at %s: %s", who, l.start.Format("15:04:05.000"), lagSpells(l.lag.series, l.start, 500*time.Millisecond))
	return steadyRun{p50: p50, p99: p99, max: pmax, rate: got, note: note}
}

func (e *env) steadyAt(t *testing.T, pt steadyPoint) {
	var runs steadyRuns
	for r := range e.cfg.SlowRuns {
		t.Run(fmt.Sprint(r+1), func(t *testing.T) {
			e.prepareLive(t, "steady", "bench_steady")
			d := startDev(t, e.bin)
			d.cli(t, append([]string{"source", "add"}, e.srcYAML...)...)
			name := fmt.Sprintf("steady-%d", r+1)
			d.cli(t, "task", "submit", writeFile(t, t.TempDir(), "task.yaml", e.liveTaskYAML(name, "steady", "bench_steady")))
			d.waitStage(t, name, "sync", 5*time.Minute)
			t.Logf("writing %.0f row events/s for %v (%s)", pt.rate, e.cfg.SteadyFor, pt.why)
			l := e.startLive(t, "steady", "bench_steady", pt.rate)
			profiled := d.profileCPU(t, name, pprofSecs(20))
			run := e.measureSteady(t, l, r+1, "dmnode")
			profiled()
			peak, _, err := procStats(d.proc.Pid())
			if err != nil {
				t.Fatal(err)
			}
			e.verifyLive(t, e.tgtDB, "steady", "bench_steady")
			t.Logf("peak RSS %.0f MiB", peak)
			runs.add(run)
			runs.rss = append(runs.rss, peak)
		})
		if t.Failed() {
			t.FailNow()
		}
	}
	e.reportSteady(pt.label, pt, &runs, "dmnode dev node, the task's defaults")
}

// steadyReplicaAt measures the peer at pt's rate: a MariaDB replica with
// one replication connection per source (parallel, optimistic mode, as in
// incr), each source's database renamed on the way (replicate_rewrite_db)
// so that the three sources' rows stay apart, as a merge keeps them apart
// by c_source.
func (e *env) steadyReplicaAt(t *testing.T, pt steadyPoint) {
	var runs steadyRuns
	label := "MariaDB replica" + strings.TrimPrefix(pt.label, "dmnode")
	threads := e.cfg.Threads * len(e.sources)
	for r := range e.cfg.SlowRuns {
		t.Run(fmt.Sprint(r+1), func(t *testing.T) {
			e.prepareLive(t, "steady", "bench_steady")
			args := append(slices.Clone(serverArgs), "--log-slave-updates", "--skip-slave-start",
				fmt.Sprintf("--slave-parallel-threads=%d", threads), "--slave-parallel-mode=optimistic")
			rep := harness.StartMariaDB(t, harness.Options{ServerID: 300, ExtraArgs: args})
			db := rep.DB(t)
			var markers []string
			g := errgroup.Group{}
			for i, s := range e.sources {
				local := fmt.Sprintf("steady%d", i+1)
				execAll(t, db, "CREATE DATABASE "+local, fmt.Sprintf(sbtestDDL, local+".sbtest1"), fmt.Sprintf(markerDDL, local+".marker"))
				ldb := openDB(t, rep, local)
				g.Go(func() error { return seed(ldb, "sbtest1", i+1, e.cfg.BaseRows) })
				pos, err := masterPos(e.srcDB[i])
				if err != nil {
					t.Fatal(err)
				}
				conn := fmt.Sprintf("s%d", i+1)
				execAll(t, db, fmt.Sprintf("CHANGE MASTER '%s' TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='root', MASTER_PASSWORD='', MASTER_LOG_FILE='%s', MASTER_LOG_POS=%d, MASTER_USE_GTID=no",
					conn, s.Port, pos.File, pos.Pos),
					fmt.Sprintf("SET GLOBAL %s.slave_parallel_mode = 'optimistic'", conn),
					fmt.Sprintf("SET GLOBAL %s.replicate_rewrite_db = 'steady->%s'", conn, local))
				markers = append(markers, fmt.Sprintf("SELECT '%02d' AS c_source, id FROM %s.marker", i+1, local))
			}
			if err := g.Wait(); err != nil {
				t.Fatal(err)
			}
			execAll(t, db, "START ALL SLAVES")
			t.Logf("writing %.0f row events/s for %v (%s)", pt.rate, e.cfg.SteadyFor, pt.why)
			l := e.startLiveOn(t, "steady", pt.rate, db, "("+strings.Join(markers, " UNION ALL ")+") AS m")
			runs.add(e.measureSteady(t, l, r+1, "the MariaDB replica"))
			for i := range e.sources {
				local := fmt.Sprintf("steady%d", i+1)
				for _, tc := range []struct {
					table string
					cols  []string
				}{{"sbtest1", sbtestCols}, {"marker", []string{"id", "ts"}}} {
					diff, err := sameTable(e.srcDB[i], "steady."+tc.table, db, local+"."+tc.table, "", tc.cols)
					if err != nil {
						t.Fatal(err)
					}
					if diff != "" {
						t.Fatalf("the replica's rows differ: %s", diff)
					}
				}
			}
			execAll(t, db, "STOP ALL SLAVES")
		})
		if t.Failed() {
			t.FailNow()
		}
	}
	e.reportSteady(label, pt, &runs, fmt.Sprintf("multi-source replica, slave_parallel_threads=%d, slave_parallel_mode=optimistic, log_slave_updates=ON", threads))
}
