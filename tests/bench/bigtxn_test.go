package bench

import (
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/tests/harness"
)

// The bigtxn workload applies one transaction of BigTxnRows rows (a
// single-statement INSERT ... SELECT on source 1) with dmnode, which sends
// it as a sequence of parts and applies it as one target transaction, and
// with a MariaDB replica, which applies it as one transaction too.

const bigTxnDB = "bigtxn"

// bigTxn is the transaction both contenders apply: from start to end on
// source 1.
type bigTxn struct {
	start, end dmnode.Position
	rows       int
}

func (e *env) prepareBigTxn(t *testing.T) bigTxn {
	db := e.srcDB[0]
	execAll(t, db, "CREATE DATABASE "+bigTxnDB, fmt.Sprintf(sbtestDDL, bigTxnDB+".sbtest1"))
	sdb := openDB(t, e.sources[0], bigTxnDB)
	b := bigTxn{rows: e.cfg.BigTxnRows}
	var err error
	if b.start, err = masterPos(sdb); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	// One statement, one transaction, whatever its size.
	execAll(t, sdb, seedSQL("sbtest1", 1, 1, b.rows))
	if b.end, err = masterPos(sdb); err != nil {
		t.Fatal(err)
	}
	t.Logf("bigtxn: one transaction of %d rows written in %v (%s → %s)", b.rows, time.Since(begin).Round(time.Millisecond), b.start, b.end)
	return b
}

// freshBigTxnTarget starts a server holding the empty table.
func freshBigTxnTarget(t *testing.T, id int, args []string) (*harness.Server, *sql.DB) {
	s := harness.StartMariaDB(t, harness.Options{ServerID: id, ExtraArgs: args})
	db := s.DB(t)
	execAll(t, db, "CREATE DATABASE "+bigTxnDB, fmt.Sprintf(sbtestDDL, bigTxnDB+".sbtest1"))
	return s, db
}

func (e *env) verifyBigTxn(t *testing.T, db *sql.DB) {
	t.Helper()
	table := bigTxnDB + ".sbtest1"
	diff, err := sameTable(e.srcDB[0], table, db, table, "", sbtestCols)
	if err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Fatalf("rows differ: %s", diff)
	}
}

// dmnodeBigTxn applies the transaction with a fresh dmnode (worker-count
// as in incr): from task submit until the target's checkpoint reaches its
// end.
func (e *env) dmnodeBigTxn(t *testing.T, b bigTxn, name string) incrStats {
	tgt, tdb := freshBigTxnTarget(t, 100, serverArgs)
	d := startDev(t, e.bin)
	d.cli(t, "source", "add", e.srcYAML[0])
	task := writeFile(t, t.TempDir(), "task.yaml", fmt.Sprintf(`name: %s
task-mode: incremental
target-database:
  host: 127.0.0.1
  port: %d
  user: root
  password: ""
mysql-instances:
  - source-id: %q
    block-allow-list: big
    syncer-config-name: sync
    meta:
      binlog-name: %s
      binlog-pos: %d
block-allow-list:
  big:
    do-dbs: [%s]
syncers:
  sync:
    worker-count: %d
`, name, tgt.Port, sourceID(0), b.start.File, b.start.Pos, bigTxnDB, e.cfg.Threads))
	_, cpu0, err := procStats(d.proc.Pid())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d.cli(t, "task", "submit", task)
	e.waitCheckpoints(t, d, tdb, name, []dmnode.Position{b.end})
	wall := time.Since(start).Seconds()
	peak, cpu1, err := procStats(d.proc.Pid())
	if err != nil {
		t.Fatal(err)
	}
	e.verifyBigTxn(t, tdb)
	return incrStats{wall: wall, peakMiB: peak, cpuSec: cpu1 - cpu0}
}

// nativeBigTxn applies the transaction with a fresh MariaDB replica, as
// nativeIncr does.
func (e *env) nativeBigTxn(t *testing.T, b bigTxn) incrStats {
	args := append(slices.Clone(serverArgs), "--log-slave-updates", "--skip-slave-start",
		fmt.Sprintf("--slave-parallel-threads=%d", e.cfg.Threads), "--slave-parallel-mode=optimistic")
	_, db := freshBigTxnTarget(t, 200, args)
	execAll(t, db, fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='root', MASTER_PASSWORD='', MASTER_LOG_FILE='%s', MASTER_LOG_POS=%d, MASTER_USE_GTID=no",
		e.sources[0].Port, b.start.File, b.start.Pos))
	start := time.Now()
	execAll(t, db, "START SLAVE")
	var r sql.NullInt64
	if err := db.QueryRow("SELECT MASTER_POS_WAIT(?, ?, 1800)", b.end.File, b.end.Pos).Scan(&r); err != nil || !r.Valid || r.Int64 < 0 {
		rows, _ := harness.QueryRows(db, "SHOW SLAVE STATUS")
		t.Fatalf("replica did not reach %s: MASTER_POS_WAIT returned %v, %v\nSHOW SLAVE STATUS: %v", b.end, r, err, rows)
	}
	wall := time.Since(start).Seconds()
	e.verifyBigTxn(t, db)
	execAll(t, db, "STOP SLAVE")
	return incrStats{wall: wall}
}

// runBigTxn writes the transaction once and has both contenders apply it,
// alternating within each round.
func (e *env) runBigTxn(t *testing.T) {
	b := e.prepareBigTxn(t)
	var dm, nat []incrStats
	for r := range e.cfg.Runs {
		t.Run(fmt.Sprintf("dmnode/%d", r+1), func(t *testing.T) {
			s := e.dmnodeBigTxn(t, b, fmt.Sprintf("bigtxn-%d", r+1))
			t.Logf("dmnode: %.1fs, %.0f rows/s, peak RSS %.0f MiB", s.wall, float64(b.rows)/s.wall, s.peakMiB)
			dm = append(dm, s)
		})
		t.Run(fmt.Sprintf("replica/%d", r+1), func(t *testing.T) {
			s := e.nativeBigTxn(t, b)
			t.Logf("MariaDB replica: %.1fs, %.0f rows/s", s.wall, float64(b.rows)/s.wall)
			nat = append(nat, s)
		})
		if t.Failed() {
			t.FailNow()
		}
	}
	pick := func(runs []incrStats, f func(incrStats) float64) []float64 {
		var v []float64
		for _, r := range runs {
			v = append(v, f(r))
		}
		return v
	}
	rate := func(s incrStats) float64 { return float64(b.rows) / s.wall }
	e.rep.add("bigtxn", "dmnode", "rows/s", "rows/s", higherIsBetter, pick(dm, rate)...).Note =
		fmt.Sprintf("one %d-row INSERT ... SELECT transaction, sent in parts, applied as one target transaction; worker-count %d", b.rows, e.cfg.Threads)
	e.rep.add("bigtxn", "dmnode", "peak RSS", "MiB", lowerIsBetter, pick(dm, func(s incrStats) float64 { return s.peakMiB })...)
	e.rep.add("bigtxn", "MariaDB replica", "rows/s", "rows/s", higherIsBetter, pick(nat, rate)...).Note =
		fmt.Sprintf("slave_parallel_threads=%d, slave_parallel_mode=optimistic, log_slave_updates=ON", e.cfg.Threads)
}
