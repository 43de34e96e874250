package rules

import (
	"bufio"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/filter"
	"github.com/dmnode/dmnode/core/schema"
)

// ddlCorpus reads core/schema's corpus of DDL statements.
func ddlCorpus(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../schema/testdata/ddl_corpus.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		s, err := strconv.Unquote(sc.Text())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestFilterDDLEventsMatchesText holds the filter's decision from the
// relayed classification of one parse (what the applier reads) to its
// decision from the text (what it parsed before), over the corpus and
// several sets of rules, with no parse.
func TestFilterDDLEventsMatchesText(t *testing.T) {
	rules := map[string]*config.FilterRule{
		"drops":      {SchemaPattern: "db", Events: []string{"drop table", "truncate table"}, Action: "Ignore"},
		"partitions": {SchemaPattern: "db", TablePattern: "p*", Events: []string{"drop table partition", "truncate table partition", "add table partition", "exchange table partition"}, Action: "Ignore"},
		"sql":        {SchemaPattern: "*", SQLPattern: []string{"^ALTER TABLE t FROB", "(?i)fulltext"}, Action: "Ignore"},
		"keep":       {SchemaPattern: "db", TablePattern: "t*", Events: []string{"incompatible ddl changes"}, Action: "Error"},
		"other":      {SchemaPattern: "other*", Events: []string{"all ddl"}, Action: "Ignore"},
		"columns":    {SchemaPattern: "db", Events: []string{"add column", "create index", "rename table", "create database", "drop database", "alter database"}, Action: "Ignore"},
	}
	sets := [][]string{{"drops"}, {"partitions"}, {"sql"}, {"keep"}, {"other", "columns"}, {"drops", "partitions", "sql", "keep", "other", "columns"}}
	compared, skipped, refused := 0, 0, 0
	for _, set := range sets {
		task := &config.Task{Name: "f", Filters: rules,
			MySQLInstances: []config.Instance{{SourceID: "s1", FilterRules: set}}}
		r := compileOne(t, task, "s1")
		for _, db := range []string{"db", "other"} {
			for _, q := range ddlCorpus(t) {
				s := schema.ParseDDL(db, q)
				if s.Err() != nil || len(s.Nodes()) == 0 {
					continue // not relayed classified: the applier reads the text
				}
				in := &dmnode.DDLInfo{Events: filter.Relay(filter.ClassifyNodes(db, s.Nodes())), Classified: true}
				parts, ok := filter.RelayedEvents(in)
				if !ok {
					t.Fatal("RelayedEvents: not classified")
				}
				before := schema.Parses()
				skip, err := r.FilterDDLEvents(q, parts)
				if n := schema.Parses() - before; n != 0 {
					t.Errorf("FilterDDLEvents(%q): %d parses", q, n)
				}
				skip0, err0 := r.FilterDDL(db, q)
				if skip != skip0 || !reflect.DeepEqual(errString(err), errString(err0)) {
					t.Errorf("rules %v, %s: FilterDDLEvents(%q) = %v, %v; FilterDDL = %v, %v", set, db, q, skip, err, skip0, err0)
				}
				compared++
				if skip {
					skipped++
				}
				if err != nil {
					refused++
				}
			}
		}
	}
	if compared < 1000 || skipped < 100 || refused < 50 {
		t.Errorf("only %d decisions compared, %d skips, %d errors", compared, skipped, refused)
	}
	t.Logf("%d decisions compared, %d skips, %d errors", compared, skipped, refused)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
