// Package pattern matches schema and table names against the patterns of
// TiDB DM's rules: wildcards (`*` any run of characters, `?` one character,
// `[...]` a character class, `[!...]` or `[^...]` negated) matched against
// the whole name, or Go regular expressions when the pattern starts with
// `~`, matched anywhere in the name. Matching is case-insensitive unless
// asked otherwise.
//
// The package is pure and a compiled Pattern is immutable and safe for
// concurrent use.
package pattern

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// patternKind selects how a pattern is matched; the simple kinds avoid the
// regexp engine for the common "name" and "prefix*" patterns.
type patternKind uint8

const (
	patternExact  patternKind = iota // no wildcard: whole-name comparison
	patternAny                       // "*"
	patternPrefix                    // literal followed by one trailing "*"
	patternRegexp                    // anything else, or "~regexp"
)

// Pattern is one compiled schema or table pattern. The zero Pattern
// matches only the empty name.
type Pattern struct {
	raw  string
	kind patternKind
	lit  string // exact name or prefix
	fold bool   // compare case-insensitively
	re   *regexp.Regexp
}

// Compile compiles a wildcard pattern, or a Go regular expression when p
// starts with "~".
func Compile(p string, caseSensitive bool) (Pattern, error) {
	pat := Pattern{raw: p, fold: !caseSensitive}
	flags := ""
	if !caseSensitive {
		flags = "(?i)"
	}
	if expr, ok := strings.CutPrefix(p, "~"); ok {
		re, err := regexp.Compile(flags + expr)
		if err != nil {
			return Pattern{}, fmt.Errorf("pattern %q: %w", p, err)
		}
		pat.kind, pat.re = patternRegexp, re
		return pat, nil
	}
	meta := strings.IndexAny(p, "*?[")
	switch {
	case meta < 0:
		pat.kind, pat.lit = patternExact, p
		return pat, nil
	case p == "*":
		pat.kind = patternAny
		return pat, nil
	case meta == len(p)-1 && p[meta] == '*' && (caseSensitive || isASCII(p)):
		pat.kind, pat.lit = patternPrefix, p[:meta]
		return pat, nil
	}
	expr, err := wildcardToRegexp(p)
	if err != nil {
		return Pattern{}, fmt.Errorf("pattern %q: %w", p, err)
	}
	re, err := regexp.Compile(flags + expr)
	if err != nil {
		return Pattern{}, fmt.Errorf("pattern %q: %w", p, err)
	}
	pat.kind, pat.re = patternRegexp, re
	return pat, nil
}

// String returns the pattern as written.
func (p *Pattern) String() string { return p.raw }

// Match reports whether name matches the pattern.
func (p *Pattern) Match(name string) bool {
	switch p.kind {
	case patternAny:
		return true
	case patternExact:
		if p.fold {
			return strings.EqualFold(name, p.lit)
		}
		return name == p.lit
	case patternPrefix:
		if len(name) < len(p.lit) {
			return false
		}
		if p.fold {
			return strings.EqualFold(name[:len(p.lit)], p.lit)
		}
		return name[:len(p.lit)] == p.lit
	default:
		return p.re.MatchString(name)
	}
}

// wildcardToRegexp translates a wildcard pattern into an anchored regular
// expression: "*" any run, "?" one character, "[...]" a class.
func wildcardToRegexp(p string) (string, error) {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for i := 0; i < len(p); {
		switch p[i] {
		case '*':
			b.WriteString(`.*`)
			i++
		case '?':
			b.WriteString(`.`)
			i++
		case '[':
			n, err := writeClass(&b, p[i:])
			if err != nil {
				return "", err
			}
			i += n
		default:
			_, size := utf8.DecodeRuneInString(p[i:])
			b.WriteString(regexp.QuoteMeta(p[i : i+size]))
			i += size
		}
	}
	b.WriteString(`)$`)
	return b.String(), nil
}

// writeClass translates the character class at the start of s ("[...]",
// "[!...]" or "[^...]"; a "]" right after the opening bracket is literal)
// and returns the number of bytes consumed.
func writeClass(b *strings.Builder, s string) (int, error) {
	i := 1
	b.WriteByte('[')
	if i < len(s) && (s[i] == '!' || s[i] == '^') {
		b.WriteByte('^')
		i++
	}
	first := true
	for i < len(s) {
		c := s[i]
		if c == ']' && !first {
			b.WriteByte(']')
			return i + 1, nil
		}
		first = false
		if c == '\\' || c == '[' || c == ']' || c == '^' {
			b.WriteByte('\\')
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		b.WriteString(s[i : i+size])
		i += size
	}
	return 0, fmt.Errorf("unterminated character class %q", s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
