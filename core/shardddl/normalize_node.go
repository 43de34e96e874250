package shardddl

import (
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
)

// NormalizeNode is NormalizeChange for a routed statement the caller has
// parsed already: node is stmt parsed (schema.RouteStmt's routed
// statement). It parses nothing and does not change node.
func NormalizeNode(stmt string, node ast.StmtNode) (string, *Change, error) {
	var b strings.Builder
	if err := node.Restore(format.NewRestoreCtx(restoreFlags, &b)); err != nil {
		return "", nil, fmt.Errorf("normalize %q: %w", abbrev(stmt), err)
	}
	return b.String(), &Change{Renames: renamesOf(node)}, nil
}
