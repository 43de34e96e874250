package exprfilter

import (
	"errors"
	"math"
	"math/big"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/opcode"
)

var errUnsigned = errors.New("BIGINT UNSIGNED value is out of range")

// binary compiles a binary operator.
func (c *compiler) binary(x *ast.BinaryOperationExpr) (evalFn, error) {
	switch x.Op {
	case opcode.LogicAnd, opcode.LogicOr, opcode.LogicXor,
		opcode.EQ, opcode.NE, opcode.LT, opcode.LE, opcode.GT, opcode.GE, opcode.NullEQ,
		opcode.Plus, opcode.Minus, opcode.Mul, opcode.Div, opcode.IntDiv, opcode.Mod:
	default:
		return nil, unsupported("operator %s", opText(x.Op))
	}
	l, err := c.expr(x.L)
	if err != nil {
		return nil, err
	}
	r, err := c.expr(x.R)
	if err != nil {
		return nil, err
	}
	switch x.Op {
	case opcode.LogicAnd:
		return logicAnd(l, r), nil
	case opcode.LogicOr:
		return logicOr(l, r), nil
	case opcode.LogicXor:
		return logicXor(l, r), nil
	case opcode.NullEQ:
		return nullSafeEqual(l, r), nil
	case opcode.EQ, opcode.NE, opcode.LT, opcode.LE, opcode.GT, opcode.GE:
		return comparison(x.Op, l, r), nil
	}
	op := x.Op
	return both(l, r, func(a, b val) (val, error) { return arith(op, a, b) }), nil
}

// both compiles an operator that needs the values of both sides: l's,
// then r's, the first error winning.
func both(l, r evalFn, op func(a, b val) (val, error)) evalFn {
	return func(row []any) (val, error) {
		a, err := l(row)
		if err != nil {
			return null, err
		}
		b, err := r(row)
		if err != nil {
			return null, err
		}
		return op(a, b)
	}
}

// logicAnd is three-valued AND: false wins over NULL. The right side is
// not evaluated when the left is false.
func logicAnd(l, r evalFn) evalFn { return logicShort(l, r, false) }

// logicOr is three-valued OR: true wins over NULL.
func logicOr(l, r evalFn) evalFn { return logicShort(l, r, true) }

// logicShort is three-valued AND (decisive false) or OR (decisive true):
// the decisive value on either side wins, even over NULL; otherwise NULL on
// either side gives NULL, else the other value. The right side is not
// evaluated when the left is decisive.
func logicShort(l, r evalFn, decisive bool) evalFn {
	return func(row []any) (val, error) {
		a, err := l(row)
		if err != nil {
			return null, err
		}
		ab, aok := a.truth()
		if aok && ab == decisive {
			return boolVal(decisive), nil
		}
		b, err := r(row)
		if err != nil {
			return null, err
		}
		bb, bok := b.truth()
		switch {
		case bok && bb == decisive:
			return boolVal(decisive), nil
		case !aok || !bok:
			return null, nil
		}
		return boolVal(!decisive), nil
	}
}

func logicXor(l, r evalFn) evalFn {
	return both(l, r, func(a, b val) (val, error) {
		ab, aok := a.truth()
		bb, bok := b.truth()
		if !aok || !bok {
			return null, nil
		}
		return boolVal(ab != bb), nil
	})
}

func logicNot(v val) val {
	b, ok := v.truth()
	if !ok {
		return null
	}
	return boolVal(!b)
}

// comparison compiles = <> != < <= > >=: NULL when either side is NULL.
func comparison(op opcode.Op, l, r evalFn) evalFn {
	return both(l, r, func(a, b val) (val, error) {
		c, isNull := compare(a, b)
		if isNull {
			return null, nil
		}
		return boolVal(holds(op, c)), nil
	})
}

// holds reports whether comparison result c satisfies op.
func holds(op opcode.Op, c int) bool {
	switch op {
	case opcode.EQ:
		return c == 0
	case opcode.NE:
		return c != 0
	case opcode.LT:
		return c < 0
	case opcode.LE:
		return c <= 0
	case opcode.GT:
		return c > 0
	}
	return c >= 0 // GE
}

// nullSafeEqual compiles <=>: NULL <=> NULL is true, never NULL itself.
func nullSafeEqual(l, r evalFn) evalFn {
	return both(l, r, func(a, b val) (val, error) {
		if a.k == kNull || b.k == kNull {
			return boolVal(a.k == b.k), nil
		}
		c, _ := compare(a, b)
		return boolVal(c == 0), nil
	})
}

// arith applies + - * / DIV %. NULL in, NULL out; division by zero is
// NULL, as in MySQL without strict mode. Integers stay integers (unsigned
// if either operand is unsigned) and overflow is an error; anything else
// is computed in double precision, which is also what / returns.
func arith(op opcode.Op, a, b val) (val, error) {
	if a.k == kNull || b.k == kNull {
		return null, nil
	}
	switch {
	case op == opcode.Div:
		d := b.float()
		if d == 0 {
			return null, nil
		}
		return floatVal(a.float() / d), nil
	case a.isInt() && b.isInt():
		return intArith(op, a, b)
	case op == opcode.IntDiv:
		d := b.float()
		if d == 0 {
			return null, nil
		}
		q, err := floatToInt(math.Trunc(a.float() / d))
		return intVal(q), err
	}
	x, y := a.float(), b.float()
	switch op {
	case opcode.Plus:
		return floatVal(x + y), nil
	case opcode.Minus:
		return floatVal(x - y), nil
	case opcode.Mul:
		return floatVal(x * y), nil
	}
	if y == 0 { // Mod
		return null, nil
	}
	return floatVal(math.Mod(x, y)), nil
}

// intArith is integer arithmetic; the fast path covers operands that fit
// in int64, big.Int the rest.
func intArith(op opcode.Op, a, b val) (val, error) {
	unsigned := a.k == kUint || b.k == kUint
	x, xok := asInt64(a)
	y, yok := asInt64(b)
	if xok && yok {
		r, isNull, ok := int64Op(op, x, y)
		switch {
		case isNull:
			return null, nil
		case ok && !unsigned:
			return intVal(r), nil
		case ok && r >= 0:
			return uintVal(uint64(r)), nil
		case ok:
			return null, errUnsigned
		}
	}
	return bigArith(op, a, b, unsigned)
}

func asInt64(v val) (int64, bool) {
	if v.k == kUint {
		return int64(v.u), v.u <= math.MaxInt64
	}
	return v.i, true
}

// int64Op computes x op y; ok is false on overflow.
func int64Op(op opcode.Op, x, y int64) (r int64, isNull, ok bool) {
	switch op {
	case opcode.Plus:
		r = x + y
		return r, false, (x^r)&(y^r) >= 0
	case opcode.Minus:
		r = x - y
		return r, false, (x^y)&(x^r) >= 0
	case opcode.Mul:
		if x == 0 || y == 0 {
			return 0, false, true
		}
		r = x * y
		return r, false, r/y == x && !(x == -1 && y == math.MinInt64) && !(y == -1 && x == math.MinInt64)
	case opcode.IntDiv:
		if y == 0 {
			return 0, true, true
		}
		return x / y, false, !(x == math.MinInt64 && y == -1)
	}
	if y == 0 { // Mod
		return 0, true, true
	}
	if y == -1 {
		return 0, false, true
	}
	return x % y, false, true
}

// bigArith is the slow path of intArith.
func bigArith(op opcode.Op, a, b val, unsigned bool) (val, error) {
	x, y := bigOf(a), bigOf(b)
	var r big.Int
	switch op {
	case opcode.Plus:
		r.Add(x, y)
	case opcode.Minus:
		r.Sub(x, y)
	case opcode.Mul:
		r.Mul(x, y)
	default: // IntDiv, Mod: truncated, the remainder takes the dividend's sign
		if y.Sign() == 0 {
			return null, nil
		}
		var m big.Int
		r.QuoRem(x, y, &m)
		if op == opcode.Mod {
			r.Set(&m)
		}
	}
	if unsigned {
		if r.Sign() < 0 || !r.IsUint64() {
			return null, errUnsigned
		}
		return uintVal(r.Uint64()), nil
	}
	if !r.IsInt64() {
		return null, errBigint
	}
	return intVal(r.Int64()), nil
}

func bigOf(v val) *big.Int {
	if v.k == kUint {
		return new(big.Int).SetUint64(v.u)
	}
	return big.NewInt(v.i)
}

// unary compiles - + NOT !.
func (c *compiler) unary(x *ast.UnaryOperationExpr) (evalFn, error) {
	switch x.Op {
	case opcode.Minus, opcode.Plus, opcode.Not, opcode.Not2:
	default:
		return nil, unsupported("operator %s", opText(x.Op))
	}
	inner, err := c.expr(x.V)
	if err != nil {
		return nil, err
	}
	op := x.Op
	return func(row []any) (val, error) {
		v, err := inner(row)
		if err != nil {
			return null, err
		}
		switch op {
		case opcode.Minus:
			return negate(v)
		case opcode.Plus:
			return v, nil
		}
		return logicNot(v), nil
	}, nil
}

func negate(v val) (val, error) {
	switch v.k {
	case kNull:
		return null, nil
	case kInt:
		if v.i == math.MinInt64 {
			return null, errBigint
		}
		return intVal(-v.i), nil
	case kUint:
		if v.u > 1<<63 {
			return null, errBigint
		}
		return intVal(-int64(v.u)), nil
	}
	return floatVal(-v.float()), nil
}

func (c *compiler) isNull(x *ast.IsNullExpr) (evalFn, error) {
	inner, err := c.expr(x.Expr)
	if err != nil {
		return nil, err
	}
	not := x.Not
	return func(row []any) (val, error) {
		v, err := inner(row)
		if err != nil {
			return null, err
		}
		return boolVal((v.k == kNull) != not), nil
	}, nil
}

// isTruth compiles IS [NOT] TRUE / FALSE, which are never NULL.
func (c *compiler) isTruth(x *ast.IsTruthExpr) (evalFn, error) {
	inner, err := c.expr(x.Expr)
	if err != nil {
		return nil, err
	}
	want, not := x.True != 0, x.Not
	return func(row []any) (val, error) {
		v, err := inner(row)
		if err != nil {
			return null, err
		}
		b, ok := v.truth()
		return boolVal((ok && b == want) != not), nil
	}, nil
}

// between compiles [NOT] BETWEEN as x >= lo AND x <= hi.
func (c *compiler) between(x *ast.BetweenExpr) (evalFn, error) {
	fns, err := c.args([]ast.ExprNode{x.Expr, x.Left, x.Right})
	if err != nil {
		return nil, err
	}
	ge := comparison(opcode.GE, fns[0], fns[1])
	le := comparison(opcode.LE, fns[0], fns[2])
	and := logicAnd(ge, le)
	if !x.Not {
		return and, nil
	}
	return func(row []any) (val, error) {
		v, err := and(row)
		return logicNot(v), err
	}, nil
}

// in compiles [NOT] IN (list): true when an element equals the value,
// else NULL when the value or an element is NULL, else false.
func (c *compiler) in(x *ast.PatternInExpr) (evalFn, error) {
	if x.Sel != nil {
		return nil, unsupported("subquery")
	}
	inner, err := c.expr(x.Expr)
	if err != nil {
		return nil, err
	}
	list, err := c.args(x.List)
	if err != nil {
		return nil, err
	}
	not := x.Not
	return func(row []any) (val, error) {
		v, err := inner(row)
		if err != nil || v.k == kNull {
			return null, err
		}
		sawNull := false
		for _, fn := range list {
			e, err := fn(row)
			if err != nil {
				return null, err
			}
			cmp, isNull := compare(v, e)
			if isNull {
				sawNull = true
			} else if cmp == 0 {
				return boolVal(!not), nil
			}
		}
		if sawNull {
			return null, nil
		}
		return boolVal(not), nil
	}, nil
}

// caseExpr compiles CASE [value] WHEN ... THEN ... [ELSE ...] END.
func (c *compiler) caseExpr(x *ast.CaseExpr) (evalFn, error) {
	var subject evalFn
	if x.Value != nil {
		var err error
		if subject, err = c.expr(x.Value); err != nil {
			return nil, err
		}
	}
	whens := make([]evalFn, len(x.WhenClauses))
	thens := make([]evalFn, len(x.WhenClauses))
	for i, w := range x.WhenClauses {
		fns, err := c.args([]ast.ExprNode{w.Expr, w.Result})
		if err != nil {
			return nil, err
		}
		whens[i], thens[i] = fns[0], fns[1]
		if subject != nil {
			whens[i] = comparison(opcode.EQ, subject, fns[0])
		}
	}
	elseFn := constant(null)
	if x.ElseClause != nil {
		var err error
		if elseFn, err = c.expr(x.ElseClause); err != nil {
			return nil, err
		}
	}
	return func(row []any) (val, error) {
		for i, when := range whens {
			w, err := when(row)
			if err != nil {
				return null, err
			}
			if b, ok := w.truth(); ok && b {
				return thens[i](row)
			}
		}
		return elseFn(row)
	}, nil
}

// collate compiles expr COLLATE name: a binary collation (…_bin, binary)
// makes a string compare byte by byte, any other case-insensitively.
func (c *compiler) collate(x *ast.SetCollationExpr) (evalFn, error) {
	inner, err := c.expr(x.Expr)
	if err != nil {
		return nil, err
	}
	name := strings.ToLower(x.Collate)
	k := kStr
	if name == "binary" || strings.HasSuffix(name, "_bin") {
		k = kBin
	}
	return func(row []any) (val, error) {
		v, err := inner(row)
		if err != nil || v.k == kNull {
			return null, err
		}
		return val{k: k, s: v.text()}, nil
	}, nil
}
