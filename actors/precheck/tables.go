package precheck

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// tableInfo is what the table checks need of a table, read from
// information_schema: a view of the state of a server (a source now, or
// the target), not a model of a table's definition, which is
// schema.Table. loadTables reads it for every table of a task's schemas
// in two queries, where schema.Table would take one SHOW CREATE TABLE
// round trip and one parse per table, thousands in an estate; and the
// checks quote the server's own COLUMN_TYPE back in the statements they
// suggest. Where a check needs a table's schema at a position in the
// past, it takes the schema.Table of the schema history (pastStart).
type tableInfo struct {
	schema, name string
	columns      []columnInfo
	primary      []string   // primary key columns; nil without one
	uniques      [][]string // the other unique keys, in index name order
}

type columnInfo struct {
	name     string
	typ      string // COLUMN_TYPE, as "int(10) unsigned"
	nullable bool
	autoInc  bool
}

func (t *tableInfo) column(name string) *columnInfo {
	for i := range t.columns {
		if strings.EqualFold(t.columns[i].name, name) {
			return &t.columns[i]
		}
	}
	return nil
}

// keys returns the primary key, if any, then the unique keys.
func (t *tableInfo) keys() [][]string {
	if t.primary == nil {
		return t.uniques
	}
	return append([][]string{t.primary}, t.uniques...)
}

// identified reports whether rows have an identity dmnode uses: a
// primary key, or a unique key over NOT NULL columns.
func (t *tableInfo) identified() bool {
	if t.primary != nil {
		return true
	}
	for _, k := range t.uniques {
		if !slices.ContainsFunc(k, func(c string) bool { return t.column(c) == nil || t.column(c).nullable }) {
			return true
		}
	}
	return false
}

// autoIncKey returns the auto-increment column when it is part of a
// primary or unique key, else "".
func (t *tableInfo) autoIncKey() string {
	for _, c := range t.columns {
		if !c.autoInc {
			continue
		}
		for _, k := range t.keys() {
			if slices.ContainsFunc(k, func(kc string) bool { return strings.EqualFold(kc, c.name) }) {
				return c.name
			}
		}
	}
	return ""
}

// tableKey identifies a table in the maps of loadTables: names are folded
// to lower case when fold is set (target tables, as TiDB's and MySQL's
// lookups of them are case-insensitive by default).
func tableKey(schema, name string, fold bool) table {
	if fold {
		return table{strings.ToLower(schema), strings.ToLower(name)}
	}
	return table{schema, name}
}

// loadTables reads the columns and unique keys of every table of the
// given schemas.
func loadTables(ctx context.Context, q actors.Queryer, schemas []string, fold bool) (map[table]*tableInfo, error) {
	out := map[table]*tableInfo{}
	if len(schemas) == 0 {
		return out, nil
	}
	in := strings.TrimSuffix(strings.Repeat("?, ", len(schemas)), ", ")
	args := make([]any, len(schemas))
	for i, s := range schemas {
		args[i] = s
	}
	// The keys are read on a second connection while the columns are:
	// each query opens every table of the schemas, thousands in an estate.
	kctx, cancel := context.WithCancel(ctx)
	var kr keysResult
	var keys sync.WaitGroup
	keys.Go(func() { kr = readUniqueKeys(kctx, q, in, args) })
	defer keys.Wait()
	defer cancel() // before the wait: an early return ends the query
	rows, err := q.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, EXTRA
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN (`+in+`)
		ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION`, args...)
	if err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	for rows.Next() {
		var schema, name, nullable, extra string
		var c columnInfo
		if err := rows.Scan(&schema, &name, &c.name, &c.typ, &nullable, &extra); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read columns: %w", err)
		}
		c.nullable = nullable == "YES"
		c.autoInc = strings.Contains(strings.ToLower(extra), "auto_increment")
		k := tableKey(schema, name, fold)
		if out[k] == nil {
			out[k] = &tableInfo{schema: schema, name: name}
		}
		out[k].columns = append(out[k].columns, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	keys.Wait()
	if kr.err != nil {
		return nil, kr.err
	}
	var last table
	lastIndex := ""
	for _, r := range kr.rows {
		k := tableKey(r.schema, r.name, fold)
		t := out[k]
		if t == nil {
			continue
		}
		newKey := k != last || r.index != lastIndex
		last, lastIndex = k, r.index
		switch {
		case r.index == "PRIMARY":
			t.primary = append(t.primary, r.column)
		case newKey:
			t.uniques = append(t.uniques, []string{r.column})
		default:
			t.uniques[len(t.uniques)-1] = append(t.uniques[len(t.uniques)-1], r.column)
		}
	}
	return out, nil
}

type keyColumn struct{ schema, name, index, column string }

type keysResult struct {
	rows []keyColumn
	err  error
}

// readUniqueKeys reads the columns of the primary and unique keys of the
// tables of the schemas (in, args: loadTables' IN list), in key order.
func readUniqueKeys(ctx context.Context, q actors.Queryer, in string, args []any) keysResult {
	rows, err := q.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, COLUMN_NAME
		FROM information_schema.STATISTICS WHERE NON_UNIQUE = 0 AND TABLE_SCHEMA IN (`+in+`)
		ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX`, args...)
	if err != nil {
		return keysResult{err: fmt.Errorf("read keys: %w", err)}
	}
	defer rows.Close()
	var out []keyColumn
	for rows.Next() {
		var c keyColumn
		if err := rows.Scan(&c.schema, &c.name, &c.index, &c.column); err != nil {
			return keysResult{err: fmt.Errorf("read keys: %w", err)}
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return keysResult{err: fmt.Errorf("read keys: %w", err)}
	}
	return keysResult{rows: out}
}

// noKeyFindings warns about migrated tables whose rows have no identity.
func noKeyFindings(plans []*rules.TablePlan, infos map[table]*tableInfo) []Finding {
	var out []Finding
	for _, p := range plans {
		t := infos[table{p.Schema, p.Table}]
		if t == nil || t.identified() {
			continue
		}
		out = append(out, Finding{Item: config.CheckTableSchema, Severity: Warning, Table: p.Schema + "." + p.Table,
			Message: fmt.Sprintf("%s.%s has no primary key and no unique key over NOT NULL columns: dmnode identifies its rows by all their columns, "+
				"so exactly-once cannot be guaranteed (a row replayed after a restart can be written twice) and the dump reads the table as one chunk", p.Schema, p.Table),
			Fix: fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (columns that identify a row); "+
				"or ALTER TABLE %s ADD COLUMN dmnode_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY", quoteTable(p.Schema, p.Table), quoteTable(p.Schema, p.Table))})
	}
	return out
}

// upstreamInfo finds the upstream table of a plan in per-source infos.
type upstreamInfo func(p *rules.TablePlan) *tableInfo

// pastStart is what the table checks know of a source whose task starts
// at a position that may be in the past.
type pastStart struct {
	pos    dmnode.Position
	schema func(db, table string) *schema.Table // nil: not known
}

func pastStarts(sources []*Source) map[string]*pastStart {
	out := map[string]*pastStart{}
	for _, s := range sources {
		if !s.PastStart.IsZero() {
			out[s.ID] = &pastStart{pos: s.PastStart, schema: s.StartSchema}
		}
	}
	return out
}

// targetColumnFindings checks that every pre-created target table has
// every column the plans write into it: the upstream columns and the
// extracted ones. For a source whose task starts in the past (past, by
// source id) the upstream columns are those at the start position where
// the schema history knows them; where it does not, the target table is
// the schema there (as TiDB DM takes it), and a column the source has now
// but the target lacks is only a warning: the binlog's DDL after the start
// position adds it.
func targetColumnFindings(plans []*rules.TablePlan, up upstreamInfo, targets map[table]*tableInfo, past map[string]*pastStart) []Finding {
	var out []Finding
	reported := map[table]bool{}
	for _, p := range plans {
		k := tableKey(p.TargetSchema, p.TargetTable, true)
		t := targets[k]
		if t == nil || reported[k] {
			continue
		}
		ps := past[p.Source]
		columns, guessed := p.Columns, false
		if ps != nil {
			var at *schema.Table
			if ps.schema != nil {
				at = ps.schema(p.Schema, p.Table)
			}
			if at != nil {
				columns = append(at.ColumnNames(), p.Extra...)
			} else {
				guessed = true
			}
		}
		var missing, adds []string
		for i, c := range columns {
			if t.column(c) != nil {
				continue
			}
			missing = append(missing, c)
			def := "VARCHAR(255) NOT NULL DEFAULT ''" // an extracted column, as dmnode creates it
			if u := up(p); i < len(columns)-len(p.Extra) && u != nil && u.column(c) != nil {
				def = u.column(c).typ
			}
			adds = append(adds, "ADD COLUMN "+sqlgen.QuoteIdent(c)+" "+def)
		}
		if len(missing) == 0 {
			continue
		}
		reported[k] = true
		f := Finding{Item: config.CheckTableSchema, Severity: Error, Target: true, Table: p.TargetSchema + "." + p.TargetTable}
		fix := fmt.Sprintf("ALTER TABLE %s %s;", quoteTable(p.TargetSchema, p.TargetTable), strings.Join(adds, ", "))
		if len(p.Extra) > 0 {
			fix += " (an extracted column that keeps merged rows apart must also join the primary key)"
		}
		switch {
		case guessed:
			f.Severity = Warning
			f.Message = fmt.Sprintf("the pre-created target table %s.%s has no column %s, which %s.%s (source %s) has now; the task starts at %s, "+
				"in the past, where dmnode takes the target table as the table's schema (as TiDB DM does)",
				p.TargetSchema, p.TargetTable, strings.Join(missing, ", "), p.Schema, p.Table, p.Source, ps.pos)
			fix = "nothing, if the source added the column after " + ps.pos.String() + ": replicating its ALTER TABLE adds it to the target; " +
				"otherwise the target table is not the table as of the start position: " + fix
		case ps != nil:
			f.Message = fmt.Sprintf("the pre-created target table %s.%s has no column %s, which rows of %s.%s (source %s) carry at the start position %s",
				p.TargetSchema, p.TargetTable, strings.Join(missing, ", "), p.Schema, p.Table, p.Source, ps.pos)
		default:
			f.Message = fmt.Sprintf("the pre-created target table %s.%s has no column %s, which rows of %s.%s (source %s) carry",
				p.TargetSchema, p.TargetTable, strings.Join(missing, ", "), p.Schema, p.Table, p.Source)
		}
		f.Fix = fix
		out = append(out, f)
	}
	return out
}

// shardSchemaFindings checks that the upstream tables merged into one
// target table have the same columns, in the same order with the same
// types, and the same keys. With shard-mode optimistic, which merges
// compatible schemas, only a column whose type differs between tables is
// reported.
func shardSchemaFindings(plans []*rules.TablePlan, up upstreamInfo, shardMode string) []Finding {
	var out []Finding
	for _, group := range mergedGroups(plans) {
		first := up(group[0])
		if first == nil {
			continue
		}
		for _, p := range group[1:] {
			t := up(p)
			if t == nil {
				continue
			}
			diff, fix := schemaDiff(first, t, shardMode == config.ShardOptimistic)
			if diff == "" {
				continue
			}
			if shardMode != config.ShardOptimistic {
				fix += "; or set shard-mode: optimistic, which merges compatible schemas"
			}
			out = append(out, Finding{Item: config.CheckShardSchema, Severity: Error, Source: p.Source, Table: p.Schema + "." + p.Table,
				Message: fmt.Sprintf("%s.%s differs from %s.%s of source %s, both merged into %s.%s: %s",
					p.Schema, p.Table, group[0].Schema, group[0].Table, group[0].Source, p.TargetSchema, p.TargetTable, diff),
				Fix: fix})
		}
	}
	return out
}

// schemaDiff describes the first difference of b from a, with a statement
// that makes b like a; "" when they match.
func schemaDiff(a, b *tableInfo, typesOnly bool) (diff, fix string) {
	bt := quoteTable(b.schema, b.name)
	if typesOnly {
		for _, ca := range a.columns {
			if cb := b.column(ca.name); cb != nil && !strings.EqualFold(ca.typ, cb.typ) {
				return fmt.Sprintf("column %s is %s here and %s there", ca.name, cb.typ, ca.typ),
					fmt.Sprintf("ALTER TABLE %s MODIFY COLUMN %s %s (or change the other table)", bt, sqlgen.QuoteIdent(ca.name), ca.typ)
			}
		}
		return "", ""
	}
	for i := 0; i < max(len(a.columns), len(b.columns)); i++ {
		switch {
		case i >= len(b.columns):
			ca := a.columns[i]
			return fmt.Sprintf("it lacks column %s %s", ca.name, ca.typ),
				fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s (or drop it from the other tables)", bt, sqlgen.QuoteIdent(ca.name), ca.typ)
		case i >= len(a.columns):
			cb := b.columns[i]
			return fmt.Sprintf("it has an extra column %s %s", cb.name, cb.typ),
				fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s (or add it to the other tables)", bt, sqlgen.QuoteIdent(cb.name))
		}
		ca, cb := a.columns[i], b.columns[i]
		if !strings.EqualFold(ca.name, cb.name) {
			return fmt.Sprintf("column %d is %s here and %s there", i+1, cb.name, ca.name),
				fmt.Sprintf("give the tables the same columns in the same order (compare SHOW CREATE TABLE %s and %s)", bt, quoteTable(a.schema, a.name))
		}
		if !strings.EqualFold(ca.typ, cb.typ) {
			return fmt.Sprintf("column %s is %s here and %s there", ca.name, cb.typ, ca.typ),
				fmt.Sprintf("ALTER TABLE %s MODIFY COLUMN %s %s (or change the other tables)", bt, sqlgen.QuoteIdent(ca.name), ca.typ)
		}
	}
	if !sameKey(a.primary, b.primary) {
		return fmt.Sprintf("its primary key is (%s) and there (%s)", strings.Join(b.primary, ", "), strings.Join(a.primary, ", ")),
			fmt.Sprintf("give the tables the same primary key (compare SHOW CREATE TABLE %s and %s)", bt, quoteTable(a.schema, a.name))
	}
	if !sameKeys(a.uniques, b.uniques) {
		return fmt.Sprintf("its unique keys are %s and there %s", keyList(b.uniques), keyList(a.uniques)),
			fmt.Sprintf("give the tables the same unique keys (compare SHOW CREATE TABLE %s and %s)", bt, quoteTable(a.schema, a.name))
	}
	return "", ""
}

func sameKey(a, b []string) bool {
	return slices.EqualFunc(a, b, strings.EqualFold)
}

func sameKeys(a, b [][]string) bool {
	norm := func(ks [][]string) []string {
		out := make([]string, len(ks))
		for i, k := range ks {
			out[i] = strings.ToLower(strings.Join(k, ","))
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(norm(a), norm(b))
}

func keyList(ks [][]string) string {
	if len(ks) == 0 {
		return "none"
	}
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = "(" + strings.Join(k, ", ") + ")"
	}
	return strings.Join(parts, ", ")
}

// mergedGroups returns the plans of target tables that two or more
// upstream tables write into, grouped by target in the order given.
func mergedGroups(plans []*rules.TablePlan) [][]*rules.TablePlan {
	index := map[table]int{}
	var groups [][]*rules.TablePlan
	for _, p := range plans {
		k := tableKey(p.TargetSchema, p.TargetTable, true)
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], p)
	}
	return slices.DeleteFunc(groups, func(g []*rules.TablePlan) bool { return len(g) < 2 })
}

// autoIncrementFindings reports target tables that merge auto-increment
// keys nothing keeps apart (rules.AutoIncrementClashes). targets holds the
// pre-created target tables: their keys must include the extracted columns
// for those to keep rows apart.
func autoIncrementFindings(plans []*rules.TablePlan, up upstreamInfo, targets map[table]*tableInfo) []Finding {
	autoInc := func(p *rules.TablePlan) string {
		if t := up(p); t != nil {
			return t.autoIncKey()
		}
		return ""
	}
	extraInKey := func(p *rules.TablePlan) bool {
		t := targets[tableKey(p.TargetSchema, p.TargetTable, true)]
		if t == nil {
			return true // dmnode creates it with the extracted columns in every key
		}
		col := autoInc(p)
		for _, k := range t.keys() {
			hasCol := slices.ContainsFunc(k, func(c string) bool { return strings.EqualFold(c, col) })
			hasExtra := slices.ContainsFunc(k, func(c string) bool {
				return slices.ContainsFunc(p.Extra, func(e string) bool { return strings.EqualFold(c, e) })
			})
			if hasCol && !hasExtra {
				return false
			}
		}
		return true
	}
	var out []Finding
	for _, c := range rules.AutoIncrementClashes(plans, autoInc, extraInKey) {
		var names []string
		for i, p := range c.Tables {
			names = append(names, fmt.Sprintf("%s %s.%s (%s)", p.Source, p.Schema, p.Table, c.Columns[i]))
		}
		col := c.Columns[0]
		fix := fmt.Sprintf(`add a column-mapping rule with expression: "partition id" on %s (source-column and target-column) whose arguments `+
			`(instance id, schema prefix, table prefix) tell the merged tables apart, `+
			`or extract the source, schema or table name into a column of the key with extract-source, extract-schema or extract-table in the route`, col)
		if p := c.Tables[0]; len(p.Extra) > 0 && !extraInKey(p) {
			fix = fmt.Sprintf("the pre-created target table's key lacks the extracted column: ALTER TABLE %s DROP PRIMARY KEY, ADD PRIMARY KEY (%s, %s); or %s",
				quoteTable(c.TargetSchema, c.TargetTable), sqlgen.QuoteIdent(col), sqlgen.QuoteIdent(p.Extra[0]), fix)
		}
		out = append(out, Finding{Item: config.CheckAutoIncrementID, Severity: Error, Table: c.TargetSchema + "." + c.TargetTable,
			Message: fmt.Sprintf("%s.%s merges %d tables whose auto-increment keys nothing keeps apart: %s; rows with the same id from two of them become one row",
				c.TargetSchema, c.TargetTable, len(c.Tables), strings.Join(names, ", ")),
			Fix: fix})
	}
	return out
}
