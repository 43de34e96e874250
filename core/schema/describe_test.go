package schema

import (
	"reflect"
	"testing"
)

// What the tailer relays reads back as Describe's answer, without a parse.
func TestInfoRoundTrip(t *testing.T) {
	for _, q := range []string{
		"ALTER TABLE t DROP PARTITION p0",
		"ALTER TABLE t EXCHANGE PARTITION p0 WITH TABLE o.u",
		"ALTER TABLE t ADD COLUMN c int, RENAME TO t2",
		"RENAME TABLE a TO b, c TO d",
		"DROP DATABASE x",
		"CREATE DATABASE y",
		"CREATE TABLE a (id int); ALTER TABLE a ADD c int",
		"CREATE TABLE l LIKE o.s",
		"TRUNCATE TABLE t",
		"GRANT ALL ON *.* TO u",
		"DROP TABLE a, o.b",
		"CREATE INDEX i ON t (c)",
	} {
		d, p, _ := Describe("db", q)
		in := Info("db", q)
		if in == nil {
			t.Fatalf("%q: no info", q)
		}
		before := Parses()
		gd, gp, ok := FromInfo(q, in)
		if n := Parses() - before; n != 0 || !ok {
			t.Fatalf("%q: FromInfo parsed %d times, ok %v", q, n, ok)
		}
		if len(d.Tables) == 0 {
			d.Tables = nil
		}
		if !reflect.DeepEqual(gd, d) || !reflect.DeepEqual(gp, p) {
			t.Errorf("%q: from info %+v %+v, Describe %+v %+v", q, gd, gp, d, p)
		}
	}
	if Info("db", "ALTER TABLE (") != nil {
		t.Error("info of a text that does not parse")
	}
	if _, _, ok := FromInfo("x", nil); ok {
		t.Error("FromInfo of nil")
	}
	in := Info("db", "TRUNCATE TABLE t")
	in.Kind = "a-kind-of-a-newer-version"
	if _, _, ok := FromInfo("TRUNCATE TABLE t", in); ok {
		t.Error("FromInfo of an unknown kind")
	}
}
