package shardddl

import (
	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/dmnode/dmnode/core/schema"
)

// ChangeOf reads the typed change of routed statements (Arrival.Change):
// the column and index renames they make. The applier calls it where it
// meets the DDL; the lock only reads the result.
func ChangeOf(ddls []string) (*Change, error) {
	ch := &Change{}
	for _, d := range ddls {
		stmts, err := schema.Parse(d)
		if err != nil {
			return nil, err
		}
		for _, st := range stmts {
			ch.Renames = append(ch.Renames, renamesOf(st)...)
		}
	}
	return ch, nil
}

// renamesOf returns the renames of one parsed statement, if an ALTER TABLE.
func renamesOf(st ast.StmtNode) []Rename {
	at, ok := st.(*ast.AlterTableStmt)
	if !ok {
		return nil
	}
	var out []Rename
	for _, s := range at.Specs {
		switch s.Tp {
		case ast.AlterTableRenameColumn:
			out = append(out, Rename{From: s.OldColumnName.Name.O, To: s.NewColumnName.Name.O})
		case ast.AlterTableChangeColumn:
			if from, to := s.OldColumnName.Name, s.NewColumns[0].Name.Name; from.L != to.L {
				out = append(out, Rename{From: from.O, To: to.O})
			}
		case ast.AlterTableRenameIndex:
			out = append(out, Rename{Index: true, From: s.FromKey.O, To: s.ToKey.O})
		}
	}
	return out
}
