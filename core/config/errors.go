package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/token"
)

// Error is one finding in a task or source file. Error() prints it as
// "FILE:LINE:COL: KEY: MESSAGE"; LINE:COL is left out when the position is
// unknown (a required key that is missing at top level) and KEY when the
// finding is not about one key (a YAML syntax error).
type Error struct {
	File   string
	Line   int // 1-based; 0 when unknown
	Column int // 1-based; 0 when unknown
	Key    string
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	if e.Key != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(e.Key)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// keyInfo is where a key was written, and how: keys are looked up by their
// canonical path (block-allow-list) but shown as written (black-white-list).
type keyInfo struct {
	line, col int
	shown     string
}

// report collects the findings about one file. Paths are written like
// "routes.r1.schema-pattern" and "mysql-instances[0].route-rules[1]".
type report struct {
	file  string
	keys  map[string]keyInfo // canonical path → position of its key
	bad   map[string]bool    // paths with a structural error: later checks skip them
	errs  []*Error
	warns []*Error
	notes []*Error // also in warns
}

func newReport(file string) *report {
	if file == "-" {
		file = "<stdin>"
	}
	return &report{file: file, keys: map[string]keyInfo{}, bad: map[string]bool{}}
}

// record notes the position of the key at path p (shown as shown).
func (r *report) record(p, shown string, pos *token.Position) {
	if pos == nil {
		r.keys[p] = keyInfo{shown: shown}
		return
	}
	r.keys[p] = keyInfo{line: pos.Line, col: pos.Column, shown: shown}
}

// has reports whether the key at path p was written in the file.
func (r *report) has(p string) bool {
	_, ok := r.keys[p]
	return ok
}

// line is the line of the key at path p, or of its nearest written ancestor.
func (r *report) line(p string) int {
	return r.at(p, "").Line
}

// at builds a finding about path p: the position is that of p or, for a
// missing key, of its nearest ancestor that was written.
func (r *report) at(p, msg string) *Error {
	e := &Error{File: r.file, Key: p, Msg: msg}
	suffix := ""
	for q := p; q != ""; {
		if k, ok := r.keys[q]; ok {
			e.Line, e.Column, e.Key = k.line, k.col, k.shown+suffix
			break
		}
		parent := parentPath(q)
		suffix = q[len(parent):] + suffix
		q = parent
	}
	return e
}

// skipped reports whether p or one of its ancestors already has a
// structural error, so that a bad value is not reported a second time as,
// say, a missing one.
func (r *report) skipped(p string) bool {
	for q := p; q != ""; q = parentPath(q) {
		if r.bad[q] {
			return true
		}
	}
	return false
}

// errorf records an error about path p unless p already has a structural error.
func (r *report) errorf(p, format string, args ...any) {
	if r.skipped(p) {
		return
	}
	r.errs = append(r.errs, r.at(p, fmt.Sprintf(format, args...)))
}

// badf records a structural error about path p (unknown key, wrong type):
// later checks of p and of the keys under it are skipped.
func (r *report) badf(p, format string, args ...any) {
	r.errorf(p, format, args...)
	r.bad[p] = true
}

// warnf records a warning about path p.
func (r *report) warnf(p, format string, args ...any) {
	r.warns = append(r.warns, r.at(p, fmt.Sprintf(format, args...)))
}

// notef records a key accepted with dmnode's nearest behaviour: a warning
// that task status also shows.
func (r *report) notef(p, format string, args ...any) {
	e := r.at(p, fmt.Sprintf(format, args...))
	r.warns = append(r.warns, e)
	r.notes = append(r.notes, e)
}

// syntax records an error of the YAML parser or decoder.
func (r *report) syntax(msg string, pos *token.Position) {
	e := &Error{File: r.file, Msg: msg}
	if pos != nil {
		e.Line, e.Column = pos.Line, pos.Column
	}
	r.errs = append(r.errs, e)
}

// err joins the errors, in file order, or returns nil when there are none.
func (r *report) err() error {
	errs := sortFindings(r.errs)
	joined := make([]error, len(errs))
	for i, e := range errs {
		joined[i] = e
	}
	return errors.Join(joined...)
}

// warnings returns the warnings as text, in file order.
func (r *report) warnings() []string { return texts(r.warns) }

// notesText returns the notes as text, in file order.
func (r *report) notesText() []string { return texts(r.notes) }

func texts(es []*Error) []string {
	var out []string
	for _, w := range sortFindings(es) {
		out = append(out, w.Error())
	}
	return out
}

// sortFindings orders findings by position (unknown positions first) and
// drops exact repeats, which YAML aliases can produce.
func sortFindings(in []*Error) []*Error {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Key, b.Key), cmp.Compare(a.Msg, b.Msg))
	})
	return slices.CompactFunc(out, func(a, b *Error) bool { return *a == *b })
}

// parentPath strips the last element of a path: "a.b[2]" → "a.b" → "a" → "".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// childPath is the path of key k under p.
func childPath(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}

// indexPath is the path of element i of the list at p.
func indexPath(p string, i int) string {
	return p + "[" + strconv.Itoa(i) + "]"
}
