package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

// Sizes of the big-transaction tests. The production sizes
// (300k-row INSERT, 100k-row UPDATE, 200k-row DELETE) run with
// DMNODE_LONG=1; the default suite uses a tenth of them, still a sequence
// of a dozen parts or more.
func bigTxnSizes() (ins, upd, del int) {
	if os.Getenv("DMNODE_LONG") == "1" {
		return 300_000, 100_000, 200_000
	}
	return 30_000, 10_000, 20_000
}

// bigTask submits a task of mode all replicating database dmtest of the
// cluster's one source, and waits for it to reach sync.
func (c *cluster) bigTask(name string) {
	c.t.Helper()
	task := c.oneSourceTask(name, "dmtest")
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", name, "--stage", "sync", "--timeout", "2m")
}

// waitLog waits until the running node's log holds s more than n times.
func (c *cluster) waitLog(s string, n int, timeout time.Duration) {
	c.t.Helper()
	harness.Eventually(c.t, timeout, func() error {
		if strings.Count(c.node.Log(), s) <= n {
			return fmt.Errorf("node log has no new %q yet", s)
		}
		return nil
	})
}

// waitLogOrEqual waits until the running node's log holds s, or the
// target's table already equals the source's by a checksum query (the
// moment passed before the log was read); it reports whether the log
// line came.
func (c *cluster) waitLogOrEqual(s, checksum string, timeout time.Duration) bool {
	c.t.Helper()
	logged := false
	harness.Eventually(c.t, timeout, func() error {
		if strings.Contains(c.node.Log(), s) {
			logged = true
			return nil
		}
		want, err := queryRows(c.sources[0].DB(c.t), checksum)
		if err != nil {
			return err
		}
		got, err := queryRows(c.target.DB(c.t), checksum)
		if err != nil {
			return err
		}
		if harness.SameRows(want, got) == "" {
			return nil
		}
		return fmt.Errorf("node log has no %q yet", s)
	})
	return logged
}

// killAndRestart SIGKILLs the node and starts it again on the same data.
func (c *cluster) killAndRestart() {
	c.t.Helper()
	c.node.Kill(c.t)
	c.startNode()
}

// peakRSS reads a process's peak resident set, in MiB.
func peakRSS(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				t.Fatalf("parse VmHWM %q: %v", v, err)
			}
			return kb / 1024
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// Transactions larger than a message: a single-statement INSERT ... SELECT,
// an UPDATE and a DELETE, each one transaction, each with the node
// SIGKILLed while the tailer publishes its parts and again, on the
// restarted node, while the applier applies them; the target equals the
// source after each. The node that applies the INSERT stays under 300 MiB
// of peak RSS.
func TestBigTxnKills(t *testing.T) {
	ins, upd, del := bigTxnSizes()
	c := newCluster(t, 1)
	s := c.sources[0]
	s.Exec(t, "CREATE DATABASE dmtest",
		"CREATE TABLE dmtest.big (id bigint NOT NULL PRIMARY KEY, c char(32), n int, pad varchar(64))",
		"INSERT INTO dmtest.big SELECT seq, MD5(seq), seq, 'seed' FROM dmtest.seq_1_to_100")
	c.addSources()
	c.bigTask("bigtxn")
	compare := func(name string) {
		c.expectEqual(name, func(int) string { return "SELECT id, c, n, pad FROM dmtest.big" }, "SELECT id, c, n, pad FROM dmtest.big")
	}
	compare("dmtest.big after the copy")

	steps := []struct {
		name string
		stmt string
	}{
		{fmt.Sprintf("%d-row INSERT ... SELECT", ins),
			fmt.Sprintf("INSERT INTO dmtest.big SELECT seq + 1000, MD5(seq), seq, REPEAT(CHAR(97 + seq %% 26), 40) FROM dmtest.seq_1_to_%d", ins)},
		{fmt.Sprintf("%d-row UPDATE", upd),
			fmt.Sprintf("UPDATE dmtest.big SET n = n * 2 + 1, c = MD5(c), pad = NULL WHERE id > 1000 AND id <= %d", 1000+upd)},
		{fmt.Sprintf("%d-row DELETE", del),
			fmt.Sprintf("DELETE FROM dmtest.big WHERE id > %d", 1000+ins-del)},
	}
	const checksum = "SELECT COUNT(*), SUM(n), SUM(CRC32(CONCAT_WS(',', id, c, n, pad))) FROM dmtest.big"
	resumed, applying := 0, 0
	for i, step := range steps {
		// SIGKILL while the parts are published: the tailer logs when it
		// begins a sequence (and may have logged it at its start, for the
		// rest of the previous one).
		const publishing = "publishing a large transaction in parts"
		before := strings.Count(c.node.Log(), publishing)
		start := time.Now()
		s.Exec(t, step.stmt)
		c.waitLog(publishing, before, 2*time.Minute)
		c.killAndRestart()
		// Again while they are applied, on the restarted node.
		if c.waitLogOrEqual("applying a transaction sent in parts in one target transaction", checksum, 2*time.Minute) {
			applying++
		}
		if strings.Contains(c.node.Log(), "resuming a transaction's part sequence") {
			resumed++
		}
		c.killAndRestart()
		compare("dmtest.big after the " + step.name)
		t.Logf("%s: applied and equal %v after the statement, with two SIGKILLs", step.name, time.Since(start).Round(time.Millisecond))
		if i == 0 {
			rss := peakRSS(t, c.node.Pid())
			t.Logf("peak RSS of the node that applied the %s: %.0f MiB", step.name, rss)
			if rss >= 300 {
				t.Errorf("peak RSS %.0f MiB applying the %s, want < 300 MiB", rss, step.name)
			}
		}
	}
	// Timing decides whether a kill lands inside a sequence; say how often
	// it did.
	t.Logf("restarts that resumed a sequence the tailer had begun: %d of 3; killed while applying a sequence: %d of 3", resumed, applying)
}

// A target that refuses a transaction that large (MariaDB's
// max_binlog_cache_size, error 1197, as TiDB's txn-total-size-limit does
// with 8004): the applier writes that transaction in pieces in safe mode,
// says so in the log and in task status, and a SIGKILL in the middle of
// the pieces leaves the target equal to the source once restarted.
func TestBigTxnTargetRefusesSize(t *testing.T) {
	src := harness.StartMariaDB(t, harness.Options{ServerID: 1})
	tgt := harness.StartMariaDB(t, harness.Options{ServerID: 100, ExtraArgs: []string{"--max-binlog-cache-size=1M"}})
	c := newClusterOn(t, []*harness.Server{src}, tgt)
	src.Exec(t, "CREATE DATABASE dmtest",
		"CREATE TABLE dmtest.big (id bigint NOT NULL PRIMARY KEY, c char(32), n int, pad varchar(200))",
		"INSERT INTO dmtest.big SELECT seq, MD5(seq), seq, 'seed' FROM dmtest.seq_1_to_100")
	c.addSources()
	c.bigTask("refused")
	compare := func(name string) {
		c.expectEqual(name, func(int) string { return "SELECT id, c, n, pad FROM dmtest.big" }, "SELECT id, c, n, pad FROM dmtest.big")
	}
	// About 5 MiB of row events in one transaction, five times the
	// target's binlog cache limit.
	src.Exec(t, "INSERT INTO dmtest.big SELECT seq + 1000, MD5(seq), seq, REPEAT(MD5(seq), 4) FROM dmtest.seq_1_to_30000")
	const pieces = "applying a transaction in pieces in safe mode"
	c.waitLog(pieces, 0, 2*time.Minute)
	c.killAndRestart()
	// The restarted applier knows from its apply window to write the
	// transaction in pieces again, without trying it whole first.
	const checksum = "SELECT COUNT(*), SUM(n), SUM(CRC32(CONCAT_WS(',', id, c, n, pad))) FROM dmtest.big"
	if c.waitLogOrEqual(pieces, checksum, 2*time.Minute) {
		if strings.Contains(c.node.Log(), "the target refused a transaction for its size") {
			t.Errorf("the restarted applier tried the transaction whole again:\n%s", c.node.Log())
		}
	} else {
		t.Logf("the pieces were all written before the SIGKILL")
	}
	compare("dmtest.big after the refused transaction")
	harness.Eventually(t, time.Minute, func() error {
		var st struct {
			Tasks []struct {
				Sources []struct {
					PiecesTxns int64  `json:"pieces_txns"`
					PiecesLast string `json:"pieces_last"`
				} `json:"sources"`
			}
		}
		out := c.dmnode("task", "status", "refused", "-o", "json")
		if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Tasks) != 1 || len(st.Tasks[0].Sources) != 1 {
			return fmt.Errorf("task status: %v\n%s", err, out)
		}
		if s := st.Tasks[0].Sources[0]; s.PiecesTxns < 1 || s.PiecesLast == "" {
			return fmt.Errorf("task status shows no transaction written in pieces: %s", out)
		}
		return nil
	})
	if out := c.dmnode("task", "status", "refused"); !strings.Contains(out, "written in pieces") {
		t.Fatalf("task status does not say a transaction was written in pieces:\n%s", out)
	}
	// Transactions after it go whole again.
	src.Exec(t, "UPDATE dmtest.big SET n = -n WHERE id <= 50")
	compare("dmtest.big after a small transaction")
}

// Rows of 16 MiB and 48 MiB, through the dump and through the binlog:
// both travel as fragments of messages.
func TestBigRows(t *testing.T) {
	sizes := []int{16 << 20, 48 << 20}
	packet := []string{"--max-allowed-packet=256M", "--group-concat-max-len=256M"}
	src := harness.StartMariaDB(t, harness.Options{ServerID: 1, ExtraArgs: packet})
	tgt := harness.StartMariaDB(t, harness.Options{ServerID: 100, ExtraArgs: packet})
	c := newClusterOn(t, []*harness.Server{src}, tgt)
	src.Exec(t, "CREATE DATABASE dmtest",
		"CREATE TABLE dmtest.blobs (id int NOT NULL PRIMARY KEY, b longblob, t longtext)",
		"INSERT INTO dmtest.blobs VALUES (100, 'small', 'small')")
	// b: size/32 different MD5 digests in hex, exactly size bytes that the
	// relay's compression cannot shorten; t: size/64 'é', which it can.
	row := func(id, size int) string {
		return fmt.Sprintf("INSERT INTO dmtest.blobs SELECT %d, (SELECT GROUP_CONCAT(MD5(seq * 1000 + %[1]d) SEPARATOR '') FROM dmtest.seq_1_to_%[2]d), REPEAT('é', %[3]d)",
			id, size/32, size/64)
	}
	for i, size := range sizes {
		src.Exec(t, row(i+1, size))
	}
	compare := func(name string) {
		// Wait with a query that computes no digest of the values, then
		// compare the digests once.
		quick := "SELECT id, LENGTH(b), LEFT(b, 40), RIGHT(b, 40), LENGTH(t) FROM dmtest.blobs"
		want := harness.Rows(t, src.DB(t), quick)
		harness.Eventually(t, 3*time.Minute, func() error {
			got, err := queryRows(tgt.DB(t), quick)
			if err != nil {
				return err
			}
			if diff := harness.SameRows(want, got); diff != "" {
				return fmt.Errorf("target not caught up yet: %s", diff)
			}
			return nil
		})
		q := "SELECT id, LENGTH(b), MD5(b), LENGTH(t), MD5(t) FROM dmtest.blobs"
		c.expectEqual(name, func(int) string { return q }, q)
	}
	start := time.Now()
	c.addSources()
	c.bigTask("rows")
	compare("dmtest.blobs after the copy")
	t.Logf("rows of %v bytes copied in %v", sizes, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	for i, size := range sizes {
		src.Exec(t, row(i+11, size))
	}
	// An UPDATE's row event holds the row twice, before and after.
	src.Exec(t, fmt.Sprintf("UPDATE dmtest.blobs SET b = REPEAT('x', %d) WHERE id = 1", sizes[0]))
	compare("dmtest.blobs after the binlog")
	t.Logf("rows of %v bytes replicated in %v", sizes, time.Since(start).Round(time.Millisecond))
}
