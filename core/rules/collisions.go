package rules

import (
	"errors"
	"fmt"
	"strings"
)

// CheckCollisions takes the plans of every upstream table of a task (all
// sources) and reports, before any data moves, each pair of upstream
// tables routed to the same target table whose partition ids on the same
// column would fall in the same range: equal prefixes, as when t_01 and t_1
// both parse as table id 1, or when two sources share one rule and so one
// instance id. Prefixes are multiples of 2^44 and every original value is
// below 2^44, so ranges are either equal or disjoint. Tables whose extracted
// column values differ are told apart by those columns and are not
// reported. Plans without partition id are not checked here, and a plan
// passed twice is counted once. The error names both tables of every
// collision.
func CheckCollisions(plans []*TablePlan) error {
	type upstream struct{ source, schema, table string }
	type key struct {
		targetSchema, targetTable, column string
		prefix                            int64
		extra                             string
	}
	first := make(map[key]*TablePlan)
	seen := make(map[upstream]bool)
	var errs []error
	for _, p := range plans {
		if p == nil || p.mapping == nil || p.mapping.expr != exprPartitionID {
			continue
		}
		u := upstream{p.Source, p.Schema, p.Table}
		if seen[u] {
			continue
		}
		seen[u] = true
		k := key{
			targetSchema: strings.ToLower(p.TargetSchema),
			targetTable:  strings.ToLower(p.TargetTable),
			column:       strings.ToLower(p.mapping.column),
			prefix:       p.mapping.prefix,
			extra:        extraKey(p),
		}
		q, ok := first[k]
		if !ok {
			first[k] = p
			continue
		}
		errs = append(errs, fmt.Errorf(
			"partition id collision in target %s column %s: source %q table %s and source %q table %s both map ids to [%d, %d] (%s)",
			quoteTable(p.TargetSchema, p.TargetTable), quoteName(p.mapping.column),
			q.Source, quoteTable(q.Schema, q.Table), p.Source, quoteTable(p.Schema, p.Table),
			p.mapping.prefix, p.mapping.prefix|(maxOriginal-1), p.mapping.ids))
	}
	return errors.Join(errs...)
}

// extraKey identifies the extracted columns and values of a plan.
func extraKey(p *TablePlan) string {
	var b strings.Builder
	for i, name := range p.Extra {
		fmt.Fprintf(&b, "%s\x00%v\x00", strings.ToLower(name), p.extra[i])
	}
	return b.String()
}
