package schema

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/types"
)

// SetFlavor says which server the statements come from: "mysql" (the
// default) or "mariadb". On MariaDB a JSON column is a LONGTEXT in utf8mb4,
// and its row events carry text, not MySQL's binary JSON.
func (t *Tracker) SetFlavor(flavor string) {
	t.flavor = strings.ToLower(flavor)
}

// flavorTypes rewrites the column types of a CREATE TABLE or ALTER TABLE
// statement as the upstream flavor stores them.
func (t *Tracker) flavorTypes(cols []*ast.ColumnDef) {
	if t.flavor != "mariadb" {
		return
	}
	for _, cd := range cols {
		if cd.Tp.GetType() == mysql.TypeJSON {
			tp := types.NewFieldType(mysql.TypeLongBlob)
			tp.SetCharset("utf8mb4")
			tp.SetCollate("utf8mb4_bin")
			cd.Tp = tp
		}
	}
}

// dbCharset is the default charset and collation of a database; the
// collation may be empty, leaving the charset's default.
type dbCharset struct {
	Charset   string `json:"charset"`
	Collation string `json:"collation,omitempty"`
}

// SetDatabaseCharset records the default charset and collation of database
// db, as SHOW CREATE DATABASE or information_schema.SCHEMATA give them; db
// "" records the server's default, which CREATE DATABASE without a charset
// takes. The tracker keeps them current through CREATE, ALTER and DROP
// DATABASE, and gives a table created without a charset its database's, so
// that Column.Charset and CreateSQL say what the server would. An empty
// charset is taken from the collation.
func (t *Tracker) SetDatabaseCharset(db, cs, collation string) {
	if cs == "" && collation != "" {
		cs = collationCharset(collation)
	}
	if cs == "" {
		return
	}
	if t.charsets == nil {
		t.charsets = map[string]dbCharset{}
	}
	t.charsets[db] = dbCharset{Charset: cs, Collation: collation}
}

// databaseOptions returns the charset and collation database options name.
func databaseOptions(opts []*ast.DatabaseOption) (cs, co string) {
	for _, o := range opts {
		switch o.Tp {
		case ast.DatabaseOptionCharset:
			cs = o.Value
		case ast.DatabaseOptionCollate:
			co = o.Value
		}
	}
	return cs, co
}

// createDatabase records the charset of a new database, the server's when
// the statement names none.
func (t *Tracker) createDatabase(db string, opts []*ast.DatabaseOption) {
	delete(t.charsets, db)
	cs, co := databaseOptions(opts)
	if cs == "" && co == "" {
		if d, ok := t.charsets[""]; ok {
			cs, co = d.Charset, d.Collation
		}
	}
	t.SetDatabaseCharset(db, cs, co)
}

// alterDatabase records a database's new charset or collation.
func (t *Tracker) alterDatabase(db string, opts []*ast.DatabaseOption) {
	cs, co := databaseOptions(opts)
	if cs != "" || co != "" {
		t.SetDatabaseCharset(db, cs, co)
	}
}

// defaultTableCharset adds the charset of database db to a CREATE TABLE
// that names no charset or collation of its own, when it is known.
func (t *Tracker) defaultTableCharset(db string, ct *ast.CreateTableStmt) {
	for _, o := range ct.Options {
		if o.Tp == ast.TableOptionCharset || o.Tp == ast.TableOptionCollate {
			return
		}
	}
	d, ok := t.charsets[db]
	if !ok {
		return
	}
	ct.Options = append(ct.Options, &ast.TableOption{Tp: ast.TableOptionCharset, StrValue: d.Charset,
		UintValue: ast.TableOptionCharsetWithoutConvertTo})
	if d.Collation != "" {
		ct.Options = append(ct.Options, &ast.TableOption{Tp: ast.TableOptionCollate, StrValue: d.Collation})
	}
}
