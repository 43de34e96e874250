package verify

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// work runs the table's passes chunk by chunk until both are done (true)
// or the step's budget is spent (false): first every upstream table
// against the target (missing and different rows), then the target's keys
// against the upstream tables (extra rows).
func (tr *tableRun) work(ctx context.Context, b *budget) (bool, error) {
	if tr.keyless {
		return tr.workKeyless(ctx, b)
	}
	for _, u := range tr.ups {
		for !u.cur.Done {
			if b.spent() {
				return false, nil
			}
			if err := tr.sourceChunk(ctx, u); err != nil {
				return false, fmt.Errorf("%s: %w", u.id, err)
			}
			b.used = true
		}
	}
	for !tr.st.Target.Done {
		if b.spent() {
			return false, nil
		}
		if err := tr.targetChunk(ctx); err != nil {
			return false, err
		}
		b.used = true
	}
	tr.st.finish()
	return true, nil
}

// sourceChunk verifies the next chunk of an upstream table: the rows it
// should have become on the target, compared row by row, or in fast mode
// by checksum first and row by row when the checksums differ.
func (tr *tableRun) sourceChunk(ctx context.Context, u *upRun) error {
	after, err := typedKey(keyColumns(u.table), u.cur.After)
	if err != nil {
		return err
	}
	q, args := chunkQuery(u.qname, u.sel, u.keyCols, after, tr.opt.ChunkRows)
	want, last, n, err := u.read(ctx, q, args)
	if err != nil {
		return err
	}
	if n == 0 {
		u.cur.Done = true
		return nil
	}
	tr.rep.RowsCompared += int64(want.len())
	tr.rep.RowsFiltered += int64(n - want.len())
	if want.len() > 0 {
		_, sum, err := want.checksum()
		if err != nil {
			return err
		}
		tr.rep.Checksum ^= sum
		bad, err := tr.compare(ctx, u, want)
		if err != nil {
			return err
		}
		for _, f := range bad {
			tr.rep.add(f.kind, displayKey(want.rows[f.key].key))
		}
	}
	u.cur.After = last
	u.cur.Done = n < tr.opt.ChunkRows
	return nil
}

// compare compares a chunk of expected rows with the target and returns
// the missing and different keys.
func (tr *tableRun) compare(ctx context.Context, u *upRun, want *chunk) ([]finding, error) {
	keys := want.keys(want.order)
	if tr.opt.Fast && u.mapped < 0 { // the checksum covers all that is compared
		count, sum, err := want.checksum()
		if err != nil {
			return nil, err
		}
		q, args := checksumQuery(tr.qname, u.tsel[len(u.tsel)-1], tr.keyCols, keys)
		var tcount int64
		var tsum uint64
		if err := tr.tdb.QueryRowContext(ctx, q, args...).Scan(&tcount, &tsum); err != nil {
			return nil, fmt.Errorf("checksum on the target: %w", err)
		}
		if tcount == count && tsum == sum {
			return nil, nil
		}
	}
	got, err := tr.targetRows(ctx, u, keys)
	if err != nil {
		return nil, err
	}
	return missingOrDifferent(diff(want, got, u.mapped >= 0)), nil
}

// missingOrDifferent drops extra keys: a lookup by key finds target rows
// whose key equals an expected one under the column's collation but not
// byte for byte; the pass over the target judges them.
func missingOrDifferent(fs []finding) []finding {
	out := fs[:0]
	for _, f := range fs {
		if f.kind != extra {
			out = append(out, f)
		}
	}
	return out
}

// read runs a query for upstream rows (select list u.sel) and returns the
// target rows they map to, the key of the last row read as the server
// printed it, and the number of rows read, including those an insert
// expression filter drops.
func (u *upRun) read(ctx context.Context, q string, args []any) (*chunk, [][]byte, int, error) {
	rows, err := u.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read source: %w", err)
	}
	defer rows.Close()
	cols := u.table.Columns
	raw := make([]sql.RawBytes, len(u.fetch)+1)
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	out := newChunk()
	var last [][]byte
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, 0, fmt.Errorf("read source: %w", err)
		}
		n++
		up := make([]any, len(cols))
		for j, ci := range u.fetch {
			if up[ci], err = actors.ScanValue(cols[ci], raw[j]); err != nil {
				return nil, nil, 0, fmt.Errorf("read column %s: %w", cols[ci].Name, err)
			}
		}
		last = last[:0]
		for j := range u.table.Key { // the key comes first in fetch
			last = append(last, bytes.Clone(raw[j]))
		}
		if u.plan.FiltersRows() {
			drop, err := u.plan.DropRow(dmnode.Insert, nil, up)
			if err != nil {
				return nil, nil, 0, err
			}
			if drop {
				continue
			}
		}
		t, err := u.plan.Apply(up)
		if err != nil {
			return nil, nil, 0, err
		}
		r := &row{key: pick(t, u.tkey), digest: string(raw[len(raw)-1]), up: pick(up, u.table.Key)}
		if u.mapped >= 0 {
			r.mapped = t[u.mapped]
		}
		out.put(r)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, 0, fmt.Errorf("read source: %w", err)
	}
	return out, last, n, nil
}

// targetRows reads the target rows with the given keys (select list
// u.tsel: key, mapped column, digest).
func (tr *tableRun) targetRows(ctx context.Context, u *upRun, keys [][]any) (*chunk, error) {
	q, args := keysQuery(tr.qname, u.tsel, tr.keyCols, keys)
	rows, err := tr.tdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read target: %w", err)
	}
	defer rows.Close()
	raw := make([]sql.RawBytes, len(u.tsel))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	out := newChunk()
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read target: %w", err)
		}
		key, err := typedKey(tr.keyTypes, raw[:len(tr.keyCols)])
		if err != nil {
			return nil, err
		}
		r := &row{key: key, digest: string(raw[len(raw)-1])}
		if u.mapped >= 0 {
			if r.mapped, err = actors.ScanValue(u.mappedType, raw[len(tr.keyCols)]); err != nil {
				return nil, fmt.Errorf("read target column %s: %w", u.mappedType.Name, err)
			}
		}
		out.put(r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read target: %w", err)
	}
	return out, nil
}

// targetChunk checks the next chunk of target keys for extra rows: keys
// that no upstream table holds.
func (tr *tableRun) targetChunk(ctx context.Context) error {
	cur := &tr.st.Target
	after, err := typedKey(tr.keyTypes, cur.After)
	if err != nil {
		return err
	}
	sel := quoteAll(tr.keyCols)
	q, args := chunkQuery(tr.qname, sel, tr.keyCols, after, tr.opt.ChunkRows)
	keys, last, err := readKeys(ctx, tr.tdb, tr.keyTypes, q, args)
	if err != nil {
		return fmt.Errorf("read target: %w", err)
	}
	if len(keys) == 0 {
		cur.Done = true
		return nil
	}
	tr.rep.TargetRowsScanned += int64(len(keys))
	orphans, err := tr.orphans(ctx, keys)
	if err != nil {
		return err
	}
	for _, k := range orphans {
		tr.rep.add(extra, displayKey(k))
	}
	cur.After = last
	cur.Done = len(keys) < tr.opt.ChunkRows
	return nil
}

// orphans returns the target keys that no upstream row maps to. For each
// upstream table it keeps the keys the table can have produced (Unapply)
// and asks the source for their upstream keys.
func (tr *tableRun) orphans(ctx context.Context, keys [][]any) ([][]any, error) {
	found := make([]bool, len(keys))
	for _, u := range tr.ups {
		var idx []int
		var ups [][]any
		for i, k := range keys {
			if found[i] {
				continue
			}
			trow := make([]any, len(u.plan.Columns))
			for j, ti := range u.tkey {
				trow[ti] = k[j]
			}
			up, ok := u.plan.Unapply(trow)
			if !ok {
				continue
			}
			idx = append(idx, i)
			ups = append(ups, pick(up, u.table.Key))
		}
		if len(ups) == 0 {
			continue
		}
		q, args := keysQuery(u.qname, quoteAll(u.keyCols), u.keyCols, ups)
		present, _, err := readKeys(ctx, u.db, keyColumns(u.table), q, args)
		if err != nil {
			return nil, fmt.Errorf("%s: read source: %w", u.id, err)
		}
		have := make(map[string]bool, len(present))
		for _, k := range present {
			have[keyString(k)] = true
		}
		for n, i := range idx {
			if have[keyString(ups[n])] {
				found[i] = true
			}
		}
	}
	var out [][]any
	for i, k := range keys {
		if !found[i] {
			out = append(out, k)
		}
	}
	return out, nil
}

// readKeys runs a query that selects key columns of the given types and
// returns the keys and the last one as the server printed it.
func readKeys(ctx context.Context, db actors.Queryer, cols []schema.Column, q string, args []any) ([][]any, [][]byte, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	raw := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	var keys [][]any
	var last [][]byte
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		k, err := typedKey(cols, raw)
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, k)
		last = last[:0]
		for _, b := range raw {
			last = append(last, bytes.Clone(b))
		}
	}
	return keys, last, rows.Err()
}

// typedKey converts key values as the server printed them into values;
// nil (no key yet) stays nil.
func typedKey[B ~[]byte](cols []schema.Column, raw []B) ([]any, error) {
	if raw == nil {
		return nil, nil
	}
	if len(raw) != len(cols) {
		return nil, fmt.Errorf("key has %d values, want %d", len(raw), len(cols))
	}
	out := make([]any, len(raw))
	for i, b := range raw {
		v, err := actors.ScanValue(cols[i], b)
		if err != nil {
			return nil, fmt.Errorf("key column %s: %w", cols[i].Name, err)
		}
		out[i] = v
	}
	return out, nil
}

func keyColumns(t *schema.Table) []schema.Column {
	out := make([]schema.Column, len(t.Key))
	for i, k := range t.Key {
		out[i] = t.Columns[k]
	}
	return out
}

func pick(row []any, idx []int) []any {
	out := make([]any, len(idx))
	for i, j := range idx {
		out[i] = row[j]
	}
	return out
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = sqlgen.QuoteIdent(n)
	}
	return out
}
