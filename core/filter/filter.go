package filter

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/pattern"
)

// Action is what the filter decides for an event.
type Action int

const (
	Do     Action = iota // apply the event
	Ignore               // skip the event
	Error                // stop: a rule forbids the event
)

func (a Action) String() string {
	switch a {
	case Do:
		return "Do"
	case Ignore:
		return "Ignore"
	case Error:
		return "Error"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// ParseAction reads a rule's action, spelled as in DM: Do, Ignore or Error.
func ParseAction(s string) (Action, error) {
	switch s {
	case "Do":
		return Do, nil
	case "Ignore":
		return Ignore, nil
	case "Error":
		return Error, nil
	case "":
		return 0, errors.New("action is required: Do, Ignore or Error")
	}
	return 0, fmt.Errorf("invalid action %q: must be Do, Ignore or Error (capitalized, as in DM)", s)
}

// Rule is one binlog event filter rule: an entry of a task's filters or of
// a source's filters.
type Rule struct {
	Name          string // names the rule in decisions and errors
	SchemaPattern string // required
	TablePattern  string // empty: every table of the schema, and the schema itself
	Events        []string
	SQLPattern    []string // regular expressions matched against DDL text, case-insensitively
	Action        string   // Do, Ignore or Error
	CaseSensitive bool     // match schema and table names case-sensitively
}

// rule is a compiled Rule.
type rule struct {
	name          string
	schema, table pattern.Pattern
	hasTable      bool // has a table-pattern
	schemaAll     bool // schema-pattern is "*"
	events        []Event
	sql           *regexp.Regexp // nil without sql-pattern
	action        Action
	ddl           bool // may decide about a DDL statement
}

// Filter is a compiled set of event filter rules. It is immutable and safe
// for concurrent use; a nil *Filter applies everything.
type Filter struct {
	rules []rule
	ddl   bool // some rule may decide about a DDL statement
}

// New compiles rules, in order. The error joins every problem, each naming
// its rule.
func New(rules []Rule) (*Filter, error) {
	f := &Filter{}
	var errs []error
	for _, in := range rules {
		r, ruleErrs := compileRule(in)
		for _, err := range ruleErrs {
			errs = append(errs, fmt.Errorf("filter rule %q: %w", in.Name, err))
		}
		if len(ruleErrs) > 0 {
			continue
		}
		f.rules = append(f.rules, r)
		f.ddl = f.ddl || r.ddl
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f, nil
}

func compileRule(in Rule) (rule, []error) {
	r := rule{name: in.Name, hasTable: in.TablePattern != "", schemaAll: in.SchemaPattern == "*"}
	var errs []error
	var err error
	if in.SchemaPattern == "" {
		errs = append(errs, errors.New("schema-pattern is required"))
	} else if r.schema, err = pattern.Compile(in.SchemaPattern, in.CaseSensitive); err != nil {
		errs = append(errs, fmt.Errorf("schema-pattern: %w", err))
	}
	if r.hasTable {
		if r.table, err = pattern.Compile(in.TablePattern, in.CaseSensitive); err != nil {
			errs = append(errs, fmt.Errorf("table-pattern: %w", err))
		}
	}
	for i, name := range in.Events {
		e, err := ParseEvent(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("events[%d]: %w", i, err))
			continue
		}
		r.events = append(r.events, e)
		r.ddl = r.ddl || !isDMLOnly(e)
	}
	if r.sql, err = CompileSQLPatterns(in.SQLPattern); err != nil {
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			errs = append(errs, joined.Unwrap()...)
		} else {
			errs = append(errs, err)
		}
	}
	if r.action, err = ParseAction(in.Action); err != nil {
		errs = append(errs, err)
	}
	r.ddl = r.ddl || r.sql != nil || r.action == Do
	return r, errs
}

// CompileSQLPatterns compiles the sql-pattern list of a rule into one
// case-insensitive regular expression that matches when any of them does,
// as DM does; nil for an empty list.
func CompileSQLPatterns(patterns []string) (*regexp.Regexp, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	parts := make([]string, len(patterns))
	var errs []error
	for i, p := range patterns {
		if _, err := regexp.Compile(p); err != nil {
			errs = append(errs, fmt.Errorf("sql-pattern[%d]: %w", i, err))
		}
		parts[i] = "(?:" + p + ")"
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return regexp.Compile("(?i)" + strings.Join(parts, "|"))
}

// applies reports whether the rule covers schema.table; table "" is the
// schema itself, covered by rules without a table-pattern or with "*".
// Schema "" is a statement nothing is known about, covered only by rules
// whose schema-pattern is "*".
func (r *rule) applies(schema, table string) bool {
	switch {
	case schema == "":
		return r.schemaAll && (!r.hasTable || r.table.String() == "*")
	case !r.schema.Match(schema):
		return false
	case !r.hasTable:
		return true
	case table == "":
		return r.table.String() == "*"
	}
	return r.table.Match(table)
}

// subject is an event as the rules see it; nil for a statement that could
// not be classified.
type subject struct {
	event Event
	also  []Event
}

// selects reports whether the rule's events list selects s. The list is
// read in order and the first group word that applies decides, as in DM:
// "none" before "insert" selects nothing.
func (r *rule) selects(s *subject) bool {
	ddl := isDDL(s.event)
	for _, e := range r.events {
		switch {
		case e == All:
			return true
		case e == None:
			return false
		case e == AllDDL && ddl, e == IncompatibleDDLChanges && Incompatible(s.event):
			return true
		case e == NoneDDL && ddl:
			return false
		case e == AllDML && !ddl:
			return true
		case e == NoneDML && !ddl:
			return false
		case e == s.event:
			return true
		}
		for _, a := range s.also {
			if e == a {
				return true
			}
		}
	}
	return false
}

// verdict is what the rule says about s with statement text sql ("" for a
// row event): ok is false when the rule lets it through. A Do rule lets
// through only what its events select and, for DDL when it has a
// sql-pattern, what the pattern matches; Ignore and Error rules act on
// what their events select or their pattern matches.
func (r *rule) verdict(s *subject, sql string) (a Action, ok bool) {
	if s != nil {
		switch sel := r.selects(s); {
		case sel && r.action != Do:
			return r.action, true
		case !sel && r.action == Do:
			return Ignore, true
		}
	}
	if sql != "" && r.sql != nil {
		switch m := r.sql.MatchString(sql); {
		case m && r.action != Do:
			return r.action, true
		case !m && r.action == Do:
			return Ignore, true
		}
	}
	return Do, false
}

// decide combines the verdicts of the rules that cover schema.table:
// Ignore beats Error beats Do. It returns the first rule, in order, with
// the winning verdict.
func (f *Filter) decide(schema, table string, s *subject, sql string) (Action, string) {
	act, name := Do, ""
	for i := range f.rules {
		r := &f.rules[i]
		if !r.applies(schema, table) {
			continue
		}
		a, ok := r.verdict(s, sql)
		switch {
		case !ok:
		case a == Ignore:
			return Ignore, r.name
		case act == Do:
			act, name = a, r.name
		}
	}
	return act, name
}

var dmlEvents = [...]Event{dmnode.Insert: Insert, dmnode.Update: Update, dmnode.Delete: Delete}

// DML decides about a row change of schema.table and names the rule that
// decided ("" for Do).
func (f *Filter) DML(schema, table string, kind dmnode.ChangeKind) (Action, string) {
	if f == nil || int(kind) >= len(dmlEvents) || dmlEvents[kind] == "" {
		return Do, ""
	}
	return f.decide(schema, table, &subject{event: dmlEvents[kind]}, "")
}

// DDL decides about the text of a QUERY event executed with default
// database currentDB; it is DDLWith without a table lookup.
func (f *Filter) DDL(currentDB, stmt string) (Action, string, error) {
	return f.DDLWith(currentDB, stmt, nil)
}

// DDLWith decides about the text of a QUERY event, classified with
// ClassifyDDLWith(currentDB, stmt, before), and names the rule that
// decided; see Decide.
func (f *Filter) DDLWith(currentDB, stmt string, before TableLookup) (Action, string, error) {
	d, err := f.Decide(currentDB, stmt, before)
	return d.Action, d.Rule, err
}

// Decision is the outcome of Decide.
type Decision struct {
	Action Action
	Rule   string   // the rule that decided; "" for Do
	Part   DDLEvent // the part decided about; zero when decided on the text alone
}

// Decide decides about the text of a QUERY event executed with default
// database currentDB. Each part (see ClassifyDDLWith) is decided on its
// own; the statement is stopped (Error) when a part is, else skipped
// (Ignore) when a part is, else applied. A statement that yields no part is
// decided by MatchSQL.
//
// Call it for the statements the schema tracker does not skip, before the
// tracker applies the statement (before must describe the tables as they
// were). Without rules that can decide about DDL it returns Do without
// parsing. A statement the parser cannot read is decided by MatchSQL; when
// that applies it, the error wraps ErrSyntax, since no other rule could be
// checked.
func (f *Filter) Decide(currentDB, stmt string, before TableLookup) (Decision, error) {
	if f == nil || !f.ddl {
		return Decision{}, nil
	}
	parts, err := ClassifyDDLWith(currentDB, stmt, before)
	return f.decideParts(stmt, parts, err)
}

// DecideEvents is Decide for a statement already classified (ClassifyNodes,
// or the classification relayed with it: RelayedEvents), with no parse of
// its own.
func (f *Filter) DecideEvents(stmt string, parts []DDLEvent) (Decision, error) {
	if f == nil || !f.ddl {
		return Decision{}, nil
	}
	return f.decideParts(stmt, parts, nil)
}

// decideParts decides about stmt from its parts; err is the error of
// reading them.
func (f *Filter) decideParts(stmt string, parts []DDLEvent, err error) (Decision, error) {
	if err != nil || len(parts) == 0 {
		a, name := f.MatchSQL(stmt)
		if a == Do && err != nil {
			return Decision{}, fmt.Errorf("filter DDL: %w (only rules with schema-pattern \"*\" and a sql-pattern can match it)", err)
		}
		return Decision{Action: a, Rule: name}, nil
	}
	var d Decision
	for _, p := range parts {
		a, name := f.decide(p.Schema, p.Table, &subject{event: p.Event, also: p.Also}, stmt)
		switch {
		case a == Error:
			return Decision{Action: Error, Rule: name, Part: p}, nil
		case a == Ignore && d.Action == Do:
			d = Decision{Action: Ignore, Rule: name, Part: p}
		}
	}
	return d, nil
}

// MatchSQL decides about statement text alone, as DM does for a statement
// it cannot parse: only rules whose schema-pattern is "*" (with no
// table-pattern, or "*") apply, and only through their sql-pattern.
func (f *Filter) MatchSQL(stmt string) (Action, string) {
	if f == nil {
		return Do, ""
	}
	return f.decide("", "", nil, stmt)
}
