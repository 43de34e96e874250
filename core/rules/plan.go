package rules

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dmnode/dmnode/core/sqlgen"
)

// TablePlan is the compiled transformation of the rows of one upstream
// table: routing target, column mapping, extracted columns and expression
// filters. It is built
// once per table and schema version by Rules.Plan, is immutable and is safe
// for concurrent use; callers must not modify its exported slices.
type TablePlan struct {
	Source                    string // source id
	Schema, Table             string // upstream
	TargetSchema, TargetTable string
	// Columns are the target column names in output row order: the upstream
	// columns, then the extracted columns in DM's order (table, schema, source).
	Columns []string
	// Extra holds just the extracted column names (a suffix of Columns).
	Extra []string
	// ExtraValues holds their values (strings), computed once by Plan.
	ExtraValues []any

	// Fold tells per column of Columns whether the target compares it
	// case-insensitively (ColumnTraits.FoldCase); nil until WithTarget,
	// when it is not known.
	Fold []bool

	write      []int        // indexes of the written columns; nil: all
	writeCols  []string     // their names
	upstream   int          // number of upstream columns
	extra      []any        // private copy of ExtraValues, used by Apply
	mapping    *mappingStep // nil without column mapping
	rowFilters []rowFilter  // expression filters of the table, used by DropRow
	text       bool         // every written column is Text (WithTarget)
}

// mappingStep is a column mapping bound to one table: the column position
// and, for partition id, the precomputed prefix.
type mappingStep struct {
	rule   string
	column string // the table's spelling of target-column
	index  int
	expr   mappingExpr
	affix  string
	ids    partitionIDs
	prefix int64
}

// Plan compiles the plan for one upstream table with the given column names
// (in row order). It routes the table, evaluates the winning route's
// extractors, binds the column mapping rule that applies, if any, and the
// expression filters that name the table. It does not consult the
// block/allow list or the event filter. Errors: conflicting route or
// column mapping rules, an extracted column that the table already has, a
// column mapping target-column the table lacks, a schema or table name
// that does not fit the partition id prefixes of the rule, or an
// expression filter that reads a column the table lacks.
func (r *Rules) Plan(schema, table string, columns []string) (*TablePlan, error) {
	rt, err := r.findRoute(schema, table)
	if err != nil {
		return nil, fmt.Errorf("plan source %q: %w", r.source, err)
	}
	targetSchema, targetTable := routeTarget(rt, schema, table)
	p := &TablePlan{
		Source: r.source, Schema: schema, Table: table,
		TargetSchema: targetSchema, TargetTable: targetTable,
		upstream: len(columns),
	}
	p.Columns = append(make([]string, 0, len(columns)+3), columns...)
	if rt != nil {
		for _, e := range rt.extracts {
			if i := columnIndex(columns, e.column); i >= 0 {
				return nil, fmt.Errorf("plan source %q table %s: route rule %q extracts column %q, but the upstream table already has column %q",
					r.source, quoteTable(schema, table), rt.name, e.column, columns[i])
			}
			subject := [...]string{table, schema, r.source}[e.kind]
			p.Extra = append(p.Extra, e.column)
			p.ExtraValues = append(p.ExtraValues, e.value(subject))
		}
	}
	p.Columns = append(p.Columns, p.Extra...)
	p.extra = append([]any(nil), p.ExtraValues...)
	if p.rowFilters, err = r.bindExprFilters(schema, table, columns); err != nil {
		return nil, fmt.Errorf("plan source %q table %s: %w", r.source, quoteTable(schema, table), err)
	}
	m, err := r.findMapping(schema, table)
	if err != nil {
		return nil, fmt.Errorf("plan source %q: %w", r.source, err)
	}
	if m != nil {
		if p.mapping, err = m.bind(schema, table, columns, !r.caseSensitive); err != nil {
			return nil, fmt.Errorf("plan source %q table %s: column mapping rule %q: %w", r.source, quoteTable(schema, table), m.name, err)
		}
	}
	return p, nil
}

// bind builds the mapping step of rule m for one table.
func (m *columnMapping) bind(schema, table string, columns []string, fold bool) (*mappingStep, error) {
	idx := columnIndex(columns, m.column)
	if idx < 0 {
		return nil, fmt.Errorf("target-column %q is not a column of the table", m.column)
	}
	st := &mappingStep{rule: m.name, column: columns[idx], index: idx, expr: m.expr, affix: m.affix}
	if m.expr != exprPartitionID {
		return st, nil
	}
	st.ids = partitionIDs{instance: m.instanceID, useInstance: m.useInstance}
	var err error
	if m.schemaPrefix != "" {
		st.ids.useSchema = true
		if st.ids.schema, err = nameID(schema, m.schemaPrefix, m.sep, schemaBits, fold); err != nil {
			return nil, fmt.Errorf("schema prefix %q: %w", m.schemaPrefix, err)
		}
	}
	if m.tablePrefix != "" {
		st.ids.useTable = true
		if st.ids.table, err = nameID(table, m.tablePrefix, m.sep, tableBits, fold); err != nil {
			return nil, fmt.Errorf("table prefix %q: %w", m.tablePrefix, err)
		}
	}
	if st.prefix, err = st.ids.prefix(); err != nil {
		return nil, err
	}
	return st, nil
}

// columnIndex finds a column by name; MySQL column names are
// case-insensitive.
func columnIndex(columns []string, name string) int {
	for i, c := range columns {
		if strings.EqualFold(c, name) {
			return i
		}
	}
	return -1
}

// Apply returns the target row for an upstream row: the column mapping
// applied to its column and the extracted values appended. It allocates the
// result and never modifies row. NULL stays NULL under every mapping.
func (p *TablePlan) Apply(row []any) ([]any, error) {
	if len(row) != p.upstream {
		return nil, fmt.Errorf("apply plan of source %q table %s: row has %d values, the table has %d columns",
			p.Source, quoteTable(p.Schema, p.Table), len(row), p.upstream)
	}
	out := make([]any, len(row)+len(p.extra))
	copy(out, row)
	copy(out[len(row):], p.extra)
	if m := p.mapping; m != nil {
		v, err := m.apply(row[m.index])
		if err != nil {
			return nil, fmt.Errorf("apply plan of source %q table %s column %s: %w",
				p.Source, quoteTable(p.Schema, p.Table), sqlgen.QuoteIdent(m.column), err)
		}
		out[m.index] = v
	}
	return out, nil
}

// Mapping describes what the column mapping does to this table, for task
// check; "" when no column mapping applies.
func (p *TablePlan) Mapping() string {
	m := p.mapping
	if m == nil {
		return ""
	}
	switch m.expr {
	case exprAddPrefix:
		return fmt.Sprintf("%s: add prefix %q", m.column, m.affix)
	case exprAddSuffix:
		return fmt.Sprintf("%s: add suffix %q", m.column, m.affix)
	}
	return fmt.Sprintf("%s: partition id %s: ids map to [%d, %d]", m.column, m.ids, m.prefix, m.prefix|(maxOriginal-1))
}

// String renders the parts as "instance 1, schema id -, table id 3".
func (p partitionIDs) String() string {
	part := func(use bool, id int64) string {
		if !use {
			return "-"
		}
		return strconv.FormatInt(id, 10)
	}
	return fmt.Sprintf("instance %s, schema id %s, table id %s",
		part(p.useInstance, p.instance), part(p.useSchema, p.schema), part(p.useTable, p.table))
}

// apply maps one value of the mapped column.
func (m *mappingStep) apply(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch m.expr {
	case exprAddPrefix, exprAddSuffix:
		return m.affixValue(v)
	}
	return m.partitionValue(v)
}

func (m *mappingStep) affixValue(v any) (any, error) {
	switch x := v.(type) {
	case string:
		if m.expr == exprAddPrefix {
			return m.affix + x, nil
		}
		return x + m.affix, nil
	case []byte:
		out := make([]byte, 0, len(x)+len(m.affix))
		if m.expr == exprAddPrefix {
			return append(append(out, m.affix...), x...), nil
		}
		return append(append(out, x...), m.affix...), nil
	}
	return nil, fmt.Errorf("column mapping rule %q: value %v of type %T is not a string", m.rule, v, v)
}

// partitionValue ORs the prefix into an id; integers keep their type and
// decimal strings stay strings.
func (m *mappingStep) partitionValue(v any) (any, error) {
	var err error
	switch x := v.(type) {
	case int64:
		if err = checkOriginal(x); err == nil {
			return m.prefix | x, nil
		}
	case uint64:
		if x < uint64(maxOriginal) {
			return uint64(m.prefix) | x, nil
		}
		err = fmt.Errorf("value %d out of range for partition id: must be in [0, %d]", x, maxOriginal-1)
	case string:
		var n int64
		if n, err = parseOriginal(x); err == nil {
			return strconv.FormatInt(m.prefix|n, 10), nil
		}
	case []byte:
		var n int64
		if n, err = parseOriginal(string(x)); err == nil {
			return strconv.AppendInt(nil, m.prefix|n, 10), nil
		}
	default:
		err = fmt.Errorf("value %v of type %T is not an integer", v, v)
	}
	return nil, fmt.Errorf("column mapping rule %q: %w", m.rule, err)
}

func parseOriginal(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("value %q out of range for partition id: must be in [0, %d]", s, maxOriginal-1)
		}
		return 0, fmt.Errorf("value %q is not a decimal integer", s)
	}
	return n, checkOriginal(n)
}

// ColumnTraits is what the target table says of one column of a plan.
type ColumnTraits struct {
	// Generated columns (VIRTUAL or STORED, MariaDB's ROW START/END) are
	// computed by the target and can never be written.
	Generated bool
	// FoldCase is set for text compared case-insensitively (a _ci
	// collation): two values that differ only in case, accents or
	// trailing spaces may be one key to the target.
	FoldCase bool
	// Text is set for a column whose value LOAD DATA reads from its text
	// exactly as an INSERT reads the value's literal: numbers, character
	// strings of a non-binary collation, dates and times, JSON. Not for
	// ENUM, SET and BIT (a number means an index or bits in an INSERT, a
	// name or characters in a file), binary strings and spatial types.
	Text bool
}

// WithTarget returns a copy of p that writes only the columns the target
// can take and compares keys by the target's collations; traits holds the
// target table's columns by lower-case name (a column it lacks is written
// and compared exactly). Called once, before the plan is shared.
func (p *TablePlan) WithTarget(traits map[string]ColumnTraits) *TablePlan {
	q := *p
	q.write, q.writeCols, q.Fold = nil, nil, nil
	skip := false
	fold := make([]bool, len(p.Columns))
	q.text = len(traits) > 0
	for i, c := range p.Columns {
		t, ok := traits[strings.ToLower(c)]
		fold[i] = t.FoldCase
		if t.Generated {
			skip = true
			continue
		}
		q.text = q.text && ok && t.Text
		q.write = append(q.write, i)
		q.writeCols = append(q.writeCols, c)
	}
	if !skip {
		q.write, q.writeCols = nil, nil
	}
	q.Fold = fold
	return &q
}

// WriteColumns returns the columns an INSERT, REPLACE or UPDATE SET
// writes: Columns without the target's generated columns.
func (p *TablePlan) WriteColumns() []string {
	if p.write == nil {
		return p.Columns
	}
	return p.writeCols
}

// Text reports whether every column WriteColumns names is known to take
// its value from text as from an INSERT's literal (ColumnTraits.Text), so
// that LOAD DATA may write the rows an INSERT would; false until
// WithTarget.
func (p *TablePlan) Text() bool { return p.text }

// Written reports whether the column at index i of Columns is written.
func (p *TablePlan) Written(i int) bool {
	if p.write == nil {
		return true
	}
	_, ok := slices.BinarySearch(p.write, i)
	return ok
}

// Maps reports whether a column mapping changes a column's values: then
// only Apply gives a row as the target gets it.
func (p *TablePlan) Maps() bool { return p.mapping != nil }

// WriteRow returns the values of row (a row of Columns) that WriteColumns
// names; row itself when every column is written.
func (p *TablePlan) WriteRow(row []any) []any {
	if p.write == nil || row == nil {
		return row
	}
	out := make([]any, len(p.write))
	for i, c := range p.write {
		out[i] = row[c]
	}
	return out
}

// WriteKey maps key (indexes into Columns) to indexes into WriteColumns,
// leaving out generated key columns.
func (p *TablePlan) WriteKey(key []int) []int {
	if p.write == nil {
		return key
	}
	out := make([]int, 0, len(key))
	for _, k := range key {
		if i, ok := slices.BinarySearch(p.write, k); ok {
			out = append(out, i)
		}
	}
	return out
}
