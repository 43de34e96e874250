package tests

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

// A node killed (SIGKILL) in the middle of a dump, and a table it had not
// finished dropped upstream before the node comes back: the resumed dump
// cannot read the rest of that table, and the task stops with an error
// that names the table and the way out, instead of retrying for ever or
// skipping rows. Taking the way out (stop, delete, then start again with
// --remove-meta) copies what the source holds now, and the target then
// equals the source row by row.
func TestKillDumpThenDropTable(t *testing.T) {
	c := newCluster(t, 1)
	src := c.sources[0]
	src.Exec(t, "CREATE DATABASE dmc",
		"CREATE TABLE dmc.small (id int NOT NULL PRIMARY KEY, v varchar(32))",
		"INSERT INTO dmc.small SELECT seq, MD5(seq) FROM dmc.seq_1_to_1000",
		"CREATE TABLE dmc.big (id bigint NOT NULL PRIMARY KEY, c char(32), n int)",
		"INSERT INTO dmc.big SELECT seq, MD5(seq), seq % 97 FROM dmc.seq_1_to_300000")
	c.addSources()
	task := c.dmcompatTask("drop", "all", "    mydumper-config-name: slow\n", "mydumpers:\n  slow: {threads: 1, rows: 10000}\n")
	c.dmnode("task", "submit", task)

	// Killed once the dump is under way and not finished: small is one
	// chunk, big thirty, so big is the table left unfinished.
	killed := false
	for deadline := time.Now().Add(2 * time.Minute); !killed && time.Now().Before(deadline); {
		s := c.dropSourceStatus("drop")
		if s.Stage == "dump" && s.ChunksDone > 1 && s.ChunksDone < s.ChunksAll {
			c.node.Kill(t)
			killed = true
		}
	}
	if !killed {
		t.Fatal("the dump finished before it could be interrupted; make the table larger")
	}
	src.Exec(t, "DROP TABLE dmc.big")
	c.startNode()

	var last string
	err := harness.Within(2*time.Minute, func() error {
		s := c.dropSourceStatus("drop")
		last = s.LastError
		if !strings.Contains(s.LastError, "dmc.big") {
			return fmt.Errorf("stage %s, last error %q", s.Stage, s.LastError)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the resumed dump did not stop on the dropped table: %v\n%s", err, c.node.Log())
	}
	for _, want := range []string{"dropped or renamed", "dmnode task stop drop && dmnode task delete drop && dmnode task start --remove-meta", "exclude it in the file's block-allow-list"} {
		if !strings.Contains(last, want) {
			t.Errorf("the task's error does not say %q: %s", want, last)
		}
	}
	// It stays stopped on it: no retries that could copy a part of it.
	time.Sleep(3 * time.Second)
	if s := c.dropSourceStatus("drop"); s.Stage == "sync" || !strings.Contains(s.LastError, "dmc.big") {
		t.Fatalf("after the error: stage %s, last error %q", s.Stage, s.LastError)
	}

	// The way out the error gives, as it gives it.
	c.dmnode("task", "stop", "drop")
	c.dmnode("task", "delete", "drop")
	c.dmnode("task", "start", "--remove-meta", task)
	c.dmnode("task", "wait", "drop", "--stage", "sync", "--timeout", "3m")
	src.Exec(t, "INSERT INTO dmc.small VALUES (1001, 'after')", "UPDATE dmc.small SET v = NULL WHERE id = 7")
	c.expectEqual("dmc.small", func(int) string { return "SELECT id, v FROM dmc.small" }, "SELECT id, v FROM dmc.small")
}

type dropSource struct {
	Stage      string `json:"stage"`
	ChunksDone int    `json:"chunks_done"`
	ChunksAll  int    `json:"chunks_total"`
	LastError  string `json:"last_error"`
}

// dropSourceStatus reads the status of the one source of task.
func (c *cluster) dropSourceStatus(task string) dropSource {
	c.t.Helper()
	var st struct {
		Tasks []struct {
			Sources []dropSource `json:"sources"`
		} `json:"tasks"`
	}
	out := c.dmnode("task", "status", task, "-o", "json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Tasks) != 1 || len(st.Tasks[0].Sources) != 1 {
		c.t.Fatalf("task status %s: %v\n%s", task, err, out)
	}
	return st.Tasks[0].Sources[0]
}
