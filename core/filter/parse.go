package filter

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/dmnode/dmnode/core/schema"
)

// ErrSyntax is returned for a statement the parser cannot read.
var ErrSyntax = errors.New("syntax error")

// MariaDB spellings the tidb parser lacks that core/schema's parser does not
// need to read (it tracks neither index visibility nor RENAME IF EXISTS),
// rewritten here to equivalents that classify the same.
var mariadbOnly = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)^(\s*RENAME\s+TABLES?)\s+IF\s+EXISTS\b`), "$1"},
	{regexp.MustCompile(`(?i)\bNOT\s+IGNORED\b`), "VISIBLE"},
	{regexp.MustCompile(`(?i)\bIGNORED\b`), "INVISIBLE"},
}

// parse parses the text of a QUERY event with core/schema's parser, which
// handles MariaDB's and MySQL 8's spellings the tidb parser lacks and
// guards the parser's shared charset tables. Statements core/schema does
// not parse (views and other objects without rows) are parsed as they are,
// since event filters name them too.
func parse(text string) ([]ast.StmtNode, error) {
	stmts, err := schema.Parse(text)
	if err == nil && len(stmts) == 0 {
		stmts, err = schema.ParseStatement(text)
	}
	if err != nil {
		alt := text
		for _, r := range mariadbOnly {
			alt = r.re.ReplaceAllString(alt, r.with)
		}
		if alt != text {
			if stmts, err2 := schema.Parse(alt); err2 == nil && len(stmts) > 0 {
				return stmts, nil
			}
		}
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return stmts, nil
}
