package config

import (
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/dmnode/dmnode/core/exprfilter"
	"github.com/dmnode/dmnode/core/filter"
)

// DM's default online DDL rules: gh-ost's _t_gho and pt-osc's _t_new are
// shadow tables, gh-ost's _t_ghc and _t_del and pt-osc's _t_old trash
// tables. The first group captures the real table name.
const (
	DefaultShadowTableRule = "^_(.+)_(?:new|gho)$"
	DefaultTrashTableRule  = "^_(.+)_(?:ghc|del|old)$"
)

// checkFilters checks the task's binlog event filter rules.
func checkFilters(r *report, filters map[string]*FilterRule) {
	for _, name := range slices.Sorted(maps.Keys(filters)) {
		if rule := filters[name]; rule != nil {
			checkFilterRule(r, childPath("filters", name), rule)
		}
	}
}

// checkFilterRule checks one binlog event filter rule at path p.
func checkFilterRule(r *report, p string, rule *FilterRule) {
	required(r, p, "schema-pattern", rule.SchemaPattern)
	checkPattern(r, childPath(p, "schema-pattern"), rule.SchemaPattern)
	checkPattern(r, childPath(p, "table-pattern"), rule.TablePattern)
	kept := rule.Events[:0:0]
	defer func() { rule.Events = kept }()
	for i, name := range rule.Events {
		ip := indexPath(childPath(p, "events"), i)
		if !strings.EqualFold(strings.TrimSpace(name), "truncate") {
			kept = append(kept, name)
		}
		e, err := filter.ParseEvent(name)
		switch {
		case err != nil && strings.EqualFold(strings.TrimSpace(name), "truncate"):
			// DM's own test suite writes it; DM's event filter knows no
			// such event, so it matches nothing.
			r.warnf(ip, `matches nothing: "truncate" is no event name in DM either; write "truncate table"`)
		case err != nil && name == "":
			r.errorf(ip, "empty event name")
		case err != nil:
			r.errorf(ip, "unknown event %q%s", name, suggestEvent(name))
		case filter.Note(e) != "":
			r.warnf(ip, "never matches: %s", filter.Note(e))
		}
	}
	for i, expr := range rule.SQLPattern {
		if _, err := regexp.Compile(expr); err != nil {
			r.errorf(indexPath(childPath(p, "sql-pattern"), i), "invalid regular expression: %v", err)
		}
	}
	actionPath := childPath(p, "action")
	action, err := filter.ParseAction(rule.Action)
	switch {
	case rule.Action == "":
		r.errorf(actionPath, "required: Do, Ignore or Error")
	case err != nil:
		r.errorf(actionPath, "invalid value %q: must be Do, Ignore or Error (capitalized, as in DM)", rule.Action)
	case action == filter.Do && len(rule.Events) == 0:
		r.warnf(actionPath, "Do without events skips every event of the tables the rule covers, as in DM")
	case len(rule.Events) == 0 && len(rule.SQLPattern) == 0:
		r.warnf(p, "matches nothing: it has neither events nor sql-pattern")
	}
}

// suggestEvent returns ` (did you mean "NAME"?)` for the event name closest
// to an unknown one, or "" when none is close.
func suggestEvent(name string) string {
	best, bestDist := "", 3 // at most two edits away
	for _, e := range filter.Names() {
		if d := editDistance(name, string(e)); d < bestDist {
			best, bestDist = string(e), d
		}
	}
	if best == "" {
		return ""
	}
	return ` (did you mean "` + best + `"?)`
}

// checkExpressionFilters checks the task's expression filters: a table,
// one kind of row change, and expressions the evaluator supports.
func checkExpressionFilters(r *report, filters map[string]*ExpressionFilter) {
	for _, name := range slices.Sorted(maps.Keys(filters)) {
		f, p := filters[name], childPath("expression-filter", name)
		if f == nil {
			continue
		}
		required(r, p, "schema", f.Schema)
		required(r, p, "table", f.Table)
		exprs := []struct{ key, text string }{
			{"insert-value-expr", f.InsertValueExpr},
			{"update-old-value-expr", f.UpdateOldValueExpr},
			{"update-new-value-expr", f.UpdateNewValueExpr},
			{"delete-value-expr", f.DeleteValueExpr},
		}
		first := "" // key of the first kind of row change written
		for _, e := range exprs {
			if e.text == "" {
				continue
			}
			kp := childPath(p, e.key)
			if x, err := exprfilter.Parse(e.text); err != nil {
				r.errorf(kp, "%v", err)
			} else if x.ReadsClock() {
				r.warnf(kp, "reads the clock when the row change is filtered (UTC), as DM does when it "+
					"replicates it: a row change replayed later, after a restart, may be judged differently")
			}
			update := func(k string) bool { return k == "update-old-value-expr" || k == "update-new-value-expr" }
			switch {
			case first == "":
				first = e.key
			case update(first) && update(e.key):
			default:
				fp := childPath(p, first)
				r.errorf(kp, "conflicts with %s (line %d): a rule filters one kind of row change; write another rule",
					r.at(fp, "").Key, r.line(fp))
			}
		}
		if first == "" {
			r.errorf(p, "needs insert-value-expr, update-old-value-expr and/or update-new-value-expr, or delete-value-expr")
		}
	}
}

// checkOnlineDDL checks online-ddl and its rules and fills in DM's
// defaults: online-ddl is true unless written false, a deprecated
// online-ddl-scheme implies it, and empty rule lists get DM's rules.
func checkOnlineDDL(r *report, t *Task) {
	switch t.OnlineDDLScheme {
	case "":
	case "gh-ost", "pt":
		r.warnf("online-ddl-scheme", "deprecated in DM: write online-ddl: true, which recognises both tools")
		if r.has("online-ddl") && !t.OnlineDDL {
			r.errorf("online-ddl", "false contradicts online-ddl-scheme: %s (line %d): remove online-ddl-scheme",
				t.OnlineDDLScheme, r.line("online-ddl-scheme"))
		}
		t.OnlineDDL = true
	default:
		r.errorf("online-ddl-scheme", "invalid value %q: must be gh-ost or pt (deprecated: write online-ddl: true)", t.OnlineDDLScheme)
	}
	if !r.has("online-ddl") {
		t.OnlineDDL = true
	}
	checkTableRules(r, "shadow-table-rules", t.ShadowTableRules, DefaultShadowTableRule, t.OnlineDDL)
	checkTableRules(r, "trash-table-rules", t.TrashTableRules, DefaultTrashTableRule, t.OnlineDDL)
	if !t.OnlineDDL {
		return
	}
	if len(t.ShadowTableRules) == 0 {
		t.ShadowTableRules = []string{DefaultShadowTableRule}
	}
	if len(t.TrashTableRules) == 0 {
		t.TrashTableRules = []string{DefaultTrashTableRule}
	}
}

// checkTableRules checks shadow-table-rules or trash-table-rules and
// anchors them as DM does: a rule is matched against the whole table name
// (^ and $ are added when missing) and must have exactly one capture
// group, for the real table name.
func checkTableRules(r *report, key string, rules []string, example string, online bool) {
	if len(rules) > 0 && !online {
		r.warnf(key, "ignored: online-ddl is false")
	}
	for i, expr := range rules {
		ip := indexPath(key, i)
		anchored := AnchorTableRule(expr)
		re, err := regexp.Compile(anchored)
		switch {
		case err != nil:
			r.errorf(ip, "invalid regular expression: %v", err)
		case re.NumSubexp() != 1:
			r.errorf(ip, "must have exactly one capture group, for the real table name, as in %s", example)
		default:
			rules[i] = anchored
		}
	}
}

// AnchorTableRule anchors an online DDL table rule at both ends, as DM
// does, unless it already is.
func AnchorTableRule(expr string) string {
	if !strings.HasPrefix(expr, "^") {
		expr = "^" + expr
	}
	if !strings.HasSuffix(expr, "$") {
		expr += "$"
	}
	return expr
}
