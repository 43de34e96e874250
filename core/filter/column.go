package filter

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/charset"
	"github.com/pingcap/tidb/pkg/parser/format"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/types"
)

// modifyColumn classifies MODIFY or CHANGE COLUMN by comparing the new
// definition with the old one, as DM does; "modify column" when the old
// one is unknown.
func modifyColumn(spec *ast.AlterTableSpec, schema, table string, before TableLookup) Event {
	if len(spec.NewColumns) == 0 || spec.NewColumns[0].Tp == nil || before == nil {
		return ModifyColumn
	}
	newCol := spec.NewColumns[0]
	oldName := newCol.Name.Name.L
	if spec.Tp == ast.AlterTableChangeColumn && spec.OldColumnName != nil {
		oldName = spec.OldColumnName.Name.L
	}
	ct := lookupCreate(before, schema, table)
	if ct == nil {
		return ModifyColumn
	}
	i := slices.IndexFunc(ct.Cols, func(c *ast.ColumnDef) bool { return c.Name.Name.L == oldName })
	if i < 0 {
		return ModifyColumn
	}
	oldCol := ct.Cols[i]
	if e := typeChange(oldCol.Tp, newCol.Tp); e != AlterTable {
		return e
	}
	tableCS, tableCO := tableCharset(ct.Options)
	switch {
	case hasOption(oldCol, ast.ColumnOptionAutoIncrement) && !hasOption(newCol, ast.ColumnOptionAutoIncrement):
		return RemoveAutoIncrement
	case defaultText(oldCol) != defaultText(newCol):
		return ModifyDefaultValue
	case changed(columnCharset(newCol), or(columnCharset(oldCol), tableCS)):
		return ModifyCharset
	case changed(columnCollation(newCol), or(columnCollation(oldCol), tableCO)):
		return ModifyCollation
	case spec.Position != nil && spec.Position.Tp != ast.ColumnPositionNone:
		return ModifyColumnsOrder
	case newCol.Name.Name.L != oldName:
		return RenameColumn
	}
	return AlterTable
}

// lookupCreate returns the parsed CREATE TABLE of schema.table, nil when
// unknown or unreadable.
func lookupCreate(before TableLookup, schema, table string) *ast.CreateTableStmt {
	sql, ok := before(schema, table)
	if !ok {
		return nil
	}
	stmts, err := parse(sql)
	if err != nil || len(stmts) != 1 {
		return nil
	}
	ct, _ := stmts[0].(*ast.CreateTableStmt)
	return ct
}

// typeChange compares two column types as DM does (after TiDB's rule for
// when a type change rewrites the data): "value range decrease" or
// "precision decrease" when values may no longer fit, "modify column" for
// other conversions, "alter table" when every value keeps its meaning.
func typeChange(oldTp, newTp *types.FieldType) Event {
	ot, nt := oldTp.GetType(), newTp.GetType()
	oFlen, oDec := lengths(oldTp)
	nFlen, nDec := lengths(newTp)
	toggle := mysql.HasUnsignedFlag(oldTp.GetFlag()) != mysql.HasUnsignedFlag(newTp.GetFlag())
	shrinks := (nFlen > 0 && (nFlen < oFlen || nDec < oDec)) || toggle
	if ot == nt {
		switch {
		case ot == mysql.TypeNewDecimal:
			if oFlen != nFlen || oDec != nDec || toggle {
				return PrecisionDecrease
			}
		case ot == mysql.TypeEnum || ot == mysql.TypeSet:
			if elemsShrink(oldTp.GetElems(), newTp.GetElems()) {
				return ValueRangeDecrease
			}
		case mysql.IsIntegerType(ot):
			if toggle {
				return PrecisionDecrease
			}
		case ot == mysql.TypeString:
			if isBinary(oldTp) && oFlen != nFlen {
				return PrecisionDecrease
			}
		case shrinks:
			return ValueRangeDecrease
		}
		return AlterTable
	}
	switch {
	case (ot == mysql.TypeVarchar && nt == mysql.TypeString) || (ot == mysql.TypeString && nt == mysql.TypeVarchar):
		return ModifyColumn
	case isStringType(ot) && isStringType(nt):
		if shrinks {
			return ModifyColumn
		}
		return AlterTable
	case mysql.IsIntegerType(ot) && mysql.IsIntegerType(nt):
		od, _ := mysql.GetDefaultFieldLengthAndDecimal(ot)
		nd, _ := mysql.GetDefaultFieldLengthAndDecimal(nt)
		if nd < od || toggle {
			return ValueRangeDecrease
		}
		return AlterTable
	}
	return ModifyColumn
}

// lengths returns a type's length and scale, with the type's defaults
// where the definition leaves them out.
func lengths(tp *types.FieldType) (flen, dec int) {
	flen, dec = tp.GetFlen(), tp.GetDecimal()
	df, dd := mysql.GetDefaultFieldLengthAndDecimal(tp.GetType())
	if flen == types.UnspecifiedLength {
		flen = df
	}
	if dec == types.UnspecifiedLength {
		dec = dd
	}
	return flen, dec
}

// elemsShrink reports whether an ENUM or SET loses or reorders members:
// only appending keeps every stored value.
func elemsShrink(old, new []string) bool {
	if len(new) < len(old) {
		return true
	}
	for i := range old {
		if old[i] != new[i] {
			return true
		}
	}
	return false
}

func isBinary(tp *types.FieldType) bool { return tp.GetCharset() == charset.CharsetBin }

func isStringType(tp byte) bool {
	switch tp {
	case mysql.TypeVarchar, mysql.TypeString, mysql.TypeVarString,
		mysql.TypeBlob, mysql.TypeTinyBlob, mysql.TypeMediumBlob, mysql.TypeLongBlob:
		return true
	}
	return false
}

func hasOption(c *ast.ColumnDef, tp ast.ColumnOptionType) bool {
	return slices.ContainsFunc(c.Options, func(o *ast.ColumnOption) bool { return o.Tp == tp })
}

// defaultText is a column's DEFAULT, normalized so that DEFAULT NULL is no
// default, 0 and '0' are equal, and CURRENT_TIMESTAMP is spelled one way.
func defaultText(c *ast.ColumnDef) string {
	for _, o := range c.Options {
		if o.Tp != ast.ColumnOptionDefaultValue || o.Expr == nil {
			continue
		}
		if v, ok := o.Expr.(ast.ValueExpr); ok {
			if v.GetValue() == nil {
				return ""
			}
			return fmt.Sprint(v.GetValue())
		}
		var b strings.Builder
		if err := o.Expr.Restore(format.NewRestoreCtx(format.DefaultRestoreFlags, &b)); err != nil {
			return fmt.Sprintf("%p", o.Expr) // unprintable: treat as changed
		}
		return strings.TrimSuffix(strings.ToLower(b.String()), "()")
	}
	return ""
}

func columnCharset(c *ast.ColumnDef) string { return normCharset(c.Tp.GetCharset()) }

func columnCollation(c *ast.ColumnDef) string {
	co := c.Tp.GetCollate()
	for _, o := range c.Options {
		if o.Tp == ast.ColumnOptionCollate {
			co = o.StrValue
		}
	}
	return strings.ToLower(co)
}

// tableCharset returns the default charset and collation of a CREATE TABLE.
func tableCharset(opts []*ast.TableOption) (cs, co string) {
	for _, o := range opts {
		switch o.Tp {
		case ast.TableOptionCharset:
			cs = normCharset(o.StrValue)
		case ast.TableOptionCollate:
			co = strings.ToLower(o.StrValue)
		}
	}
	return cs, co
}

func normCharset(cs string) string {
	cs = strings.ToLower(cs)
	if cs == "utf8mb3" {
		return "utf8"
	}
	return cs
}

// changed reports whether an explicit new value differs from a known old one.
func changed(new, old string) bool { return new != "" && old != "" && new != old }

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
