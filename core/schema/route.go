package schema

import (
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
)

// RouteFunc maps an upstream schema and table to the target's names. table
// is empty for a database statement; the returned table is then ignored.
type RouteFunc func(schema, table string) (targetSchema, targetTable string, err error)

// RouteDDL rewrites one DDL statement, executed upstream with default
// database currentDB, for the target: every table and database name goes
// through route, unqualified names are qualified, and statements a replay
// after a crash could repeat are made idempotent (CREATE ... IF NOT EXISTS,
// DROP ... IF EXISTS).
func RouteDDL(currentDB, stmt string, route RouteFunc) (string, error) {
	nodes, err := parseStatement(stmt)
	if err != nil {
		return "", err
	}
	if len(nodes) != 1 {
		return "", fmt.Errorf("%w: route DDL: %d statements in %q", ErrUnsupported, len(nodes), truncate(stmt, 200))
	}
	return routeNode(currentDB, stmt, nodes[0], route)
}

// routeNode is RouteDDL for node, the statement stmt parsed, which it
// changes.
func routeNode(currentDB, stmt string, node ast.StmtNode, route RouteFunc) (string, error) {
	var err error
	switch n := node.(type) {
	case *ast.CreateDatabaseStmt:
		n.IfNotExists = true
		n.Name.O, err = routeSchema(route, n.Name.O)
	case *ast.DropDatabaseStmt:
		n.IfExists = true
		n.Name.O, err = routeSchema(route, n.Name.O)
	case *ast.AlterDatabaseStmt:
		n.Name.O, err = routeSchema(route, n.Name.O)
	case *ast.CreateTableStmt:
		n.IfNotExists = true
	case *ast.DropTableStmt:
		n.IfExists = true
	case *ast.CreateIndexStmt:
		n.IfNotExists = true
	case *ast.DropIndexStmt:
		n.IfExists = true
	}
	if err != nil {
		return "", err
	}
	v := &tableRouter{currentDB: currentDB, route: route}
	node.Accept(v)
	if v.err != nil {
		return "", v.err
	}
	var b strings.Builder
	if err := node.Restore(format.NewRestoreCtx(restoreFlags, &b)); err != nil {
		return "", fmt.Errorf("route DDL: restore %q: %w", truncate(stmt, 200), err)
	}
	return b.String(), nil
}

func routeSchema(route RouteFunc, db string) (string, error) {
	s, _, err := route(db, "")
	return s, err
}

// tableRouter rewrites every table name of a statement.
type tableRouter struct {
	currentDB string
	route     RouteFunc
	err       error
}

func (v *tableRouter) Enter(n ast.Node) (ast.Node, bool) {
	tn, ok := n.(*ast.TableName)
	if !ok || v.err != nil {
		return n, false
	}
	db := tn.Schema.O
	if db == "" {
		db = v.currentDB
	}
	if db == "" {
		v.err = fmt.Errorf("%w: table %s has no database and none is selected", ErrUnsupported, tn.Name.O)
		return n, true
	}
	s, t, err := v.route(db, tn.Name.O)
	if err != nil {
		v.err = err
		return n, true
	}
	tn.Schema = ast.NewCIStr(s)
	tn.Name = ast.NewCIStr(t)
	return n, true
}

func (v *tableRouter) Leave(n ast.Node) (ast.Node, bool) { return n, true }
