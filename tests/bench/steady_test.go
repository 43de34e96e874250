package bench

import (
	"fmt"
	"testing"
	"time"
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
// and measures the lag of every marker, at every rate of steadyRates.
func (e *env) runSteady(t *testing.T) {
	for i, pt := range e.steadyRates() {
		t.Run(fmt.Sprint(i+1), func(t *testing.T) { e.steadyAt(t, pt) })
		if t.Failed() {
			t.FailNow()
		}
	}
}

func (e *env) steadyAt(t *testing.T, pt steadyPoint) {
	var p50s, p99s, maxs, achieved, rss []float64
	notes := ""
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
			deadline := time.Now().Add(e.cfg.SteadyFor)
			for time.Now().Before(deadline) {
				if l.currentLag() > saturatedLag {
					notes = fmt.Sprintf("run %d: lag passed %v after %v: dmnode does not keep up with this rate; writes stopped early, so lag max/p99 are bounded by that cut-off",
						r+1, saturatedLag, time.Since(l.start).Round(time.Second))
					t.Log(notes)
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			events, got := l.finish(t, 10*time.Minute)
			peak, _, err := procStats(d.proc.Pid())
			if err != nil {
				t.Fatal(err)
			}
			e.verifyLive(t, e.tgtDB, "steady", "bench_steady")
			p50, p99, pmax, n := l.lag.percentiles()
			t.Logf("%d row events at %.0f/s; lag over %d markers: p50 %.3fs p99 %.3fs max %.3fs; peak RSS %.0f MiB",
				events, got, n, p50, p99, pmax, peak)
			p50s, p99s, maxs = append(p50s, p50), append(p99s, p99), append(maxs, pmax)
			achieved, rss = append(achieved, got), append(rss, peak)
		})
		if t.Failed() {
			t.FailNow()
		}
	}
	e.rep.add("steady", pt.label, "lag p50", "s", lowerIsBetter, p50s...).Note =
		fmt.Sprintf("offered %.0f row events/s for %v: %s; lag = marker row written upstream → seen on the target by a %v poll",
			pt.rate, e.cfg.SteadyFor, pt.why, pollEvery)
	e.rep.add("steady", pt.label, "lag p99", "s", lowerIsBetter, p99s...)
	e.rep.add("steady", pt.label, "lag max", "s", lowerIsBetter, maxs...)
	res := e.rep.add("steady", pt.label, "write rate", "row events/s", higherIsBetter, achieved...)
	if notes != "" {
		res.Note = notes
	}
	e.rep.add("steady", pt.label, "peak RSS", "MiB", lowerIsBetter, rss...)
}
