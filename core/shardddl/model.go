package shardddl

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/charset"
	"github.com/pingcap/tidb/pkg/parser/format"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/types"

	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// Table is the part of a table's schema the optimistic join works on:
// columns with their full types, and indexes. core/schema's Table carries
// only what row events need, so this model is read from its CreateSQL
// (FromSchema, FromCreateSQL). Table options, foreign keys, CHECK
// constraints, partitioning and column comments are not modelled: the
// join neither compares nor propagates them.
type Table struct {
	Columns []Column `json:"columns"`
	Indexes []Index  `json:"indexes,omitempty"`
}

// Column is one column's definition.
type Column struct {
	Name string `json:"name"`
	// Type is the lower-case base type: "int", "varchar", "decimal",
	// "enum", "blob"... (binary strings are "binary", "varbinary", "blob").
	Type string `json:"type"`
	// Length is the character length of char/varchar/binary/varbinary,
	// the width of bit, the precision of decimal and of float/double
	// when given; 0 otherwise. Integer display widths are dropped.
	Length int `json:"length,omitempty"`
	// Decimals is the scale of decimal, float and double, and the
	// fractional seconds of time, datetime and timestamp.
	Decimals int      `json:"decimals,omitempty"`
	Unsigned bool     `json:"unsigned,omitempty"`
	Zerofill bool     `json:"zerofill,omitempty"`
	Charset  string   `json:"charset,omitempty"` // character types; "" when unknown (the database default)
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

// Index is one index. The primary key is named "PRIMARY".
type Index struct {
	Name    string     `json:"name"`
	Kind    string     `json:"kind"` // "primary", "unique", "key", "fulltext", "spatial", "vector"...
	Columns []IndexCol `json:"columns"`
}

// IndexCol is one part of an index: a column, with a prefix length, or an
// expression.
type IndexCol struct {
	Column string `json:"column,omitempty"`
	Length int    `json:"length,omitempty"`
	Expr   string `json:"expr,omitempty"`
}

const primaryName = "PRIMARY"

// FromSchema reads the model of a table tracked by core/schema.
func FromSchema(t *schema.Table) (*Table, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: no table", ErrInvalid)
	}
	tbl, err := FromCreateSQL(t.CreateSQL)
	if err != nil {
		return nil, fmt.Errorf("table %s.%s: %w", t.Schema, t.Name, err)
	}
	return tbl, nil
}

// FromCreateSQL reads the model of a table from a CREATE TABLE statement,
// as SHOW CREATE TABLE or the schema tracker print it. Character columns
// that name no charset get the table's default, when it names one.
func FromCreateSQL(createSQL string) (*Table, error) {
	// ParseCreateTable normalizes: inline keys become constraints, every
	// index has a name, primary key columns are NOT NULL.
	norm, err := schema.ParseCreateTable("db", createSQL)
	if err != nil {
		return nil, err
	}
	stmts, err := schema.Parse(norm.CreateSQL)
	if err != nil {
		return nil, err
	}
	if len(stmts) != 1 {
		return nil, fmt.Errorf("%w: want one CREATE TABLE statement", ErrInvalid)
	}
	ct, ok := stmts[0].(*ast.CreateTableStmt)
	if !ok {
		return nil, fmt.Errorf("%w: not a CREATE TABLE statement", ErrInvalid)
	}
	tcs, tco := tableCharset(ct.Options)
	t := &Table{Columns: make([]Column, 0, len(ct.Cols))}
	for _, cd := range ct.Cols {
		c, err := columnOf(cd, tcs, tco)
		if err != nil {
			return nil, err
		}
		t.Columns = append(t.Columns, c)
	}
	for _, c := range ct.Constraints {
		if ix, ok := indexOf(c); ok {
			t.Indexes = append(t.Indexes, ix)
		}
	}
	return t, nil
}

func tableCharset(opts []*ast.TableOption) (cs, co string) {
	for _, o := range opts {
		switch o.Tp {
		case ast.TableOptionCharset:
			cs = strings.ToLower(o.StrValue)
		case ast.TableOptionCollate:
			co = strings.ToLower(o.StrValue)
		}
	}
	if cs == "" && co != "" {
		if c, err := charset.GetCollationByName(co); err == nil {
			cs = c.CharsetName
		}
	}
	return cs, co
}

func columnOf(cd *ast.ColumnDef, tableCS, tableCO string) (Column, error) {
	ft := cd.Tp
	c := Column{Name: cd.Name.Name.O, Nullable: true}
	binary := ft.GetCharset() == charset.CharsetBin
	c.Type = strings.ToLower(types.TypeToStr(ft.GetType(), ft.GetCharset()))
	if c.Type == "char" && binary {
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
	textual := isTextual(c.Type)
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
			if v, err = restoreExpr(o.Expr); err == nil && !strings.EqualFold(v, "NULL") {
				c.Default = &v
			}
		case ast.ColumnOptionOnUpdate:
			c.OnUpdate, err = restoreExpr(o.Expr)
		case ast.ColumnOptionAutoIncrement:
			c.AutoIncrement = true
		case ast.ColumnOptionGenerated:
			c.Generated, err = restoreExpr(o.Expr)
			c.Stored = o.Stored
		case ast.ColumnOptionCollate:
			co = strings.ToLower(o.StrValue)
		case ast.ColumnOptionSecondaryEngineAttribute:
			// core/schema parses types the parser lacks (UUID, INET6,
			// spatial types) through a stand-in that names them.
			if name, ok := strings.CutPrefix(o.StrValue, "dmnode:type:"); ok {
				c.Type = name
			}
		}
		if err != nil {
			return c, fmt.Errorf("column %s: %w", c.Name, err)
		}
	}
	if textual {
		if cs == "" && co != "" {
			if x, err := charset.GetCollationByName(co); err == nil {
				cs = x.CharsetName
			}
		}
		if cs == "" {
			cs, co = tableCS, tableCO
		}
		c.Charset, c.Collate = cs, co
	}
	return c, nil
}

func setLengths(c *Column, ft *types.FieldType) {
	flen, dec := ft.GetFlen(), ft.GetDecimal()
	if flen < 0 {
		flen = 0
	}
	if dec < 0 {
		dec = 0
	}
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

func isTextual(typ string) bool {
	switch typ {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set":
		return true
	}
	return false
}

const restoreFlags = format.DefaultRestoreFlags | format.RestoreStringWithoutDefaultCharset |
	format.RestoreStringEscapeBackslash

func restoreExpr(e ast.ExprNode) (string, error) {
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
		ix.Kind, ix.Name = "primary", primaryName
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
		} else if e, err := restoreExpr(p.Expr); err == nil {
			part.Expr = e
		}
		ix.Columns = append(ix.Columns, part)
	}
	return ix, true
}

// Column returns the column named name (any case).
func (t *Table) Column(name string) (Column, bool) {
	if t == nil {
		return Column{}, false
	}
	for _, c := range t.Columns {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return Column{}, false
}

// Index returns the index named name (any case).
func (t *Table) Index(name string) (Index, bool) {
	if t == nil {
		return Index{}, false
	}
	for _, ix := range t.Indexes {
		if strings.EqualFold(ix.Name, name) {
			return ix, true
		}
	}
	return Index{}, false
}

func (t *Table) clone() *Table {
	if t == nil {
		return nil
	}
	c := &Table{Columns: make([]Column, len(t.Columns)), Indexes: make([]Index, len(t.Indexes))}
	for i, col := range t.Columns {
		col.Elems = slices.Clone(col.Elems)
		if col.Default != nil {
			d := *col.Default
			col.Default = &d
		}
		c.Columns[i] = col
	}
	for i, ix := range t.Indexes {
		ix.Columns = slices.Clone(ix.Columns)
		c.Indexes[i] = ix
	}
	return c
}

// equalColumns reports whether two column definitions are the same, names
// compared without case.
func equalColumns(a, b Column) bool {
	return strings.EqualFold(a.Name, b.Name) && sameType(a, b) && a.Nullable == b.Nullable &&
		equalDefault(a.Default, b.Default) && a.OnUpdate == b.OnUpdate
}

// sameType compares everything but name, nullability and defaults.
func sameType(a, b Column) bool {
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

func equalIndexes(a, b Index) bool {
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
func (c Column) typeSQL() string {
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

// definition renders the column as ADD COLUMN and MODIFY COLUMN take it.
func (c Column) definition() string {
	var b strings.Builder
	b.WriteString(sqlgen.QuoteIdent(c.Name) + " " + c.typeSQL())
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

// definition renders the index as ADD takes it; extra columns are
// appended to the primary key and unique keys, as the target table has
// them (schema.TargetCreateTable).
func (ix Index) definition(extra []string) string {
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
