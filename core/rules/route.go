package rules

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/pattern"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// route is one compiled route rule.
type route struct {
	name          string
	schema, table pattern.Pattern // table is unused for a schema rule
	isTable       bool            // has a table-pattern
	targetSchema  string
	targetTable   string
	extracts      []extractor // in DM's order: table, schema, source
}

// extractKind names what an extractor reads.
type extractKind uint8

const (
	extractTable extractKind = iota
	extractSchema
	extractSource
)

// extractor computes one extracted column from a name.
type extractor struct {
	kind   extractKind
	column string
	re     *regexp.Regexp
}

// value returns the concatenation of all capture groups of the first match
// of the extractor's regexp in s, or "" when it does not match.
func (e *extractor) value(s string) string {
	m := e.re.FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return strings.Join(m[1:], "")
}

// compileRoute validates and compiles the named route rule.
func compileRoute(name string, rule *config.RouteRule, caseSensitive bool) (*route, error) {
	if rule == nil {
		return nil, fmt.Errorf("route rule %q is not defined", name)
	}
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("route rule %q: "+format, append([]any{name}, args...)...))
	}
	rt := &route{name: name, targetSchema: rule.TargetSchema, targetTable: rule.TargetTable}
	if rule.SchemaPattern == "" {
		fail("schema-pattern is required")
	}
	if rule.TargetSchema == "" {
		fail("target-schema is required")
	}
	var err error
	if rt.schema, err = pattern.Compile(rule.SchemaPattern, caseSensitive); err != nil {
		fail("schema-pattern: %w", err)
	}
	if rule.TablePattern != "" {
		rt.isTable = true
		if rt.table, err = pattern.Compile(rule.TablePattern, caseSensitive); err != nil {
			fail("table-pattern: %w", err)
		}
	}
	specs := []struct {
		key  string
		kind extractKind
		ex   *config.Extractor
	}{
		{"extract-table", extractTable, rule.ExtractTable},
		{"extract-schema", extractSchema, rule.ExtractSchema},
		{"extract-source", extractSource, rule.ExtractSource},
	}
	for _, s := range specs {
		if s.ex == nil {
			continue
		}
		e, err := compileExtractor(s.kind, s.ex)
		if err != nil {
			fail("%s: %w", s.key, err)
			continue
		}
		for _, prev := range rt.extracts {
			if strings.EqualFold(prev.column, e.column) {
				fail("%s: target-column %q is already extracted", s.key, e.column)
			}
		}
		rt.extracts = append(rt.extracts, e)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rt, nil
}

// compileExtractor checks that exactly the regexp matching kind is set and
// that it has a capture group (without one the value is always empty, which
// DM accepts silently).
func compileExtractor(kind extractKind, ex *config.Extractor) (extractor, error) {
	keys := [...]string{"table-regexp", "schema-regexp", "source-regexp"}
	values := [...]string{ex.TableRegexp, ex.SchemaRegexp, ex.SourceRegexp}
	for k, v := range values {
		if extractKind(k) != kind && v != "" {
			return extractor{}, fmt.Errorf("%s is not allowed here, use %s", keys[k], keys[kind])
		}
	}
	if ex.TargetColumn == "" {
		return extractor{}, errors.New("target-column is required")
	}
	expr := values[kind]
	if expr == "" {
		return extractor{}, fmt.Errorf("%s is required", keys[kind])
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return extractor{}, fmt.Errorf("%s: %w", keys[kind], err)
	}
	if re.NumSubexp() == 0 {
		return extractor{}, fmt.Errorf("%s %q has no capture group, so the extracted value would always be empty", keys[kind], expr)
	}
	return extractor{kind: kind, column: ex.TargetColumn, re: re}, nil
}

// findRoute returns the rule that routes schema.table, nil when none does.
// Table rules beat schema rules; two matching rules at the winning level are
// an error. With table == "" only schema rules are considered.
func (r *Rules) findRoute(schema, table string) (*route, error) {
	var winner *route
	if table != "" {
		for _, rt := range r.tableRoutes {
			if !rt.schema.Match(schema) || !rt.table.Match(table) {
				continue
			}
			if winner != nil {
				return nil, fmt.Errorf("%s matches route rules %q and %q", describeTable(schema, table), winner.name, rt.name)
			}
			winner = rt
		}
		if winner != nil {
			return winner, nil
		}
	}
	for _, rt := range r.schemaRoutes {
		if !rt.schema.Match(schema) {
			continue
		}
		if winner != nil {
			return nil, fmt.Errorf("%s matches route rules %q and %q", describeTable(schema, table), winner.name, rt.name)
		}
		winner = rt
	}
	return winner, nil
}

// quoteTable renders `schema`.`table` for messages.
func quoteTable(schema, table string) string {
	return sqlgen.QuoteIdent(schema) + "." + sqlgen.QuoteIdent(table)
}

// describeTable names a table, or a schema when table is empty.
func describeTable(schema, table string) string {
	if table == "" {
		return "schema " + sqlgen.QuoteIdent(schema)
	}
	return "table " + quoteTable(schema, table)
}

// Extracted returns the names of the columns the route of schema.table
// extracts (extract-table, -schema, -source), in DM's order: the columns
// its target table has beyond the upstream table's.
func (r *Rules) Extracted(schema, table string) ([]string, error) {
	rt, err := r.findRoute(schema, table)
	if err != nil || rt == nil {
		return nil, err
	}
	cols := make([]string, len(rt.extracts))
	for i, e := range rt.extracts {
		cols[i] = e.column
	}
	return cols, nil
}
