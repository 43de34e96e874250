package apply

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// Statements: from row changes, already transformed for the target by
// their table's plan (core/rules), to the SQL that applies them.
//
// The changes of each table go in their order, except on a table whose one
// unique key is the key the changes carry: there, unless a change is in
// safe mode or moves a row to another key, they are first compacted to one
// final change per row, and rows of distinct keys commute, so they go as
// one multi-row DELETE, one multi-row upsert (INSERT ... ON DUPLICATE KEY
// UPDATE) and one multi-row INSERT (per perStmt rows). Changes to
// different tables never share a unique key; their relative order is not
// kept.
//
// In safe mode (rows the target may already hold) an INSERT is sent as
// REPLACE and an UPDATE as a DELETE of the row before plus a REPLACE of
// the row after; a DELETE stays a DELETE. Generated columns of the target
// are never written; a keyless table's rows are found by all their
// written columns.

// Change is one row change, transformed for the target.
type Change struct {
	Plan *rules.TablePlan
	// Key is the target columns that identify the row (indexes into
	// Plan.Columns), for UPDATE and DELETE: the upstream key, or every
	// written column of a keyless table, plus extracted columns.
	Key           []int
	Kind          dmnode.ChangeKind
	Before, After []any
	// Safe applies the change idempotently (safe mode).
	Safe bool
}

// Rows appends to dst the target changes of an upstream change's rows,
// transformed by its table's plan p (routes, column mappings, extracted
// columns): rows p's filters drop are left out, and every change carries
// the target key (TargetKey) and safe.
func Rows(dst []Change, p *rules.TablePlan, c *dmnode.Change, safe bool) ([]Change, error) {
	key := TargetKey(p, c.Key, len(c.Columns))
	for _, rc := range c.Rows {
		drop, err := p.DropRow(rc.Kind, rc.Before, rc.After)
		if err != nil {
			return dst, err
		}
		if drop {
			continue
		}
		out := Change{Plan: p, Key: key, Kind: rc.Kind, Safe: safe}
		if rc.Before != nil {
			if out.Before, err = p.Apply(rc.Before); err != nil {
				return dst, err
			}
		}
		if rc.After != nil {
			if out.After, err = p.Apply(rc.After); err != nil {
				return dst, err
			}
		}
		dst = append(dst, out)
	}
	return dst, nil
}

// TargetKey returns the indexes of the target row that identify a row: the
// upstream key (or every upstream column when it has none) plus the
// extracted columns, which join the key of a merged table.
func TargetKey(p *rules.TablePlan, upstreamKey []int, upstreamCols int) []int {
	var key []int
	if len(upstreamKey) > 0 {
		key = append(key, upstreamKey...)
	} else {
		// Every column, except generated ones: a row image may carry no
		// value of its own for a virtual column.
		for i := range upstreamCols {
			if p.Written(i) {
				key = append(key, i)
			}
		}
	}
	for i := range p.Extra {
		key = append(key, upstreamCols+i)
	}
	return key
}

// Stmt is one SQL statement with its arguments.
type Stmt struct {
	Query string
	Args  []any
}

// Uniques holds the unique keys of each plan's target table, as indexes
// into the plan's columns.
type Uniques map[*rules.TablePlan][][]int

// Statements turns row changes into SQL (see above), with at most perStmt
// rows in each multi-row statement.
func Statements(changes []Change, uniques Uniques, perStmt int) []Stmt {
	perStmt = max(perStmt, 1)
	var plans []*rules.TablePlan
	var byPlan map[*rules.TablePlan][]Change
	if len(changes) > 0 && onePlan(changes) {
		plans = []*rules.TablePlan{changes[0].Plan}
		byPlan = map[*rules.TablePlan][]Change{changes[0].Plan: changes}
	} else {
		byPlan = map[*rules.TablePlan][]Change{}
		for _, c := range changes {
			if _, ok := byPlan[c.Plan]; !ok {
				plans = append(plans, c.Plan)
			}
			byPlan[c.Plan] = append(byPlan[c.Plan], c)
		}
	}
	var out []Stmt
	for _, p := range plans {
		pcs := byPlan[p]
		if onlyInserts(pcs) {
			// Compacting inserts alone leaves them as they are, or
			// declines (an insert of a key inserted before): in order.
			out = append(out, ordered(pcs, perStmt)...)
		} else if final, ok := Compact(pcs, uniques[p]); ok {
			out = append(out, grouped(final, perStmt)...)
		} else {
			out = append(out, ordered(pcs, perStmt)...)
		}
	}
	return out
}

// onePlan reports whether changes all have the plan of the first.
func onePlan(changes []Change) bool {
	for i := range changes {
		if changes[i].Plan != changes[0].Plan {
			return false
		}
	}
	return true
}

// onlyInserts reports whether changes are all inserts.
func onlyInserts(changes []Change) bool {
	for i := range changes {
		if changes[i].Kind != dmnode.Insert {
			return false
		}
	}
	return true
}

// Compact folds the changes of one table into one change per row (kind
// Update standing for "the row is now After"), in the order rows first
// appear, or says it cannot: the table has another unique key than the
// changes' key, a change moves a row to another key, has a NULL in its
// key, or would be refused by the target (an insert of a row already
// there); or two keys differ but may be one to the target's collation.
//
// When a change is in safe mode the target may hold any state of a row
// already, so the changes are read as what they leave (safe mode's
// REPLACE and DELETE): a row's last change decides, a delete as a delete
// (sent even for a row inserted in the batch, which the target may hold
// from before), an insert or update as "the row is now After", sent as an
// upsert, which with the one unique key is REPLACE's effect. In a batch
// that straddles the end of safe mode the changes after it are read the
// same way, which is what they do on a target that holds the rows
// exactly.
func Compact(changes []Change, uniques [][]int) ([]Change, bool) {
	if len(changes) == 0 {
		return nil, true
	}
	if len(uniques) != 1 || !sameSet(uniques[0], changes[0].Key) {
		return nil, false
	}
	safe := false
	for i := range changes {
		if changes[i].Safe {
			safe = true
			break
		}
	}
	// out holds one change per row, in the order rows first appear; at
	// is a row's index there by its exact key, and gone marks the rows
	// inserted and then deleted (never on the target).
	out := make([]Change, 0, len(changes))
	gone := make([]bool, 0, len(changes))
	at := make(map[string]int, len(changes))
	// Two exact keys the target may hold equal (case, accents, trailing
	// spaces under its collation) are one row to it but two here: such a
	// batch is sent as it came. Keys without text render the same both
	// ways.
	var exactOf map[string]string
	if textKey(changes) {
		exactOf = make(map[string]string, len(changes))
	}
	fold := changes[0].Plan.Fold
	var kb, bb, fb []byte
	for i := range changes {
		c := &changes[i]
		row := c.After
		if c.Kind == dmnode.Delete {
			row = c.Before
		}
		var ok bool
		if kb, ok = appendRowKey(kb[:0], row, c.Key, nil, false); !ok {
			return nil, false
		}
		if c.Kind == dmnode.Update {
			if bb, ok = appendRowKey(bb[:0], c.Before, c.Key, nil, false); !ok || string(bb) != string(kb) {
				return nil, false
			}
		}
		if exactOf != nil {
			fb, _ = appendRowKey(fb[:0], row, c.Key, fold, true)
			if e, seen := exactOf[string(fb)]; seen && e != string(kb) {
				return nil, false
			} else if !seen {
				exactOf[string(fb)] = string(kb)
			}
		}
		j, seen := at[string(kb)]
		if safe {
			last := *c
			if c.Kind == dmnode.Insert {
				last.Kind = dmnode.Update
			}
			if !seen {
				at[string(kb)] = len(out)
				out = append(out, last)
				gone = append(gone, false)
			} else {
				out[j] = last
			}
			continue
		}
		if !seen {
			at[string(kb)] = len(out)
			out = append(out, *c)
			gone = append(gone, false)
			continue
		}
		prev := &out[j]
		if gone[j] {
			// Inserted and deleted before: only an insert may follow.
			if c.Kind != dmnode.Insert {
				return nil, false
			}
			out[j], gone[j] = *c, false
			continue
		}
		switch {
		case prev.Kind == dmnode.Insert && c.Kind == dmnode.Update:
			prev.After = c.After
		case prev.Kind == dmnode.Insert && c.Kind == dmnode.Delete:
			gone[j] = true // never on the target
		case prev.Kind == dmnode.Update && c.Kind == dmnode.Update:
			prev.After = c.After
		case prev.Kind == dmnode.Update && c.Kind == dmnode.Delete:
			prev.Kind, prev.After = dmnode.Delete, nil
		case prev.Kind == dmnode.Delete && c.Kind == dmnode.Insert:
			prev.Kind, prev.After = dmnode.Update, c.After
		default:
			return nil, false // a change the target would reject: keep it as it came
		}
	}
	n := 0
	for j := range out {
		if !gone[j] {
			out[n] = out[j]
			n++
		}
	}
	if n == 0 {
		return nil, true
	}
	return out[:n], true
}

// textKey reports whether a key value of any of changes is text, which
// a collation may compare loosely.
func textKey(changes []Change) bool {
	for i := range changes {
		c := &changes[i]
		for _, row := range [][]any{c.Before, c.After} {
			for _, k := range c.Key {
				if row == nil {
					continue
				}
				if _, ok := row[k].(string); ok {
					return true
				}
			}
		}
	}
	return false
}

// grouped sends compacted changes of one table as multi-row statements.
func grouped(changes []Change, perStmt int) []Stmt {
	if len(changes) == 0 {
		return nil
	}
	p, key := changes[0].Plan, changes[0].Key
	var dels, ups, ins [][]any
	for _, c := range changes {
		switch c.Kind {
		case dmnode.Delete:
			dels = append(dels, c.Before)
		case dmnode.Update:
			ups = append(ups, c.After)
		case dmnode.Insert:
			ins = append(ins, c.After)
		}
	}
	var out []Stmt
	for _, g := range []struct {
		rows  [][]any
		build func([][]any) (string, []any)
	}{
		{dels, func(r [][]any) (string, []any) {
			return sqlgen.DeleteMany(p.TargetSchema, p.TargetTable, p.Columns, key, r)
		}},
		{ups, func(r [][]any) (string, []any) {
			return sqlgen.Upsert(p.TargetSchema, p.TargetTable, p.WriteColumns(), p.WriteKey(key), writeRows(p, r))
		}},
		{ins, func(r [][]any) (string, []any) {
			return sqlgen.Insert(p.TargetSchema, p.TargetTable, p.WriteColumns(), writeRows(p, r), false)
		}},
	} {
		for len(g.rows) > 0 {
			n := min(len(g.rows), perStmt)
			q, args := g.build(g.rows[:n])
			out = append(out, Stmt{q, args})
			g.rows = g.rows[n:]
		}
	}
	return out
}

// ordered sends changes in their order: consecutive inserts share a
// multi-row INSERT.
func ordered(changes []Change, perStmt int) []Stmt {
	var out []Stmt
	for i := 0; i < len(changes); {
		c := &changes[i]
		p := c.Plan
		switch c.Kind {
		case dmnode.Insert:
			j := i
			var rows [][]any
			for j < len(changes) && changes[j].Kind == dmnode.Insert && changes[j].Plan == p && changes[j].Safe == c.Safe && len(rows) < perStmt {
				rows = append(rows, p.WriteRow(changes[j].After))
				j++
			}
			q, args := sqlgen.Insert(p.TargetSchema, p.TargetTable, p.WriteColumns(), rows, c.Safe)
			out = append(out, Stmt{q, args})
			i = j
			continue
		case dmnode.Update:
			if c.Safe {
				q, args := sqlgen.Delete(p.TargetSchema, p.TargetTable, p.Columns, c.Key, c.Before)
				out = append(out, Stmt{q, args})
				q, args = sqlgen.Insert(p.TargetSchema, p.TargetTable, p.WriteColumns(), [][]any{p.WriteRow(c.After)}, true)
				out = append(out, Stmt{q, args})
			} else {
				q, args := sqlgen.UpdateColumns(p.TargetSchema, p.TargetTable, p.Columns, writtenIndexes(p), c.Key, c.Before, c.After)
				out = append(out, Stmt{q, args})
			}
		case dmnode.Delete:
			q, args := sqlgen.Delete(p.TargetSchema, p.TargetTable, p.Columns, c.Key, c.Before)
			out = append(out, Stmt{q, args})
		}
		i++
	}
	return out
}

// writeRows returns the written values (TablePlan.WriteRow) of rows.
func writeRows(p *rules.TablePlan, rows [][]any) [][]any {
	if len(p.WriteColumns()) == len(p.Columns) {
		return rows
	}
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = p.WriteRow(r)
	}
	return out
}

// writtenIndexes returns the indexes of the columns of p an UPDATE sets;
// nil for all.
func writtenIndexes(p *rules.TablePlan) []int {
	if len(p.WriteColumns()) == len(p.Columns) {
		return nil
	}
	var set []int
	for i := range p.Columns {
		if p.Written(i) {
			set = append(set, i)
		}
	}
	return set
}

// appendRowKey appends the key columns of a row to dst, rendered
// exactly; false when one is NULL. loose renders them as the target may
// compare them instead (writeValue), fold marking the columns it compares
// case-insensitively.
func appendRowKey(dst []byte, row []any, key []int, fold []bool, loose bool) ([]byte, bool) {
	for _, c := range key {
		if row[c] == nil {
			return dst, false
		}
		dst = append(dst, 0)
		switch x := row[c].(type) {
		case int64:
			dst = strconv.AppendInt(dst, x, 10)
		case uint64:
			dst = strconv.AppendUint(dst, x, 10)
		case []byte:
			dst = append(dst, x...)
		case string:
			if !loose {
				dst = append(dst, x...)
				break
			}
			var b strings.Builder
			writeValue(&b, x, foldAt(fold, c), true)
			dst = append(dst, b.String()...)
		default:
			dst = fmt.Append(dst, x)
		}
	}
	return dst, true
}

func sameSet(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	in := map[int]bool{}
	for _, x := range a {
		in[x] = true
	}
	for _, x := range b {
		if !in[x] {
			return false
		}
	}
	return true
}

// WriteSet appends to dst the values of the unique keys of the change's
// target table, before and after it, each prefixed with the table and
// key: two changes that share one must stay in order (Txn.Keys).
func WriteSet(dst []string, c *Change, uniques [][]int) []string {
	table := c.Plan.TargetSchema + "." + c.Plan.TargetTable
	n := len(dst)
	for _, row := range [][]any{c.Before, c.After} {
		if row == nil {
			continue
		}
		for ui, cols := range uniques {
			var b strings.Builder
			b.WriteString(table)
			b.WriteByte(0)
			b.WriteString(strconv.Itoa(ui))
			null := false
			for _, col := range cols {
				b.WriteByte(0)
				if row[col] == nil {
					null = true // NULLs never collide in a unique key
					break
				}
				writeValue(&b, row[col], foldAt(c.Plan.Fold, col), true)
			}
			if !null {
				dst = append(dst, b.String())
			}
		}
	}
	if len(dst) == n {
		// No unique key with values: the row's own identity, before and
		// after, orders it.
		for _, row := range [][]any{c.Before, c.After} {
			if row == nil {
				continue
			}
			var b strings.Builder
			b.WriteString(table)
			for _, col := range c.Key {
				b.WriteByte(0)
				writeValue(&b, row[col], foldAt(c.Plan.Fold, col), true)
			}
			dst = append(dst, b.String())
		}
	}
	return dst
}

// writeValue renders a key value for comparison. fold renders text as a
// case-insensitive collation compares it (FoldText); pad drops trailing
// spaces, which every PAD SPACE collation (_bin ones included) ignores:
// two values that may be one key to the target must render alike, while
// rendering distinct values alike only costs parallelism. Binary strings
// ([]byte) compare byte for byte.
func writeValue(b *strings.Builder, v any, fold, pad bool) {
	switch x := v.(type) {
	case string:
		switch {
		case fold:
			b.WriteString(FoldText(x))
		case pad:
			b.WriteString(strings.TrimRight(x, " "))
		default:
			b.WriteString(x)
		}
	case []byte:
		b.Write(x)
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case uint64:
		b.WriteString(strconv.FormatUint(x, 10))
	default:
		fmt.Fprint(b, x)
	}
}

// Planned is a unit of a batch with the statements of its changes.
type Planned struct {
	Unit
	Stmts []Stmt
}

// PlanBatch plans a batch of row changes for workers connections: ends
// holds, for each upstream transaction in order, the index in changes
// after its last change (strictly growing; the last is len(changes)).
// Each transaction's write set is WriteSet over its changes; the
// transactions are grouped into units by Plan (at most maxRows rows each
// unless one transaction is larger) and each unit's changes turned into
// Statements.
func PlanBatch(changes []Change, ends []int, uniques Uniques, workers, maxRows, perStmt int) []Planned {
	txns := make([]Txn, len(ends))
	var keys []string
	from := 0
	for i, end := range ends {
		keys = keys[:0]
		for j := from; j < end; j++ {
			c := &changes[j]
			keys = WriteSet(keys, c, uniques[c.Plan])
		}
		txns[i] = Txn{Keys: append([]string(nil), keys...), Rows: end - from}
		from = end
	}
	units := Plan(txns, workers, maxRows)
	out := make([]Planned, len(units))
	for i, u := range units {
		from := 0
		if u.First > 0 {
			from = ends[u.First-1]
		}
		out[i] = Planned{Unit: u, Stmts: Statements(changes[from:ends[u.End-1]], uniques, perStmt)}
	}
	return out
}

// LoadFile appends to dst the rows of changes in the format of
// sqlgen.AppendTSVRow, for one LOAD DATA ... REPLACE that writes what
// their INSERT (or safe mode's REPLACE) would, and reports whether it can:
// changes are all inserts of one plan whose written columns are all Text
// (rules.TablePlan.Text), in one mode, and every value has a text form.
// When it cannot, dst may hold part of the rows.
func LoadFile(dst []byte, changes []Change) ([]byte, bool) {
	if len(changes) == 0 || !changes[0].Plan.Text() || !onePlan(changes) {
		return dst, false
	}
	p, safe := changes[0].Plan, changes[0].Safe
	for i := range changes {
		c := &changes[i]
		if c.Kind != dmnode.Insert || c.Safe != safe {
			return dst, false
		}
		var ok bool
		if dst, ok = sqlgen.AppendTSVRow(dst, p.WriteRow(c.After)); !ok {
			return dst, false
		}
	}
	return dst, true
}
