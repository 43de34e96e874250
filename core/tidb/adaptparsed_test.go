package tidb

import (
	"bufio"
	"errors"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/dmnode/dmnode/core/schema"
)

// AdaptParsed over the routed statement of one parse answers what
// AdaptDDL answers over the routed text, byte for byte, for every
// statement of core/schema's DDL corpus that routes and TiDB versions on
// both sides of each rule, with no parse and without changing the
// statement.
func TestAdaptParsedMatchesText(t *testing.T) {
	f, err := os.Open("../schema/testdata/ddl_corpus.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var corpus []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		q, err := strconv.Unquote(sc.Text())
		if err != nil {
			t.Fatal(err)
		}
		corpus = append(corpus, q)
	}
	route := func(db, table string) (string, string, error) { return "t_" + db, table + "_r", nil }
	compared, changed := 0, 0
	for _, v := range []Version{{Major: 5, Minor: 3}, {Major: 6, Minor: 1}, {Major: 7, Minor: 5}, {Major: 8, Minor: 5}} {
		for _, q := range corpus {
			routed, node, err := schema.RouteStmt(schema.ParseDDL("db", q), route)
			if err != nil || node == nil {
				continue
			}
			was, _ := schema.Restore(node)
			before := schema.Parses()
			a, err := AdaptParsed(v, routed, node)
			if n := schema.Parses() - before; n != 0 {
				t.Errorf("AdaptParsed(%q): %d parses", routed, n)
			}
			if again, _ := schema.Restore(node); again != was {
				t.Errorf("AdaptParsed(%q) changed the statement: %q", routed, again)
			}
			a0, err0 := AdaptDDL(v, routed)
			var r, r0 *Refusal
			errors.As(err, &r)
			errors.As(err0, &r0)
			if !reflect.DeepEqual(a, a0) || !reflect.DeepEqual(r, r0) || (err == nil) != (err0 == nil) {
				t.Errorf("%s %q:\n AdaptParsed %+v %v\n AdaptDDL    %+v %v", v, routed, a, err, a0, err0)
			}
			if err0 != nil || len(a0.Statements) != 1 || a0.Statements[0] != routed {
				changed++
			}
			compared++
		}
	}
	if compared < 1000 || changed < 20 {
		t.Errorf("only %d statements compared, %d adapted or refused", compared, changed)
	}
	t.Logf("%d statements compared, %d adapted or refused", compared, changed)
}
