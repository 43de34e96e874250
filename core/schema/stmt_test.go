package schema

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
)

// ddlCorpus returns the statements of testdata/ddl_corpus.txt: those of
// the end-to-end DDL tests and of this module's DDL unit tests, and
// spellings the readers treat apart (OR REPLACE, ALTER ONLINE, several
// statements, trailing semicolons and comments, types the parser lacks).
func ddlCorpus(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("testdata/ddl_corpus.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		s, err := strconv.Unquote(sc.Text())
		if err != nil {
			t.Fatalf("corpus line %q: %v", sc.Text(), err)
		}
		out = append(out, s)
	}
	if len(out) < 100 {
		t.Fatalf("corpus has %d statements", len(out))
	}
	return out
}

// The readings of a text before they were taken from one parse: the
// tracker parsing statement by statement, Describe with a second tracker
// and a parse of its own for partitions, RouteDDL with a parse of its
// own. Kept here to hold the new readings to them.

func oldApplyAll(t *Tracker, currentDB, sql string) ([]DDL, error) {
	var ddls []DDL
	var errs []error
	for _, st := range splitStatements(sql) {
		d, err := oldApplyOne(t, currentDB, st)
		ddls = append(ddls, d)
		if err != nil {
			errs = append(errs, err)
			if !errors.Is(err, ErrUnknownTable) {
				break
			}
		}
	}
	return ddls, errors.Join(errs...)
}

func oldApplyOne(t *Tracker, currentDB string, st classified) (DDL, error) {
	if st.class != classParse {
		return DDL{Kind: Skip, SQL: st.text}, nil
	}
	stmts, err := parseStatement(st.text)
	if err != nil {
		return DDL{Kind: Skip, SQL: st.text}, err
	}
	if len(stmts) != 1 {
		return DDL{Kind: Skip, SQL: st.text}, nil
	}
	d, err := t.dispatch(currentDB, stmts[0], st.orReplace)
	d.SQL = st.text
	return d, err
}

func oldApply(t *Tracker, currentDB, sql string) (DDL, error) {
	ddls, err := oldApplyAll(t, currentDB, sql)
	if len(ddls) == 1 {
		return ddls[0], err
	}
	return merge(ddls, sql), err
}

func oldDescribe(currentDB, sql string) (DDL, Partitioning, error) {
	d, err := oldApply(NewTracker(), currentDB, sql)
	var p Partitioning
	if d.Kind == AlterTable {
		p = PartitioningOf(currentDB, sql)
	}
	return d, p, err
}

func oldRouteDDL(currentDB, stmt string, route RouteFunc) (string, error) {
	nodes, err := parseStatement(stmt)
	if err != nil {
		return "", err
	}
	if len(nodes) != 1 {
		return "", fmt.Errorf("%w: route DDL: %d statements in %q", ErrUnsupported, len(nodes), truncate(stmt, 200))
	}
	node := nodes[0]
	switch n := node.(type) {
	case *ast.CreateDatabaseStmt:
		n.IfNotExists = true
		n.Name.O, err = routeSchema(route, n.Name.O)
	case *ast.DropDatabaseStmt:
		n.IfExists = true
		n.Name.O, err = routeSchema(route, n.Name.O)
	case *ast.AlterDatabaseStmt:
		n.Name.O, err = routeSchema(route, n.Name.O)
	case *ast.CreateTableStmt:
		n.IfNotExists = true
	case *ast.DropTableStmt:
		n.IfExists = true
	case *ast.CreateIndexStmt:
		n.IfNotExists = true
	case *ast.DropIndexStmt:
		n.IfExists = true
	}
	if err != nil {
		return "", err
	}
	v := &tableRouter{currentDB: currentDB, route: route}
	node.Accept(v)
	if v.err != nil {
		return "", v.err
	}
	var b strings.Builder
	if err := node.Restore(format.NewRestoreCtx(restoreFlags, &b)); err != nil {
		return "", fmt.Errorf("route DDL: restore %q: %w", truncate(stmt, 200), err)
	}
	return b.String(), nil
}

// testRoute renames databases and tables, and refuses one database.
func testRoute(db, table string) (string, string, error) {
	if db == "refused" {
		return "", "", errors.New("no route for database refused")
	}
	if table == "" {
		return "t_" + db, "", nil
	}
	return "t_" + db, table + "_r", nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// printed prints the statements of s as the parser holds them, to see
// that a reading left them as they were.
func printed(t *testing.T, s *Stmt) string {
	t.Helper()
	var b strings.Builder
	for _, n := range s.Nodes() {
		if err := n.Restore(format.NewRestoreCtx(restoreFlags, &b)); err != nil {
			return "unprintable: " + err.Error()
		}
		b.WriteString(";\n")
	}
	return b.String()
}

// TestStmtReadingsMatchText holds the readings of one parse (Describe,
// Info, RouteStmt) to what the text-taking functions answered before,
// byte for byte, over the corpus; a one-statement text costs one parse
// for all of them, and no reading changes what the others read.
func TestStmtReadingsMatchText(t *testing.T) {
	singles := 0
	for _, db := range []string{"db", "", "refused"} {
		for _, q := range ddlCorpus(t) {
			before := Parses()
			s := ParseDDL(db, q)
			parsed := Parses() - before
			var was string
			if s.Err() == nil {
				was = printed(t, s)
			}

			mark := Parses()
			d, p, err := s.Describe()
			routed, node, rerr := RouteStmt(s, testRoute)
			read := Parses() - mark
			d0, p0, err0 := oldDescribe(db, q)
			if !reflect.DeepEqual(d, d0) || !reflect.DeepEqual(p, p0) || errText(err) != errText(err0) {
				t.Errorf("Describe(%q, %q):\n got %+v %+v %v\nwant %+v %+v %v", db, q, d, p, err, d0, p0, err0)
			}
			if in, in0 := infoOf(d, p, err), infoOf(d0, p0, err0); !reflect.DeepEqual(in, in0) {
				t.Errorf("Info(%q, %q) = %+v, want %+v", db, q, in, in0)
			}

			routed0, err0 := oldRouteDDL(db, q, testRoute)
			if routed != routed0 || errText(rerr) != errText(err0) {
				t.Errorf("RouteStmt(%q, %q) = %q, %v; want %q, %v", db, q, routed, rerr, routed0, err0)
			}
			if node != nil {
				var b strings.Builder
				if err := node.Restore(format.NewRestoreCtx(restoreFlags, &b)); err != nil || b.String() != routed {
					t.Errorf("routed statement of %q prints %q, want %q", q, b.String(), routed)
				}
			}

			if s.single() != nil {
				singles++
				if read != 0 {
					t.Errorf("%q: Describe and RouteStmt parsed %d times, want 0", q, read)
				}
				// One parse: two parser calls for a text the parser
				// reads only once rewritten (parseStatement's retry).
				mark = Parses()
				parseStatement(q)
				if want := Parses() - mark; parsed != want {
					t.Errorf("ParseDDL(%q): %d parser calls, want %d", q, parsed, want)
				}
			}
			if s.Err() == nil {
				if now := printed(t, s); now != was {
					t.Errorf("%q: the readings changed the parsed statements:\n%s\nwas\n%s", q, now, was)
				}
			}
		}
	}
	if singles < 300 {
		t.Errorf("only %d one-statement texts read from one parse", singles)
	}
}

// TestApplyStmtMatchesApply applies the corpus to two trackers in turn,
// one as Apply did before (statement by statement, parsing each) and one
// from one parse per text after the other readings were taken from it:
// the DDLs, errors and tracked schemas must stay the same.
func TestApplyStmtMatchesApply(t *testing.T) {
	for _, db := range []string{"db", "k_alter_rename_other"} {
		oldT, newT := NewTracker(), NewTracker()
		for _, q := range ddlCorpus(t) {
			d0, err0 := oldApply(oldT, db, q)
			s := ParseDDL(db, q)
			s.Describe()
			RouteStmt(s, testRoute)
			after := s.Clone()
			pre := copyTracker(t, newT)
			d, err := newT.ApplyStmt(s)
			if !reflect.DeepEqual(d, d0) || errText(err) != errText(err0) {
				t.Errorf("ApplyStmt(%q):\n got %+v %v\nwant %+v %v", q, d, err, d0, err0)
			}
			j0, _ := json.Marshal(oldT)
			j, _ := json.Marshal(newT)
			if string(j) != string(j0) {
				t.Fatalf("after %q the trackers differ:\n%s\n%s", q, j, j0)
			}
			// What ForTracker gives a tracker (an empty one, and one
			// as newT was) changes nothing of the statements it came
			// from, and the tracker ends as the others.
			if after.Err() == nil {
				was := printed(t, after)
				NewTracker().ApplyStmt(after.ForTracker())
				pre.ApplyStmt(after.ForTracker())
				if j, _ := json.Marshal(pre); string(j) != string(j0) {
					t.Errorf("%q applied from ForTracker: the tracker differs", q)
				}
				if now := printed(t, after); now != was {
					t.Errorf("%q: applying a clone changed the original:\n%s\nwas\n%s", q, now, was)
				}
			}
		}
	}
}

// TestApplyStmtSpendsStmt: a Stmt the tracker took cannot be read again.
func TestApplyStmtSpendsStmt(t *testing.T) {
	s := ParseDDL("db", "CREATE TABLE t (id int PRIMARY KEY)")
	NewTracker().ApplyStmt(s)
	defer func() {
		if recover() == nil {
			t.Error("Nodes after ApplyStmt did not panic")
		}
	}()
	s.Nodes()
}

// benchDDL is a wide CREATE TABLE with keys and partitions.
func benchDDL() string {
	var b strings.Builder
	b.WriteString("CREATE TABLE bench (id bigint NOT NULL AUTO_INCREMENT")
	for i := range 30 {
		fmt.Fprintf(&b, ", c%d varchar(%d) CHARACTER SET utf8mb4 NOT NULL DEFAULT 'x' COMMENT 'column %d'", i, 10+i, i)
	}
	b.WriteString(", PRIMARY KEY (id), KEY k1 (c1, c2), UNIQUE KEY k2 (c3)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 " +
		"PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (1000), PARTITION p1 VALUES LESS THAN MAXVALUE)")
	return b.String()
}

// A copy of a parsed statement costs less than parsing it again.
func BenchmarkParseDDL(b *testing.B) {
	q := benchDDL()
	for b.Loop() {
		ParseDDL("db", q)
	}
}

func BenchmarkCloneStmt(b *testing.B) {
	s := ParseDDL("db", benchDDL())
	for b.Loop() {
		s.Clone()
	}
}

func copyTracker(t *testing.T, tr *Tracker) *Tracker {
	t.Helper()
	j, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	c := NewTracker()
	if err := json.Unmarshal(j, c); err != nil {
		t.Fatal(err)
	}
	return c
}
