package rules

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/exprfilter"
	"github.com/dmnode/dmnode/core/filter"
)

// ErrForbidden is wrapped by the errors of FilterDML and FilterDDL for an
// event that a binlog event filter rule with action Error matches: the task
// must stop until an operator changes the rules or skips the event.
var ErrForbidden = errors.New("forbidden by a binlog event filter rule")

// compileFilters compiles the event filter of one instance: the task's
// rules in the order the instance lists them, then the source's.
func compileFilters(task *config.Task, inst *config.Instance, src *config.Source) (*filter.Filter, error) {
	var in []filter.Rule
	var errs []error
	seen := make(map[string]bool)
	for _, name := range inst.FilterRules {
		rule := task.Filters[name]
		switch {
		case seen[name]:
			errs = append(errs, fmt.Errorf("filter rule %q is listed twice", name))
			continue
		case rule == nil:
			errs = append(errs, fmt.Errorf("filter rule %q is not defined", name))
			continue
		}
		seen[name] = true
		in = append(in, filterRule(name, rule, task.CaseSensitive))
	}
	if src != nil {
		for i, rule := range src.Filters {
			if rule != nil {
				in = append(in, filterRule(fmt.Sprintf("source filters[%d]", i), rule, src.CaseSensitive))
			}
		}
	}
	f, err := filter.New(in)
	return f, errors.Join(append(errs, err)...)
}

func filterRule(name string, r *config.FilterRule, caseSensitive bool) filter.Rule {
	return filter.Rule{
		Name: name, SchemaPattern: r.SchemaPattern, TablePattern: r.TablePattern,
		Events: r.Events, SQLPattern: r.SQLPattern, Action: r.Action, CaseSensitive: caseSensitive,
	}
}

// FilterDML reports whether the binlog event filter skips a row change of
// the upstream table schema.table. The error, for a rule with action Error,
// wraps ErrForbidden and names the rule, the event and the table.
func (r *Rules) FilterDML(schema, table string, kind dmnode.ChangeKind) (skip bool, err error) {
	a, rule := r.filter.DML(schema, table, kind)
	switch a {
	case filter.Ignore:
		return true, nil
	case filter.Error:
		return false, fmt.Errorf("source %q table %s: %s %w %q", r.source, quoteTable(schema, table), kind, ErrForbidden, rule)
	}
	return false, nil
}

// FilterDDL reports whether the binlog event filter skips the text of a
// QUERY event executed with default database currentDB. It is
// FilterDDLWith without the tables' current definitions, so every MODIFY
// or CHANGE COLUMN counts as "modify column".
func (r *Rules) FilterDDL(currentDB, stmt string) (skip bool, err error) {
	return r.FilterDDLWith(currentDB, stmt, nil)
}

// FilterDDLWith is FilterDDL with before giving the CREATE TABLE of a table
// as it is before the statement (the schema tracker's Table.CreateSQL), so
// that MODIFY and CHANGE COLUMN are classified as DM does. Call it for the
// statements the schema tracker does not skip, before the tracker applies
// the statement; a skipped statement must still be applied to the tracker.
// Errors: ErrForbidden for a rule with action Error, naming the rule, the
// event and the table; filter.ErrSyntax for a statement the filter cannot
// parse while rules about DDL exist (see filter.Filter.Decide).
func (r *Rules) FilterDDLWith(currentDB, stmt string, before filter.TableLookup) (skip bool, err error) {
	d, err := r.filter.Decide(currentDB, stmt, before)
	return r.ddlDecision(stmt, d, err)
}

// FilterDDLEvents is FilterDDL for a statement already classified: parts
// are its parts as filter.ClassifyDDL reads them, or as the tailer relays
// them with the statement (filter.RelayedEvents). It parses nothing.
func (r *Rules) FilterDDLEvents(stmt string, parts []filter.DDLEvent) (skip bool, err error) {
	d, err := r.filter.DecideEvents(stmt, parts)
	return r.ddlDecision(stmt, d, err)
}

func (r *Rules) ddlDecision(stmt string, d filter.Decision, err error) (skip bool, _ error) {
	if err != nil {
		return false, fmt.Errorf("source %q: %w", r.source, err)
	}
	switch d.Action {
	case filter.Ignore:
		return true, nil
	case filter.Error:
		what := "statement"
		if d.Part.Event != "" {
			what = fmt.Sprintf("%s on %s", d.Part.Event, describeTable(d.Part.Schema, d.Part.Table))
		}
		return false, fmt.Errorf("source %q: %s %w %q: %s", r.source, what, ErrForbidden, d.Rule, truncate(stmt, 200))
	}
	return false, nil
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "..."
	}
	return s
}

// OnlineKind classifies a table name for online schema change tools.
type OnlineKind uint8

const (
	OnlineReal   OnlineKind = iota // an ordinary table
	OnlineShadow                   // a ghost table the tool fills and renames over the real one (_t_gho, _t_new)
	OnlineTrash                    // a table the tool creates for itself (_t_ghc, _t_del, _t_old)
)

func (k OnlineKind) String() string {
	switch k {
	case OnlineShadow:
		return "shadow"
	case OnlineTrash:
		return "trash"
	}
	return "real"
}

// onlineRules are the compiled shadow-table-rules and trash-table-rules.
type onlineRules struct {
	shadow, trash []*regexp.Regexp
}

// compileOnline compiles the online DDL rules of a task; nil when
// online-ddl is false. Empty lists get DM's defaults; rules are anchored
// at both ends, as DM does.
func compileOnline(task *config.Task) (*onlineRules, error) {
	if !task.OnlineDDL {
		return nil, nil
	}
	o := &onlineRules{}
	var errs []error
	compile := func(key string, exprs []string, dflt string) []*regexp.Regexp {
		if len(exprs) == 0 {
			exprs = []string{dflt}
		}
		var out []*regexp.Regexp
		for i, expr := range exprs {
			re, err := regexp.Compile(config.AnchorTableRule(expr))
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s[%d]: %w", key, i, err))
			case re.NumSubexp() != 1:
				errs = append(errs, fmt.Errorf("%s[%d] %q: must have exactly one capture group, for the real table name", key, i, expr))
			default:
				out = append(out, re)
			}
		}
		return out
	}
	o.shadow = compile("shadow-table-rules", task.ShadowTableRules, config.DefaultShadowTableRule)
	o.trash = compile("trash-table-rules", task.TrashTableRules, config.DefaultTrashTableRule)
	return o, errors.Join(errs...)
}

// OnlineTable classifies an upstream table name: a shadow or trash table of
// an online schema change tool, with the name of the real table it stands
// for (the capture group of the matching rule), or a real table
// (always, when online-ddl is false). Shadow rules are tried first, as in
// DM. The real table's rules (block/allow list, filters, routes) are the
// ones that apply to a shadow table's DDL.
func (r *Rules) OnlineTable(table string) (kind OnlineKind, real string) {
	if r.online == nil {
		return OnlineReal, table
	}
	for _, set := range []struct {
		kind OnlineKind
		res  []*regexp.Regexp
	}{{OnlineShadow, r.online.shadow}, {OnlineTrash, r.online.trash}} {
		for _, re := range set.res {
			if m := re.FindStringSubmatch(table); m != nil && m[1] != "" {
				return set.kind, m[1]
			}
		}
	}
	return OnlineReal, table
}

// exprFilter is one compiled expression-filter rule.
type exprFilter struct {
	name          string
	schema, table string
	insert        *exprfilter.Expr
	updateOld     *exprfilter.Expr
	updateNew     *exprfilter.Expr
	delete        *exprfilter.Expr
}

// compileExprFilters parses the expression filters an instance lists.
func compileExprFilters(task *config.Task, inst *config.Instance) ([]*exprFilter, error) {
	var out []*exprFilter
	var errs []error
	seen := make(map[string]bool)
	for _, name := range inst.ExpressionFilters {
		ef := task.ExpressionFilters[name]
		switch {
		case seen[name]:
			errs = append(errs, fmt.Errorf("expression filter %q is listed twice", name))
			continue
		case ef == nil:
			errs = append(errs, fmt.Errorf("expression filter %q is not defined", name))
			continue
		}
		seen[name] = true
		f := &exprFilter{name: name, schema: ef.Schema, table: ef.Table}
		parse := func(key, text string) *exprfilter.Expr {
			if text == "" {
				return nil
			}
			e, err := exprfilter.Parse(text)
			if err != nil {
				errs = append(errs, fmt.Errorf("expression filter %q %s: %w", name, key, err))
			}
			return e
		}
		f.insert = parse("insert-value-expr", ef.InsertValueExpr)
		f.updateOld = parse("update-old-value-expr", ef.UpdateOldValueExpr)
		f.updateNew = parse("update-new-value-expr", ef.UpdateNewValueExpr)
		f.delete = parse("delete-value-expr", ef.DeleteValueExpr)
		if ef.Schema == "" || ef.Table == "" {
			errs = append(errs, fmt.Errorf("expression filter %q: schema and table are required", name))
		}
		out = append(out, f)
	}
	return out, errors.Join(errs...)
}

// rowFilter is an expression filter bound to a table's columns.
type rowFilter struct {
	name                              string
	insert, updateOld, updateNew, del exprfilter.Cond
}

// bindExprFilters binds the expression filters of schema.table to its
// columns. The schema and table of a rule are names, not patterns,
// compared case-insensitively unless the task is case-sensitive.
func (r *Rules) bindExprFilters(schema, table string, columns []string) ([]rowFilter, error) {
	same := strings.EqualFold
	if r.caseSensitive {
		same = func(a, b string) bool { return a == b }
	}
	var out []rowFilter
	for _, f := range r.exprFilters {
		if !same(f.schema, schema) || !same(f.table, table) {
			continue
		}
		rf := rowFilter{name: f.name}
		var errs []error
		bind := func(key string, e *exprfilter.Expr) exprfilter.Cond {
			if e == nil {
				return nil
			}
			c, err := e.Bind(columns)
			if err != nil {
				errs = append(errs, fmt.Errorf("expression filter %q %s: %w", f.name, key, err))
			}
			return c
		}
		rf.insert = bind("insert-value-expr", f.insert)
		rf.updateOld = bind("update-old-value-expr", f.updateOld)
		rf.updateNew = bind("update-new-value-expr", f.updateNew)
		rf.del = bind("delete-value-expr", f.delete)
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		out = append(out, rf)
	}
	return out, nil
}

// match evaluates the filter on a row change: insert on the new row,
// delete on the old, update on both (the conditions that are given, ANDed).
// A filter without a condition for the kind does not match.
func (f *rowFilter) match(kind dmnode.ChangeKind, before, after []any) (bool, error) {
	switch kind {
	case dmnode.Insert:
		if f.insert != nil {
			return f.insert(after)
		}
	case dmnode.Delete:
		if f.del != nil {
			return f.del(before)
		}
	case dmnode.Update:
		if f.updateOld == nil && f.updateNew == nil {
			return false, nil
		}
		if f.updateOld != nil {
			if ok, err := f.updateOld(before); !ok || err != nil {
				return false, err
			}
		}
		if f.updateNew != nil {
			return f.updateNew(after)
		}
		return true, nil
	}
	return false, nil
}

// DropRow reports whether an expression filter of the table drops a row
// change: the row change matches a rule of the task's expression-filter
// that names this table. before and after are upstream rows, in the
// column order the plan was built for (before empty for inserts, after
// for deletes). Expression filters apply to binlog row changes only, not
// to the rows of the full copy, as in DM. An error means a condition could
// not be evaluated on the row (an integer overflow, a row of another
// width): the row cannot be replicated faithfully.
func (p *TablePlan) DropRow(kind dmnode.ChangeKind, before, after []any) (bool, error) {
	for i := range p.rowFilters {
		f := &p.rowFilters[i]
		drop, err := f.match(kind, before, after)
		if err != nil {
			return false, fmt.Errorf("source %q table %s: expression filter %q: %w",
				p.Source, quoteTable(p.Schema, p.Table), f.name, err)
		}
		if drop {
			return true, nil
		}
	}
	return false, nil
}

// FiltersRows reports whether DropRow can drop anything, so that callers
// may skip it.
func (p *TablePlan) FiltersRows() bool { return len(p.rowFilters) > 0 }
