package verify

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// Tables without a primary key or a unique key on NOT NULL columns are
// compared as multisets of rows: each side counts its rows per row digest
// (the digest of every column, as for keyed rows), and a digest counted
// more often upstream than on the target is that many missing rows, one
// counted more often on the target that many extra rows. A row changed on
// the target so shows as one missing (its upstream values) and one extra
// (its target values); rows are named by their values, as there is no
// key. A merged target table is checked against the union of its
// upstream tables; extracted columns are not compared (the digests cover
// the upstream columns), and a keyless table with a column mapping or an
// expression filter is skipped, with the reason.
//
// The pass goes through the digests in order, ChunkRows distinct digests
// at a time, each chunk read on every side at the step's position; each
// chunk costs the server one scan of the table (digests are not indexed),
// so keyless tables are best small. In fast mode one checksum per side
// (row count and the sum of the digests' first 60 bits) is compared
// first, and the chunks are read only when it differs.

// bindKeyless prepares the multiset comparison of an upstream table
// without a key; it returns why the table cannot be compared, or "".
func (tr *tableRun) bindKeyless(u *upRun, target *schema.Table) string {
	if u.plan.MappedColumn() >= 0 {
		return u.id + " has no key and a column mapping: it cannot be compared as a multiset of rows"
	}
	if u.plan.FiltersRows() {
		return u.id + " has no key and expression filters: it cannot be compared as a multiset of rows"
	}
	u.qname = sqlgen.QuoteTable(u.table.Schema, u.table.Name)
	names := u.table.ColumnNames()
	if tr.keyCols == nil {
		tr.keyCols = names
	} else if !slices.EqualFunc(names, tr.keyCols, strings.EqualFold) {
		return fmt.Sprintf("its upstream tables have no key and different columns: (%s) and (%s)", strings.Join(tr.keyCols, ", "), strings.Join(names, ", "))
	}
	for _, n := range names {
		if _, ok := column(target, n); !ok {
			return fmt.Sprintf("the target table has no column %s, which %s has", n, u.id)
		}
	}
	u.sel = []string{digestExpr(u.table.Columns)}
	u.tsel = u.sel
	return ""
}

// workKeyless runs the multiset comparison until it is done (true) or the
// step's budget is spent (false).
func (tr *tableRun) workKeyless(ctx context.Context, b *budget) (bool, error) {
	cur := &tr.st.Target
	if tr.opt.Fast && cur.After == nil {
		equal, err := tr.keylessChecksum(ctx)
		if err != nil {
			return false, err
		}
		b.used = true
		if equal {
			cur.Done = true
		}
	}
	for !cur.Done {
		if b.spent() {
			return false, nil
		}
		if err := tr.keylessChunk(ctx); err != nil {
			return false, err
		}
		b.used = true
	}
	for _, u := range tr.ups {
		u.cur.Done = true
	}
	tr.st.finish()
	return true, nil
}

// keylessChecksum compares the whole table by one checksum per side and
// counts its rows when they agree.
func (tr *tableRun) keylessChecksum(ctx context.Context) (bool, error) {
	var n int64
	sum := new(big.Int)
	var xor uint64
	for _, u := range tr.ups {
		c, s, x, err := multisetChecksum(ctx, u.db, u.qname, u.sel[0])
		if err != nil {
			return false, fmt.Errorf("%s: read source: %w", u.id, err)
		}
		n += c
		sum.Add(sum, s)
		xor ^= x
	}
	tn, tsum, _, err := multisetChecksum(ctx, tr.tdb, tr.qname, tr.ups[0].sel[0])
	if err != nil {
		return false, fmt.Errorf("read target: %w", err)
	}
	if n != tn || sum.Cmp(tsum) != 0 {
		return false, nil
	}
	tr.rep.RowsCompared += n
	tr.rep.TargetRowsScanned += tn
	tr.rep.Checksum ^= xor
	return true, nil
}

func multisetChecksum(ctx context.Context, q actors.Queryer, table, digest string) (int64, *big.Int, uint64, error) {
	var n int64
	var sum string
	var xor uint64
	err := q.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(CAST(CONV(LEFT(d, 15), 16, 10) AS UNSIGNED)), 0), "+
		"COALESCE(BIT_XOR(CAST(CONV(LEFT(d, 16), 16, 10) AS UNSIGNED)), 0) FROM (SELECT "+digest+" AS d FROM "+table+") AS x").Scan(&n, &sum, &xor)
	if err != nil {
		return 0, nil, 0, err
	}
	s, ok := new(big.Int).SetString(strings.TrimSuffix(sum, ".0"), 10)
	if !ok {
		return 0, nil, 0, fmt.Errorf("checksum %q is not a number", sum)
	}
	return n, s, xor, nil
}

// keylessChunk compares the next ChunkRows distinct digests.
func (tr *tableRun) keylessChunk(ctx context.Context) error {
	cur := &tr.st.Target
	after := ""
	if len(cur.After) == 1 {
		after = string(cur.After[0])
	}
	limit := tr.opt.ChunkRows
	// Each side returns up to limit digests; only those up to the
	// smallest last digest of a full answer are known on every side.
	bound, full := "", false
	read := func(q actors.Queryer, table, digest string, into map[string]int64) error {
		counts, last, err := groupDigests(ctx, q, table, digest, after, limit)
		if err != nil {
			return err
		}
		for d, n := range counts {
			into[d] += n
		}
		if len(counts) == limit && (!full || last < bound) {
			bound, full = last, true
		}
		return nil
	}
	src, tgt := map[string]int64{}, map[string]int64{}
	for _, u := range tr.ups {
		if err := read(u.db, u.qname, u.sel[0], src); err != nil {
			return fmt.Errorf("%s: read source: %w", u.id, err)
		}
	}
	if err := read(tr.tdb, tr.qname, tr.ups[0].sel[0], tgt); err != nil {
		return fmt.Errorf("read target: %w", err)
	}
	digests := make([]string, 0, len(src)+len(tgt))
	for d := range src {
		digests = append(digests, d)
	}
	for d := range tgt {
		if _, ok := src[d]; !ok {
			digests = append(digests, d)
		}
	}
	slices.Sort(digests)
	for _, d := range digests {
		if full && d > bound {
			break
		}
		s, t := src[d], tgt[d]
		tr.rep.RowsCompared += s
		tr.rep.TargetRowsScanned += t
		if s%2 == 1 {
			w, err := digestWord(d)
			if err != nil {
				return err
			}
			tr.rep.Checksum ^= w
		}
		if s == t {
			continue
		}
		k, n := missing, s-t
		if t > s {
			k, n = extra, t-s
		}
		vals, err := tr.rowValues(ctx, k, d)
		if err != nil {
			return err
		}
		for range n {
			tr.rep.add(k, vals)
		}
	}
	if full {
		cur.After = [][]byte{[]byte(bound)}
	} else {
		cur.Done = true
	}
	return nil
}

// groupDigests counts the rows of a table per digest, for the limit
// smallest digests after after ("": from the start); last is the largest
// digest returned.
func groupDigests(ctx context.Context, q actors.Queryer, table, digest, after string, limit int) (map[string]int64, string, error) {
	query := "SELECT d, COUNT(*) FROM (SELECT " + digest + " AS d FROM " + table + ") AS x"
	var args []any
	if after != "" {
		query += " WHERE d > ?"
		args = append(args, after)
	}
	query += " GROUP BY d ORDER BY d LIMIT " + strconv.Itoa(limit)
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	out := map[string]int64{}
	last := ""
	for rows.Next() {
		var d string
		var n int64
		if err := rows.Scan(&d, &n); err != nil {
			return nil, "", err
		}
		out[d] += n
		last = d
	}
	return out, last, rows.Err()
}

// rowValues names a row of a keyless table by its values, read from a side
// that holds a row with the digest (an upstream table for a missing row,
// the target for an extra one); nil once the report has no room for more
// samples.
func (tr *tableRun) rowValues(ctx context.Context, k kind, digest string) ([]string, error) {
	if !tr.rep.room(k) {
		return nil, nil
	}
	sel := quoteAll(tr.keyCols)
	lookup := func(q actors.Queryer, table, expr string) ([]string, error) {
		rows, err := q.QueryContext(ctx, "SELECT "+strings.Join(sel, ", ")+" FROM "+table+" WHERE "+expr+" = ? LIMIT 1", digest)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		if !rows.Next() {
			return nil, rows.Err()
		}
		raw := make([]sql.RawBytes, len(sel))
		ptrs := make([]any, len(raw))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out := make([]string, len(raw))
		for i, b := range raw {
			switch {
			case b == nil:
				out[i] = "NULL"
			case !utf8.Valid(b):
				out[i] = "0x" + hex.EncodeToString(b)
			default:
				out[i] = string(b)
			}
		}
		return out, nil
	}
	if k == extra {
		vals, err := lookup(tr.tdb, tr.qname, tr.ups[0].sel[0])
		if err != nil {
			return nil, fmt.Errorf("read target: %w", err)
		}
		return vals, nil
	}
	for _, u := range tr.ups {
		vals, err := lookup(u.db, u.qname, u.sel[0])
		if err != nil {
			return nil, fmt.Errorf("%s: read source: %w", u.id, err)
		}
		if vals != nil {
			return vals, nil
		}
	}
	return nil, nil
}
