package exprfilter

import (
	"strings"
	"unicode/utf8"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// likeTok is one element of a LIKE pattern.
type likeTok struct {
	kind uint8 // likeLit, likeOne, likeAny
	r    rune
}

const (
	likeLit = iota // the rune r
	likeOne        // _: any one character
	likeAny        // %: any run of characters
)

// compileLike splits a LIKE pattern into tokens: % and _ are wildcards, the
// escape character makes the next character literal (at the end, it is
// literal itself).
func compileLike(pat string, escape rune) []likeTok {
	toks := make([]likeTok, 0, len(pat))
	for i := 0; i < len(pat); {
		r, n := utf8.DecodeRuneInString(pat[i:])
		i += n
		switch {
		case r == escape && i < len(pat):
			r, n = utf8.DecodeRuneInString(pat[i:])
			i += n
			toks = append(toks, likeTok{kind: likeLit, r: r})
		case r == '%':
			if len(toks) == 0 || toks[len(toks)-1].kind != likeAny {
				toks = append(toks, likeTok{kind: likeAny})
			}
		case r == '_':
			toks = append(toks, likeTok{kind: likeOne})
		default:
			toks = append(toks, likeTok{kind: likeLit, r: r})
		}
	}
	return toks
}

// likeMatch matches s against the tokens, backtracking to the last % on a
// mismatch; characters are runes, compared exactly.
func likeMatch(toks []likeTok, s string) bool {
	ti, si := 0, 0
	starTok, starStr := -1, 0
	for {
		if ti < len(toks) && toks[ti].kind == likeAny {
			starTok, starStr = ti, si
			ti++
			continue
		}
		if si == len(s) {
			return ti == len(toks)
		}
		r, n := utf8.DecodeRuneInString(s[si:])
		if ti < len(toks) && (toks[ti].kind == likeOne || toks[ti].r == r) {
			ti++
			si += n
			continue
		}
		if starTok < 0 {
			return false
		}
		// Let the last % swallow one more character and retry after it.
		_, n = utf8.DecodeRuneInString(s[starStr:])
		starStr += n
		ti, si = starTok+1, starStr
	}
}

// like compiles [NOT] LIKE and TiDB's [NOT] ILIKE. LIKE compares as the
// operands' collation does: case-insensitively unless one is a binary
// string; ILIKE always case-insensitively. A constant pattern is compiled
// once.
func (c *compiler) like(x *ast.PatternLikeOrIlikeExpr) (evalFn, error) {
	subject, err := c.expr(x.Expr)
	if err != nil {
		return nil, err
	}
	pattern, err := c.expr(x.Pattern)
	if err != nil {
		return nil, err
	}
	escape := rune(x.Escape)
	fold := !x.IsLike
	var constFold, constExact []likeTok
	if s, ok := constString(x.Pattern); ok {
		constExact = compileLike(s, escape)
		constFold = compileLike(strings.ToLower(s), lowerRune(escape))
	}
	not := x.Not
	return func(row []any) (val, error) {
		v, err := subject(row)
		if err != nil || v.k == kNull {
			return null, err
		}
		p, err := pattern(row)
		if err != nil || p.k == kNull {
			return null, err
		}
		binary := !fold && (v.k == kBin || p.k == kBin)
		toks, s := constFold, strings.ToLower(v.text())
		if binary {
			toks, s = constExact, v.text()
		}
		if toks == nil {
			ps, esc := p.text(), escape
			if !binary {
				ps, esc = strings.ToLower(ps), lowerRune(escape)
			}
			toks = compileLike(ps, esc)
		}
		return boolVal(likeMatch(toks, s) != not), nil
	}, nil
}

func lowerRune(r rune) rune {
	return []rune(strings.ToLower(string(r)))[0]
}
