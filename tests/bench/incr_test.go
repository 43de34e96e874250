package bench

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/tests/harness"
)

// The incremental workload replicates incN.sbtest1 of source N into
// incN.sbtest1 of the target: one schema per source, so that one MariaDB
// replica can follow all three sources (multi-source replication) and both
// contenders do the same work into the same shape.
func incDB(i int) string { return fmt.Sprintf("inc%d", i+1) }

// backlog is the binlog every incremental contender applies: from start to
// end on each source, events row events in all.
type backlog struct {
	start, end []dmnode.Position
	events     int
}

// prepareIncr seeds the base rows on every source, records the binlog
// position, writes the backlog and records the position again.
func (e *env) prepareIncr(t *testing.T) backlog {
	bl := backlog{start: make([]dmnode.Position, 3), end: make([]dmnode.Position, 3)}
	rounds := max(1, e.cfg.Events/eventsPerRound/len(e.sources))
	begin := time.Now()
	g := errgroup.Group{}
	for i, s := range e.sources {
		execAll(t, e.srcDB[i], "CREATE DATABASE "+incDB(i), fmt.Sprintf(sbtestDDL, incDB(i)+".sbtest1"))
		db := openDB(t, s, incDB(i))
		g.Go(func() error {
			if err := seed(db, "sbtest1", i+1, e.cfg.BaseRows); err != nil {
				return err
			}
			var err error
			if bl.start[i], err = masterPos(db); err != nil {
				return err
			}
			m := newMixer("sbtest1", i+1, e.cfg.BaseRows, 7)
			if i > 0 || e.cfg.IncrBulk == 0 {
				if err := m.write(context.Background(), db, rounds); err != nil {
					return err
				}
			} else {
				// Half the rounds, the bulk insert, the other half.
				if err := m.write(context.Background(), db, rounds/2); err != nil {
					return err
				}
				if _, err := db.Exec(seedSQL("sbtest1", i+1, bulkFrom, bulkFrom+e.cfg.IncrBulk-1)); err != nil {
					return fmt.Errorf("bulk INSERT…SELECT of %d rows: %w", e.cfg.IncrBulk, err)
				}
				if err := m.write(context.Background(), db, rounds-rounds/2); err != nil {
					return err
				}
			}
			bl.end[i], err = masterPos(db)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	bl.events = rounds*eventsPerRound*len(e.sources) + e.cfg.IncrBulk
	bulk := ""
	if e.cfg.IncrBulk > 0 {
		bulk = fmt.Sprintf(", one of them an INSERT…SELECT of %d rows on source 1", e.cfg.IncrBulk)
	}
	t.Logf("incr: backlog of %d row events in %d transactions over 3 sources%s written in %v (%s → %s on source 1)",
		bl.events, rounds*5*len(e.sources)+min(1, e.cfg.IncrBulk), bulk, time.Since(begin).Round(time.Millisecond), bl.start[0], bl.end[0])
	return bl
}

// bulkFrom is the first id of BENCH_INCR_BULK's rows, far above the ids
// the mixer inserts.
const bulkFrom = 50_000_001

// loadBase gives a fresh server the sources' tables as they were at the
// start of the backlog.
func (e *env) loadBase(t *testing.T, s *harness.Server) {
	g := errgroup.Group{}
	for i := range e.sources {
		execAll(t, s.DB(t), "CREATE DATABASE "+incDB(i), fmt.Sprintf(sbtestDDL, incDB(i)+".sbtest1"))
		db := openDB(t, s, incDB(i))
		g.Go(func() error { return seed(db, "sbtest1", i+1, e.cfg.BaseRows) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// verifyIncr compares every source's table with its copy on db.
func (e *env) verifyIncr(t testing.TB, db *sql.DB) {
	t.Helper()
	for i := range e.sources {
		table := incDB(i) + ".sbtest1"
		diff, err := sameTable(e.srcDB[i], table, db, table, "", sbtestCols)
		if err != nil {
			t.Fatal(err)
		}
		if diff != "" {
			t.Fatalf("rows differ: %s", diff)
		}
	}
}

// incrStats is what one catch-up run measured.
type incrStats struct {
	wall, peakMiB, cpuSec float64
	// targetCPU is the target server's CPU time over the run.
	targetCPU float64
}

// incrTaskYAML is the catch-up task; tuned, it sets worker-count to the
// peer's threads per source, otherwise nothing (dmnode's defaults).
func (e *env) incrTaskYAML(name string, port int, bl backlog, tuned bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\ntask-mode: incremental\ntarget-database:\n  host: 127.0.0.1\n  port: %d\n  user: root\n  password: \"\"\nmysql-instances:\n", name, port)
	for i := range e.sources {
		fmt.Fprintf(&b, "  - source-id: %q\n    block-allow-list: inc\n    meta:\n      binlog-name: %s\n      binlog-pos: %d\n",
			sourceID(i), bl.start[i].File, bl.start[i].Pos)
		if tuned {
			b.WriteString("    syncer-config-name: sync\n")
		}
	}
	b.WriteString("block-allow-list:\n  inc:\n    do-dbs: [inc1, inc2, inc3]\n")
	if tuned {
		fmt.Fprintf(&b, "syncers:\n  sync:\n    worker-count: %d\n", e.cfg.Threads)
	}
	return b.String()
}

// dmnodeIncr applies the backlog with a fresh dmnode and a fresh target
// holding the base rows: from task submit until the target's checkpoint of
// every source reaches the end of the backlog.
func (e *env) dmnodeIncr(t *testing.T, bin string, bl backlog, name string, tuned bool) incrStats {
	tgt := harness.StartMariaDB(t, harness.Options{ServerID: 100, ExtraArgs: serverArgs})
	e.loadBase(t, tgt)
	tdb := tgt.DB(t)
	d := startDev(t, bin)
	d.cli(t, append([]string{"source", "add"}, e.srcYAML...)...)
	task := writeFile(t, t.TempDir(), "task.yaml", e.incrTaskYAML(name, tgt.Port, bl, tuned))
	_, cpu0, err := procStats(d.proc.Pid())
	if err != nil {
		t.Fatal(err)
	}
	_, tcpu0, err := procStats(tgt.Pid())
	if err != nil {
		t.Fatal(err)
	}
	q0 := statusCounts(t, tdb)
	start := time.Now()
	d.cli(t, "task", "submit", task)
	profiled := d.profileCPU(t, name, 20)
	peakRelay, relayedAt := watchRelay(d, name, bl.end, start)
	t.Cleanup(func() { peakRelay() }) // when waitCheckpoints fails
	e.waitCheckpoints(t, d, tdb, name, bl.end)
	wall := time.Since(start).Seconds()
	relayPeak := peakRelay()
	peak, cpu1, err := procStats(d.proc.Pid())
	if err != nil {
		t.Fatal(err)
	}
	_, tcpu1, err := procStats(tgt.Pid())
	if err != nil {
		t.Fatal(err)
	}
	profiled()
	e.verifyIncr(t, tdb)
	// Retention trims what was applied within seconds; at most one message
	// per source stays.
	after := relayBytes(d, name)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && (after < 0 || after > int64(len(e.sources))<<20); {
		time.Sleep(500 * time.Millisecond)
		after = relayBytes(d, name)
	}
	t.Logf("incr: relay bytes of the %d sources: %.1f MiB at most during catch-up, %.1f MiB after; every source relayed to its end %.1fs after the submit, applied %.1fs after",
		len(e.sources), float64(relayPeak)/(1<<20), float64(after)/(1<<20), relayedAt().Seconds(), wall)
	t.Logf("incr: CPU per 100k row events: dmnode %.2f s, target %.2f s (%.1f s and %.1f s in all)",
		(cpu1-cpu0)/float64(bl.events)*1e5, (tcpu1-tcpu0)/float64(bl.events)*1e5, cpu1-cpu0, tcpu1-tcpu0)
	q1 := statusCounts(t, tdb)
	t.Logf("incr: the target's statements and commits per 100k row events: %.0f and %.0f",
		(q1[0]-q0[0])/float64(bl.events)*1e5, (q1[1]-q0[1])/float64(bl.events)*1e5)
	return incrStats{wall: wall, peakMiB: peak, cpuSec: cpu1 - cpu0, targetCPU: tcpu1 - tcpu0}
}

// relayBytes sums the bytes the relays of a task's sources hold; -1 when
// status does not answer.
func relayBytes(d *dmnodeProc, task string) int64 {
	st, err := d.status(task)
	if err != nil {
		return -1
	}
	var n int64
	for _, s := range st.Sources {
		n += s.RelayBytes
	}
	return n
}

// watchRelay samples relayBytes every half second until the returned
// function is first called, which returns the most seen. relayedAt, once
// peak was called, is how long after start every source's relayed
// position was seen at or past its end (0: not seen): the tailers' part
// of the catch-up.
func watchRelay(d *dmnodeProc, task string, end []dmnode.Position, start time.Time) (peak func() int64, relayedAt func() time.Duration) {
	stop, done := make(chan struct{}), make(chan int64, 1)
	var once sync.Once
	var relayed time.Duration
	go func() {
		var peak int64
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				done <- peak
				return
			case <-tick.C:
				st, err := d.status(task)
				if err != nil {
					continue
				}
				var n int64
				reached := len(st.Sources) == len(end)
				for _, s := range st.Sources {
					n += s.RelayBytes
					i := -1
					for j := range end {
						if sourceID(j) == s.Source {
							i = j
						}
					}
					if i < 0 || !strings.HasPrefix(s.Relayed, end[i].File+":") {
						reached = false
						continue
					}
					pos, err := strconv.ParseUint(strings.Fields(strings.TrimPrefix(s.Relayed, end[i].File+":"))[0], 10, 32)
					if err != nil || uint32(pos) < end[i].Pos {
						reached = false
					}
				}
				peak = max(peak, n)
				if reached && relayed == 0 {
					relayed = time.Since(start)
				}
			}
		}
	}()
	var most int64
	peak = func() int64 {
		once.Do(func() {
			close(stop)
			most = <-done
		})
		return most
	}
	return peak, func() time.Duration { return relayed }
}

// waitCheckpoints polls the checkpoints dmnode commits on the target with
// the rows until every source's reaches its end position. It fails the test
// when a source stops on an error or no checkpoint moves for two minutes.
func (e *env) waitCheckpoints(t *testing.T, d *dmnodeProc, tdb *sql.DB, task string, end []dmnode.Position) {
	t.Helper()
	lastMove, lastCheck := time.Now(), time.Now()
	began := time.Now()
	reached := make([]time.Duration, len(end))
	var prev []dmnode.Position
	for {
		got, err := checkpoints(tdb, task, len(end))
		if err != nil && time.Since(lastMove) > 2*time.Minute {
			t.Fatalf("read checkpoints: %v", err)
		}
		done := err == nil
		for i := range end {
			if err == nil && reached[i] == 0 && got[i].Compare(end[i]) >= 0 {
				reached[i] = time.Since(began)
			}
			if done && got[i].Compare(end[i]) < 0 {
				done = false
			}
		}
		if done {
			var at []string
			for i, d := range reached {
				at = append(at, fmt.Sprintf("%s %.1fs", sourceID(i), d.Seconds()))
			}
			t.Logf("checkpoints reached their ends: %s", strings.Join(at, ", "))
			return
		}
		if err == nil && !slices.Equal(got, prev) {
			prev, lastMove = got, time.Now()
		}
		if time.Since(lastCheck) > time.Second {
			lastCheck = time.Now()
			if st, err := d.status(task); err == nil {
				if _, err := stageReached(st, "sync"); err != nil {
					t.Fatalf("task %s: %v", task, err)
				}
			}
		}
		if time.Since(lastMove) > 2*time.Minute {
			st, _ := d.status(task)
			t.Fatalf("task %s: no progress for 2 minutes; checkpoints %v, want %v; status %+v\nnode log:\n%s",
				task, got, end, st.Sources, tail(d.proc.Log(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkpoints reads the applied position of every source (mysql-replica-01
// first) from dmnode_meta.checkpoint on the target.
func checkpoints(db *sql.DB, task string, n int) ([]dmnode.Position, error) {
	rows, err := db.Query("SELECT source, binlog_file, binlog_pos FROM dmnode_meta.checkpoint WHERE task = ?", task)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]dmnode.Position, n)
	for rows.Next() {
		var src string
		var p dmnode.Position
		if err := rows.Scan(&src, &p.File, &p.Pos); err != nil {
			return nil, err
		}
		for i := range n {
			if src == sourceID(i) {
				out[i] = p
			}
		}
	}
	return out, rows.Err()
}

// nativeIncr applies the backlog with a fresh MariaDB replica holding the
// base rows, one replication connection per source, parallel replication in
// optimistic mode, and log_slave_updates on so that it writes a binlog as the
// dmnode target does: from START ALL SLAVES until every connection has
// executed up to the end of the backlog.
func (e *env) nativeIncr(t *testing.T, bl backlog, threads int) incrStats {
	args := append(slices.Clone(serverArgs), "--log-slave-updates", "--skip-slave-start",
		fmt.Sprintf("--slave-parallel-threads=%d", threads), "--slave-parallel-mode=optimistic")
	rep := harness.StartMariaDB(t, harness.Options{ServerID: 200, ExtraArgs: args})
	e.loadBase(t, rep)
	db := rep.DB(t)
	for i, s := range e.sources {
		execAll(t, db, fmt.Sprintf("CHANGE MASTER 's%d' TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='root', MASTER_PASSWORD='', MASTER_LOG_FILE='%s', MASTER_LOG_POS=%d, MASTER_USE_GTID=no",
			i+1, s.Port, bl.start[i].File, bl.start[i].Pos),
			fmt.Sprintf("SET GLOBAL s%d.slave_parallel_mode = 'optimistic'", i+1))
	}
	_, cpu0, err := procStats(rep.Pid())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	execAll(t, db, "START ALL SLAVES")
	g := errgroup.Group{}
	for i := range e.sources {
		g.Go(func() error {
			var r sql.NullInt64
			err := db.QueryRow("SELECT MASTER_POS_WAIT(?, ?, 1800, ?)", bl.end[i].File, bl.end[i].Pos, fmt.Sprintf("s%d", i+1)).Scan(&r)
			if err != nil {
				return err
			}
			if !r.Valid || r.Int64 < 0 {
				return fmt.Errorf("replica connection s%d did not reach %s: MASTER_POS_WAIT returned %v", i+1, bl.end[i], r)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		rows, _ := harness.QueryRows(db, "SHOW ALL SLAVES STATUS")
		t.Fatalf("%v\nSHOW ALL SLAVES STATUS: %v", err, rows)
	}
	wall := time.Since(start).Seconds()
	_, cpu1, err := procStats(rep.Pid())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("incr: the replica's CPU per 100k row events: %.2f s (%.1f s in all)", (cpu1-cpu0)/float64(bl.events)*1e5, cpu1-cpu0)
	e.verifyIncr(t, db)
	execAll(t, db, "STOP ALL SLAVES")
	return incrStats{wall: wall, targetCPU: cpu1 - cpu0}
}

// runIncr writes the backlog once and has every contender apply it,
// alternating within each round.
func (e *env) runIncr(t *testing.T) {
	bl := e.prepareIncr(t)
	threads := e.cfg.Threads * len(e.sources)
	var dm, dmB, tuned, nat []incrStats
	for r := range e.cfg.Runs {
		t.Run(fmt.Sprintf("dmnode/%d", r+1), func(t *testing.T) {
			s := e.dmnodeIncr(t, e.bin, bl, fmt.Sprintf("incr-%d", r+1), false)
			t.Logf("dmnode, the task's defaults: %.1fs, %.0f events/s, peak RSS %.0f MiB", s.wall, float64(bl.events)/s.wall, s.peakMiB)
			dm = append(dm, s)
		})
		if e.cfg.BinB != "" {
			t.Run(fmt.Sprintf("dmnode-B/%d", r+1), func(t *testing.T) {
				s := e.dmnodeIncr(t, e.cfg.BinB, bl, fmt.Sprintf("incr-b-%d", r+1), false)
				t.Logf("dmnode B, the task's defaults: %.1fs, %.0f events/s, peak RSS %.0f MiB", s.wall, float64(bl.events)/s.wall, s.peakMiB)
				dmB = append(dmB, s)
			})
		} else {
			t.Run(fmt.Sprintf("dmnode-tuned/%d", r+1), func(t *testing.T) {
				s := e.dmnodeIncr(t, e.bin, bl, fmt.Sprintf("incr-tuned-%d", r+1), true)
				t.Logf("dmnode, worker-count %d: %.1fs, %.0f events/s, peak RSS %.0f MiB", e.cfg.Threads, s.wall, float64(bl.events)/s.wall, s.peakMiB)
				tuned = append(tuned, s)
			})
		}
		t.Run(fmt.Sprintf("replica/%d", r+1), func(t *testing.T) {
			s := e.nativeIncr(t, bl, threads)
			t.Logf("MariaDB replica: %.1fs, %.0f events/s", s.wall, float64(bl.events)/s.wall)
			nat = append(nat, s)
		})
		if t.Failed() {
			t.FailNow()
		}
	}
	rate := func(runs []incrStats) []float64 {
		var v []float64
		for _, r := range runs {
			v = append(v, float64(bl.events)/r.wall)
		}
		return v
	}
	pick := func(runs []incrStats, f func(incrStats) float64) []float64 {
		var v []float64
		for _, r := range runs {
			v = append(v, f(r))
		}
		return v
	}
	e.rep.add("incr", "dmnode", "events/s", "row events/s", higherIsBetter, rate(dm)...).Note =
		fmt.Sprintf("backlog %d row events (5 txn shapes: 1-row insert/update/delete, 25-row multi-statement, 5 updates); the task sets no worker-count: dmnode's defaults, connections adaptive", bl.events)
	if e.cfg.BinB != "" {
		e.rep.add("incr", "dmnode B", "events/s", "row events/s", higherIsBetter, rate(dmB)...).Note =
			fmt.Sprintf("BENCH_BIN_B=%q, the task's defaults, run after dmnode in every round", e.cfg.BinB)
	} else {
		e.rep.add("incr", "dmnode tuned", "events/s", "row events/s", higherIsBetter, rate(tuned)...).Note =
			fmt.Sprintf("worker-count %d per source", e.cfg.Threads)
	}
	e.rep.add("incr", "dmnode", "wall", "s", lowerIsBetter, pick(dm, func(s incrStats) float64 { return s.wall })...)
	e.rep.add("incr", "dmnode", "peak RSS", "MiB", lowerIsBetter, pick(dm, func(s incrStats) float64 { return s.peakMiB })...)
	e.rep.add("incr", "dmnode", "CPU per 100k events", "CPU-s", lowerIsBetter,
		pick(dm, func(s incrStats) float64 { return s.cpuSec / float64(bl.events) * 1e5 })...)
	e.rep.add("incr", "MariaDB replica", "events/s", "row events/s", higherIsBetter, rate(nat)...).Note =
		fmt.Sprintf("multi-source replica, slave_parallel_threads=%d, slave_parallel_mode=optimistic, log_slave_updates=ON", threads)
	e.rep.add("incr", "MariaDB replica", "wall", "s", lowerIsBetter, pick(nat, func(s incrStats) float64 { return s.wall })...)
	e.rep.add("incr", "dmnode", "target CPU per 100k events", "CPU-s", lowerIsBetter,
		pick(dm, func(s incrStats) float64 { return s.targetCPU / float64(bl.events) * 1e5 })...)
	e.rep.add("incr", "MariaDB replica", "CPU per 100k events", "CPU-s", lowerIsBetter,
		pick(nat, func(s incrStats) float64 { return s.targetCPU / float64(bl.events) * 1e5 })...)
}

// statusCounts reads a server's Questions (statements run, each of a
// multi-statement query counted) and Com_commit counters.
func statusCounts(t testing.TB, db *sql.DB) [2]float64 {
	t.Helper()
	var out [2]float64
	for i, name := range []string{"Questions", "Com_commit"} {
		var k string
		if err := db.QueryRow("SHOW GLOBAL STATUS LIKE '"+name+"'").Scan(&k, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
