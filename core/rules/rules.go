package rules

import (
	"errors"
	"fmt"

	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/filter"
)

// Rules are the compiled table rules of one task for one of its sources.
// A Rules value is immutable and safe for concurrent use.
type Rules struct {
	task          string
	source        string
	caseSensitive bool

	ba           *baList  // nil: every non-system table is migrated
	tableRoutes  []*route // rules with a table-pattern, in the instance's order
	schemaRoutes []*route
	tableMaps    []*columnMapping
	schemaMaps   []*columnMapping

	filter      *filter.Filter // binlog event filter; never nil
	exprFilters []*exprFilter
	online      *onlineRules // nil when online-ddl is false
}

// Compile builds the rules of one task for one of its instances (source).
// src is the instance's source file, or nil: it adds the source's binlog
// event filter rules, matched with the source's case-sensitive (the task's
// own rules use the task's). It checks every rule the instance references
// and returns all problems found, joined, each naming the rule and key at
// fault.
func Compile(task *config.Task, inst *config.Instance, src *config.Source) (*Rules, error) {
	if task == nil || inst == nil {
		return nil, errors.New("compile rules: task and instance are required")
	}
	if src != nil && src.SourceID != inst.SourceID {
		return nil, fmt.Errorf("compile rules of task %q: instance of source %q given source file of %q",
			task.Name, inst.SourceID, src.SourceID)
	}
	r := &Rules{task: task.Name, source: inst.SourceID, caseSensitive: task.CaseSensitive}
	var errs []error
	var err error
	r.filter, err = compileFilters(task, inst, src)
	errs = append(errs, err)
	r.exprFilters, err = compileExprFilters(task, inst)
	errs = append(errs, err)
	r.online, err = compileOnline(task)
	errs = append(errs, err)
	if inst.BAListName != "" {
		ba, err := compileBAList(inst.BAListName, task.BAList[inst.BAListName], task.CaseSensitive)
		errs = append(errs, err)
		r.ba = ba
	}
	seen := make(map[string]bool)
	for _, name := range inst.RouteRules {
		if seen[name] {
			errs = append(errs, fmt.Errorf("route rule %q is listed twice", name))
			continue
		}
		seen[name] = true
		rt, err := compileRoute(name, task.Routes[name], task.CaseSensitive)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if rt.isTable {
			r.tableRoutes = append(r.tableRoutes, rt)
		} else {
			r.schemaRoutes = append(r.schemaRoutes, rt)
		}
	}
	clear(seen)
	for _, name := range inst.ColumnMappingRules {
		if seen[name] {
			errs = append(errs, fmt.Errorf("column mapping rule %q is listed twice", name))
			continue
		}
		seen[name] = true
		m, err := compileColumnMapping(name, task.ColumnMappings[name], task.CaseSensitive)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if m.isTable {
			r.tableMaps = append(r.tableMaps, m)
		} else {
			r.schemaMaps = append(r.schemaMaps, m)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("compile rules of task %q for source %q: %w", task.Name, inst.SourceID, err)
	}
	return r, nil
}

// Source returns the source id the rules were compiled for.
func (r *Rules) Source() string { return r.source }

// Allowed reports whether an upstream table is migrated. System schemas
// (mysql, information_schema, performance_schema, sys) never are. Otherwise
// the block/allow list decides as MySQL does for row-based events: first
// the schema level (a non-empty do-dbs must match, else a matching
// ignore-dbs entry excludes), then the table level (a non-empty do-tables
// must match, else a matching ignore-tables entry excludes). Without a
// block/allow list every other table is migrated.
func (r *Rules) Allowed(schema, table string) bool {
	if IsSystemSchema(schema) {
		return false
	}
	if r.ba == nil {
		return true
	}
	return r.ba.schemaPasses(schema) && r.ba.tablePasses(schema, table)
}

// Replicated reports whether the rows of an upstream table are migrated:
// the block/allow list admits it and it is not the shadow or trash table
// of an online schema change tool (whose rows never reach the target).
func (r *Rules) Replicated(schema, table string) bool {
	if kind, _ := r.OnlineTable(table); kind != OnlineReal {
		return false
	}
	return r.Allowed(schema, table)
}

// AllowedSchema reports whether a schema as a whole is in scope, for
// CREATE/DROP DATABASE and for listing tables: not a system schema, passing
// the schema level of the block/allow list and, when do-tables is set,
// named by the db-name of at least one do-tables entry. (TiDB DM lets
// schema statements through whenever the schema level passes; dmnode does
// not create schemas that can hold no migrated table.)
func (r *Rules) AllowedSchema(schema string) bool {
	if IsSystemSchema(schema) {
		return false
	}
	if r.ba == nil {
		return true
	}
	return r.ba.schemaPasses(schema) && r.ba.schemaReferenced(schema)
}

// Route returns the target schema and table for an upstream table. A
// matching rule with a table-pattern beats rules without one; two matching
// rules at the winning level are an error naming both. Without a matching
// rule the names are kept; an empty target-table keeps the table name.
// With table == "" the schema itself is routed (schema rules only) and
// targetTable is "".
func (r *Rules) Route(schema, table string) (targetSchema, targetTable string, err error) {
	rt, err := r.findRoute(schema, table)
	if err != nil {
		return "", "", fmt.Errorf("route for source %q: %w", r.source, err)
	}
	targetSchema, targetTable = routeTarget(rt, schema, table)
	return targetSchema, targetTable, nil
}

// routeTarget applies route rule rt (nil: none) to schema.table.
func routeTarget(rt *route, schema, table string) (targetSchema, targetTable string) {
	if rt == nil {
		return schema, table
	}
	if rt.targetTable != "" && table != "" {
		table = rt.targetTable
	}
	return rt.targetSchema, table
}

// findMapping returns the column mapping rule for schema.table, nil when
// none applies: a rule with a table-pattern beats rules without one, and
// two matching rules at the winning level are an error.
func (r *Rules) findMapping(schema, table string) (*columnMapping, error) {
	for _, level := range [][]*columnMapping{r.tableMaps, r.schemaMaps} {
		var winner *columnMapping
		for _, m := range level {
			if !m.matches(schema, table) {
				continue
			}
			if winner != nil {
				return nil, fmt.Errorf("table %s matches column mapping rules %q and %q; only one may apply",
					quoteTable(schema, table), winner.name, m.name)
			}
			winner = m
		}
		if winner != nil {
			return winner, nil
		}
	}
	return nil, nil
}
