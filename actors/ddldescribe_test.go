package actors

import (
	"reflect"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/schema"
)

// The applier reads a relayed DDL from the typed form the tailer sent
// with it, without parsing; a change relayed by an older version, without
// it, is read from its text and answers the same.
func TestDescribeDDLUsesRelayedInfo(t *testing.T) {
	for _, q := range []string{
		"ALTER TABLE t TRUNCATE PARTITION p1",
		"ALTER TABLE t EXCHANGE PARTITION p0 WITH TABLE u",
		"ALTER TABLE t ADD COLUMN c int",
		"RENAME TABLE a TO b",
		"DROP DATABASE x",
	} {
		typed := dmnode.Change{DDL: q, DDLSchema: "db", DDLInfo: schema.Info("db", q)}
		old := dmnode.Change{DDL: q, DDLSchema: "db"}
		before := schema.Parses()
		d, p, err := describeDDL(&typed)
		if n := schema.Parses() - before; err != nil || n != 0 {
			t.Fatalf("%q: %v, %d parses of a typed change", q, err, n)
		}
		before = schema.Parses()
		od, op, err := describeDDL(&old)
		if n := schema.Parses() - before; err != nil || n == 0 {
			t.Fatalf("%q: %v, %d parses of an untyped change", q, err, n)
		}
		if len(od.Tables) == 0 {
			od.Tables = nil
		}
		if !reflect.DeepEqual(d, od) || !reflect.DeepEqual(p, op) {
			t.Errorf("%q: typed %+v %+v, untyped %+v %+v", q, d, p, od, op)
		}
	}
	if _, _, err := describeDDL(&dmnode.Change{DDL: "ALTER TABLE (", DDLSchema: "db"}); err == nil || !IsPermanent(err) {
		t.Fatalf("unreadable DDL: %v", err)
	}
}
