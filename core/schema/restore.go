package schema

import (
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
)

// Restore prints a statement parsed by Parse or ParseStatement back as
// text MySQL and TiDB read the same way, with the types and attributes the
// parser stood in for written as they were.
func Restore(n ast.Node) (string, error) {
	var b strings.Builder
	if err := n.Restore(format.NewRestoreCtx(restoreFlags, &b)); err != nil {
		return "", fmt.Errorf("restore statement: %w", err)
	}
	return restoreMarkers(b.String()), nil
}
