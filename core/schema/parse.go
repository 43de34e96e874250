package schema

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/charset"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // literal values
)

// Errors returned by the tracker. Apply wraps them with the statement and
// the table concerned; branch with errors.Is.
var (
	// ErrSyntax: the statement could not be parsed.
	ErrSyntax = errors.New("syntax error")
	// ErrUnknownTable: the statement changes or copies a table the tracker
	// does not hold. The DDL is still reported and every other effect of
	// the statement is applied.
	ErrUnknownTable = errors.New("unknown table")
	// ErrMismatch: the statement does not fit the tracked schema (a column
	// to drop is missing, a column to add exists...). The table is left as
	// it was: the tracker has diverged from upstream.
	ErrMismatch = errors.New("statement does not match tracked schema")
	// ErrUnsupported: a valid statement whose effect the tracker cannot
	// compute, such as CREATE TABLE ... SELECT.
	ErrUnsupported = errors.New("unsupported statement")
)

var parserPool = sync.Pool{New: func() any { return parser.New() }}

// charsetMu guards the tidb parser's package-level charset and collation
// tables. The parser only knows the charsets TiDB supports and MySQL's
// collations; registerNames adds the ones an upstream statement names
// (cp1251, utf8mb4_uca1400_ai_ci, ...) under the write lock, and every parse
// in this package holds the read lock.
var (
	charsetMu       sync.RWMutex
	nextCollationID = 1 << 20 // above any real collation id
)

// Parse parses SQL text with the tidb parser the way the tracker does: the
// text is split into statements, those that are not DDL on data (triggers,
// grants, ...) are left out, MariaDB-only words (OR REPLACE, ALTER ONLINE)
// are removed, the charsets and collations it names are registered, other
// MariaDB and MySQL 8 spellings are rewritten on a retry, and the parser's
// shared tables are read under a lock. Every package that parses SQL uses
// it, so no parse races a registration.
func Parse(text string) ([]ast.StmtNode, error) {
	var out []ast.StmtNode
	for _, st := range splitStatements(text) {
		if st.class != classParse {
			continue
		}
		stmts, err := parseStatement(st.text)
		if err != nil {
			return nil, err
		}
		out = append(out, stmts...)
	}
	return out, nil
}

// ParseStatement parses one statement of any kind (a SELECT, say) under
// the parser lock, with the same retry as Parse but no classification.
func ParseStatement(text string) ([]ast.StmtNode, error) { return parseStatement(text) }

// parseStatement parses the text of one statement. When the parser rejects
// it, the text is retried once after compatRewrite.
func parseStatement(text string) ([]ast.StmtNode, error) {
	registerNames(lex(text))
	stmts, err := parseText(text)
	if err == nil {
		return stmts, nil
	}
	if alt, ok := compatRewrite(text); ok {
		if stmts, err2 := parseText(alt); err2 == nil {
			return stmts, nil
		}
	}
	return nil, fmt.Errorf("%w: %q: %v", ErrSyntax, truncate(text, 200), err)
}

// parses counts the texts given to the parser (Parses).
var parses atomic.Uint64

// Parses returns how many texts this process has given the TiDB parser:
// tests use it to prove that a path parses nothing, or how often.
func Parses() uint64 { return parses.Load() }

func parseText(text string) ([]ast.StmtNode, error) {
	parses.Add(1)
	p := parserPool.Get().(*parser.Parser)
	defer parserPool.Put(p)
	charsetMu.RLock()
	defer charsetMu.RUnlock()
	stmts, _, err := p.Parse(text, "", "")
	// The parser reuses the slice on its next parse: copy it out.
	return slices.Clone(stmts), err
}

// truncate shortens s to at most n runes for error messages.
func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "..."
}

// registerNames makes the charsets and collations named in toks known to the
// parser: names after CHARSET, CHARACTER SET and COLLATE.
func registerNames(toks []token) {
	var charsets, collations []string
	for i, t := range toks {
		w, j := t.upper(), i+1
		switch {
		case w == "CHARACTER" && j < len(toks) && toks[j].upper() == "SET":
			j++
		case w == "CHARSET" || w == "COLLATE":
		default:
			continue
		}
		if j < len(toks) && toks[j].text == "=" {
			j++
		}
		if j >= len(toks) || toks[j].kind == tokPunct {
			continue
		}
		name := strings.ToLower(toks[j].value())
		switch {
		case name == "default" || name == "binary":
		case w == "COLLATE":
			collations = append(collations, name)
		default:
			charsets = append(charsets, name)
		}
	}
	if allKnown(charsets, collations) {
		return
	}
	charsetMu.Lock()
	defer charsetMu.Unlock()
	for _, cs := range charsets {
		addCharset(cs)
	}
	for _, co := range collations {
		addCollation(co)
	}
}

func allKnown(charsets, collations []string) bool {
	charsetMu.RLock()
	defer charsetMu.RUnlock()
	for _, cs := range charsets {
		if _, err := charset.GetCharsetInfo(cs); err != nil {
			return false
		}
	}
	for _, co := range collations {
		if _, err := charset.GetCollationByName(co); err != nil {
			return false
		}
	}
	return true
}

// addCharset registers cs with the parser. Charsets MySQL has and TiDB does
// not are taken from the parser's own list; others are made up. Call with
// charsetMu held for writing.
func addCharset(cs string) {
	c, err := charset.GetCharsetInfo(cs)
	if err == nil {
		return
	}
	if c == nil {
		c = &charset.Charset{Name: cs, DefaultCollation: cs + "_general_ci",
			Collations: map[string]*charset.Collation{}, Desc: cs, Maxlen: 4}
	}
	charset.AddCharset(c)
}

// addCollation registers co with the parser, for the charset its name
// starts with. Call with charsetMu held for writing.
func addCollation(co string) {
	if _, err := charset.GetCollationByName(co); err == nil {
		return
	}
	cs, _, _ := strings.Cut(co, "_")
	if cs == "utf8mb3" {
		cs = charset.CharsetUTF8
	}
	addCharset(cs)
	pad := charset.PadSpace
	if strings.Contains(co, "nopad") || strings.Contains(co, "uca1400") || strings.Contains(co, "_0900_") {
		pad = charset.PadNone
	}
	charset.AddCollation(&charset.Collation{ID: nextCollationID, CharsetName: cs, Name: co,
		Sortlen: 1, PadAttribute: pad})
	nextCollationID++
}

// standInPrefix marks a column whose type the tidb parser lacks. The type is
// parsed as LONGBLOB with this attribute, and restored to its name by
// restoreStandIns.
const standInPrefix = "dmnode:type:"

// standInTypes are column types of MariaDB and MySQL the tidb parser lacks.
var standInTypes = map[string]bool{
	"uuid": true, "inet4": true, "inet6": true,
	"geometry": true, "point": true, "linestring": true, "polygon": true,
	"multipoint": true, "multilinestring": true, "multipolygon": true,
	"geometrycollection": true, "geomcollection": true,
}

// compatDrop are words of MariaDB and MySQL 8 that do not change the
// columns or keys and that the tidb parser rejects: invisible columns,
// ignored indexes, lock waits.
var compatDrop = map[string]bool{"INVISIBLE": true, "IGNORED": true, "NOWAIT": true}

// compatRewrite rewrites what the tidb parser rejects in a MariaDB or MySQL
// 8 statement into something it accepts with the same columns and keys. It
// reports whether anything changed. What it drops is lost from CreateSQL.
func compatRewrite(text string) (string, bool) {
	toks := lex(text)
	var b strings.Builder
	last, changed := 0, false
	cut := func(from, to int, with string) { // replace toks[from:to]
		b.WriteString(text[last:toks[from].start])
		b.WriteString(with)
		last, changed = toks[to-1].end, true
	}
	for i := 0; i < len(toks); i++ {
		w := toks[i].upper()
		next, prev := tokenAt(toks, i+1), tokenAt(toks, i-1)
		switch {
		case compatDrop[w]:
			cut(i, i+1, " ")
		case w == "PERSISTENT": // MariaDB's STORED
			cut(i, i+1, " STORED ")
		case strings.HasPrefix(w, "_") && next.kind == tokString && isUnsupportedCharset(w[1:]):
			cut(i, i+1, " ") // the parser takes introducers of its own charsets only
		case w == "START" && next.upper() == "TRANSACTION": // MySQL 8 CREATE ... SELECT
			cut(i, i+2, " ")
			i++
		case (w == "WAIT" || w == "SRID") && next.kind == tokWord:
			cut(i, i+2, " ")
			i++
		case (w == "WITH" || w == "WITHOUT") && next.upper() == "SYSTEM" &&
			tokenAt(toks, i+2).upper() == "VERSIONING":
			cut(i, i+3, " ")
			i += 2
		case w == "ROW_FORMAT" && (next.upper() == "PAGE" || tokenAt(toks, i+2).upper() == "PAGE"):
			n := 2
			if next.text == "=" {
				n = 3
			}
			cut(i, i+n, " ")
			i += n - 1
		case w == "COMPRESSED" && prev.text != "=" && prev.upper() != "ROW_FORMAT":
			n := 1 // MariaDB: COMPRESSED[=method]
			if next.text == "=" {
				n = 3
			}
			cut(i, i+n, " ")
			i += n - 1
		case w == "SPATIAL" && (next.upper() == "KEY" || next.upper() == "INDEX") && prev.upper() != "CREATE":
			cut(i, i+1, " ")
		case standInTypes[strings.ToLower(w)] && next.text != "(" && isColumnName(prev):
			cut(i, i+1, " LONGBLOB SECONDARY_ENGINE_ATTRIBUTE '"+standInPrefix+strings.ToLower(w)+"' ")
		}
	}
	if !changed {
		return text, false
	}
	b.WriteString(text[last:])
	return b.String(), true
}

// isUnsupportedCharset reports whether cs is a MySQL charset TiDB lacks.
func isUnsupportedCharset(cs string) bool {
	charsetMu.RLock()
	defer charsetMu.RUnlock()
	c, err := charset.GetCharsetInfo(cs)
	return c != nil && err != nil
}

func tokenAt(toks []token, i int) token {
	if i < 0 || i >= len(toks) {
		return token{kind: tokPunct}
	}
	return toks[i]
}

// notColumnName are words after which a name is not a column being defined.
var notColumnName = map[string]bool{
	"KEY": true, "INDEX": true, "CONSTRAINT": true, "TABLE": true, "DROP": true,
	"AFTER": true, "TO": true, "AS": true, "ON": true, "REFERENCES": true, "COLUMN": true,
	"DEFAULT": true, "SET": true, "FIRST": true, "USING": true, "COMMENT": true,
	"ADD": true, "MODIFY": true, "CHANGE": true, "EXISTS": true, "BY": true,
}

// isColumnName reports whether prev looks like the name in a column
// definition: a name, not a word such as KEY, DROP or AFTER.
func isColumnName(prev token) bool {
	return prev.kind == tokIdent || (prev.kind == tokWord && !notColumnName[prev.upper()])
}
