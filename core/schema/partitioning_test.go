package schema

import "testing"

// PartitioningOf answers what PartitionMaintenance, RemovesPartitionRows
// and ExchangedTable do, from one parse.
func TestPartitioningOfParsesOnce(t *testing.T) {
	for stmt, want := range map[string]Partitioning{
		"ALTER TABLE t EXCHANGE PARTITION p0 WITH TABLE u": {Maintenance: true, Exchanged: &TableRef{Schema: "db", Name: "u"}},
		"ALTER TABLE t TRUNCATE PARTITION p0, p1":          {Maintenance: true, RemovesRows: true},
		"ALTER TABLE t COALESCE PARTITION 2":               {Maintenance: true},
		"ALTER TABLE t ADD COLUMN c int":                   {},
		"RENAME TABLE a TO b":                              {},
	} {
		before := Parses()
		got := PartitioningOf("db", stmt)
		if n := Parses() - before; n != 1 {
			t.Errorf("%q: %d parses", stmt, n)
		}
		if got.Maintenance != want.Maintenance || got.RemovesRows != want.RemovesRows ||
			(got.Exchanged == nil) != (want.Exchanged == nil) || (got.Exchanged != nil && *got.Exchanged != *want.Exchanged) {
			t.Errorf("%q: %+v, want %+v", stmt, got, want)
		}
	}
}
