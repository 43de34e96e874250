package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/plan"
	"github.com/dmnode/dmnode/tests/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// Step against a real MariaDB that is source and target at once (schema
// shop copied to schema copy): a column mapping outside the key, an insert
// expression filter, a text column in another character set on the
// target, a composite key with a binary column, NULLs, a table without a
// key and one without a target table; one chunk per step, the state going
// through JSON between steps.
func TestStep(t *testing.T) {
	s := harness.StartMariaDB(t, harness.Options{})
	s.Exec(t, "CREATE DATABASE shop", "USE shop",
		"CREATE TABLE orders (id int PRIMARY KEY, code varchar(20) CHARACTER SET latin1 NOT NULL, amount decimal(10,2), note text, bin varbinary(8), at datetime(3))",
		// amount < 0 for ids 1..13: the expression filter drops them.
		"INSERT INTO orders SELECT seq, CONCAT('c', seq, 'é'), seq * 1.5 - 20, IF(seq % 3 = 0, NULL, CONCAT('n,', seq)), IF(seq % 2 = 0, NULL, UNHEX(HEX(seq))), '2026-01-01 00:00:00.5' + INTERVAL seq SECOND FROM seq_1_to_40",
		"CREATE TABLE tags (name varchar(32) NOT NULL, owner varbinary(16) NOT NULL, weight double, PRIMARY KEY (name, owner))",
		"INSERT INTO tags SELECT CONCAT('tag', seq), UNHEX(LPAD(HEX(seq), 4, '0')), seq / 7 FROM seq_1_to_25",
		"CREATE TABLE nokey (a int, b varchar(10))",
		"INSERT INTO nokey VALUES (1, 'x'), (1, 'x'), (2, NULL), (3, 'y'), (4, 'z')",
		"CREATE TABLE gone (id int PRIMARY KEY)",
		"CREATE DATABASE copy", "USE copy",
		"CREATE TABLE orders (id int PRIMARY KEY, code varchar(40) CHARACTER SET utf8mb4 NOT NULL, amount decimal(10,2), note text, bin varbinary(8), at datetime(3))",
		// Filtered rows 1 and 2 never reached the target, 3..13 did (the
		// full copy does not filter): both are fine.
		"INSERT INTO orders SELECT id, CONCAT('eu-', code), amount, note, bin, at FROM shop.orders WHERE id > 2",
		"CREATE TABLE tags LIKE shop.tags", "INSERT INTO tags SELECT * FROM shop.tags",
		"CREATE TABLE nokey LIKE shop.nokey", "INSERT INTO nokey SELECT * FROM shop.nokey")
	in := stepInput(t, s.Port)

	st := run(t, in, nil, Options{ChunkRows: 4, StepTime: time.Nanosecond, Fast: true})
	rep := st.Report()
	if rep.Equal {
		t.Error("report equal with a skipped table")
	}
	want := map[string]TableReport{
		"copy.gone":   {Status: StatusSkipped, Reason: "the target table does not exist"},
		"copy.nokey":  {Status: StatusEqual, KeyColumns: []string{"a", "b"}, Keyless: true, RowsCompared: 5, TargetRowsScanned: 5},
		"copy.orders": {Status: StatusEqual, KeyColumns: []string{"id"}, RowsCompared: 27, RowsFiltered: 13, TargetRowsScanned: 38},
		"copy.tags":   {Status: StatusEqual, KeyColumns: []string{"name", "owner"}, RowsCompared: 25, TargetRowsScanned: 25},
	}
	expectTables(t, rep, want)
	if notes := tableOf(t, rep, "copy.orders").Notes; len(notes) != 1 || !strings.Contains(notes[0], "expression filters apply") {
		t.Errorf("notes of copy.orders: %q", notes)
	}

	s.Exec(t, "USE copy",
		"UPDATE orders SET code = 'eu-zzz' WHERE id = 20", // the mapped column
		"UPDATE orders SET note = '' WHERE id = 21",       // NULL upstream
		"UPDATE orders SET at = at + INTERVAL 1000 MICROSECOND WHERE id = 22",
		"DELETE FROM orders WHERE id IN (5, 30)", // 5 is filtered
		"INSERT INTO orders (id, code) VALUES (100, 'eu-x'), (101, 'us-x')",
		"UPDATE tags SET weight = weight + 1e-9 WHERE name = 'tag3'",
		"INSERT INTO tags VALUES ('zz', 0x00ff, NULL)",
		"DELETE FROM nokey WHERE a = 1 LIMIT 1", "UPDATE nokey SET b = 'w' WHERE a = 4")
	st = run(t, in, nil, Options{ChunkRows: 7, StepTime: time.Nanosecond})
	orders, tags := want["copy.orders"], want["copy.tags"]
	orders.Status, orders.TargetRowsScanned = StatusDiffers, 38-2+2
	orders.Missing, orders.MissingKeys = 1, [][]string{{"30"}}
	orders.Extra, orders.ExtraKeys = 2, [][]string{{"100"}, {"101"}}
	orders.Different, orders.DifferentKeys = 3, [][]string{{"20"}, {"21"}, {"22"}}
	tags.Status, tags.TargetRowsScanned = StatusDiffers, 26
	tags.Extra, tags.ExtraKeys = 1, [][]string{{"zz", "0x00ff"}}
	tags.Different, tags.DifferentKeys = 1, [][]string{{"tag3", "0x0003"}}
	nokey := want["copy.nokey"]
	nokey.Status, nokey.TargetRowsScanned = StatusDiffers, 4
	nokey.Missing, nokey.MissingKeys = 2, [][]string{{"1", "x"}, {"4", "z"}}
	nokey.Extra, nokey.ExtraKeys = 1, [][]string{{"4", "w"}}
	want["copy.orders"], want["copy.tags"], want["copy.nokey"] = orders, tags, nokey
	expectTables(t, st.Report(), want)

	// A state does not resume on another version of the task.
	half, err := Step(context.Background(), in, nil, Options{ChunkRows: 4, StepTime: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	other := in
	other.Spec += "\n# changed\n"
	if _, err := Step(context.Background(), other, half, Options{}); err == nil || !strings.Contains(err.Error(), "another version") {
		t.Errorf("resumed on a changed task: %v", err)
	}
}

// run steps a verification to the end, passing the state through JSON
// between steps as the CLI does.
func run(t *testing.T, in Input, st *State, opt Options) *State {
	t.Helper()
	steps := 0
	for st == nil || !st.Done() {
		next, err := Step(context.Background(), in, st, opt)
		if err != nil {
			t.Fatalf("step %d: %v", steps, err)
		}
		data, err := json.Marshal(next)
		if err != nil {
			t.Fatal(err)
		}
		st = &State{}
		if err := json.Unmarshal(data, st); err != nil {
			t.Fatal(err)
		}
		steps++
	}
	if steps < 10 {
		t.Errorf("%d steps, want one chunk per step", steps)
	}
	return st
}

func stepInput(t *testing.T, port int) Input {
	spec := fmt.Sprintf(`name: vt
task-mode: all
target-database: {host: 127.0.0.1, port: %d, user: root, password: ""}
block-allow-list:
  bw:
    do-dbs: ["shop"]
routes:
  r:
    schema-pattern: shop
    target-schema: copy
column-mappings:
  m:
    schema-pattern: shop
    table-pattern: orders
    expression: "add prefix"
    source-column: code
    target-column: code
    arguments: ["eu-"]
expression-filter:
  neg:
    schema: shop
    table: orders
    insert-value-expr: "amount < 0"
mysql-instances:
  - source-id: s1
    block-allow-list: bw
    route-rules: [r]
    column-mapping-rules: [m]
    expression-filters: [neg]
`, port)
	p, err := plan.Decode("task.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	src, err := p.Source(&catalog.Source{ID: "s1", File: "source.yaml", YAML: fmt.Sprintf(`source-id: s1
from: {host: 127.0.0.1, port: %d, user: root, password: ""}
`, port)})
	if err != nil {
		t.Fatal(err)
	}
	return Input{Task: p.Task, Spec: spec, Sources: map[string]*plan.Source{"s1": src}}
}

func tableOf(t *testing.T, r *Report, target string) *TableReport {
	t.Helper()
	for i := range r.Tables {
		if r.Tables[i].Target == target {
			return &r.Tables[i]
		}
	}
	t.Fatalf("no report of %s", target)
	return nil
}

// expectTables compares the counts, keys and statuses of the report with
// want (upstream lists, notes and checksums are not compared).
func expectTables(t *testing.T, r *Report, want map[string]TableReport) {
	t.Helper()
	if len(r.Tables) != len(want) {
		t.Errorf("%d tables, want %d", len(r.Tables), len(want))
	}
	for _, got := range r.Tables {
		w, ok := want[got.Target]
		if !ok {
			t.Errorf("unexpected table %s", got.Target)
			continue
		}
		if got.Schema+"."+got.Table != got.Target {
			t.Errorf("%s: named %q.%q", got.Target, got.Schema, got.Table)
		}
		g := got
		g.Target, g.Schema, g.Table, g.Upstream, g.Notes = "", "", "", nil, nil
		g.Checksum = 0
		for _, keys := range [][][]string{g.MissingKeys, g.ExtraKeys, g.DifferentKeys} {
			slices.SortFunc(keys, func(a, b []string) int { return strings.Compare(strings.Join(a, "\x00"), strings.Join(b, "\x00")) })
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", got.Target, g, w)
		}
	}
}
