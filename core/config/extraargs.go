package config

import (
	"fmt"
	"strconv"
	"strings"
)

// DM hands a mydumper configuration's extra-args to dumpling's command
// line parser (DM's dumpling flag set: -B, -T, -t, -F, -s, --consistency,
// --snapshot, -W, -r, --where, --escape-backslash, -f, --ca, --cert, --key,
// --no-locks, --transactional-consistency); what it sets there overrides
// the configuration's keys. dmnode parses the same flags: those with an
// equal in dmnode's dumper set its settings, those without meaning for a
// streamed dump are accepted with a warning or a note, and the rest are
// refused by name.

// dumpArgs is what an extra-args string sets.
type dumpArgs struct {
	threads, rows, statementSize int
	where                        *string
	databases, tables            []string
}

// argFinding is one finding about an extra-args flag.
type argFinding struct {
	level int // argError, argWarn or argNote
	msg   string
}

const (
	argError = iota
	argWarn
	argNote
)

// dumpFlag describes one flag of DM's dumpling flag set.
type dumpFlag struct {
	long, short string
	boolean     bool
	// set applies the value; it returns a finding's level and message, or
	// level -1 for none.
	set func(a *dumpArgs, v string) (int, string)
}

func intFlag(target func(*dumpArgs) *int) func(*dumpArgs, string) (int, string) {
	return func(a *dumpArgs, v string) (int, string) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return argError, fmt.Sprintf("invalid value %q: must be a non-negative integer", v)
		}
		*target(a) = n
		return -1, ""
	}
}

func listFlag(target func(*dumpArgs) *[]string) func(*dumpArgs, string) (int, string) {
	return func(a *dumpArgs, v string) (int, string) {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*target(a) = append(*target(a), s)
			}
		}
		return -1, ""
	}
}

func constant(level int, msg string) func(*dumpArgs, string) (int, string) {
	return func(*dumpArgs, string) (int, string) { return level, msg }
}

var dumpFlags = []dumpFlag{
	{long: "database", short: "B", set: func(a *dumpArgs, v string) (int, string) {
		listFlag(func(a *dumpArgs) *[]string { return &a.databases })(a, v)
		return argNote, "the dump reads only these schemas, and only tables the block-allow-list also allows " +
			"(DM's dumpling would read them outside it too); the binlog follows the block-allow-list"
	}},
	{long: "tables-list", short: "T", set: func(a *dumpArgs, v string) (int, string) {
		var tables []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			if strings.Count(s, ".") != 1 || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") {
				// Dumpling refuses the list; DM logs that and goes on
				// without it.
				return argWarn, fmt.Sprintf("ignored, as DM does: %q is not schema.table, so dumpling refuses "+
					"the list and DM dumps the tables of the block-allow-list", s)
			}
			tables = append(tables, s)
		}
		a.tables = append(a.tables, tables...)
		return argNote, "the dump reads only these tables, and only if the block-allow-list also allows them " +
			"(DM's dumpling would read them outside it too); the binlog follows the block-allow-list"
	}},
	{long: "threads", short: "t", set: intFlag(func(a *dumpArgs) *int { return &a.threads })},
	{long: "filesize", short: "F", set: constant(argWarn, "ignored: dmnode splits tables into chunks of rows (rows), not files")},
	{long: "chunk-filesize", set: constant(argWarn, "ignored: dmnode splits tables into chunks of rows (rows), not files")},
	{long: "statement-size", short: "s", set: func(a *dumpArgs, v string) (int, string) {
		if level, msg := intFlag(func(a *dumpArgs) *int { return &a.statementSize })(a, v); level >= 0 {
			return level, msg
		}
		return argWarn, fmt.Sprintf("the loader sends INSERT statements of at most %d bytes of rows "+
			"(at least one row each), and no LOAD DATA", a.statementSize)
	}},
	{long: "rows", short: "r", set: intFlag(func(a *dumpArgs) *int { return &a.rows })},
	{long: "where", set: func(a *dumpArgs, v string) (int, string) {
		a.where = &v
		return -1, ""
	}},
	{long: "consistency", set: func(_ *dumpArgs, v string) (int, string) {
		switch v {
		case "auto", "snapshot", "flush", "lock":
			return argWarn, "ignored: dmnode's dump is always one consistent snapshot (FLUSH TABLES WITH READ LOCK, then START TRANSACTION WITH CONSISTENT SNAPSHOT)"
		case "none":
			return argNote, "consistent snapshot taken anyway: dmnode's dump always takes one, briefly holding FLUSH TABLES WITH READ LOCK"
		}
		return argError, fmt.Sprintf("invalid value %q: must be auto, none, flush, lock or snapshot", v)
	}},
	{long: "no-locks", boolean: true, set: constant(argNote,
		"consistent snapshot taken anyway: dmnode's dump always takes one, briefly holding FLUSH TABLES WITH READ LOCK")},
	{long: "transactional-consistency", boolean: true, set: constant(argWarn,
		"ignored: dmnode releases the read lock as soon as its readers' snapshots are open, which is what it asks for")},
	{long: "escape-backslash", boolean: true, set: constant(argWarn, "ignored: "+whyNoDumpFiles)},
	{long: "no-views", short: "W", boolean: true, set: constant(argWarn, "ignored: dmnode dumps tables only, never views")},
	{long: "snapshot", set: constant(argError, "not supported: dmnode takes its own snapshot; remove the flag")},
	{long: "filter", short: "f", set: constant(argError, "not supported: write the tables in block-allow-list (or --tables-list)")},
	{long: "ca", set: constant(argError, whyTLSBlock)},
	{long: "cert", set: constant(argError, whyTLSBlock)},
	{long: "key", set: constant(argError, whyTLSBlock)},
}

// whyTLSBlock refuses mydumper's TLS flags: every connection to a source,
// the dump's included, takes its TLS settings from the source's
// from.security block.
const whyTLSBlock = "not supported: TLS to the source is set by the source's from.security block (ssl-ca, ssl-cert, ssl-key), which the dump uses too"

func findFlag(name string, long bool) *dumpFlag {
	for i := range dumpFlags {
		f := &dumpFlags[i]
		if (long && f.long == name) || (!long && f.short != "" && f.short == name) {
			return f
		}
	}
	return nil
}

// parseExtraArgs parses an extra-args string as DM does (split like a
// shell command line, then dumpling's flags).
func parseExtraArgs(text string) (dumpArgs, []argFinding) {
	var a dumpArgs
	var out []argFinding
	words, err := splitArgs(text)
	if err != nil {
		return a, []argFinding{{argError, err.Error()}}
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		var name, value string
		var long, hasValue bool
		switch {
		case strings.HasPrefix(w, "--") && len(w) > 2:
			long = true
			name, value, hasValue = strings.Cut(w[2:], "=")
		case strings.HasPrefix(w, "-") && len(w) > 1 && !strings.HasPrefix(w, "--"):
			name = w[1:2]
			if len(w) > 2 {
				value, hasValue = strings.TrimPrefix(w[2:], "="), true
			}
		default:
			out = append(out, argFinding{argError, fmt.Sprintf("%q: not a flag (dumpling takes no arguments)", w)})
			continue
		}
		f := findFlag(name, long)
		if f == nil {
			out = append(out, argFinding{argError, fmt.Sprintf("%s: unknown or unsupported dumpling flag", w)})
			continue
		}
		shown := "--" + f.long
		switch {
		case f.boolean && hasValue:
			b, err := strconv.ParseBool(value)
			if err != nil {
				out = append(out, argFinding{argError, fmt.Sprintf("%s: invalid value %q: must be true or false", shown, value)})
				continue
			}
			if !b {
				continue
			}
		case f.boolean:
		case !hasValue:
			if i+1 >= len(words) {
				out = append(out, argFinding{argError, fmt.Sprintf("%s: needs a value", shown)})
				continue
			}
			i++
			value = words[i]
		}
		if level, msg := f.set(&a, value); level >= 0 {
			out = append(out, argFinding{level, shown + ": " + msg})
		}
	}
	return a, out
}

// splitArgs splits a command line as a shell does: words separated by
// blanks, with '…' and "…" quoting and \ escaping one character.
func splitArgs(s string) ([]string, error) {
	var words []string
	var b strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, c := range s {
		switch {
		case escaped:
			b.WriteRune(c)
			escaped = false
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' {
				escaped = true
			} else {
				b.WriteRune(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\':
			escaped, inWord = true, true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, b.String())
				b.Reset()
				inWord = false
			}
		default:
			b.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, b.String())
	}
	return words, nil
}
