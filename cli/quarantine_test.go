package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/node"
)

// A quarantined table is printed with its statement, reason and the ways
// out naming the table; a paused source as before.
func TestPrintQuarantined(t *testing.T) {
	var out bytes.Buffer
	printShardStatus(&out, node.TaskStatus{Name: "t",
		Rejected: []catalog.RejectedDDL{{Source: "s2", Pos: dmnode.Position{File: "bin.000001", Pos: 4}, Stmts: []string{"DROP x"}, Error: "no"}},
		Quarantined: []catalog.RejectedDDL{{Source: "s1", Table: "db.q", Pos: dmnode.Position{File: "bin.000001", Pos: 9},
			Stmts: []string{"ALTER TABLE db.q ADD COLUMN u UUID"}, Error: "TiDB lacks UUID"}}})
	got := out.String()
	for _, want := range []string{
		"source s2 is paused",
		"table db.q is quarantined (source s1, at bin.000001:9",
		"ALTER TABLE db.q ADD COLUMN u UUID",
		"reason: TiDB lacks UUID",
		"dmnode task skip t --source s1 --table db.q",
		"dmnode task replace t --source s1 --table db.q --sql",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
