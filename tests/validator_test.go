package tests

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/node"
	"github.com/dmnode/dmnode/tests/harness"
)

// DM's continuous validator, in DM's syntax: under a steady write load it
// finds nothing; a row changed by hand on the target (by a trigger, so that
// the applier's writes do not put it right) and then updated upstream is
// found and shown by validation show-error, and clear-error removes it.
func TestValidatorFindsHandChangedRow(t *testing.T) {
	c := newCluster(t, 1)
	c.seed(300)
	c.addSources()
	task := c.writeFile("val.yaml", fmt.Sprintf(`name: val
task-mode: all
target-database:
  host: 127.0.0.1
  port: %d
  user: root
  password: ""
mysql-instances:
  - source-id: %q
    block-allow-list: only
    validator-config-name: global
block-allow-list:
  only:
    do-dbs: [dmtest]
validators:
  global:
    mode: full
    row-error-delay: 2s
    check-interval: 500ms
`, c.target.Port, sourceID(0)))
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "val", "--stage", "sync", "--timeout", "2m")

	w := startWriters(t, c.sources, 23)
	waitForOps(t, w, 1500)
	w.stop(t)
	// The validator catches up with the load and found nothing.
	var vs node.ValidationStatus
	harness.Eventually(t, 2*time.Minute, func() error {
		vs = validation(t, c)
		if vs.Checked == 0 || vs.Pending > 0 || vs.Position == "" || vs.Position != vs.Read {
			return fmt.Errorf("validator not caught up: %+v", vs)
		}
		return nil
	})
	t.Logf("after the load: %d row changes compared, %d pending, %d errors ever", vs.Checked, vs.Pending, vs.ErrorsTotal)
	if vs.ErrorsTotal != 0 {
		t.Fatalf("the validator reported %d errors under a steady load:\n%s", vs.ErrorsTotal, c.dmnode("validation", "show-error", "val"))
	}

	// The validator resumes from its position after a restart: 50 rows
	// changed since are each compared once, nothing before again.
	before := vs.Checked
	c.stopNode()
	c.startNode()
	var ids []int64
	for _, r := range harnessRows(t, c.sources[0], "SELECT id FROM dmtest.t1 ORDER BY id DESC LIMIT 50") {
		var id int64
		fmt.Sscan(r[0], &id)
		ids = append(ids, id)
	}
	for _, id := range ids {
		c.sources[0].Exec(t, fmt.Sprintf("UPDATE dmtest.t1 SET port = port + 1000 WHERE id = %d", id))
	}
	harness.Eventually(t, 2*time.Minute, func() error {
		vs = validation(t, c)
		if vs.Checked < before+int64(len(ids)) || vs.Pending > 0 || vs.Position != vs.Read {
			return fmt.Errorf("validator not caught up after the restart: %+v", vs)
		}
		return nil
	})
	if vs.Checked != before+int64(len(ids)) || vs.ErrorsTotal != 0 {
		t.Fatalf("after the restart: %d rows compared, want %d+%d; %d errors", vs.Checked, before, len(ids), vs.ErrorsTotal)
	}

	// Stopped, the validator keeps its place: rows changed meanwhile are
	// compared once it is started again.
	before = vs.Checked
	c.dmnode("validation", "stop", "val")
	if vs = validation(t, c); !vs.Stopped {
		t.Fatalf("validation status after validation stop: %+v", vs)
	}
	for _, id := range ids[:5] {
		c.sources[0].Exec(t, fmt.Sprintf("UPDATE dmtest.t1 SET port = port + 1 WHERE id = %d", id))
	}
	c.dmnode("validation", "start", "val")
	harness.Eventually(t, time.Minute, func() error {
		vs = validation(t, c)
		if vs.Stopped || vs.Checked < before+5 || vs.Pending > 0 || vs.Position != vs.Read {
			return fmt.Errorf("validator not caught up after validation start: %+v", vs)
		}
		return nil
	})
	if vs.Checked != before+5 || vs.ErrorsTotal != 0 {
		t.Fatalf("after validation start: %d rows compared, want %d+5; %d errors", vs.Checked, before, vs.ErrorsTotal)
	}

	// A row changed by hand on the target, for good: a trigger someone
	// left on the target rewrites it whenever the applier writes it. Then
	// the row is updated upstream.
	var id int64
	if err := c.sources[0].DB(t).QueryRow("SELECT MIN(id) FROM dmtest.t1").Scan(&id); err != nil {
		t.Fatal(err)
	}
	for _, when := range []string{"INSERT", "UPDATE"} {
		c.target.Exec(t, fmt.Sprintf("CREATE TRIGGER dmtest.tamper_%s BEFORE %s ON dmtest.t1 FOR EACH ROW "+
			"SET NEW.c = IF(NEW.id = %d, 'changed on the target', NEW.c)", strings.ToLower(when), when, id))
	}
	c.sources[0].Exec(t, fmt.Sprintf("UPDATE dmtest.t1 SET c = 'changed upstream' WHERE id = %d", id))
	var found []string
	harness.Eventually(t, time.Minute, func() error {
		out := c.dmnode("validation", "show-error", "val", "--error-state", "unprocessed", "-o", "json")
		var resp struct{ Validation []node.ValidationStatus }
		if err := json.Unmarshal([]byte(out), &resp); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		found = found[:0]
		for _, s := range resp.Validation {
			for _, e := range s.ErrorList {
				found = append(found, fmt.Sprintf("%d %s %s %s", e.ID, e.Kind, e.Target, strings.Join(e.Key, ",")))
			}
		}
		if len(found) == 0 {
			return fmt.Errorf("no validation error yet")
		}
		return nil
	})
	want := fmt.Sprintf("1 different `dmtest`.`t1` id=%d", id)
	if len(found) != 1 || found[0] != want {
		t.Fatalf("validation errors: %q, want [%q]", found, want)
	}
	t.Logf("found: %s\n%s", found[0], c.dmnode("validation", "show-error", "val"))
	if vs = validation(t, c); vs.Errors != 1 || vs.ErrorsTotal != 1 {
		t.Fatalf("validation status after the hand change: %+v", vs)
	}
	// task status shows the validator too.
	var st struct{ Tasks []node.TaskStatus }
	if err := json.Unmarshal([]byte(c.dmnode("task", "status", "val", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if v := st.Tasks[0].Sources[0].Validator; v == nil || v.Errors != 1 || v.Mode != "full" {
		t.Fatalf("task status's validator: %+v", v)
	}
	if out := c.dmnode("task", "status", "val"); !strings.Contains(out, "validator (full, running)") || !strings.Contains(out, ", 1 errors") {
		t.Fatalf("task status does not show the validator:\n%s", out)
	}

	// Cleared, the error is gone; the total stays.
	c.dmnode("validation", "clear-error", "val", "--error-id", "1")
	if out := c.dmnode("validation", "show-error", "val", "-o", "json"); strings.Contains(out, "error_list") {
		t.Fatalf("errors left after clear-error: %s", out)
	}
	if vs = validation(t, c); vs.Errors != 0 || vs.ErrorsTotal != 1 {
		t.Fatalf("validation status after clear-error: %+v", vs)
	}

	// The trigger dropped and the row put right by hand, source and target
	// agree row by row.
	c.target.Exec(t, "DROP TRIGGER dmtest.tamper_insert", "DROP TRIGGER dmtest.tamper_update",
		fmt.Sprintf("UPDATE dmtest.t1 SET c = 'changed upstream' WHERE id = %d", id))
	c.expectEqual("dmtest.t1", func(int) string { return "SELECT id, c, port FROM dmtest.t1" }, "SELECT id, c, port FROM dmtest.t1")
}

// validation returns the validator status of task val's only source.
func validation(t *testing.T, c *cluster) node.ValidationStatus {
	t.Helper()
	out := c.dmnode("validation", "status", "val", "-o", "json")
	var resp struct{ Validation []node.ValidationStatus }
	if err := json.Unmarshal([]byte(out), &resp); err != nil || len(resp.Validation) != 1 {
		t.Fatalf("validation status: %v: %s", err, out)
	}
	return resp.Validation[0]
}

// The validator follows the task's rules: two shards merged into one target
// table by a route that adds the source as a key column, validated at mode
// fast (existence only). A steady load on both finds nothing; a row
// inserted upstream that a trigger on the target files under another key
// is found missing, named by its target key (id and c_source).
func TestValidatorFastOnMergedShards(t *testing.T) {
	c := newCluster(t, 2)
	c.seed(200)
	c.target.Exec(t, "CREATE DATABASE dmtest",
		"CREATE TABLE dmtest.t1 (id bigint unsigned NOT NULL, c char(32), port int, c_source varchar(32) NOT NULL, PRIMARY KEY (id, c_source))")
	c.addSources()
	var b strings.Builder
	fmt.Fprintf(&b, "name: val\ntask-mode: all\ntarget-database:\n  host: 127.0.0.1\n  port: %d\n  user: root\n  password: \"\"\nmysql-instances:\n", c.target.Port)
	for i := range c.sources {
		fmt.Fprintf(&b, "  - source-id: %q\n    block-allow-list: only\n    route-rules: [src]\n    validator-config-name: fast\n", sourceID(i))
	}
	b.WriteString(`block-allow-list:
  only:
    do-dbs: [dmtest]
routes:
  src:
    schema-pattern: dmtest
    table-pattern: t1
    target-schema: dmtest
    extract-source:
      source-regexp: "(.*)"
      target-column: c_source
validators:
  fast:
    mode: fast
    row-error-delay: 2s
`)
	task := c.writeFile("val.yaml", b.String())
	c.dmnode("task", "submit", task)
	c.dmnode("task", "wait", "val", "--stage", "sync", "--timeout", "2m")
	w := startWriters(t, c.sources, 31)
	waitForOps(t, w, 1500)
	w.stop(t)
	out := c.dmnode("validation", "status", "val", "-o", "json")
	harness.Eventually(t, 2*time.Minute, func() error {
		out = c.dmnode("validation", "status", "val", "-o", "json")
		var resp struct{ Validation []node.ValidationStatus }
		if err := json.Unmarshal([]byte(out), &resp); err != nil || len(resp.Validation) != 2 {
			return fmt.Errorf("validation status: %v: %s", err, out)
		}
		for _, vs := range resp.Validation {
			if vs.Mode != "fast" || vs.Checked == 0 || vs.Pending > 0 || vs.Position != vs.Read {
				return fmt.Errorf("validator of %s not caught up: %+v", vs.Source, vs)
			}
			if vs.ErrorsTotal != 0 {
				t.Fatalf("the validator of %s reported errors under a steady load:\n%s", vs.Source, c.dmnode("validation", "show-error", "val", "--error-state", "all"))
			}
		}
		return nil
	})
	t.Logf("validation status:\n%s", c.dmnode("validation", "status", "val"))
	// The second source inserts a new row; the target's trigger files it
	// under another c_source.
	var id int64
	if err := c.sources[1].DB(t).QueryRow("SELECT MAX(id) FROM dmtest.t1").Scan(&id); err != nil {
		t.Fatal(err)
	}
	c.target.Exec(t, fmt.Sprintf("CREATE TRIGGER dmtest.drop_it BEFORE INSERT ON dmtest.t1 FOR EACH ROW "+
		"SET NEW.c_source = IF(NEW.id = %d AND NEW.c_source = '%s', 'elsewhere', NEW.c_source)", id+1000, sourceID(1)))
	c.sources[1].Exec(t, fmt.Sprintf("INSERT INTO dmtest.t1 (id, c, port) VALUES (%d, 'probe', 0)", id+1000))
	harness.Eventually(t, time.Minute, func() error {
		out = c.dmnode("validation", "show-error", "val")
		if !strings.Contains(out, fmt.Sprintf("id=%d,c_source=%s", id+1000, sourceID(1))) || !strings.Contains(out, "missing") {
			return fmt.Errorf("not found yet:\n%s", out)
		}
		return nil
	})
	t.Logf("found:\n%s", out)
	c.target.Exec(t, "DROP TRIGGER dmtest.drop_it", "DELETE FROM dmtest.t1 WHERE c_source = 'elsewhere'",
		fmt.Sprintf("INSERT INTO dmtest.t1 (id, c, port, c_source) VALUES (%d, 'probe', 0, '%s')", id+1000, sourceID(1)))
	c.dmnode("validation", "clear-error", "val", "--all")
	c.expectEqual("dmtest.t1", func(i int) string {
		return fmt.Sprintf("SELECT id, c, port, '%s' FROM dmtest.t1", sourceID(i))
	}, "SELECT id, c, port, c_source FROM dmtest.t1")
}

// The validator at mode full on the example's partition id merge: the
// mapped id is the target key, so the rows are found by it and the digest
// leaves it out; a steady load on both shards finds nothing.
func TestValidatorFullPartitionID(t *testing.T) {
	c := newCluster(t, 2)
	c.seed(200)
	c.addSources()
	path := c.partitionIDTask("val", "    threads: 2\n")
	task := strings.ReplaceAll(readFile(t, path), "    mydumper-config-name: \"global\"\n",
		"    mydumper-config-name: \"global\"\n    validator-config-name: global\n") +
		"validators:\n  global: {mode: full, row-error-delay: 2s}\n"
	c.dmnode("task", "submit", c.writeFile("val-validated.yaml", task))
	c.dmnode("task", "wait", "val", "--stage", "sync", "--timeout", "2m")
	w := startWriters(t, c.sources, 41)
	waitForOps(t, w, 1500)
	w.stop(t)
	harness.Eventually(t, 2*time.Minute, func() error {
		out := c.dmnode("validation", "status", "val", "-o", "json")
		var resp struct{ Validation []node.ValidationStatus }
		if err := json.Unmarshal([]byte(out), &resp); err != nil || len(resp.Validation) != 2 {
			return fmt.Errorf("validation status: %v: %s", err, out)
		}
		for _, vs := range resp.Validation {
			if vs.ErrorsTotal != 0 {
				t.Fatalf("the validator of %s reported errors under a steady load:\n%s", vs.Source,
					c.dmnode("validation", "show-error", "val", "--error-state", "all"))
			}
			if vs.Checked == 0 || vs.Pending > 0 || vs.Position != vs.Read {
				return fmt.Errorf("validator of %s not caught up: %+v", vs.Source, vs)
			}
		}
		return nil
	})
	t.Logf("validation status:\n%s", c.dmnode("validation", "status", "val"))
	c.expectEqual("dmtest.t", partitionIDQuery, "SELECT id, c, port FROM dmtest.t")
}
