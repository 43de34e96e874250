// Package sqltext handles SQL as text without parsing it: splitting a
// multi-statement query, and writing statements one to a line.
package sqltext

import "strings"

// LogEnv names the environment variable that, when set to a file path,
// makes a dmnode process record the shape of each distinct statement it
// sends to a target database, one statement a line (EscapeLine). The
// end-to-end tests set it and check every statement with TiDB's parser.
const LogEnv = "DMNODE_TARGET_SQL_LOG"

// SplitStatements splits a multi-statement query at the semicolons outside
// quoted strings, quoted identifiers and comments; it drops empty
// statements.
func SplitStatements(query string) []string {
	var out []string
	start := 0
	add := func(end int) {
		if s := strings.TrimSpace(query[start:end]); s != "" {
			out = append(out, s)
		}
	}
	for i := 0; i < len(query); i++ {
		switch c := query[i]; {
		case c == '\'' || c == '"' || c == '`':
			i = quotedEnd(query, i)
		case c == '-' && strings.HasPrefix(query[i:], "-- "), c == '#':
			if j := strings.IndexByte(query[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(query)
			}
		case c == '/' && strings.HasPrefix(query[i:], "/*"):
			if j := strings.Index(query[i+2:], "*/"); j >= 0 {
				i += j + 3
			} else {
				i = len(query)
			}
		case c == ';':
			add(i)
			start = i + 1
		}
	}
	if start < len(query) {
		add(len(query))
	}
	return out
}

// quotedEnd returns the index of the quote that closes the one at i: a
// doubled quote stands for itself, and in strings a backslash escapes the
// next byte.
func quotedEnd(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q && j+1 < len(s) && s[j+1] == q:
			j++
		case s[j] == q:
			return j
		}
	}
	return len(s) - 1
}

// EscapeLine makes one line of a statement: backslashes and newlines
// are escaped. UnescapeLine reverses it.
func EscapeLine(q string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`).Replace(q)
}

// UnescapeLine reverses EscapeLine.
func UnescapeLine(line string) string {
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		if line[i] != '\\' || i+1 == len(line) {
			b.WriteByte(line[i])
			continue
		}
		i++
		switch line[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			b.WriteByte(line[i])
		}
	}
	return b.String()
}

// RefuseEnv names the environment variable that makes the statement
// recorder (LogEnv) of a dmnode process answer like TiDB on a target that
// reports a TiDB version: it refuses, with TiDB's error codes and texts,
// the DDL core/tidb's table says TiDB refuses, and, when the value is
// txn-limit=BYTES, any transaction whose statements exceed BYTES (TiDB's
// 8004, as txn-total-size-limit). The end-to-end tests set it for a
// TiDB-shaped MariaDB target.
const RefuseEnv = "DMNODE_TARGET_REFUSE_LIKE_TIDB"
