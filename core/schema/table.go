package schema

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/charset"
	"github.com/pingcap/tidb/pkg/parser/format"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/types"
)

// restoreFlags writes statements MySQL and TiDB read back the same way:
// backquoted names, single-quoted strings with backslashes escaped, no
// _utf8mb4 introducer on plain strings.
const restoreFlags = format.DefaultRestoreFlags | format.RestoreStringWithoutDefaultCharset |
	format.RestoreStringEscapeBackslash

// attrPrefix marks text the parser's restore loses (the charset of an ENUM
// or SET column); restoreMarkers writes it back in place of the marker.
const attrPrefix = "dmnode:attr:"

// ParseCreateTable parses a CREATE TABLE statement, as SHOW CREATE TABLE
// prints it on MariaDB 10.11 or MySQL 8, for the table in database db (or in
// the database the statement names, when db is empty).
func ParseCreateTable(db, createSQL string) (*Table, error) {
	ct, err := parseCreate(createSQL)
	if err != nil {
		return nil, err
	}
	if ct.ReferTable != nil || ct.Select != nil {
		return nil, fmt.Errorf("%w: CREATE TABLE ... LIKE or SELECT: %q", ErrUnsupported, truncate(createSQL, 200))
	}
	if db == "" {
		db = ct.Table.Schema.O
	}
	return buildTable(db, ct.Table.Name.O, ct)
}

// ParseCreateTableAs is ParseCreateTable for a table of another name: it
// reads the definition of a table (say, the target table SHOW CREATE TABLE
// prints) as that of db.name, without some columns (dropped with their key
// parts, as ALTER TABLE ... DROP COLUMN does).
func ParseCreateTableAs(db, name, createSQL string, without []string) (*Table, error) {
	ct, err := parseCreate(createSQL)
	if err != nil {
		return nil, err
	}
	if ct.ReferTable != nil || ct.Select != nil {
		return nil, fmt.Errorf("%w: CREATE TABLE ... LIKE or SELECT: %q", ErrUnsupported, truncate(createSQL, 200))
	}
	for _, c := range without {
		if err := dropColumn(ct, strings.ToLower(c), true); err != nil {
			return nil, err
		}
	}
	return buildTable(db, name, ct)
}

// parseCreate parses one CREATE TABLE statement.
func parseCreate(sql string) (*ast.CreateTableStmt, error) {
	stmts, err := parseStatement(sql)
	if err != nil {
		return nil, err
	}
	if len(stmts) != 1 {
		return nil, fmt.Errorf("%w: want one CREATE TABLE statement, got %d: %q", ErrSyntax, len(stmts), truncate(sql, 200))
	}
	ct, ok := stmts[0].(*ast.CreateTableStmt)
	if !ok {
		return nil, fmt.Errorf("%w: not a CREATE TABLE statement: %q", ErrSyntax, truncate(sql, 200))
	}
	return ct, nil
}

// buildTable normalizes ct and derives the table db.name from it.
func buildTable(db, name string, ct *ast.CreateTableStmt) (*Table, error) {
	normalize(ct)
	t := &Table{Schema: db, Name: name, Columns: make([]Column, len(ct.Cols))}
	tableCS := tableCharset(ct.Options)
	for i, cd := range ct.Cols {
		t.Columns[i] = columnOf(cd, tableCS)
	}
	t.Key = keyOf(ct, t.Columns)
	def, err := definitionOf(ct)
	if err != nil {
		return nil, fmt.Errorf("table %s.%s: %w", db, name, err)
	}
	t.Def = def
	sql, err := restoreCreate(ct, "", name, false)
	if err != nil {
		return nil, fmt.Errorf("table %s.%s: %w", db, name, err)
	}
	t.CreateSQL = sql
	return t, nil
}

// restoreCreate prints ct as CREATE TABLE [IF NOT EXISTS] schema.name; an
// empty schema leaves the name unqualified, as SHOW CREATE TABLE does.
func restoreCreate(ct *ast.CreateTableStmt, schema, name string, ifNotExists bool) (string, error) {
	ct.Table = &ast.TableName{Schema: ast.NewCIStr(schema), Name: ast.NewCIStr(name)}
	ct.IfNotExists = ifNotExists
	var b strings.Builder
	if err := ct.Restore(format.NewRestoreCtx(restoreFlags, &b)); err != nil {
		return "", fmt.Errorf("restore create table: %w", err)
	}
	return restoreMarkers(b.String()), nil
}

var markerRE = regexp.MustCompile(`(LONGBLOB )?SECONDARY_ENGINE_ATTRIBUTE = '(` +
	regexp.QuoteMeta(standInPrefix) + `|` + regexp.QuoteMeta(attrPrefix) + `)([^']*)'`)

// restoreMarkers replaces the stand-in type markers (see compatRewrite) and
// attribute markers with the text they stand for.
func restoreMarkers(sql string) string {
	return markerRE.ReplaceAllStringFunc(sql, func(m string) string {
		sub := markerRE.FindStringSubmatch(m)
		if sub[2] == standInPrefix {
			return strings.ToUpper(sub[3])
		}
		return sub[1] + sub[3]
	})
}

// normalize rewrites ct into the form SHOW CREATE TABLE would print, which
// the rest of the package relies on: inline PRIMARY KEY and UNIQUE become
// table constraints, the primary key comes first, its columns are NOT NULL,
// every index has a name, keys are spelt KEY and UNIQUE KEY, ENUM/SET
// charsets survive restore, and table options the parser cannot restore
// (STATS_PERSISTENT, PACK_KEYS) are dropped.
func normalize(ct *ast.CreateTableStmt) {
	var pk, inline []*ast.Constraint
	for _, cd := range ct.Cols {
		opts := cd.Options[:0]
		for _, o := range cd.Options {
			switch o.Tp {
			case ast.ColumnOptionPrimaryKey:
				pk = append(pk, &ast.Constraint{Tp: ast.ConstraintPrimaryKey, Keys: keyParts(cd.Name.Name.O)})
			case ast.ColumnOptionUniqKey:
				inline = append(inline, &ast.Constraint{Tp: ast.ConstraintUniqKey, Keys: keyParts(cd.Name.Name.O)})
			default:
				opts = append(opts, o)
			}
		}
		cd.Options = opts
		keepEnumCharset(cd)
	}
	rest := make([]*ast.Constraint, 0, len(ct.Constraints))
	for _, c := range ct.Constraints {
		c.IfNotExists = false
		switch { // spell keys as SHOW CREATE TABLE does
		case isUnique(c.Tp):
			c.Tp = ast.ConstraintUniqKey
		case c.Tp == ast.ConstraintIndex:
			c.Tp = ast.ConstraintKey
		}
		if c.Tp == ast.ConstraintPrimaryKey {
			c.Name = ""
			pk = append(pk, c)
		} else {
			rest = append(rest, c)
		}
	}
	cons := make([]*ast.Constraint, 0, 1+len(inline)+len(rest))
	if len(pk) > 0 {
		cons = append(cons, pk[0]) // a second one would have failed upstream
	}
	ct.Constraints = append(append(cons, inline...), rest...)
	nameIndexes(ct.Constraints)
	ct.Options = slices.DeleteFunc(ct.Options, func(o *ast.TableOption) bool {
		// The parser drops their values and restores them as a comment.
		return o.Tp == ast.TableOptionStatsPersistent || o.Tp == ast.TableOptionPackKeys
	})
	if len(pk) > 0 {
		for _, part := range pk[0].Keys {
			if part.Column != nil {
				setNotNull(findColumn(ct.Cols, part.Column.Name.L))
			}
		}
	}
}

func keyParts(names ...string) []*ast.IndexPartSpecification {
	parts := make([]*ast.IndexPartSpecification, len(names))
	for i, n := range names {
		parts[i] = &ast.IndexPartSpecification{Column: &ast.ColumnName{Name: ast.NewCIStr(n)}, Length: types.UnspecifiedLength}
	}
	return parts
}

// keepEnumCharset moves the charset and collation of an ENUM or SET column,
// which FieldType.Restore drops, into an attribute marker.
func keepEnumCharset(cd *ast.ColumnDef) {
	tp := cd.Tp.GetType()
	if tp != mysql.TypeEnum && tp != mysql.TypeSet {
		return
	}
	cs, co := cd.Tp.GetCharset(), cd.Tp.GetCollate()
	if cs == "" && co == "" {
		return
	}
	var attr []string
	if cs != "" {
		attr = append(attr, "CHARACTER SET "+cs)
	}
	if co != "" {
		attr = append(attr, "COLLATE "+co)
	}
	cd.Tp.SetCharset("")
	cd.Tp.SetCollate("")
	marker := &ast.ColumnOption{Tp: ast.ColumnOptionSecondaryEngineAttribute, StrValue: attrPrefix + strings.Join(attr, " ")}
	cd.Options = append([]*ast.ColumnOption{marker}, cd.Options...)
}

// isIndex reports whether a constraint is an index with a name of its own.
func isIndex(tp ast.ConstraintType) bool {
	switch tp {
	case ast.ConstraintKey, ast.ConstraintIndex, ast.ConstraintUniq, ast.ConstraintUniqKey,
		ast.ConstraintUniqIndex, ast.ConstraintFulltext, ast.ConstraintVector, ast.ConstraintColumnar:
		return true
	}
	return false
}

func isUnique(tp ast.ConstraintType) bool {
	return tp == ast.ConstraintUniq || tp == ast.ConstraintUniqKey || tp == ast.ConstraintUniqIndex
}

// nameIndexes names unnamed indexes as MySQL does: after their first
// column, with _2, _3... when the name is taken.
func nameIndexes(cons []*ast.Constraint) {
	used := map[string]bool{"primary": true}
	for _, c := range cons {
		if c.Name != "" {
			used[strings.ToLower(c.Name)] = true
		}
	}
	for _, c := range cons {
		if c.Name != "" || !isIndex(c.Tp) {
			continue
		}
		base := "functional_index"
		if len(c.Keys) > 0 && c.Keys[0].Column != nil {
			base = c.Keys[0].Column.Name.O
		}
		name := base
		for n := 2; used[strings.ToLower(name)]; n++ {
			name = fmt.Sprintf("%s_%d", base, n)
		}
		c.Name = name
		used[strings.ToLower(name)] = true
	}
}

// setNotNull makes a column NOT NULL, as MySQL does to primary key columns.
func setNotNull(cd *ast.ColumnDef) {
	if cd == nil {
		return
	}
	opts := make([]*ast.ColumnOption, 0, len(cd.Options)+1)
	notNull := false
	for _, o := range cd.Options {
		if o.Tp == ast.ColumnOptionNull {
			continue
		}
		notNull = notNull || o.Tp == ast.ColumnOptionNotNull
		opts = append(opts, o)
	}
	if !notNull {
		opts = append([]*ast.ColumnOption{{Tp: ast.ColumnOptionNotNull}}, opts...)
	}
	cd.Options = opts
}

// findColumn returns the column named name (lower case), or nil.
func findColumn(cols []*ast.ColumnDef, lname string) *ast.ColumnDef {
	if i := columnIndex(cols, lname); i >= 0 {
		return cols[i]
	}
	return nil
}

// columnIndex returns the position of the column named name (lower case), or -1.
func columnIndex(cols []*ast.ColumnDef, lname string) int {
	for i, cd := range cols {
		if cd.Name.Name.L == lname {
			return i
		}
	}
	return -1
}

// columnOf derives the tracker's view of one column definition; tableCS is
// the table's default charset.
func columnOf(cd *ast.ColumnDef, tableCS string) Column {
	c := Column{Name: cd.Name.Name.O, Type: typeName(cd.Tp), Nullable: true}
	c.Bits = intBits[c.Type]
	if isNumeric(cd.Tp.GetType()) {
		c.Unsigned = mysql.HasUnsignedFlag(cd.Tp.GetFlag())
	}
	cs, co := cd.Tp.GetCharset(), cd.Tp.GetCollate()
	for _, o := range cd.Options {
		switch o.Tp {
		case ast.ColumnOptionNotNull, ast.ColumnOptionPrimaryKey:
			c.Nullable = false
		case ast.ColumnOptionNull:
			c.Nullable = true
		case ast.ColumnOptionGenerated:
			c.Generated = true
		case ast.ColumnOptionCollate:
			co = o.StrValue
		case ast.ColumnOptionSecondaryEngineAttribute:
			if name, ok := strings.CutPrefix(o.StrValue, standInPrefix); ok {
				c.Type = standInBase(name)
			}
			if attr, ok := strings.CutPrefix(o.StrValue, attrPrefix); ok {
				cs, co = parseAttr(attr)
			}
		}
	}
	c.Charset = columnCharset(c.Type, cs, co, tableCS)
	return c
}

// parseAttr reads back the charset and collation of an attribute marker
// written by keepEnumCharset.
func parseAttr(attr string) (cs, co string) {
	f := strings.Fields(attr)
	for i := 0; i+1 < len(f); i++ {
		switch {
		case f[i] == "SET":
			cs = f[i+1]
		case f[i] == "COLLATE":
			co = f[i+1]
		}
	}
	return cs, co
}

// columnCharset returns the charset of a column of base type typ declared
// with charset cs and collation co (either may be empty) in a table whose
// default charset is tableCS.
func columnCharset(typ, cs, co, tableCS string) string {
	switch typ {
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return charset.CharsetBin
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set":
	default:
		return ""
	}
	if cs == "" && co != "" {
		cs = collationCharset(co)
	}
	if cs == "" {
		cs = tableCS
	}
	return strings.ToLower(cs)
}

// tableCharset returns the default charset the table options name, from
// DEFAULT CHARSET or else DEFAULT COLLATE; "" when they name none.
func tableCharset(opts []*ast.TableOption) string {
	var cs, co string
	for _, o := range opts {
		switch {
		case o.Tp == ast.TableOptionCharset && !o.Default:
			cs = o.StrValue
		case o.Tp == ast.TableOptionCollate:
			co = o.StrValue
		}
	}
	if cs == "" && co != "" {
		cs = collationCharset(co)
	}
	return cs
}

func collationCharset(co string) string {
	charsetMu.RLock()
	defer charsetMu.RUnlock()
	if c, err := charset.GetCollationByName(co); err == nil {
		return c.CharsetName
	}
	return ""
}

// standInBase returns the base type of a type parsed through a stand-in:
// every spatial type is stored as geometry.
func standInBase(name string) string {
	switch name {
	case "uuid", "inet4", "inet6":
		return name
	}
	return "geometry"
}

func isNumeric(tp byte) bool {
	switch tp {
	case mysql.TypeTiny, mysql.TypeShort, mysql.TypeInt24, mysql.TypeLong, mysql.TypeLonglong,
		mysql.TypeNewDecimal, mysql.TypeFloat, mysql.TypeDouble:
		return true
	}
	return false
}

var intBits = map[string]int{"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "bigint": 64}

// typeName returns the lower-case base type name of ft, telling binary
// strings from character strings by the binary charset.
func typeName(ft *types.FieldType) string {
	bin := ft.GetCharset() == charset.CharsetBin
	pick := func(text, binary string) string {
		if bin {
			return binary
		}
		return text
	}
	switch ft.GetType() {
	case mysql.TypeTiny:
		return "tinyint"
	case mysql.TypeShort:
		return "smallint"
	case mysql.TypeInt24:
		return "mediumint"
	case mysql.TypeLong:
		return "int"
	case mysql.TypeLonglong:
		return "bigint"
	case mysql.TypeNewDecimal:
		return "decimal"
	case mysql.TypeDuration:
		return "time"
	case mysql.TypeString:
		return pick("char", "binary")
	case mysql.TypeVarchar, mysql.TypeVarString:
		return pick("varchar", "varbinary")
	case mysql.TypeTinyBlob:
		return pick("tinytext", "tinyblob")
	case mysql.TypeBlob:
		return pick("text", "blob")
	case mysql.TypeMediumBlob:
		return pick("mediumtext", "mediumblob")
	case mysql.TypeLongBlob:
		return pick("longtext", "longblob")
	}
	return strings.ToLower(types.TypeStr(ft.GetType()))
}

// keyOf returns the row identity of a normalized table: the primary key,
// else the first unique key on NOT NULL columns only, else nil.
func keyOf(ct *ast.CreateTableStmt, cols []Column) []int {
	var candidate []int
	for _, c := range ct.Constraints {
		if c.Tp != ast.ConstraintPrimaryKey && !isUnique(c.Tp) {
			continue
		}
		key := make([]int, 0, len(c.Keys))
		for _, part := range c.Keys {
			i := -1
			if part.Column != nil {
				i = columnIndex(ct.Cols, part.Column.Name.L)
			}
			if i < 0 || (c.Tp != ast.ConstraintPrimaryKey && cols[i].Nullable) {
				key = nil
				break
			}
			key = append(key, i)
		}
		if c.Tp == ast.ConstraintPrimaryKey {
			return key
		}
		if candidate == nil && len(key) > 0 {
			candidate = key
		}
	}
	return candidate
}
