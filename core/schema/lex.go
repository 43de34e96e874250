package schema

import "strings"

// This file holds a small MySQL tokenizer. It does not parse: it finds
// statement boundaries and the leading words of a statement, so that the
// tracker can skip statements the tidb parser does not understand (stored
// programs, XA, account management) and smooth over a few MariaDB and MySQL
// 8 spellings before the real parse.

type tokKind int

const (
	tokWord   tokKind = iota // unquoted identifier, keyword or number
	tokIdent                 // `quoted identifier`
	tokString                // 'string' or "string"
	tokPunct                 // any other single byte
)

type token struct {
	kind       tokKind
	text       string // raw text, quotes included
	start, end int    // byte offsets into the scanned text
}

// upper returns the token's text upper-cased when it is a word, "" otherwise.
func (t token) upper() string {
	if t.kind != tokWord {
		return ""
	}
	return strings.ToUpper(t.text)
}

// value returns the token's text without quotes.
func (t token) value() string {
	switch t.kind {
	case tokIdent:
		return strings.ReplaceAll(t.text[1:len(t.text)-1], "``", "`")
	case tokString:
		return t.text[1 : len(t.text)-1]
	}
	return t.text
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 ||
		('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

// lex splits s into tokens. Comments are dropped, except that the content of
// executable comments (/*!50100 ... */, /*M!100301 ... */) is scanned as code,
// as the server does. An unterminated quote or comment runs to the end.
func lex(s string) []token {
	var toks []token
	inExec := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '#' || (c == '-' && strings.HasPrefix(s[i:], "--") && (i+2 == len(s) || isSpace(s[i+2]))):
			i = skipLine(s, i)
		case inExec && strings.HasPrefix(s[i:], "*/"):
			inExec = false
			i += 2
		case strings.HasPrefix(s[i:], "/*!") || strings.HasPrefix(s[i:], "/*M!"):
			i += strings.IndexByte(s[i:], '!') + 1
			for i < len(s) && '0' <= s[i] && s[i] <= '9' {
				i++
			}
			inExec = true
		case strings.HasPrefix(s[i:], "/*"):
			if j := strings.Index(s[i+2:], "*/"); j >= 0 {
				i += j + 4
			} else {
				i = len(s)
			}
		case c == '`' || c == '\'' || c == '"':
			j := skipQuoted(s, i)
			kind := tokString
			if c == '`' {
				kind = tokIdent
			}
			toks = append(toks, token{kind: kind, text: s[i:j], start: i, end: j})
			i = j
		case isWordByte(c):
			j := i + 1
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, token{kind: tokWord, text: s[i:j], start: i, end: j})
			i = j
		default:
			toks = append(toks, token{kind: tokPunct, text: s[i : i+1], start: i, end: i + 1})
			i++
		}
	}
	return toks
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func skipLine(s string, i int) int {
	if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(s)
}

// skipQuoted returns the offset just past the quoted token starting at i.
// A doubled quote is part of the token; so is a backslash escape, except in
// backquoted identifiers.
func skipQuoted(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q && j+1 < len(s) && s[j+1] == q:
			j++
		case s[j] == q:
			return j + 1
		}
	}
	return len(s)
}

// stmtClass says what the tracker does with a statement before parsing it.
type stmtClass int

const (
	classParse    stmtClass = iota // hand it to the parser
	classSkip                      // not DDL on data: skip this statement
	classSkipRest                  // a stored program: skip it and all that follows
)

// leadSkip are first words of statements that never change table schemas.
var leadSkip = map[string]bool{
	"BEGIN": true, "COMMIT": true, "ROLLBACK": true, "SAVEPOINT": true, "RELEASE": true,
	"START": true, "XA": true, "GRANT": true, "REVOKE": true, "FLUSH": true, "SET": true,
	"ANALYZE": true, "OPTIMIZE": true, "REPAIR": true, "CHECK": true, "CHECKSUM": true,
	"INSTALL": true, "UNINSTALL": true, "RESET": true, "PURGE": true, "KILL": true,
	"SHOW": true, "USE": true, "LOCK": true, "UNLOCK": true, "HANDLER": true, "DO": true,
	"SHUTDOWN": true, "CACHE": true, "HELP": true, "DESCRIBE": true, "DESC": true,
	"EXPLAIN": true, "SELECT": true, "BINLOG": true, "CHANGE": true, "STOP": true,
}

// objectSkip are objects of CREATE/ALTER/DROP/RENAME that are not tables.
var objectSkip = map[string]bool{
	"USER": true, "ROLE": true, "VIEW": true, "SERVER": true, "TABLESPACE": true,
	"LOGFILE": true, "RESOURCE": true, "SYNONYM": true, "PLACEMENT": true,
	"TRIGGER": true, "PROCEDURE": true, "FUNCTION": true, "EVENT": true, "PACKAGE": true,
}

// objectBody are objects whose CREATE/ALTER may carry a body with semicolons.
var objectBody = map[string]bool{
	"TRIGGER": true, "PROCEDURE": true, "FUNCTION": true, "EVENT": true, "PACKAGE": true,
}

// classified is the outcome of looking at the leading words of a statement.
type classified struct {
	class     stmtClass
	orReplace bool   // MariaDB CREATE OR REPLACE, removed from text
	text      string // the statement to parse, possibly rewritten
}

// classify looks at the leading words of one statement. It removes the
// MariaDB-only words OR REPLACE (recorded in orReplace) and ALTER
// ONLINE/IGNORE, which the tidb parser rejects.
func classify(text string, toks []token) classified {
	out := classified{text: text}
	if len(toks) == 0 {
		out.class = classSkip
		return out
	}
	lead := toks[0].upper()
	switch {
	case lead == "BEGIN" && len(toks) > 1 && toks[1].upper() == "NOT":
		out.class = classSkipRest // BEGIN NOT ATOMIC ... END
		return out
	case lead == "LOAD" && len(toks) > 1 && toks[1].upper() == "INDEX":
		out.class = classSkip
		return out
	case leadSkip[lead]:
		out.class = classSkip
		return out
	case lead != "CREATE" && lead != "ALTER" && lead != "DROP" && lead != "RENAME":
		return out
	}
	var cut []token
	// Skip the modifiers between CREATE/ALTER/DROP and the object word; the
	// loop ends at the first word that is not a modifier.
	i := 1
	for i < len(toks) {
		w := toks[i].upper()
		next := ""
		if i+1 < len(toks) {
			next = toks[i+1].upper()
		}
		switch {
		case w == "OR" && next == "REPLACE":
			out.orReplace = true
			cut = append(cut, toks[i], toks[i+1])
			i += 2
			continue
		case w == "DEFINER":
			i = skipUser(toks, i+1)
			continue
		case w == "ALGORITHM" || (w == "SQL" && next == "SECURITY"):
			i += 3
			continue
		case (w == "ONLINE" || w == "OFFLINE" || w == "IGNORE") && lead == "ALTER":
			cut = append(cut, toks[i])
			i++
			continue
		case w == "AGGREGATE" || w == "TEMPORARY" || w == "UNIQUE" || w == "FULLTEXT" ||
			(w == "SPATIAL" && next != "REFERENCE"):
			i++
			continue
		case w == "SPATIAL":
			out.class = classSkip
			return out
		case objectBody[w] && lead != "DROP":
			out.class = classSkipRest
			return out
		case objectSkip[w]:
			out.class = classSkip
			return out
		}
		break // the object word: TABLE, INDEX, DATABASE, SEQUENCE...
	}
	out.text = cutTokens(text, cut)
	return out
}

// skipUser skips "= user[@host]" or "= CURRENT_USER[()]" starting at the "=".
func skipUser(toks []token, i int) int {
	if i < len(toks) && toks[i].text == "=" {
		i++
	}
	if i < len(toks) && toks[i].upper() == "CURRENT_USER" {
		i++
		if i+1 < len(toks) && toks[i].text == "(" && toks[i+1].text == ")" {
			i += 2
		}
		return i
	}
	i++ // user name
	if i+1 < len(toks) && toks[i].text == "@" {
		i += 2
	}
	return i
}

// cutTokens returns text with the given tokens replaced by a space.
func cutTokens(text string, cut []token) string {
	if len(cut) == 0 {
		return text
	}
	var b strings.Builder
	last := 0
	for _, t := range cut {
		b.WriteString(text[last:t.start])
		b.WriteByte(' ')
		last = t.end
	}
	b.WriteString(text[last:])
	return b.String()
}

// splitStatements splits a query into statements at top-level semicolons and
// classifies each. A stored program swallows the rest of the text, since its
// body holds semicolons of its own.
func splitStatements(sql string) []classified {
	toks := lex(sql)
	var out []classified
	from, first := 0, 0 // byte offset and token index where the statement starts
	for i := 0; i <= len(toks); i++ {
		if i < len(toks) && (toks[i].kind != tokPunct || toks[i].text != ";") {
			continue
		}
		to := len(sql)
		if i < len(toks) {
			to = toks[i].start
		}
		if i > first {
			text := sql[from:to]
			c := classify(text, shift(toks[first:i], from))
			if c.class == classSkipRest {
				c.text = sql[from:]
				return append(out, c)
			}
			out = append(out, c)
		}
		if i < len(toks) {
			from, first = toks[i].end, i+1
		}
	}
	return out
}

// shift returns copies of toks with offsets made relative to from.
func shift(toks []token, from int) []token {
	out := make([]token, len(toks))
	for i, t := range toks {
		t.start -= from
		t.end -= from
		out[i] = t
	}
	return out
}
