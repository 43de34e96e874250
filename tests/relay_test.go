package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/node"
	"github.com/dmnode/dmnode/tests/harness"
)

// relayEnv is one source with a table of wide rows, a target and a task
// replicating it, for the relay retention tests.
type relayEnv struct {
	*cluster
	src      *harness.Server
	srcFile  string
	taskFile string
	filled   int // rows written by fill
}

const relayTask = "relay"

// newRelayEnv starts the source with dmtest.big, adds it with the extra
// source.yaml lines and submits a task-mode all task, then waits for sync.
func newRelayEnv(t *testing.T, sourceExtra string) *relayEnv {
	c := newCluster(t, 1)
	e := &relayEnv{cluster: c, src: c.sources[0]}
	e.src.Exec(t, "CREATE DATABASE dmtest",
		"CREATE TABLE dmtest.big (id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, pad varchar(2000) NOT NULL)",
		"INSERT INTO dmtest.big (pad) SELECT "+pad992("seq")+" FROM dmtest.seq_1_to_100")
	e.srcFile = c.writeFile("source.yaml", fmt.Sprintf(`source-id: %q
flavor: mariadb
from:
  host: 127.0.0.1
  port: %d
  user: root
  password: ""
%s`, sourceID(0), e.src.Port, sourceExtra))
	c.dmnode("source", "add", e.srcFile)
	e.taskFile = c.oneSourceTask(relayTask, "dmtest")
	c.dmnode("task", "submit", e.taskFile)
	c.dmnode("task", "wait", relayTask, "--stage", "sync", "--timeout", "2m")
	c.diagnose = func() string {
		out, _ := harness.Run(t, c.bin, "--server", c.server(), "task", "status", relayTask)
		return out + "\nnode log:\n" + tail(c.node.Log(), 40)
	}
	return e
}

// pad992 is an expression of 992 characters that the relay's compression
// cannot shorten, so that a row takes its size in the relay: 31 different
// MD5 digests, in hex, of the integer expression seed.
func pad992(seed string) string {
	parts := make([]string, 31)
	for i := range parts {
		parts[i] = fmt.Sprintf("MD5(%s * 31 + %d)", seed, i)
	}
	return "CONCAT(" + strings.Join(parts, ", ") + ")"
}

// fill writes about rows rows of 992 bytes each into dmtest.big, in
// transactions of 500 rows (about 0.5 MB each).
func (e *relayEnv) fill(rows int) {
	e.t.Helper()
	db := e.src.DB(e.t)
	for done := 0; done < rows; done += 500 {
		if _, err := db.Exec("INSERT INTO dmtest.big (pad) SELECT " + pad992(fmt.Sprintf("(seq + %d)", e.filled+done)) + " FROM dmtest.seq_1_to_500"); err != nil {
			e.t.Fatal(err)
		}
	}
	e.filled += rows
}

// status reads the task's status of the source.
func (e *relayEnv) status() node.SourceStatus {
	e.t.Helper()
	var st struct{ Tasks []node.TaskStatus }
	out := e.dmnode("task", "status", relayTask, "-o", "json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Tasks) != 1 || len(st.Tasks[0].Sources) != 1 {
		e.t.Fatalf("task status: %v\n%s", err, out)
	}
	return st.Tasks[0].Sources[0]
}

// eventually polls the status until check accepts it.
func (e *relayEnv) eventually(what string, timeout time.Duration, check func(node.SourceStatus) error) node.SourceStatus {
	e.t.Helper()
	var last node.SourceStatus
	err := harness.Within(timeout, func() error {
		last = e.status()
		return check(last)
	})
	if err != nil {
		e.t.Fatalf("%s: not within %s: %v\nstatus: %+v\n%s", what, timeout, err, last, e.diagnose())
	}
	return last
}

// relayedAll waits until the relay holds everything the source wrote.
func (e *relayEnv) relayedAll() node.SourceStatus {
	e.t.Helper()
	return e.eventually("the relay holds the source's binlog", 3*time.Minute, func(s node.SourceStatus) error {
		up := harness.Rows(e.t, e.src.DB(e.t), "SHOW MASTER STATUS")[0]
		if want := up[0] + ":" + up[1]; !strings.HasPrefix(s.Relayed, want) {
			return fmt.Errorf("relayed %s, source at %s", s.Relayed, want)
		}
		return nil
	})
}

func (e *relayEnv) expectEqual() {
	e.t.Helper()
	q := func(int) string { return "SELECT id, LENGTH(pad), MD5(pad) FROM dmtest.big" }
	e.cluster.expectEqual("dmtest.big", q, q(0))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// A backlog of binlog relayed while the task is paused is trimmed from the
// relay as the applier commits it: the relay's stored bytes go back near
// zero (one message at most stays, for a restarted tailer). The issue asks
// for a backlog of 1 GB or more; that runs with DMNODE_LONG=1. By default
// the backlog is about 100 MB, which runs in well under two minutes on
// two cores and takes the same path.
func TestRelayTrimmedAfterBacklog(t *testing.T) {
	rows := 100_000 // 992-byte rows: about 100 MB of binlog
	if os.Getenv("DMNODE_LONG") == "1" {
		rows = 1_100_000 // about 1.1 GB
	}
	e := newRelayEnv(t, "")
	e.dmnode("task", "pause", relayTask)
	e.fill(rows)
	e.relayedAll()
	// The relay's size is measured every 2 s: the figure catches up with
	// the relayed position a moment later.
	before := e.eventually("the relay's size covers the backlog", time.Minute, func(s node.SourceStatus) error {
		if s.RelayBytes < int64(rows)*900 {
			return fmt.Errorf("the relay holds %d bytes for a backlog of %d rows of 992 bytes", s.RelayBytes, rows)
		}
		return nil
	})
	t.Logf("relay before catch-up: %s (%d bytes) of %s, for %d rows of backlog", mib(before.RelayBytes), before.RelayBytes, mib(before.RelayMaxBytes), rows)
	if before.RelayHeldBy != "task "+relayTask {
		t.Errorf("relay held by %q, want the paused task", before.RelayHeldBy)
	}
	e.dmnode("task", "resume", relayTask)
	e.expectEqual()
	after := e.eventually("the relay trimmed", time.Minute, func(s node.SourceStatus) error {
		if s.RelayBytes > 1<<20+64<<10 {
			return fmt.Errorf("relay holds %d bytes", s.RelayBytes)
		}
		return nil
	})
	t.Logf("relay after catch-up: %s (%d bytes); before: %s", mib(after.RelayBytes), after.RelayBytes, mib(before.RelayBytes))

	// A task submitted now from the start of the binlog needs what was
	// trimmed: it stops with an error saying so, it does not skip it.
	late := e.writeFile("late.yaml", fmt.Sprintf(`name: late
task-mode: incremental
target-database:
  host: 127.0.0.1
  port: %d
  user: root
  password: ""
mysql-instances:
  - source-id: %q
    block-allow-list: only
    route-rules: [late]
    meta:
      binlog-name: mysql-bin.000001
      binlog-pos: 4
block-allow-list:
  only:
    do-dbs: ["dmtest"]
routes:
  late:
    schema-pattern: dmtest
    target-schema: late
`, e.target.Port, sourceID(0)))
	e.dmnode("task", "submit", late)
	var lateErr string
	harness.Eventually(t, time.Minute, func() error {
		var st struct{ Tasks []node.TaskStatus }
		out := e.dmnode("task", "status", "late", "-o", "json")
		if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Tasks) != 1 {
			return fmt.Errorf("task status: %v\n%s", err, out)
		}
		s := st.Tasks[0].Sources[0]
		if s.Stage != "error" {
			return fmt.Errorf("late task in stage %s, last error %q", s.Stage, s.LastError)
		}
		lateErr = s.LastError
		return nil
	})
	if !strings.Contains(lateErr, "task late needs the binlog of source "+sourceID(0)+" from mysql-bin.000001:4, but the relay only holds what follows") {
		t.Errorf("late task's error: %s", lateErr)
	}
	t.Logf("the late task's error: %s", lateErr)
	e.expectEqual()
}

// A relay capped small fills while the task is paused: the tailer stops
// reading the source (status says so with the figures) and the relay stays
// near its cap; once the task resumes and the applier frees space it reads
// on, and the target ends equal to the source.
func TestRelayFullPausesReading(t *testing.T) {
	const maxBytes = 4 << 20
	began := time.Now()
	e := newRelayEnv(t, "relay-max-size: 4MiB\n")
	t.Logf("in sync after %s", time.Since(began).Round(time.Second))
	e.dmnode("task", "pause", relayTask)
	e.fill(20_000) // about 20 MB: five times the cap
	full := e.eventually("the relay full", 2*time.Minute, func(s node.SourceStatus) error {
		if !s.RelayFull {
			return fmt.Errorf("relay not full: %d of %d bytes", s.RelayBytes, s.RelayMaxBytes)
		}
		return nil
	})
	if full.RelayMaxBytes != maxBytes || full.RelayBytes < maxBytes || full.RelayBytes > maxBytes+2<<20 {
		t.Errorf("relay full at %d bytes of %d; want between the cap and the cap plus one batch", full.RelayBytes, full.RelayMaxBytes)
	}
	up := harness.Rows(t, e.src.DB(t), "SHOW MASTER STATUS")[0]
	if strings.HasPrefix(full.Relayed, up[0]+":"+up[1]) {
		t.Errorf("relayed %s: the tailer read the whole binlog although the relay is full", full.Relayed)
	}
	text := e.dmnode("task", "status", relayTask)
	if !strings.Contains(text, "relay full: the tailer stopped reading the source (relay") {
		t.Errorf("task status does not say the relay is full:\n%s", text)
	}
	t.Logf("relay full after %s: %s of %s, relayed %s, source at %s:%s\n%s", time.Since(began).Round(time.Second),
		mib(full.RelayBytes), mib(full.RelayMaxBytes), full.Relayed, up[0], up[1], text)
	if !strings.Contains(e.node.Log(), "relay full: stopped reading the source") {
		t.Error("the node log does not say the relay is full")
	}
	m := e.scrape()
	if v, _ := m.value("dmnode_relay_full", "source", sourceID(0)); v != 1 {
		t.Errorf("dmnode_relay_full = %v, want 1", v)
	}
	if v, _ := m.value("dmnode_relay_max_bytes", "source", sourceID(0)); v != maxBytes {
		t.Errorf("dmnode_relay_max_bytes = %v, want %d", v, maxBytes)
	}
	// Still full a moment later: the tailer waits, it neither fails nor
	// reads on.
	if s := e.status(); !s.RelayFull || s.LastError != "" || s.RelayBytes > maxBytes+2<<20 {
		t.Errorf("relay %d bytes, full %v, last error %q", s.RelayBytes, s.RelayFull, s.LastError)
	}
	e.dmnode("task", "resume", relayTask)
	resumed := time.Now()
	e.expectEqual()
	t.Logf("caught up %s after the resume", time.Since(resumed).Round(time.Second))
	e.eventually("the relay has room", time.Minute, func(s node.SourceStatus) error {
		if s.RelayFull {
			return fmt.Errorf("relay still full: %d bytes", s.RelayBytes)
		}
		return nil
	})
	if !strings.Contains(e.node.Log(), "relay has room again: reading the source") {
		t.Error("the node log does not say the tailer reads on")
	}
}

var guardFile = regexp.MustCompile(`binlog (\S+), which dmnode still has to read`)

// The purge guard: with the tailer stopped by a full relay and the source
// expiring its binlog after an hour, status and log warn, with the time
// left, before the needed file goes. After a PURGE BINARY LOGS removes it,
// status says so, the tailer stops with an error naming the missing file
// and the way out, and the way out (a fresh copy) brings the target back
// to the source's rows.
func TestPurgeGuard(t *testing.T) {
	e := newRelayEnv(t, "relay-max-size: 2MiB\nbinlog-purge-margin: 2h\n")
	e.src.Exec(t, "SET GLOBAL binlog_expire_logs_seconds = 3600")
	e.dmnode("task", "pause", relayTask)
	e.fill(10_000)
	e.eventually("the relay full", 2*time.Minute, func(s node.SourceStatus) error {
		if !s.RelayFull {
			return fmt.Errorf("relay not full: %d of %d bytes", s.RelayBytes, s.RelayMaxBytes)
		}
		return nil
	})
	// The file the tailer stopped in is closed: from now on the source's
	// expiry counts its hour down.
	e.src.Exec(t, "FLUSH BINARY LOGS")
	e.fill(500)
	e.src.Exec(t, "FLUSH BINARY LOGS")
	warned := e.eventually("the purge guard warns", time.Minute, func(s node.SourceStatus) error {
		if !s.BinlogPurgeWarning {
			return fmt.Errorf("no warning; %d s left", s.BinlogPurgeSecondsLeft)
		}
		return nil
	})
	if warned.BinlogPurgeSecondsLeft < 0 || warned.BinlogPurgeSecondsLeft > 3600 || warned.BinlogPurged {
		t.Errorf("guard: %d s left, purged %v; want at most an hour left, not purged", warned.BinlogPurgeSecondsLeft, warned.BinlogPurged)
	}
	var needed string
	for _, w := range warned.Warnings {
		if m := guardFile.FindStringSubmatch(w); m != nil {
			needed = m[1]
		}
		t.Logf("warning: %s", w)
	}
	if needed == "" {
		t.Fatalf("no purge guard warning names the needed file: %q", warned.Warnings)
	}
	if !strings.Contains(e.node.Log(), "purge guard: binlog "+needed) {
		t.Errorf("the node log does not warn about %s", needed)
	}
	if v, _ := e.scrape().value("dmnode_binlog_purge_warning", "source", sourceID(0)); v != 1 {
		t.Errorf("dmnode_binlog_purge_warning = %v, want 1", v)
	}
	// The source purges everything but its current file, the needed one
	// among them. MariaDB keeps a file until its binlog checkpoint is
	// written, so the purge is repeated until the file is gone.
	harness.Eventually(t, time.Minute, func() error {
		logs := harness.Rows(t, e.src.DB(t), "SHOW BINARY LOGS")
		for _, l := range logs {
			if l[0] == needed {
				e.src.Exec(t, "PURGE BINARY LOGS TO '"+logs[len(logs)-1][0]+"'")
				return fmt.Errorf("%s still on the source", needed)
			}
		}
		return nil
	})
	e.eventually("the purge guard reports the loss", time.Minute, func(s node.SourceStatus) error {
		if !s.BinlogPurged {
			return fmt.Errorf("not reported purged; warnings %q", s.Warnings)
		}
		return nil
	})
	// Once the relay has room the tailer reads on, and finds the file gone.
	e.dmnode("task", "resume", relayTask)
	failed := e.eventually("the tailer stops on the lost binlog", 2*time.Minute, func(s node.SourceStatus) error {
		if s.Stage != "error" {
			return fmt.Errorf("stage %s, last error %q", s.Stage, s.LastError)
		}
		return nil
	})
	for _, want := range []string{"binlog file " + needed + ", which dmnode still has to read", "is no longer on the source", "The way out is a fresh copy",
		"dmnode task delete " + relayTask + " --purge", "dmnode source remove " + sourceID(0)} {
		if !strings.Contains(failed.LastError, want) {
			t.Errorf("last error does not say %q:\n%s", want, failed.LastError)
		}
	}
	t.Logf("the tailer's error: %s", failed.LastError)

	// The way out, as the error gives it.
	e.src.Exec(t, "SET GLOBAL binlog_expire_logs_seconds = 0")
	e.dmnode("task", "stop", relayTask)
	e.dmnode("task", "delete", relayTask, "--purge")
	e.dmnode("source", "remove", sourceID(0))
	e.dmnode("source", "add", e.srcFile)
	e.target.Exec(t, "DROP DATABASE dmtest")
	e.dmnode("task", "start", e.taskFile, "--remove-meta")
	e.dmnode("task", "wait", relayTask, "--stage", "sync", "--timeout", "2m")
	e.fill(1000)
	e.expectEqual()
}
