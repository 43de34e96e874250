package shardddl

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/charset"
	"github.com/pingcap/tidb/pkg/parser/format"

	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// The locks work on schema.Definition, the full definition core/schema
// fills when it parses a CREATE TABLE (schema.Table.Def): columns with
// their full types, and indexes. This file compares definitions and
// renders them as the ALTER TABLE clauses the locks hand out.

const primaryName = schema.PrimaryKey

// restoreFlags print statements as core/schema does (Normalize).
const restoreFlags = format.DefaultRestoreFlags | format.RestoreStringWithoutDefaultCharset |
	format.RestoreStringEscapeBackslash

// equalColumns reports whether two column definitions are the same, names
// compared without case.
func equalColumns(a, b schema.ColumnDef) bool {
	return strings.EqualFold(a.Name, b.Name) && sameType(a, b) && a.Nullable == b.Nullable &&
		equalDefault(a.Default, b.Default) && a.OnUpdate == b.OnUpdate
}

// sameType compares everything but name, nullability and defaults.
func sameType(a, b schema.ColumnDef) bool {
	return a.Type == b.Type && a.Length == b.Length && a.Decimals == b.Decimals &&
		a.Unsigned == b.Unsigned && a.Zerofill == b.Zerofill && a.Charset == b.Charset &&
		a.Collate == b.Collate && slices.Equal(a.Elems, b.Elems) &&
		a.AutoIncrement == b.AutoIncrement && a.Generated == b.Generated && a.Stored == b.Stored
}

func equalDefault(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func equalIndexes(a, b schema.Index) bool {
	if !strings.EqualFold(a.Name, b.Name) || a.Kind != b.Kind || len(a.Columns) != len(b.Columns) {
		return false
	}
	for i := range a.Columns {
		x, y := a.Columns[i], b.Columns[i]
		if !strings.EqualFold(x.Column, y.Column) || x.Length != y.Length || x.Expr != y.Expr {
			return false
		}
	}
	return true
}

// typeSQL renders the column's type.
func typeSQL(c schema.ColumnDef) string {
	var b strings.Builder
	b.WriteString(c.Type)
	switch {
	case c.Type == "enum" || c.Type == "set":
		b.WriteByte('(')
		for i, e := range c.Elems {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(sqlString(e))
		}
		b.WriteByte(')')
	case c.Type == "decimal" || ((c.Type == "float" || c.Type == "double") && c.Length > 0):
		fmt.Fprintf(&b, "(%d,%d)", c.Length, c.Decimals)
	case c.Type == "char" || c.Type == "varchar" || c.Type == "binary" || c.Type == "varbinary" || c.Type == "bit":
		fmt.Fprintf(&b, "(%d)", c.Length)
	case c.Type == "time" || c.Type == "datetime" || c.Type == "timestamp":
		if c.Decimals > 0 {
			fmt.Fprintf(&b, "(%d)", c.Decimals)
		}
	}
	if c.Unsigned {
		b.WriteString(" unsigned")
	}
	if c.Zerofill {
		b.WriteString(" zerofill")
	}
	if c.Charset != "" && c.Charset != charset.CharsetBin {
		b.WriteString(" CHARACTER SET " + c.Charset)
	}
	if c.Collate != "" && c.Charset != charset.CharsetBin {
		b.WriteString(" COLLATE " + c.Collate)
	}
	return b.String()
}

// columnSQL renders the column as ADD COLUMN and MODIFY COLUMN take it.
func columnSQL(c schema.ColumnDef) string {
	var b strings.Builder
	b.WriteString(sqlgen.QuoteIdent(c.Name) + " " + typeSQL(c))
	if c.Generated != "" {
		b.WriteString(" GENERATED ALWAYS AS (" + c.Generated + ")")
		if c.Stored {
			b.WriteString(" STORED")
		} else {
			b.WriteString(" VIRTUAL")
		}
	}
	if c.Nullable {
		b.WriteString(" NULL")
	} else {
		b.WriteString(" NOT NULL")
	}
	if c.Default != nil {
		b.WriteString(" DEFAULT " + *c.Default)
	}
	if c.OnUpdate != "" {
		b.WriteString(" ON UPDATE " + c.OnUpdate)
	}
	if c.AutoIncrement {
		b.WriteString(" AUTO_INCREMENT")
	}
	return b.String()
}

// indexSQL renders the index as ADD takes it; extra columns are appended
// to the primary key and unique keys, as the target table has them
// (schema.TargetCreateTable).
func indexSQL(ix schema.Index, extra []string) string {
	var b strings.Builder
	switch ix.Kind {
	case "primary":
		b.WriteString("PRIMARY KEY")
	case "unique":
		b.WriteString("UNIQUE KEY " + sqlgen.QuoteIdent(ix.Name))
	case "key":
		b.WriteString("KEY " + sqlgen.QuoteIdent(ix.Name))
	default:
		b.WriteString(strings.ToUpper(ix.Kind) + " KEY " + sqlgen.QuoteIdent(ix.Name))
	}
	parts := make([]string, 0, len(ix.Columns)+len(extra))
	for _, p := range ix.Columns {
		switch {
		case p.Expr != "":
			parts = append(parts, "("+p.Expr+")")
		case p.Length > 0:
			parts = append(parts, fmt.Sprintf("%s(%d)", sqlgen.QuoteIdent(p.Column), p.Length))
		default:
			parts = append(parts, sqlgen.QuoteIdent(p.Column))
		}
	}
	if ix.Kind == "primary" || ix.Kind == "unique" {
		for _, e := range extra {
			parts = append(parts, sqlgen.QuoteIdent(e))
		}
	}
	b.WriteString(" (" + strings.Join(parts, ", ") + ")")
	return b.String()
}

func sqlString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `''`)
	return "'" + r.Replace(s) + "'"
}
