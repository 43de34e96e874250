package schema

import (
	"errors"

	"github.com/dmnode/dmnode"
)

// Describe reads what a DDL text executed with default database
// currentDB is, as a tracker that knows no table reads it, and what it
// does to partitions. The tailer reads it (Stmt.Describe, from the parse
// its tracker applies) where it meets the statement and relays the answer
// (Stmt.Info) with the text; later stages read it back (FromInfo) instead
// of parsing the text again. The error is
// that of Tracker.Apply; ErrUnknownTable is expected (the tracker knows
// no table) and the description is still whole.
//
// It parses the text once; a caller that has parsed it (ParseDDL) asks
// Stmt.Describe instead.
func Describe(currentDB, sql string) (DDL, Partitioning, error) {
	return ParseDDL(currentDB, sql).Describe()
}

// Info returns the relayed form of Describe's answer for the text of a
// dmnode.Change, nil when the text could not be read (a reader then
// reads it again and reports the error where it matters).
func Info(currentDB, sql string) *dmnode.DDLInfo {
	return ParseDDL(currentDB, sql).Info()
}

func infoOf(d DDL, p Partitioning, err error) *dmnode.DDLInfo {
	if err != nil && !errors.Is(err, ErrUnknownTable) {
		return nil
	}
	in := &dmnode.DDLInfo{Kind: d.Kind.String(), Schema: d.Schema,
		PartitionMaintenance: p.Maintenance, RemovesPartitionRows: p.RemovesRows}
	for _, t := range d.Tables {
		in.Tables = append(in.Tables, dmnode.TableID{Schema: t.Schema, Table: t.Name})
	}
	if p.Exchanged != nil {
		in.Exchanged = &dmnode.TableID{Schema: p.Exchanged.Schema, Table: p.Exchanged.Name}
	}
	return in
}

// FromInfo returns what Describe answered for a change's text, from its
// relayed form; ok is false when in is nil or names an unknown kind (a
// newer writer's): the caller then calls Describe.
func FromInfo(sql string, in *dmnode.DDLInfo) (DDL, Partitioning, bool) {
	if in == nil {
		return DDL{}, Partitioning{}, false
	}
	k, ok := kindByName(in.Kind)
	if !ok {
		return DDL{}, Partitioning{}, false
	}
	d := DDL{Kind: k, Schema: in.Schema, SQL: sql}
	for _, t := range in.Tables {
		d.Tables = append(d.Tables, TableRef{Schema: t.Schema, Name: t.Table})
	}
	p := Partitioning{Maintenance: in.PartitionMaintenance, RemovesRows: in.RemovesPartitionRows}
	if in.Exchanged != nil {
		p.Exchanged = &TableRef{Schema: in.Exchanged.Schema, Name: in.Exchanged.Table}
	}
	return d, p, true
}

func kindByName(name string) (DDLKind, bool) {
	for k, n := range kindNames {
		if n == name {
			return DDLKind(k), true
		}
	}
	return 0, false
}
