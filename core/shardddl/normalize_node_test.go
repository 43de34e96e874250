package shardddl

import (
	"bufio"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/dmnode/dmnode/core/schema"
)

// NormalizeNode over the routed statement of one parse answers what
// NormalizeChange answers over the routed text, for every statement of
// core/schema's DDL corpus that routes, with no parse.
func TestNormalizeNodeMatchesText(t *testing.T) {
	f, err := os.Open("../schema/testdata/ddl_corpus.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	route := func(db, table string) (string, string, error) { return "t_" + db, table + "_r", nil }
	compared := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		q, err := strconv.Unquote(sc.Text())
		if err != nil {
			t.Fatal(err)
		}
		routed, node, err := schema.RouteStmt(schema.ParseDDL("db", q), route)
		if err != nil || node == nil {
			continue
		}
		before := schema.Parses()
		norm, ch, err := NormalizeNode(routed, node)
		if n := schema.Parses() - before; n != 0 {
			t.Errorf("NormalizeNode(%q): %d parses", routed, n)
		}
		norm0, ch0, err0 := NormalizeChange(routed)
		if norm != norm0 || !reflect.DeepEqual(ch, ch0) || (err == nil) != (err0 == nil) {
			t.Errorf("NormalizeNode(%q) = %q %+v %v; NormalizeChange = %q %+v %v", routed, norm, ch, err, norm0, ch0, err0)
		}
		compared++
	}
	if compared < 300 {
		t.Errorf("only %d statements compared", compared)
	}
}
