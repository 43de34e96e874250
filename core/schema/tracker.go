package schema

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// Tracker holds the schemas of the tables of one upstream server and keeps
// them current by applying the statements of the binlog's QUERY events.
//
// A Tracker is a pure state machine and is not safe for concurrent use. The
// *Table values it hands out are never modified afterwards (Apply replaces
// them), so a caller may keep one as the schema a plan was compiled for;
// callers must not modify them either. Table names are compared exactly, as
// on a server with lower_case_table_names=0; column and index names are
// compared without regard to case, as MySQL does.
type Tracker struct {
	tables   map[TableRef]*Table
	charsets map[string]dbCharset // by database, "" for the server
	flavor   string               // "mariadb" or else MySQL
}

// NewTracker returns an empty tracker. The zero Tracker is also ready to use.
func NewTracker() *Tracker {
	return &Tracker{tables: map[TableRef]*Table{}}
}

// Put stores a copy of tbl, replacing any table of the same name.
func (t *Tracker) Put(tbl *Table) {
	c := *tbl
	c.Columns = slices.Clone(tbl.Columns)
	c.Key = slices.Clone(tbl.Key)
	t.set(&c)
}

func (t *Tracker) set(tbl *Table) {
	if t.tables == nil {
		t.tables = map[TableRef]*Table{}
	}
	t.tables[TableRef{Schema: tbl.Schema, Name: tbl.Name}] = tbl
}

// Drop forgets the table db.table, if tracked.
func (t *Tracker) Drop(db, table string) {
	delete(t.tables, TableRef{Schema: db, Name: table})
}

// Get returns the table db.table.
func (t *Tracker) Get(db, table string) (*Table, bool) {
	tbl, ok := t.tables[TableRef{Schema: db, Name: table}]
	return tbl, ok
}

// Tables returns all tracked tables sorted by schema and name.
func (t *Tracker) Tables() []*Table {
	out := make([]*Table, 0, len(t.tables))
	for _, tbl := range t.tables {
		out = append(out, tbl)
	}
	slices.SortFunc(out, func(a, b *Table) int {
		return cmp.Or(cmp.Compare(a.Schema, b.Schema), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// Apply applies the statement text of one binlog QUERY event, executed with
// default database currentDB, and returns what it is. Text holding several
// statements is applied statement by statement; the returned DDL then
// carries the kind they share (Other when they differ, ignoring skipped
// ones) and all their tables: use ApplyAll for the details.
//
// Errors wrap ErrSyntax, ErrUnknownTable, ErrMismatch or ErrUnsupported;
// see ApplyAll for how far a failed text was applied.
func (t *Tracker) Apply(currentDB, sql string) (DDL, error) {
	return t.ApplyStmt(ParseDDL(currentDB, sql))
}

// ApplyAll is Apply returning one DDL per statement. Statements are applied
// in order. A statement that fails with ErrUnknownTable has had its other
// effects applied and the next statements are applied too; any other error
// stops at the failing statement, which changed nothing. All errors are
// joined into the one returned.
func (t *Tracker) ApplyAll(currentDB, sql string) ([]DDL, error) {
	return t.applyStmt(ParseDDL(currentDB, sql))
}

func merge(ddls []DDL, sql string) DDL {
	out := DDL{Kind: Skip, SQL: sql}
	for _, d := range ddls {
		switch {
		case d.Kind == Skip:
			continue
		case out.Kind == Skip:
			out.Kind, out.Schema = d.Kind, d.Schema
		case out.Kind != d.Kind:
			out.Kind = Other
		}
		out.Tables = append(out.Tables, d.Tables...)
	}
	return out
}

func (t *Tracker) dispatch(currentDB string, node ast.StmtNode, orReplace bool) (DDL, error) {
	switch n := node.(type) {
	case *ast.CreateDatabaseStmt:
		d := DDL{Kind: CreateDatabase, Schema: n.Name.O}
		if orReplace {
			d.Tables = t.dropSchema(n.Name.O)
		}
		if _, exists := t.charsets[n.Name.O]; !exists || !n.IfNotExists || orReplace {
			t.createDatabase(n.Name.O, n.Options)
		}
		return d, nil
	case *ast.DropDatabaseStmt:
		delete(t.charsets, n.Name.O)
		return DDL{Kind: DropDatabase, Schema: n.Name.O, Tables: t.dropSchema(n.Name.O)}, nil
	case *ast.AlterDatabaseStmt:
		d := DDL{Kind: Other, Schema: n.Name.O}
		if n.AlterDefaultDatabase {
			d.Schema = currentDB
		}
		t.alterDatabase(d.Schema, n.Options)
		return d, nil
	case *ast.CreateTableStmt:
		return t.createTable(currentDB, n, orReplace)
	case *ast.DropTableStmt:
		return t.dropTable(currentDB, n)
	case *ast.TruncateTableStmt:
		ref, err := resolve(currentDB, n.Table)
		return DDL{Kind: TruncateTable, Tables: []TableRef{ref}}, err
	case *ast.RenameTableStmt:
		return t.renameTable(currentDB, n)
	case *ast.AlterTableStmt:
		return t.alterTable(currentDB, n)
	case *ast.CreateIndexStmt:
		return t.createIndex(currentDB, n)
	case *ast.DropIndexStmt:
		spec := &ast.AlterTableSpec{Tp: ast.AlterTableDropIndex, Name: n.IndexName, IfExists: n.IfExists}
		return t.alter(DDL{Kind: DropIndex}, currentDB, n.Table, []*ast.AlterTableSpec{spec})
	case *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt, *ast.LoadDataStmt, *ast.CallStmt,
		*ast.ImportIntoStmt, *ast.NonTransactionalDMLStmt,
		*ast.CreateSequenceStmt, *ast.DropSequenceStmt, *ast.AlterSequenceStmt,
		*ast.FlashBackTableStmt, *ast.FlashBackDatabaseStmt, *ast.FlashBackToTimestampStmt,
		*ast.RecoverTableStmt:
		return DDL{Kind: Other}, nil
	}
	return DDL{Kind: Skip}, nil
}

// resolve names the table tn, in currentDB when tn leaves out the schema.
func resolve(currentDB string, tn *ast.TableName) (TableRef, error) {
	ref := TableRef{Schema: tn.Schema.O, Name: tn.Name.O}
	if ref.Schema == "" {
		ref.Schema = currentDB
	}
	if ref.Schema == "" {
		return ref, fmt.Errorf("table %s: no database selected", ref.Name)
	}
	return ref, nil
}

// dropSchema forgets the tables of db and returns their names, sorted.
func (t *Tracker) dropSchema(db string) []TableRef {
	var refs []TableRef
	for ref := range t.tables {
		if ref.Schema == db {
			refs = append(refs, ref)
			delete(t.tables, ref)
		}
	}
	slices.SortFunc(refs, func(a, b TableRef) int { return cmp.Compare(a.Name, b.Name) })
	return refs
}

func (t *Tracker) createTable(currentDB string, n *ast.CreateTableStmt, orReplace bool) (DDL, error) {
	if n.TemporaryKeyword != ast.TemporaryNone {
		return DDL{Kind: Skip}, nil
	}
	ref, err := resolve(currentDB, n.Table)
	d := DDL{Kind: CreateTable, Tables: []TableRef{ref}}
	if err != nil {
		return d, err
	}
	if _, exists := t.tables[ref]; exists && n.IfNotExists && !orReplace {
		return d, nil
	}
	ct := n
	switch {
	case n.ReferTable != nil:
		src, err := resolve(currentDB, n.ReferTable)
		d.Tables = append(d.Tables, src)
		if err != nil {
			return d, err
		}
		tbl, ok := t.tables[src]
		if !ok {
			return d, fmt.Errorf("create table %s like %s: %w", ref, src, ErrUnknownTable)
		}
		if ct, err = parseCreate(tbl.CreateSQL); err != nil {
			return d, fmt.Errorf("create table %s like %s: %w", ref, src, err)
		}
		dropForeignKeys(ct) // LIKE does not copy them
	case n.Select != nil:
		return d, fmt.Errorf("create table %s: %w: CREATE TABLE ... SELECT", ref, ErrUnsupported)
	default:
		t.defaultTableCharset(ref.Schema, ct)
		t.flavorTypes(ct.Cols)
	}
	tbl, err := buildTable(ref.Schema, ref.Name, ct)
	if err != nil {
		return d, err
	}
	t.set(tbl)
	return d, nil
}

func (t *Tracker) dropTable(currentDB string, n *ast.DropTableStmt) (DDL, error) {
	if n.IsView || n.TemporaryKeyword != ast.TemporaryNone {
		return DDL{Kind: Skip}, nil
	}
	d := DDL{Kind: DropTable}
	for _, tn := range n.Tables {
		ref, err := resolve(currentDB, tn)
		if err != nil {
			return d, err
		}
		d.Tables = append(d.Tables, ref)
	}
	for _, ref := range d.Tables {
		delete(t.tables, ref)
	}
	return d, nil
}

func (t *Tracker) renameTable(currentDB string, n *ast.RenameTableStmt) (DDL, error) {
	d := DDL{Kind: RenameTable}
	for _, pair := range n.TableToTables {
		from, err1 := resolve(currentDB, pair.OldTable)
		to, err2 := resolve(currentDB, pair.NewTable)
		d.Tables = append(d.Tables, from, to)
		if err := errors.Join(err1, err2); err != nil {
			return d, err
		}
	}
	var errs []error
	for i := 0; i < len(d.Tables); i += 2 {
		from, to := d.Tables[i], d.Tables[i+1]
		tbl, ok := t.tables[from]
		if !ok {
			errs = append(errs, fmt.Errorf("rename table %s to %s: %w", from, to, ErrUnknownTable))
			continue
		}
		ct, err := parseCreate(tbl.CreateSQL)
		if err != nil {
			return d, fmt.Errorf("rename table %s: %w", from, err)
		}
		moved, err := buildTable(to.Schema, to.Name, ct)
		if err != nil {
			return d, err
		}
		delete(t.tables, from)
		t.set(moved)
	}
	return d, errors.Join(errs...)
}

func (t *Tracker) alterTable(currentDB string, n *ast.AlterTableStmt) (DDL, error) {
	return t.alter(DDL{Kind: AlterTable}, currentDB, n.Table, n.Specs)
}

func (t *Tracker) createIndex(currentDB string, n *ast.CreateIndexStmt) (DDL, error) {
	tp := ast.ConstraintKey
	switch n.KeyType {
	case ast.IndexKeyTypeUnique:
		tp = ast.ConstraintUniqKey
	case ast.IndexKeyTypeFulltext:
		tp = ast.ConstraintFulltext
	case ast.IndexKeyTypeVector:
		tp = ast.ConstraintVector
	case ast.IndexKeyTypeColumnar:
		tp = ast.ConstraintColumnar
	}
	c := &ast.Constraint{Tp: tp, Name: n.IndexName, Keys: n.IndexPartSpecifications,
		Option: n.IndexOption, IfNotExists: n.IfNotExists}
	spec := &ast.AlterTableSpec{Tp: ast.AlterTableAddConstraint, Constraint: c}
	return t.alter(DDL{Kind: CreateIndex}, currentDB, n.Table, []*ast.AlterTableSpec{spec})
}

// alter applies specs to the table tn and fills d.Tables: the table, then
// its new name when a spec renames it.
func (t *Tracker) alter(d DDL, currentDB string, tn *ast.TableName, specs []*ast.AlterTableSpec) (DDL, error) {
	ref, err := resolve(currentDB, tn)
	d.Tables = []TableRef{ref}
	if err != nil {
		return d, err
	}
	to := ref
	for _, s := range specs {
		if s.Tp == ast.AlterTableRenameTable {
			if to, err = resolve(currentDB, s.NewTable); err != nil {
				return d, err
			}
		}
	}
	if to != ref {
		d.Tables = append(d.Tables, to)
	}
	tbl, ok := t.tables[ref]
	if !ok {
		return d, fmt.Errorf("%s %s: %w", d.Kind, ref, ErrUnknownTable)
	}
	ct, err := parseCreate(tbl.CreateSQL)
	if err != nil {
		return d, fmt.Errorf("%s %s: %w", d.Kind, ref, err)
	}
	if err := applySpecs(ct, specs); err != nil {
		return d, fmt.Errorf("%s %s: %w", d.Kind, ref, err)
	}
	t.flavorTypes(ct.Cols)
	altered, err := buildTable(to.Schema, to.Name, ct)
	if err != nil {
		return d, err
	}
	delete(t.tables, ref)
	t.set(altered)
	return d, nil
}

// snapshot is the JSON form of a Tracker.
type snapshot struct {
	Version  int                  `json:"version"`
	Tables   []*Table             `json:"tables"`
	Charsets map[string]dbCharset `json:"charsets,omitempty"` // by database, "" for the server
	Flavor   string               `json:"flavor,omitempty"`
}

const snapshotVersion = 1

// MarshalJSON encodes the tracked tables and database charsets, so that a
// tailer can checkpoint them with its binlog position.
func (t *Tracker) MarshalJSON() ([]byte, error) {
	return json.Marshal(snapshot{Version: snapshotVersion, Tables: t.Tables(), Charsets: t.charsets, Flavor: t.flavor})
}

// UnmarshalJSON replaces the tracked tables and database charsets with
// those encoded by MarshalJSON.
func (t *Tracker) UnmarshalJSON(b []byte) error {
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decode schema snapshot: %w", err)
	}
	if s.Version != snapshotVersion {
		return fmt.Errorf("decode schema snapshot: unknown version %d", s.Version)
	}
	t.tables = make(map[TableRef]*Table, len(s.Tables))
	t.charsets, t.flavor = s.Charsets, s.Flavor
	for _, tbl := range s.Tables {
		if tbl == nil {
			return errors.New("decode schema snapshot: null table")
		}
		t.set(tbl)
	}
	return nil
}
