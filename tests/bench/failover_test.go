package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/node"
	"github.com/dmnode/dmnode/tests/harness"
)

// The failover workload: three `dmnode start` nodes run a merge task while
// the sources keep writing; the node running the first source's tailer is
// killed with SIGKILL, and the benchmark measures how long until every
// actor runs on a survivor and until the lag is back under a second.

// startCluster starts n cluster nodes, the first founding the cluster.
func (e *env) startCluster(t *testing.T, n int) []*dmnodeProc {
	var nodes []*dmnodeProc
	dir := t.TempDir()
	// The nodes share credentials generated here; the CLI and the
	// benchmark's clients use the admin's.
	creds := filepath.Join(dir, "creds")
	if out, err := harness.Run(t, e.bin, "creds", "generate", "--out", creds); err != nil {
		t.Fatalf("dmnode creds generate: %v\n%s", err, out)
	}
	t.Setenv("DMNODE_CLUSTER_CREDS", filepath.Join(creds, "cluster.auth"))
	t.Setenv("DMNODE_CREDS", filepath.Join(creds, "admin.nk"))
	for i := range n {
		natsPort := harness.FreePort(t)
		d := &dmnodeProc{bin: e.bin, url: fmt.Sprintf("nats://127.0.0.1:%d", natsPort)}
		args := []string{"start", "--name", fmt.Sprintf("node%d", i+1), "--data-dir", filepath.Join(dir, fmt.Sprintf("node%d", i+1)),
			"--host", "127.0.0.1", "--nats-port", strconv.Itoa(natsPort),
			"--cluster-port", strconv.Itoa(harness.FreePort(t)), "--raft-port", strconv.Itoa(harness.FreePort(t)),
			"--http-port", "0", "--heartbeat-timeout", e.cfg.Heartbeat.String(), "--log-format", "text", "--log-level", logLevel()}
		if i > 0 {
			args = append(args, "--join", nodes[0].url)
		}
		d.proc = harness.StartProcess(t, e.bin, args)
		d.connect(t)
		d.logOnVerbose(t)
		nodes = append(nodes, d)
	}
	return nodes
}

// members asks node d for the cluster's members.
func (d *dmnodeProc) members() ([]node.MemberStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := d.client.Call(ctx, "cluster.status", &node.Request{})
	if err != nil {
		return nil, err
	}
	return resp.Members, nil
}

// placed returns the number of actors placed on healthy members and
// whether any is still placed on the member named gone (or an unhealthy
// one).
func placed(ms []node.MemberStatus, gone string) (n int, stale bool) {
	for _, m := range ms {
		if m.ID == gone || !m.Healthy {
			stale = stale || len(m.ActorIDs) > 0
			continue
		}
		n += len(m.ActorIDs)
	}
	return n, stale
}

type failoverStats struct {
	placed, recovered, peakLag float64
}

func (e *env) failoverRun(t *testing.T, name string) failoverStats {
	e.prepareLive(t, "fo", "bench_fo")
	nodes := e.startCluster(t, 3)
	first := nodes[0]
	// JetStream in a cluster is there once the nodes have routed to each
	// other, and a follower may answer before it has applied the sources
	// the leader added: retry each command until it succeeds.
	retry := func(args ...string) {
		harness.Eventually(t, 90*time.Second, func() error {
			out, err := harness.Run(t, e.bin, append([]string{"--server", first.url}, args...)...)
			if err != nil {
				return fmt.Errorf("dmnode %v: %v: %s", args, err, out)
			}
			return nil
		})
	}
	retry(append([]string{"source", "add"}, e.srcYAML...)...)
	retry("task", "submit", writeFile(t, t.TempDir(), "task.yaml", e.liveTaskYAML(name, "fo", "bench_fo")))
	first.waitStage(t, name, "sync", 5*time.Minute)

	l := e.startLive(t, "fo", "bench_fo", float64(e.cfg.FailoverRate))
	// Let the writes settle: lag under a second for two seconds.
	settled := time.Time{}
	harness.Eventually(t, 2*time.Minute, func() error {
		if lag := l.currentLag(); lag >= time.Second {
			settled = time.Time{}
			return fmt.Errorf("lag %v before the kill", lag)
		}
		if settled.IsZero() {
			settled = time.Now()
		}
		if time.Since(settled) < 2*time.Second {
			return fmt.Errorf("lag under 1s for only %v", time.Since(settled))
		}
		return nil
	})

	ms, err := first.members()
	if err != nil {
		t.Fatal(err)
	}
	actors, _ := placed(ms, "")
	var victim *dmnodeProc
	var victimName string
	for _, m := range ms {
		if slices.Contains(m.ActorIDs, "tail/"+sourceID(0)) {
			victimName = m.ID
			i, _ := strconv.Atoi(m.ID[len("node"):])
			victim = nodes[i-1]
		}
	}
	if victim == nil {
		t.Fatalf("no node runs tail/%s: %+v", sourceID(0), ms)
	}
	var survivors []*dmnodeProc
	for _, d := range nodes {
		if d != victim {
			survivors = append(survivors, d)
		}
	}
	victim.proc.Kill(t)
	killed := time.Now()
	t.Logf("killed %s (running tail/%s) with %d actors placed", victimName, sourceID(0), actors)

	// Every actor on a healthy survivor, as the catalog says.
	var placedAt time.Time
	harness.Eventually(t, 2*time.Minute, func() error {
		var last error
		for _, d := range survivors {
			ms, err := d.members()
			if err != nil {
				last = err
				continue
			}
			n, stale := placed(ms, victimName)
			if stale || n != actors {
				return fmt.Errorf("%d of %d actors on live nodes, some still on %s: %v", n, actors, victimName, stale)
			}
			placedAt = time.Now()
			return nil
		}
		return last
	})
	// Lag back under a second, and staying there for three seconds.
	harness.Eventually(t, 2*time.Minute, func() error {
		l.lag.mu.Lock()
		defer l.lag.mu.Unlock()
		s := l.lag.series
		if len(s) == 0 || s[len(s)-1].lag >= time.Second {
			var behind []string
			for i := range l.lag.seen {
				behind = append(behind, fmt.Sprintf("%s: %d of %d markers", sourceID(i), l.lag.seen[i], len(l.lag.sent[i])))
			}
			st, err := survivors[0].status(name)
			return fmt.Errorf("lag not under 1s yet (%s); task status %+v %v", strings.Join(behind, ", "), st.Sources, err)
		}
		if since := time.Since(recoveredAt(s, killed)); since < 3*time.Second {
			return fmt.Errorf("lag under 1s for only %v", since)
		}
		return nil
	})
	l.lag.mu.Lock()
	recovered := recoveredAt(l.lag.series, killed)
	var peak time.Duration
	for _, p := range l.lag.series {
		if p.at.After(killed) {
			peak = max(peak, p.lag)
		}
	}
	t.Logf("lag ≥ 1s after the kill: %s", lagSpells(l.lag.series, killed, time.Second))
	l.lag.mu.Unlock()
	events, rate := l.finish(t, 5*time.Minute)
	e.verifyLive(t, e.tgtDB, "fo", "bench_fo")
	st := failoverStats{placed: placedAt.Sub(killed).Seconds(), recovered: recovered.Sub(killed).Seconds(), peakLag: peak.Seconds()}
	t.Logf("actors placed on survivors %.1fs after the kill, lag under 1s after %.1fs (peak %.1fs); %d row events at %.0f/s, rows equal",
		st.placed, st.recovered, st.peakLag, events, rate)
	return st
}

// recoveredAt returns the start of the last stretch of polls, after killed,
// whose lag is under a second: when the lag came back under 1s for good.
func recoveredAt(s []lagPoint, killed time.Time) time.Time {
	at := time.Time{}
	for _, p := range s {
		if !p.at.After(killed) {
			continue
		}
		if p.lag >= time.Second {
			at = time.Time{}
		} else if at.IsZero() {
			at = p.at
		}
	}
	if at.IsZero() {
		return time.Now()
	}
	return at
}

// lagSpells describes the stretches of polls after killed whose lag was at
// least above, in seconds since killed, with each one's peak.
func lagSpells(s []lagPoint, killed time.Time, above time.Duration) string {
	var b strings.Builder
	var from time.Time
	var peak time.Duration
	end := func(to time.Time) {
		fmt.Fprintf(&b, "[%.1fs–%.1fs, peak %.1fs] ", from.Sub(killed).Seconds(), to.Sub(killed).Seconds(), peak.Seconds())
		from, peak = time.Time{}, 0
	}
	for _, p := range s {
		if !p.at.After(killed) {
			continue
		}
		if p.lag >= above {
			if from.IsZero() {
				from = p.at
			}
			peak = max(peak, p.lag)
		} else if !from.IsZero() {
			end(p.at)
		}
	}
	if !from.IsZero() {
		end(s[len(s)-1].at)
	}
	if b.Len() == 0 {
		return "none"
	}
	return strings.TrimSpace(b.String())
}

func (e *env) runFailover(t *testing.T) {
	var placedS, recoveredS, peaks []float64
	for r := range e.cfg.SlowRuns {
		t.Run(fmt.Sprint(r+1), func(t *testing.T) {
			s := e.failoverRun(t, fmt.Sprintf("failover-%d", r+1))
			placedS, recoveredS, peaks = append(placedS, s.placed), append(recoveredS, s.recovered), append(peaks, s.peakLag)
		})
		if t.Failed() {
			t.FailNow()
		}
	}
	e.rep.add("failover", "dmnode", "kill → actors placed", "s", lowerIsBetter, placedS...).Note =
		fmt.Sprintf("3 nodes, --heartbeat-timeout %v, SIGKILL of the node running tail/%s under %d row events/s; placed = every actor on a healthy survivor in `cluster status`",
			e.cfg.Heartbeat, sourceID(0), e.cfg.FailoverRate)
	e.rep.add("failover", "dmnode", "kill → lag < 1s", "s", lowerIsBetter, recoveredS...).Note =
		"from the kill until marker rows reach the target within 1s again, for good"
	e.rep.add("failover", "dmnode", "peak lag", "s", lowerIsBetter, peaks...)
}
