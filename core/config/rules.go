package config

import (
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Column mapping expressions, as in DM.
const (
	ExprPartitionID = "partition id"
	ExprAddPrefix   = "add prefix"
	ExprAddSuffix   = "add suffix"
)

// checkRoutes checks the table routing rules.
func checkRoutes(r *report, routes map[string]*RouteRule) {
	for _, name := range slices.Sorted(maps.Keys(routes)) {
		rule, p := routes[name], childPath("routes", name)
		if rule == nil {
			continue
		}
		required(r, p, "schema-pattern", rule.SchemaPattern)
		required(r, p, "target-schema", rule.TargetSchema)
		checkPattern(r, childPath(p, "schema-pattern"), rule.SchemaPattern)
		checkPattern(r, childPath(p, "table-pattern"), rule.TablePattern)
		checkExtractor(r, childPath(p, "extract-table"), rule.ExtractTable, "table-regexp")
		checkExtractor(r, childPath(p, "extract-schema"), rule.ExtractSchema, "schema-regexp")
		checkExtractor(r, childPath(p, "extract-source"), rule.ExtractSource, "source-regexp")
	}
}

// checkExtractor checks a route's extract-table, extract-schema or
// extract-source: a target column and the one regexp kind that matches
// the extractor (want).
func checkExtractor(r *report, p string, e *Extractor, want string) {
	if e == nil {
		return
	}
	regexps := map[string]string{
		"table-regexp":  e.TableRegexp,
		"schema-regexp": e.SchemaRegexp,
		"source-regexp": e.SourceRegexp,
	}
	for _, k := range slices.Sorted(maps.Keys(regexps)) {
		if k != want && regexps[k] != "" {
			r.errorf(childPath(p, k), "%s takes %s, not %s", p[strings.LastIndex(p, ".")+1:], want, k)
		}
	}
	required(r, p, "target-column", e.TargetColumn)
	if !required(r, p, want, regexps[want]) {
		return
	}
	if _, err := regexp.Compile(regexps[want]); err != nil {
		r.errorf(childPath(p, want), "invalid regular expression: %v", err)
	}
}

// checkColumnMappings checks the column mapping rules and fills in the
// optional fourth partition id argument (the separator, empty by default).
func checkColumnMappings(r *report, rules map[string]*ColumnMappingRule) {
	for _, name := range slices.Sorted(maps.Keys(rules)) {
		rule, p := rules[name], childPath("column-mappings", name)
		if rule == nil {
			continue
		}
		required(r, p, "schema-pattern", rule.SchemaPattern)
		required(r, p, "target-column", rule.TargetColumn)
		checkPattern(r, childPath(p, "schema-pattern"), rule.SchemaPattern)
		checkPattern(r, childPath(p, "table-pattern"), rule.TablePattern)
		checkExpression(r, p, rule)
	}
}

// checkExpression checks a column mapping's expression and its arguments.
// The arithmetic of partition id is not checked here, only the syntax of
// its instance id.
func checkExpression(r *report, p string, rule *ColumnMappingRule) {
	argsPath := childPath(p, "arguments")
	switch rule.Expression {
	case ExprPartitionID:
		switch len(rule.Arguments) {
		case 3:
			// Instances may share a rule through a YAML alias: appending
			// once makes the rule complete, so this runs at most once.
			rule.Arguments = append(rule.Arguments, "")
		case 4:
		default:
			r.errorf(argsPath, "partition id takes 3 or 4 arguments (instance id, schema prefix, table prefix, separator), not %d",
				len(rule.Arguments))
			return
		}
		if id := rule.Arguments[0]; id != "" {
			if _, err := strconv.ParseUint(id, 10, 4); err != nil {
				r.errorf(indexPath(argsPath, 0), "instance id %q must be empty or a decimal number from 0 to 15", id)
			}
		}
	case ExprAddPrefix, ExprAddSuffix:
		if len(rule.Arguments) != 1 {
			r.errorf(argsPath, "%s takes exactly 1 argument, not %d", rule.Expression, len(rule.Arguments))
		}
	case "":
		r.errorf(childPath(p, "expression"), "required: %q, %q or %q", ExprPartitionID, ExprAddPrefix, ExprAddSuffix)
	default:
		r.errorf(childPath(p, "expression"), "invalid value %q: must be %q, %q or %q",
			rule.Expression, ExprPartitionID, ExprAddPrefix, ExprAddSuffix)
	}
}

// checkBALists checks the block/allow lists.
func checkBALists(r *report, lists map[string]*BAListRule) {
	for _, name := range slices.Sorted(maps.Keys(lists)) {
		rule, p := lists[name], childPath("block-allow-list", name)
		if rule == nil {
			continue
		}
		for i, db := range rule.DoDBs {
			checkPattern(r, indexPath(childPath(p, "do-dbs"), i), db)
		}
		for i, db := range rule.IgnoreDBs {
			checkPattern(r, indexPath(childPath(p, "ignore-dbs"), i), db)
		}
		checkTableRefs(r, childPath(p, "do-tables"), rule.DoTables)
		checkTableRefs(r, childPath(p, "ignore-tables"), rule.IgnoreTables)
	}
}

func checkTableRefs(r *report, p string, refs []TableRef) {
	for i, ref := range refs {
		ip := indexPath(p, i)
		if required(r, ip, "db-name", ref.DBName) {
			checkPattern(r, childPath(ip, "db-name"), ref.DBName)
		}
		if required(r, ip, "tbl-name", ref.TblName) {
			checkPattern(r, childPath(ip, "tbl-name"), ref.TblName)
		}
	}
}

// checkPattern checks that a name pattern written as a regular expression
// ("~" followed by a Go regexp, as in DM) compiles. Wildcard patterns are
// left to the code that compiles the rules.
func checkPattern(r *report, p, pattern string) {
	expr, ok := strings.CutPrefix(pattern, "~")
	if !ok {
		return
	}
	if _, err := regexp.Compile(expr); err != nil {
		r.errorf(p, "invalid regular expression: %v", err)
	}
}

// required reports key under p when value is empty, and whether it is set.
func required(r *report, p, key, value string) bool {
	if value == "" {
		r.errorf(childPath(p, key), "required")
		return false
	}
	return true
}
