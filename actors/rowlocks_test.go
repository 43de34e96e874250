package actors

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/apply"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
)

// The statements that apply one source's row changes to a merged table
// touch that source's rows only: each finds its row by the key, so another
// source's applier holding a lock on its own rows never makes it wait (a
// statement that scans the table waits for every row it passes that
// another transaction holds). Run on MariaDB with another transaction holding a row of
// source 02 and a lock wait of one second, every shape an applier of
// source 01 sends, in and out of safe mode, one row and several, must
// commit.
func TestRowStatementsLockTheirRowsOnly(t *testing.T) {
	ctx := t.Context()
	db := loadTestTarget(t, "CREATE TABLE d.t (id int PRIMARY KEY, v varchar(8))")
	if _, err := db.ExecContext(ctx, "CREATE TABLE d.m (id INT NOT NULL, v VARCHAR(16), c_source VARCHAR(8) NOT NULL, PRIMARY KEY (id, c_source), KEY (v))"); err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, src := range []string{"01", "02"} {
		for id := 1; id <= 2000; id++ {
			vals = append(vals, fmt.Sprintf("(%d, 'v%d', '%s')", id, id%50, src))
		}
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO d.m (id, v, c_source) VALUES "+strings.Join(vals, ",")); err != nil {
		t.Fatal(err)
	}
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.ExecContext(ctx, "UPDATE d.m SET v = 'held' WHERE id = 1500 AND c_source = '02'"); err != nil {
		t.Fatal(err)
	}

	task := &config.Task{
		Name: "merge",
		Routes: map[string]*config.RouteRule{
			"r": {SchemaPattern: "shard_*", TablePattern: "m_*", TargetSchema: "d", TargetTable: "m",
				ExtractSource: &config.Extractor{SourceRegexp: "mysql-replica-([0-9]+)", TargetColumn: "c_source"}},
		},
		MySQLInstances: []config.Instance{{SourceID: "mysql-replica-01", RouteRules: []string{"r"}}},
	}
	rl, err := rules.Compile(task, &task.MySQLInstances[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := rl.Plan("shard_1", "m_1", []string{"id", "v"})
	if err != nil {
		t.Fatal(err)
	}
	p = p.WithTarget(nil)
	r := func(id int, v string) []any { return []any{int64(id), v} }
	changes := func(rows ...dmnode.RowChange) *dmnode.Change {
		return &dmnode.Change{Table: dmnode.TableID{Schema: "shard_1", Table: "m_1"}, Columns: []string{"id", "v"}, Key: []int{0}, Rows: rows}
	}
	cases := []struct {
		name string
		c    *dmnode.Change
	}{
		{"delete one row", changes(dmnode.RowChange{Kind: dmnode.Delete, Before: r(10, "v10")})},
		{"delete rows", changes(dmnode.RowChange{Kind: dmnode.Delete, Before: r(11, "v11")}, dmnode.RowChange{Kind: dmnode.Delete, Before: r(12, "v12")})},
		{"update one row", changes(dmnode.RowChange{Kind: dmnode.Update, Before: r(20, "v20"), After: r(20, "x")})},
		{"update rows", changes(dmnode.RowChange{Kind: dmnode.Update, Before: r(21, "v21"), After: r(21, "x")},
			dmnode.RowChange{Kind: dmnode.Update, Before: r(22, "v22"), After: r(22, "x")})},
		{"update moving a row", changes(dmnode.RowChange{Kind: dmnode.Update, Before: r(30, "v30"), After: r(3000, "v30")})},
		{"insert one row", changes(dmnode.RowChange{Kind: dmnode.Insert, After: r(4000, "n")})},
	}
	for _, safe := range []bool{false, true} {
		for _, tc := range cases {
			name := fmt.Sprintf("%s (safe mode %v)", tc.name, safe)
			ops, err := apply.Rows(nil, p, tc.c, safe)
			if err != nil {
				t.Fatal(err)
			}
			stmts := apply.Statements(ops, apply.Uniques{p: {{0, 2}}}, 500)
			func() {
				conn, err := db.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if _, err := conn.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = 1"); err != nil {
					t.Fatal(err)
				}
				tx, err := conn.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback()
				for _, s := range stmts {
					if _, err := tx.ExecContext(ctx, s.Query, s.Args...); err != nil {
						t.Errorf("%s: %s waits for a row it does not change: %v", name, s.Query, err)
						return
					}
				}
			}()
		}
	}
}
