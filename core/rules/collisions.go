package rules

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dmnode/dmnode/core/sqlgen"
)

// CheckCollisions takes the plans of every upstream table of a task (all
// sources) and reports, before any data moves, each pair of upstream
// tables routed to the same target table whose partition ids on the same
// column would fall in the same range: equal prefixes, as when t_01 and t_1
// both parse as table id 1, or when two sources share one rule and so one
// instance id. Prefixes are multiples of 2^44 and every original value is
// below 2^44, so ranges are either equal or disjoint. Tables whose extracted
// column values differ are told apart by those columns and are not
// reported. Plans without partition id are not checked here (see
// AutoIncrementClashes), and a plan passed twice is counted once. The
// error names both tables of every collision.
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
			quoteTable(p.TargetSchema, p.TargetTable), sqlgen.QuoteIdent(p.mapping.column),
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

// PartitionIDColumn returns the column the plan's partition id mapping
// writes, "" when no partition id applies to the table.
func (p *TablePlan) PartitionIDColumn() string {
	if p.mapping == nil || p.mapping.expr != exprPartitionID {
		return ""
	}
	return p.mapping.column
}

// Clash is a target table into which several upstream tables write rows
// whose auto-increment keys nothing keeps apart: the same id from two of
// them is the same target row.
type Clash struct {
	TargetSchema, TargetTable string
	// Tables are the plans of the clashing upstream tables, in the order
	// given; Columns holds the auto-increment key column of each.
	Tables  []*TablePlan
	Columns []string
}

// AutoIncrementClashes takes the plans of every upstream table of a task
// and reports each target table that merges two or more upstream tables
// with an auto-increment key column not kept apart, the complement of
// CheckCollisions. autoInc returns the auto-increment column that is part
// of a table's primary or unique key, "" when it has none. extraInKey
// reports whether the extracted columns of a plan join the keys of its
// target table: true when dmnode creates the table, false for a
// pre-created one whose keys lack them.
//
// A table's ids are kept apart by a partition id mapping on the column
// (whose collisions CheckCollisions reports), or by extracted columns in
// the key with values no other table of the target shares. A plan passed
// twice is counted once.
func AutoIncrementClashes(plans []*TablePlan, autoInc func(*TablePlan) string, extraInKey func(*TablePlan) bool) []Clash {
	type upstream struct{ source, schema, table string }
	type group struct{ target, extra string }
	seen := make(map[upstream]bool)
	members := make(map[group][]int) // indexes into plans
	var order []group
	for i, p := range plans {
		if p == nil {
			continue
		}
		u := upstream{p.Source, p.Schema, p.Table}
		if seen[u] {
			continue
		}
		seen[u] = true
		col := autoInc(p)
		if col == "" || strings.EqualFold(p.PartitionIDColumn(), col) {
			continue
		}
		g := group{target: strings.ToLower(p.TargetSchema) + "\x00" + strings.ToLower(p.TargetTable)}
		if len(p.Extra) > 0 && extraInKey(p) {
			g.extra = extraKey(p)
		}
		if members[g] == nil {
			order = append(order, g)
		}
		members[g] = append(members[g], i)
	}
	var out []Clash
	for _, g := range order {
		idx := members[g]
		if len(idx) < 2 {
			continue
		}
		c := Clash{TargetSchema: plans[idx[0]].TargetSchema, TargetTable: plans[idx[0]].TargetTable}
		for _, i := range idx {
			c.Tables = append(c.Tables, plans[i])
			c.Columns = append(c.Columns, autoInc(plans[i]))
		}
		out = append(out, c)
	}
	return out
}
