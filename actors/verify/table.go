package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// tableRun verifies one target table within one step.
type tableRun struct {
	st       *TableState
	rep      *TableReport
	opt      Options
	tdb      actors.Queryer  // the target's snapshot
	qname    string          // quoted target table
	keyCols  []string        // target key columns
	keyTypes []schema.Column // their target definitions, to read keys
	ups      []*upRun        // with an upstream cursor each
	// keyless: compared as multisets of rows (keyless.go); keyCols then
	// names every column, and the rows are named by their values.
	keyless bool
}

// upRun is one upstream table of a target table, ready to be read.
type upRun struct {
	*upstream
	cur     *Cursor
	qname   string   // quoted upstream table
	keyCols []string // upstream key columns
	tkey    []int    // indexes of the target key in the plan's columns
	fetch   []int    // upstream columns read as values: the key first
	// mapped is the plan column the column mapping rewrites when it lies
	// outside the key, compared by value; -1 otherwise.
	mapped     int
	mappedType schema.Column
	sel, tsel  []string // select lists on the source and on the target
}

// prepareTable checks that a target table can be verified and returns its
// run, or nil after marking it skipped.
func prepareTable(ctx context.Context, tdb actors.Queryer, ts *TableState, ups []*upstream, opt Options) (*tableRun, error) {
	tr := &tableRun{st: ts, rep: &ts.Report, opt: opt, tdb: tdb}
	byID := map[string]*upstream{}
	for _, u := range ups {
		byID[u.id] = u
	}
	for _, cur := range ts.Upstream {
		u := byID[cur.Table]
		if u == nil {
			if !cur.Done {
				cur.Done = true
				tr.rep.Notes = append(tr.rep.Notes, cur.Table+" no longer exists: verified up to where it was read")
			}
			continue
		}
		if u.err != nil {
			ts.skip(u.err.Error())
			return nil, nil
		}
		if len(tr.ups) > 0 && (len(u.table.Key) == 0) != tr.keyless {
			ts.skip("some of its upstream tables have a key and some have none")
			return nil, nil
		}
		tr.keyless = len(u.table.Key) == 0
		tr.ups = append(tr.ups, &upRun{upstream: u, cur: cur})
	}
	if len(tr.ups) == 0 {
		ts.skip("none of its upstream tables exists any more")
		return nil, nil
	}
	p := tr.ups[0].plan
	target, err := actors.ShowCreateTable(ctx, tdb, dmnode.TableID{Schema: p.TargetSchema, Table: p.TargetTable})
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1146 {
		ts.skip("the target table does not exist")
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	tr.qname = sqlgen.QuoteTable(p.TargetSchema, p.TargetTable)
	for _, u := range tr.ups {
		bind := tr.bind
		if tr.keyless {
			bind = tr.bindKeyless
		}
		if reason := bind(u, target); reason != "" {
			ts.skip(reason)
			return nil, nil
		}
	}
	tr.rep.KeyColumns, tr.rep.Keyless = tr.keyCols, tr.keyless
	return tr, nil
}

// bind derives how to read an upstream table and its rows on the target;
// it returns why the table cannot be verified, or "".
func (tr *tableRun) bind(u *upRun, target *schema.Table) string {
	cols := u.table.Columns
	u.qname = sqlgen.QuoteTable(u.table.Schema, u.table.Name)
	u.tkey = actors.TargetKey(u.plan, u.table.Key, len(cols))
	names := make([]string, len(u.tkey))
	for i, ti := range u.tkey {
		names[i] = u.plan.Columns[ti]
	}
	if tr.keyCols == nil {
		tr.keyCols = names
		for _, n := range names {
			c, ok := column(target, n)
			if !ok {
				return fmt.Sprintf("the target table has no column %s, part of the key of %s", n, u.id)
			}
			tr.keyTypes = append(tr.keyTypes, c)
		}
	} else if !slices.EqualFunc(names, tr.keyCols, strings.EqualFold) {
		return fmt.Sprintf("its upstream tables have different keys: (%s) and (%s)", strings.Join(tr.keyCols, ", "), strings.Join(names, ", "))
	}
	for _, k := range u.table.Key {
		u.keyCols = append(u.keyCols, cols[k].Name)
	}
	u.fetch = slices.Clone(u.table.Key)
	u.mapped = -1
	m := u.plan.MappedColumn()
	if m >= 0 && !slices.Contains(u.table.Key, m) {
		u.mapped = m
		u.fetch = append(u.fetch, m)
		if u.mappedType, _ = column(target, cols[m].Name); u.mappedType.Name == "" {
			return fmt.Sprintf("the target table has no column %s, which %s maps", cols[m].Name, u.id)
		}
	}
	if u.plan.FiltersRows() { // the filters read any column
		for i := range cols {
			if !slices.Contains(u.fetch, i) {
				u.fetch = append(u.fetch, i)
			}
		}
	}
	var digested []schema.Column
	for i, c := range cols {
		if i == m {
			continue
		}
		if _, ok := column(target, c.Name); !ok {
			return fmt.Sprintf("the target table has no column %s, which %s has", c.Name, u.id)
		}
		digested = append(digested, c)
	}
	digest := digestExpr(digested)
	for _, i := range u.fetch {
		u.sel = append(u.sel, sqlgen.QuoteIdent(cols[i].Name))
	}
	u.sel = append(u.sel, digest)
	for _, n := range tr.keyCols {
		u.tsel = append(u.tsel, sqlgen.QuoteIdent(n))
	}
	if u.mapped >= 0 {
		u.tsel = append(u.tsel, sqlgen.QuoteIdent(cols[m].Name))
	}
	u.tsel = append(u.tsel, digest)
	return ""
}

// column finds a column by name; MySQL column names are case-insensitive.
func column(t *schema.Table, name string) (schema.Column, bool) {
	for _, c := range t.Columns {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return schema.Column{}, false
}
