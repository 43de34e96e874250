package schema

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/charset"
	"github.com/pingcap/tidb/pkg/parser/format"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/types"
)

// Definition is the full definition of a table, as the CREATE TABLE
// statement it was parsed from declares it: every column with its
// declared type, length, charset, collation, default..., and every index.
// Table.Columns is the part row events need; Definition is the part a
// comparison of two definitions needs (core/shardddl's optimistic join,
// the shard DDL locks in the catalog). Table options, foreign keys, CHECK
// constraints, partitioning and column comments are not modelled.
//
// A Definition is filled once, where the CREATE TABLE is parsed
// (ParseCreateTable, the Tracker), and never modified afterwards; Clone
// gives a copy to change. Its JSON form is part of the catalog's Raft log
// (core/shardddl's locks): keep it compatible.
type Definition struct {
	Columns []ColumnDef `json:"columns"`
	Indexes []Index     `json:"indexes,omitempty"`
}

// ColumnDef is one column's definition.
type ColumnDef struct {
	Name string `json:"name"`
	// Type is the lower-case declared base type: "int", "varchar",
	// "decimal", "enum", "blob", "point"... (binary strings are "binary",
	// "varbinary", "blob"). Unlike Column.Type, a type the parser lacks
	// keeps its own name (every spatial type is "geometry" there).
	Type string `json:"type"`
	// Length is the character length of char/varchar/binary/varbinary,
	// the width of bit, the precision of decimal and of float/double
	// when given; 0 otherwise. Integer display widths are dropped.
	Length int `json:"length,omitempty"`
	// Decimals is the scale of decimal, float and double, and the
	// fractional seconds of time, datetime and timestamp.
	Decimals int  `json:"decimals,omitempty"`
	Unsigned bool `json:"unsigned,omitempty"`
	Zerofill bool `json:"zerofill,omitempty"`
	// Charset and Collate are those of character types (char, varchar,
	// text types, enum, set): the column's own, else the table's default;
	// "" when neither names one (the database default). Binary strings
	// have none (Column.Charset says "binary").
	Charset  string   `json:"charset,omitempty"`
	Collate  string   `json:"collate,omitempty"`
	Elems    []string `json:"elems,omitempty"` // enum and set members
	Nullable bool     `json:"nullable,omitempty"`
	// Default is the default value as SQL text ('a', 0,
	// CURRENT_TIMESTAMP...); nil when the column has none. DEFAULT NULL
	// is nil: a nullable column defaults to NULL anyway.
	Default       *string `json:"default,omitempty"`
	OnUpdate      string  `json:"on_update,omitempty"`
	AutoIncrement bool    `json:"auto_increment,omitempty"`
	Generated     string  `json:"generated,omitempty"` // the expression of a generated column
	Stored        bool    `json:"stored,omitempty"`
}

// Index is one index. The primary key is named PrimaryKey.
type Index struct {
	Name    string     `json:"name"`
	Kind    string     `json:"kind"` // "primary", "unique", "key", "fulltext", "vector", "columnar"
	Columns []IndexCol `json:"columns"`
}

// IndexCol is one part of an index: a column, with a prefix length, or an
// expression.
type IndexCol struct {
	Column string `json:"column,omitempty"`
	Length int    `json:"length,omitempty"`
	Expr   string `json:"expr,omitempty"`
}

// PrimaryKey is the name of the primary key in Definition.Indexes.
const PrimaryKey = "PRIMARY"

// Definition returns the table's full definition: the one filled when
// its CREATE TABLE was parsed, or, for a table decoded from a record
// written before tables carried it (or built by hand), the one read from
// CreateSQL, which costs a parse. The result must not be modified.
func (t *Table) Definition() (*Definition, error) {
	if t == nil {
		return nil, errors.New("no table")
	}
	if t.Def != nil {
		return t.Def, nil
	}
	ct, err := parseCreate(t.CreateSQL)
	if err != nil {
		return nil, fmt.Errorf("table %s.%s: %w", t.Schema, t.Name, err)
	}
	normalize(ct)
	d, err := definitionOf(ct)
	if err != nil {
		return nil, fmt.Errorf("table %s.%s: %w", t.Schema, t.Name, err)
	}
	return d, nil
}

// Column returns the column named name (any case).
func (d *Definition) Column(name string) (ColumnDef, bool) {
	if d == nil {
		return ColumnDef{}, false
	}
	for _, c := range d.Columns {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return ColumnDef{}, false
}

// Index returns the index named name (any case).
func (d *Definition) Index(name string) (Index, bool) {
	if d == nil {
		return Index{}, false
	}
	for _, ix := range d.Indexes {
		if strings.EqualFold(ix.Name, name) {
			return ix, true
		}
	}
	return Index{}, false
}

// Clone returns a deep copy of d; nil for nil.
func (d *Definition) Clone() *Definition {
	if d == nil {
		return nil
	}
	c := &Definition{Columns: make([]ColumnDef, len(d.Columns)), Indexes: make([]Index, len(d.Indexes))}
	for i, col := range d.Columns {
		col.Elems = slices.Clone(col.Elems)
		if col.Default != nil {
			v := *col.Default
			col.Default = &v
		}
		c.Columns[i] = col
	}
	for i, ix := range d.Indexes {
		ix.Columns = slices.Clone(ix.Columns)
		c.Indexes[i] = ix
	}
	return c
}

// definitionOf reads the definition of a normalized CREATE TABLE (see
// normalize): keys are constraints with names, primary key columns are
// NOT NULL, and the charset of an ENUM or SET column is in an attribute
// marker. Character columns that name no charset get the table's
// default, when it names one.
func definitionOf(ct *ast.CreateTableStmt) (*Definition, error) {
	tcs, tco := defTableCharset(ct.Options)
	d := &Definition{Columns: make([]ColumnDef, 0, len(ct.Cols))}
	for _, cd := range ct.Cols {
		c, err := columnDefOf(cd, tcs, tco)
		if err != nil {
			return nil, err
		}
		d.Columns = append(d.Columns, c)
	}
	for _, c := range ct.Constraints {
		if ix, ok := indexOf(c); ok {
			d.Indexes = append(d.Indexes, ix)
		}
	}
	return d, nil
}

// defTableCharset returns the table's default charset and collation as
// the table options name them (lower case); the charset is taken from
// the collation when only that is named.
func defTableCharset(opts []*ast.TableOption) (cs, co string) {
	for _, o := range opts {
		switch o.Tp {
		case ast.TableOptionCharset:
			cs = strings.ToLower(o.StrValue)
		case ast.TableOptionCollate:
			co = strings.ToLower(o.StrValue)
		}
	}
	if cs == "" && co != "" {
		cs = collationCharset(co)
	}
	return cs, co
}

func columnDefOf(cd *ast.ColumnDef, tableCS, tableCO string) (ColumnDef, error) {
	ft := cd.Tp
	c := ColumnDef{Name: cd.Name.Name.O, Nullable: true}
	c.Type = strings.ToLower(types.TypeToStr(ft.GetType(), ft.GetCharset()))
	if c.Type == "char" && ft.GetCharset() == charset.CharsetBin {
		c.Type = "binary"
	}
	setLengths(&c, ft)
	switch ft.GetType() {
	case mysql.TypeTiny, mysql.TypeShort, mysql.TypeInt24, mysql.TypeLong, mysql.TypeLonglong,
		mysql.TypeNewDecimal, mysql.TypeFloat, mysql.TypeDouble:
		c.Unsigned = mysql.HasUnsignedFlag(ft.GetFlag())
		c.Zerofill = mysql.HasZerofillFlag(ft.GetFlag())
	case mysql.TypeEnum, mysql.TypeSet:
		c.Elems = slices.Clone(ft.GetElems())
	}
	cs, co := strings.ToLower(ft.GetCharset()), strings.ToLower(ft.GetCollate())
	for _, o := range cd.Options {
		var err error
		switch o.Tp {
		case ast.ColumnOptionNotNull, ast.ColumnOptionPrimaryKey:
			c.Nullable = false
		case ast.ColumnOptionNull:
			c.Nullable = true
		case ast.ColumnOptionDefaultValue:
			var v string
			if v, err = restoreDefExpr(o.Expr); err == nil && !strings.EqualFold(v, "NULL") {
				c.Default = &v
			}
		case ast.ColumnOptionOnUpdate:
			c.OnUpdate, err = restoreDefExpr(o.Expr)
		case ast.ColumnOptionAutoIncrement:
			c.AutoIncrement = true
		case ast.ColumnOptionGenerated:
			c.Generated, err = restoreDefExpr(o.Expr)
			c.Stored = o.Stored
		case ast.ColumnOptionCollate:
			co = strings.ToLower(o.StrValue)
		case ast.ColumnOptionSecondaryEngineAttribute:
			if name, ok := strings.CutPrefix(o.StrValue, standInPrefix); ok {
				c.Type = name // a type the parser lacks, parsed through a stand-in
			}
			if attr, ok := strings.CutPrefix(o.StrValue, attrPrefix); ok {
				// The charset of an ENUM or SET column (keepEnumCharset).
				acs, aco := parseAttr(attr)
				if acs != "" {
					cs = strings.ToLower(acs)
				}
				if aco != "" {
					co = strings.ToLower(aco)
				}
			}
		}
		if err != nil {
			return c, fmt.Errorf("column %s: %w", c.Name, err)
		}
	}
	switch c.Type {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set":
		if cs == "" && co != "" {
			cs = collationCharset(co)
		}
		if cs == "" {
			cs, co = tableCS, tableCO
		}
		c.Charset, c.Collate = cs, co
	}
	return c, nil
}

func setLengths(c *ColumnDef, ft *types.FieldType) {
	flen, dec := max(ft.GetFlen(), 0), max(ft.GetDecimal(), 0)
	switch ft.GetType() {
	case mysql.TypeVarchar, mysql.TypeVarString, mysql.TypeString, mysql.TypeBit:
		c.Length = flen
	case mysql.TypeNewDecimal:
		c.Length, c.Decimals = flen, dec
		if ft.GetFlen() < 0 {
			c.Length, c.Decimals = 10, 0
		}
	case mysql.TypeFloat, mysql.TypeDouble:
		if ft.GetDecimal() >= 0 {
			c.Length, c.Decimals = flen, dec
		}
	case mysql.TypeDuration, mysql.TypeDatetime, mysql.TypeTimestamp:
		c.Decimals = dec
	}
}

// restoreDefExpr prints an expression of a column definition (a default,
// ON UPDATE, a generated column's expression) as SQL text.
func restoreDefExpr(e ast.ExprNode) (string, error) {
	if e == nil {
		return "", nil
	}
	var b strings.Builder
	if err := e.Restore(format.NewRestoreCtx(restoreFlags, &b)); err != nil {
		return "", fmt.Errorf("restore expression: %w", err)
	}
	return b.String(), nil
}

func indexOf(c *ast.Constraint) (Index, bool) {
	ix := Index{Name: c.Name}
	switch c.Tp {
	case ast.ConstraintPrimaryKey:
		ix.Kind, ix.Name = "primary", PrimaryKey
	case ast.ConstraintUniq, ast.ConstraintUniqKey, ast.ConstraintUniqIndex:
		ix.Kind = "unique"
	case ast.ConstraintKey, ast.ConstraintIndex:
		ix.Kind = "key"
	case ast.ConstraintFulltext:
		ix.Kind = "fulltext"
	case ast.ConstraintVector:
		ix.Kind = "vector"
	case ast.ConstraintColumnar:
		ix.Kind = "columnar"
	default:
		return ix, false // foreign keys and checks are not modelled
	}
	for _, p := range c.Keys {
		part := IndexCol{}
		if p.Column != nil {
			part.Column = p.Column.Name.O
			if p.Length > 0 {
				part.Length = p.Length
			}
		} else if e, err := restoreDefExpr(p.Expr); err == nil {
			part.Expr = e
		}
		ix.Columns = append(ix.Columns, part)
	}
	return ix, true
}
