package exprfilter

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dmnode/dmnode/core/schema"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	"github.com/pingcap/tidb/pkg/parser/test_driver" // literal values
)

// Errors of Parse and Bind; branch with errors.Is.
var (
	// ErrUnsupported: the expression uses a function, operator or construct
	// the evaluator does not implement. The message names it, as in
	// "not supported yet: function JSON_EXTRACT".
	ErrUnsupported = errors.New("not supported yet")
	// ErrClock: no longer returned (the clock functions are supported);
	// kept for callers that test for it. It meant the expression reads the
	// clock (NOW(), CURDATE(), ...). A
	// filter's verdict on a row must not depend on when the row is
	// replayed, so these functions are refused.
	ErrClock = errors.New("reads the clock")
	// ErrUnknownColumn: Bind was given columns that do not include one the
	// expression names.
	ErrUnknownColumn = errors.New("unknown column")
)

// errBigint is the evaluation error of an integer result out of range.
var errBigint = errors.New("BIGINT value is out of range")

// Expr is a parsed and checked expression, not yet bound to the columns of
// a table. It is immutable and safe for concurrent use.
type Expr struct {
	text    string
	node    ast.ExprNode
	columns []string // lower-cased names, in order of first use
	clock   bool     // reads the clock (NOW(), CURDATE(), ...)
}

// Cond is an expression bound to a table's columns: it evaluates the
// expression on a row, whose values are nil, int64, uint64, float32,
// float64, string or []byte in column order, and reports whether the result
// is true. NULL and false are not true. An error means the expression could
// not be evaluated on this row (an integer overflow, a row shorter than the
// table). A Cond is safe for concurrent use.
type Cond func(row []any) (bool, error)

// evalFn evaluates a compiled sub-expression on a row.
type evalFn func(row []any) (val, error)

// Parse parses text as a MySQL expression, as DM does by parsing
// "SELECT text", and checks that every function and operator it uses is
// supported. Errors wrap ErrUnsupported or ErrClock for a valid expression
// the evaluator refuses; other errors are syntax errors.
func Parse(text string) (*Expr, error) {
	node, err := parseExpr(text)
	if err != nil {
		return nil, err
	}
	e := &Expr{text: text, node: node}
	c := &compiler{resolve: func(name string) (int, error) {
		if !slices.Contains(e.columns, name) {
			e.columns = append(e.columns, name)
		}
		return 0, nil
	}}
	if _, err := c.expr(node); err != nil {
		return nil, err
	}
	e.clock = c.clock
	return e, nil
}

// ReadsClock reports whether the expression reads the clock (NOW(),
// CURDATE(), ...): it then judges a row by the time it is evaluated, as
// DM's does, and a row replayed later may be judged differently.
func (e *Expr) ReadsClock() bool { return e.clock }

// parseExpr parses "SELECT text" and returns the one selected expression.
func parseExpr(text string) (ast.ExprNode, error) {
	stmts, err := schema.ParseStatement(selectPrefix + text)
	if err != nil {
		return nil, fmt.Errorf("syntax error: %s", syntaxMessage(err))
	}
	if len(stmts) != 1 {
		return nil, errors.New("syntax error: want one expression, not several statements")
	}
	sel, ok := stmts[0].(*ast.SelectStmt)
	if !ok || sel.Fields == nil || len(sel.Fields.Fields) != 1 || sel.Fields.Fields[0].Expr == nil ||
		sel.From != nil || sel.Where != nil || sel.GroupBy != nil || sel.Having != nil ||
		sel.OrderBy != nil || sel.Limit != nil || sel.WindowSpecs != nil || sel.With != nil {
		return nil, errors.New("syntax error: want one expression")
	}
	if sel.Fields.Fields[0].AsName.O != "" {
		return nil, errors.New("syntax error: want one expression, without an alias")
	}
	return sel.Fields.Fields[0].Expr, nil
}

const selectPrefix = "SELECT "

var errPosition = regexp.MustCompile(`line 1 column (\d+)`)

// syntaxMessage is the parser's message about "SELECT text" with the
// column counted in text.
func syntaxMessage(err error) string {
	msg := strings.TrimSpace(err.Error())
	m := errPosition.FindStringSubmatchIndex(msg)
	if m == nil {
		return msg
	}
	// The message may carry the statement before the position; keep
	// the parser's own words from the position on.
	col, _ := strconv.Atoi(msg[m[2]:m[3]])
	return fmt.Sprintf("line 1 column %d%s", max(col-len(selectPrefix), 1), msg[m[1]:])
}

// String returns the expression as written.
func (e *Expr) String() string { return e.text }

// Columns returns the names of the columns the expression reads, lower-cased.
func (e *Expr) Columns() []string { return slices.Clone(e.columns) }

// Bind compiles the expression against a table's columns, in row order.
// Column names are matched without regard to case, as MySQL does. Errors
// wrap ErrUnknownColumn. The clock functions read time.Now in UTC, the
// time zone of dmnode's sessions; see BindClock.
func (e *Expr) Bind(columns []string) (Cond, error) {
	return e.BindClock(columns, func() time.Time { return time.Now().UTC() })
}

// BindClock is Bind with the clock the clock functions read.
func (e *Expr) BindClock(columns []string, now func() time.Time) (Cond, error) {
	width := 0
	c := &compiler{now: now, resolve: func(name string) (int, error) {
		for i, col := range columns {
			if strings.EqualFold(col, name) {
				width = max(width, i+1)
				return i, nil
			}
		}
		return 0, fmt.Errorf("%w %q", ErrUnknownColumn, name)
	}}
	fn, err := c.expr(e.node)
	if err != nil {
		return nil, err
	}
	text := e.text
	return func(row []any) (bool, error) {
		if len(row) < width {
			return false, fmt.Errorf("evaluate %q: row has %d values, the expression reads column %d", text, len(row), width)
		}
		v, err := fn(row)
		if err != nil {
			return false, fmt.Errorf("evaluate %q: %w", text, err)
		}
		b, ok := v.truth()
		return ok && b, nil
	}, nil
}

// compiler turns a syntax tree into closures. resolve maps a lower-cased
// column name to its index in the row.
type compiler struct {
	resolve func(name string) (int, error)
	now     func() time.Time // nil while parsing
	clock   bool             // a clock function was compiled
}

func unsupported(what string, args ...any) error {
	return fmt.Errorf("%w: "+what, append([]any{ErrUnsupported}, args...)...)
}

// expr compiles one expression node.
func (c *compiler) expr(n ast.ExprNode) (evalFn, error) {
	switch x := n.(type) {
	case ast.ParamMarkerExpr:
		return nil, unsupported("parameter marker ?")
	case ast.ValueExpr:
		return literal(x)
	case *ast.ParenthesesExpr:
		return c.expr(x.Expr)
	case *ast.ColumnNameExpr:
		return c.column(x.Name)
	case *ast.BinaryOperationExpr:
		return c.binary(x)
	case *ast.UnaryOperationExpr:
		return c.unary(x)
	case *ast.IsNullExpr:
		return c.isNull(x)
	case *ast.IsTruthExpr:
		return c.isTruth(x)
	case *ast.BetweenExpr:
		return c.between(x)
	case *ast.PatternInExpr:
		return c.in(x)
	case *ast.PatternLikeOrIlikeExpr:
		return c.like(x)
	case *ast.FuncCallExpr:
		return c.call(x)
	case *ast.FuncCastExpr:
		return c.cast(x)
	case *ast.CaseExpr:
		return c.caseExpr(x)
	case *ast.SetCollationExpr:
		return c.collate(x)
	case *ast.VariableExpr:
		if x.IsSystem {
			return nil, unsupported("system variable @@%s", x.Name)
		}
		return nil, unsupported("user variable @%s", x.Name)
	case *ast.SubqueryExpr, *ast.ExistsSubqueryExpr, *ast.CompareSubqueryExpr:
		return nil, unsupported("subquery")
	case *ast.RowExpr:
		return nil, unsupported("row constructor")
	case *ast.DefaultExpr:
		return nil, unsupported("DEFAULT()")
	case *ast.PatternRegexpExpr:
		if x.Not {
			return nil, unsupported("operator NOT REGEXP")
		}
		return nil, unsupported("operator REGEXP")
	case *ast.AggregateFuncExpr:
		return nil, unsupported("aggregate function %s", strings.ToUpper(x.F))
	case *ast.WindowFuncExpr:
		return nil, unsupported("window function %s", strings.ToUpper(x.Name))
	}
	return nil, unsupported("%s", sqlText(n))
}

// column compiles a column reference.
func (c *compiler) column(name *ast.ColumnName) (evalFn, error) {
	if name.Table.O != "" || name.Schema.O != "" {
		return nil, fmt.Errorf("qualified column name %s: write the column name alone", sqlText(name))
	}
	i, err := c.resolve(name.Name.L)
	if err != nil {
		return nil, err
	}
	return func(row []any) (val, error) { return rowValue(row[i]) }, nil
}

// literal compiles a constant.
func literal(x ast.ValueExpr) (evalFn, error) {
	var v val
	switch d := x.GetValue().(type) {
	case nil:
		v = null
	case int64:
		v = intVal(d)
	case uint64:
		v = uintVal(d)
	case float64:
		v = floatVal(d)
	case float32:
		v = floatVal(float64(d))
	case string:
		v = strVal(d)
	case []byte:
		v = val{k: kBin, s: string(d)}
	case *test_driver.MyDecimal: // DECIMAL literals, approximated
		v = floatVal(parseFloatPrefix(d.String()))
	case test_driver.BinaryLiteral: // hex and bit literals are binary strings
		v = val{k: kBin, s: string(d)}
	default:
		return nil, unsupported("literal %s", sqlText(x))
	}
	return constant(v), nil
}

func constant(v val) evalFn {
	return func([]any) (val, error) { return v, nil }
}

// constString returns the value of a string literal.
func constString(n ast.ExprNode) (string, bool) {
	for {
		p, ok := n.(*ast.ParenthesesExpr)
		if !ok {
			break
		}
		n = p.Expr
	}
	x, ok := n.(ast.ValueExpr)
	if !ok {
		return "", false
	}
	s, ok := x.GetValue().(string)
	return s, ok
}

// sqlText prints a node for messages.
func sqlText(n ast.Node) string {
	var b strings.Builder
	if err := n.Restore(format.NewRestoreCtx(format.DefaultRestoreFlags, &b)); err != nil {
		return fmt.Sprintf("%T", n)
	}
	return b.String()
}

// opText is an operator as written in SQL.
func opText(op opcode.Op) string {
	var b strings.Builder
	op.Format(&b)
	return strings.ToUpper(b.String())
}

// args compiles a list of expressions.
func (c *compiler) args(nodes []ast.ExprNode) ([]evalFn, error) {
	out := make([]evalFn, len(nodes))
	for i, n := range nodes {
		fn, err := c.expr(n)
		if err != nil {
			return nil, err
		}
		out[i] = fn
	}
	return out, nil
}
