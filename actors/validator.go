package actors

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
	"github.com/dmnode/dmnode/jetstream"
)

// Validator is DM's continuous validator for one task and source. It reads
// the source's binlog stream as the applier does, with the task's rules
// (block-allow-list, binlog event and expression filters, routes, column
// mapping), and keeps the key of every row a change touched as pending.
// Once the applier's checkpoint on the target has passed the change, it
// reads the row again from the source and from the target and compares
// them: in mode full every column, by the row digest task verify uses
// (RowDigestExpr) and the mapped column's value after mapping; in mode
// fast only whether the row exists on both sides. An equal row is done. A
// different one is compared again every check-interval, and reported as a
// validation error when it stays different for row-error-delay, unless a
// newer change of the row arrives first (the comparison starts afresh).
//
// The validator is a reader beside the applier: it never writes to the
// target and never holds the applier or the relay. Its position, counts
// and errors live in the KV (ValidatorState); a new incarnation reads the
// stream again after the position, where every row before was settled.
type Validator struct {
	env    Env
	task   string
	source string
}

// valRow is one pending row.
type valRow struct {
	id    string
	plan  *rules.TablePlan
	up    dmnode.TableID
	upCol []string // upstream key columns
	upKey []any
	tCol  []string // target key columns
	tKey  []any
	end   dmnode.Position // the last change of the row read
	txn   uint64          // ordinal of that change's transaction
	// failSince is when the row was first found different since its
	// last change; next when it is compared again.
	failSince time.Time
	next      time.Time
	kind      string
}

// valTxn counts the pending rows whose last change is in a transaction.
type valTxn struct {
	end dmnode.Position
	n   int
}

type valRun struct {
	v     *Validator
	te    *taskEnv
	set   config.ValidateSettings
	sdb   *sql.DB
	tdb   *sql.DB
	plans map[string]*rules.TablePlan
	// upTables caches the upstream tables' schemas, read from the source
	// (cleared by every DDL read).
	upMu     sync.Mutex
	upTables map[dmnode.TableID]*schema.Table

	pending map[string]*valRow
	applied dmnode.Position // the applier's checkpoint, as last read
	stopped bool            // by validation stop, until validation start
	txns    []valTxn        // from ordinal base on
	base    uint64
	read    dmnode.Position
	pos     dmnode.Position

	// counts since the last flush, and errors found
	checked, skipped int64
	// gaps counts the stretches of binlog purged from the relay before
	// they were read, gapEnd where the last one ended.
	gaps   int64
	gapEnd dmnode.Position
	found  []ValidationError
	dirty  bool

	asm   jetstream.Assembler
	parts []dmnode.Change // changes of the part sequence being read
}

// valOpenSource and valOpenTarget open the validator's connections:
// OpenDB and OpenTarget (a test gives stand-ins).
var valOpenSource, valOpenTarget = OpenDB, OpenTarget

func (v *Validator) Run(ctx context.Context) error {
	te, err := loadTask(v.env, v.task, v.source)
	if err != nil {
		return err
	}
	set := te.inst.Validate
	if te.state.Stage != catalog.StageSync || (set.Mode != config.ValidateFast && set.Mode != config.ValidateFull) {
		return nil
	}
	workers := max(1, set.WorkerCount)
	sdb, err := valOpenSource(ctx, te.source.From, workers)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer sdb.Close()
	tdb, err := valOpenTarget(ctx, te.task.TargetDatabase, workers+1)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer tdb.Close()
	st, err := UpdateValidatorState(ctx, v.env.Store, v.task, v.source, func(s *ValidatorState) error {
		s.Mode = set.Mode
		return nil
	})
	if err != nil {
		return err
	}
	r := &valRun{v: v, te: te, set: set, sdb: sdb, tdb: tdb, plans: map[string]*rules.TablePlan{},
		upTables: map[dmnode.TableID]*schema.Table{}, pending: map[string]*valRow{}, pos: st.Position, stopped: st.Stopped}
	if r.pos.IsZero() {
		// A new validator compares what the task replicates from its start.
		r.pos = te.state.Start
	}
	r.read = r.pos
	relay, err := v.env.Store.Relay(ctx, v.source)
	if err != nil {
		return err
	}
	if err := r.checkPurged(ctx); err != nil {
		return err
	}
	seq, err := firstAfter(ctx, relay, r.pos)
	if err != nil {
		return err
	}
	v.env.Log.Info("validating", "mode", set.Mode, "from", r.pos.String(), "stream_seq", seq, "row_error_delay", set.RowErrorDelay)
	rd, err := jetstream.OpenRelayReader(ctx, relay, seq)
	if err != nil {
		return err
	}
	defer rd.Stop()
	stop := context.AfterFunc(ctx, rd.Stop)
	defer stop()
	defer func() {
		// What was found is kept, also when the run ends on an error.
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.flush(fctx)
	}()
	lastCheck, lastFlush := time.Time{}, time.Now()
	for ctx.Err() == nil {
		if r.reading() {
			h, data, skipped, ok, err := rd.Next(validateTick)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				return err
			case ok:
				if skipped > 0 {
					if err := r.checkPurged(ctx, "messages", skipped); err != nil {
						return err
					}
				}
				if err := r.message(ctx, h, data); err != nil {
					return err
				}
			}
		} else {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(validateTick):
			}
		}
		if time.Since(lastCheck) >= validateTick && len(r.pending) > 0 && !r.stopped {
			if err := r.check(ctx); err != nil {
				return err
			}
			lastCheck = time.Now()
		}
		if time.Since(lastFlush) >= validateFlush {
			if err := r.flush(ctx); err != nil {
				return err
			}
			lastFlush = time.Now()
		}
	}
	return nil
}

// reading reports whether the validator reads the stream now: not while
// stopped (validation stop), nor while max-pending-row-count rows are
// pending, nor while validateReadAhead rows wait for an applier that has
// not passed the last transaction read, so that a lagging applier does not
// make the validator hold the whole backlog.
func (r *valRun) reading() bool {
	n := len(r.pending)
	return !r.stopped && n < r.set.MaxPendingRowCount && (n < validateReadAhead || r.read.Compare(r.applied) <= 0)
}

// validateReadAhead bounds the pending rows read past the applier.
const validateReadAhead = 20000

// How often pending rows are looked at, and the state saved.
const (
	validateTick  = 200 * time.Millisecond
	validateFlush = time.Second
)

// message reads one stream message: a batch of transactions, or a part of
// a transaction too big for one message.
func (r *valRun) message(ctx context.Context, h jetstream.RelayHeaders, payload []byte) error {
	src := r.v.source
	if !h.Part {
		b, err := jetstream.DecodeBatch(payload)
		if err != nil {
			return Permanent(fmt.Errorf("stream of source %s: %w", src, err))
		}
		for i := range b.Txns {
			if err := r.txn(ctx, b.Txns[i].Changes, b.Txns[i].End); err != nil {
				return err
			}
		}
		return nil
	}
	if h.N == 0 {
		r.asm.Reset()
		r.parts = r.parts[:0]
	}
	data, whole, err := r.asm.Add(payload)
	if err != nil || r.asm.Dropped > 0 {
		return fmt.Errorf("stream of source %s: transaction at %s, message %d: fragments broken: %v", src, h.Begin, h.N, err)
	}
	if !whole {
		return nil
	}
	t, err := jetstream.DecodeTxnPart(data)
	if err != nil {
		return Permanent(fmt.Errorf("stream of source %s: transaction at %s: %w", src, h.Begin, err))
	}
	r.parts = append(r.parts, t.Changes...)
	if !h.Last {
		return nil
	}
	changes := r.parts
	r.parts = nil
	return r.txn(ctx, changes, h.End)
}

// txn makes the rows a transaction changed pending.
func (r *valRun) txn(ctx context.Context, changes []dmnode.Change, end dmnode.Position) error {
	if end.Compare(r.read) <= 0 {
		return nil // read before
	}
	ord := r.base + uint64(len(r.txns))
	r.txns = append(r.txns, valTxn{end: end})
	for i := range changes {
		c := &changes[i]
		if c.DDL != "" {
			r.upMu.Lock()
			clear(r.upTables)
			r.upMu.Unlock()
			clear(r.plans)
			continue
		}
		if err := r.change(c, end, ord); err != nil {
			return err
		}
	}
	r.read, r.dirty = end, true
	r.advance()
	return nil
}

// change makes the rows of one rows event pending, as the applier would
// write them.
func (r *valRun) change(c *dmnode.Change, end dmnode.Position, ord uint64) error {
	rl := r.te.rules
	if len(c.Rows) == 0 || !rl.Replicated(c.Table.Schema, c.Table.Table) {
		return nil
	}
	skip, err := rl.FilterDML(c.Table.Schema, c.Table.Table, c.Rows[0].Kind)
	if err != nil || skip {
		return nil // the applier reports the filter's error
	}
	if len(c.Key) == 0 {
		r.skipped += int64(len(c.Rows))
		return nil
	}
	pkey := c.Table.Schema + "\x00" + c.Table.Table + "\x00" + strings.Join(c.Columns, "\x00")
	p := r.plans[pkey]
	if p == nil {
		if p, err = rl.Plan(c.Table.Schema, c.Table.Table, c.Columns); err != nil {
			return nil // the applier reports it
		}
		r.plans[pkey] = p
	}
	tkey := TargetKey(p, c.Key, len(c.Columns))
	upCol, tCol := make([]string, len(c.Key)), make([]string, len(tkey))
	for i, k := range c.Key {
		upCol[i] = c.Columns[k]
	}
	for i, k := range tkey {
		tCol[i] = p.Columns[k]
	}
	for _, rc := range c.Rows {
		if drop, err := p.DropRow(rc.Kind, rc.Before, rc.After); err != nil || drop {
			continue
		}
		for _, img := range [][]any{rc.Before, rc.After} {
			if img == nil {
				continue
			}
			t, err := p.Apply(img)
			if err != nil {
				continue
			}
			row := &valRow{plan: p, up: c.Table, upCol: upCol, upKey: pick(img, c.Key), tCol: tCol, tKey: pick(t, tkey)}
			row.id = c.Table.Schema + "\x00" + c.Table.Table + "\x00" + valKeyString(row.upKey)
			r.add(row, end, ord)
		}
	}
	return nil
}

// add makes a row pending, replacing an earlier change of the same row.
func (r *valRun) add(row *valRow, end dmnode.Position, ord uint64) {
	if old, ok := r.pending[row.id]; ok {
		r.txns[old.txn-r.base].n--
	}
	row.end, row.txn = end, ord
	r.pending[row.id] = row
	r.txns[ord-r.base].n++
}

// done settles a pending row.
func (r *valRun) done(row *valRow) {
	delete(r.pending, row.id)
	r.txns[row.txn-r.base].n--
	r.dirty = true
}

// advance moves the position past the transactions with no pending row.
func (r *valRun) advance() {
	i := 0
	for i < len(r.txns) && r.txns[i].n == 0 {
		r.pos = r.txns[i].end
		i++
	}
	r.txns = r.txns[i:]
	r.base += uint64(i)
}

// check compares the pending rows the applier has applied and that are
// due, at most batch-query-size per worker.
func (r *valRun) check(ctx context.Context) error {
	applied, err := readCheckpoint(ctx, r.tdb, r.v.task, r.v.source)
	if err != nil || applied.IsZero() {
		return nil // no checkpoint yet: the applier has applied nothing
	}
	r.applied = applied
	now := time.Now()
	workers := max(1, r.set.WorkerCount)
	limit := workers * max(1, r.set.BatchQuerySize)
	var due []*valRow
	for _, row := range r.pending {
		if row.end.Compare(applied) <= 0 && !now.Before(row.next) {
			due = append(due, row)
			if len(due) >= limit {
				break
			}
		}
	}
	if len(due) == 0 {
		return nil
	}
	kinds := make([]string, len(due))
	errs := make([]error, len(due))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(due); i += workers {
				kinds[i], errs[i] = r.compare(ctx, due[i])
			}
		})
	}
	wg.Wait()
	for i, row := range due {
		if errs[i] != nil {
			return errs[i]
		}
		switch {
		case kinds[i] == "":
			r.checked++
			r.done(row)
		case row.failSince.IsZero() || now.Sub(row.failSince) < r.set.RowErrorDelay:
			if row.failSince.IsZero() {
				row.failSince = now
			}
			row.kind, row.next = kinds[i], now.Add(r.set.CheckInterval)
		default:
			r.found = append(r.found, ValidationError{Kind: kinds[i], Table: sqlgen.QuoteTable(row.up.Schema, row.up.Table),
				Target: sqlgen.QuoteTable(row.plan.TargetSchema, row.plan.TargetTable), Key: displayValKey(row.tCol, row.tKey),
				Position: row.end, Time: now.UTC()})
			r.v.env.Log.Warn("validation error", "kind", kinds[i], "table", row.up.String(), "key", strings.Join(displayValKey(row.tCol, row.tKey), ", "))
			r.done(row)
		}
	}
	r.advance()
	return nil
}

// compare reads a row from the source and the target: "" when they agree,
// else the kind of difference.
func (r *valRun) compare(ctx context.Context, row *valRow) (string, error) {
	up, err := r.upTable(ctx, row.up)
	if isMissingTable(err) {
		return "", nil // dropped upstream since: nothing to compare
	}
	if err != nil {
		return "", err
	}
	// The column the column mapping rewrites differs between the sides by
	// design: it is left out of the digest, and compared after mapping
	// unless it is part of the key, which the target row was found by.
	m := row.plan.MappedColumn()
	mapped := -1
	if m >= 0 && !containsFold(row.upCol, row.plan.Columns[m]) {
		mapped = m
	}
	full := r.set.Mode == config.ValidateFull
	sel, tsel := "1", "1"
	var upMapped schema.Column
	if full {
		var cols []schema.Column
		for _, c := range up.Columns {
			if m >= 0 && strings.EqualFold(c.Name, row.plan.Columns[m]) {
				upMapped = c
				continue
			}
			cols = append(cols, c)
		}
		sel = RowDigestExpr(cols)
		tsel = sel
		if mapped >= 0 {
			sel += ", " + sqlgen.QuoteIdent(upMapped.Name)
			tsel += ", " + sqlgen.QuoteIdent(row.plan.Columns[mapped])
		}
	}
	src, err := readOne(ctx, r.sdb, sel, sqlgen.QuoteTable(row.up.Schema, row.up.Table), row.upCol, row.upKey)
	if isMissingTable(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("validate: read source %s: %w", row.up, err)
	}
	dst, err := readOne(ctx, r.tdb, tsel, sqlgen.QuoteTable(row.plan.TargetSchema, row.plan.TargetTable), row.tCol, row.tKey)
	if isMissingTable(err) {
		dst, err = nil, nil
	}
	if err != nil {
		return "", fmt.Errorf("validate: read target %s.%s: %w", row.plan.TargetSchema, row.plan.TargetTable, err)
	}
	switch {
	case src == nil && dst == nil:
		return "", nil
	case dst == nil:
		return ValidationMissing, nil
	case src == nil:
		return ValidationExtra, nil
	case !full:
		return "", nil
	case src[0] != dst[0]:
		return ValidationDifferent, nil
	}
	if mapped >= 0 {
		// The upstream value, mapped as the applier maps it.
		v, err := ScanValue(upMapped, []byte(src[1]))
		if err != nil {
			return "", err
		}
		img := make([]any, len(row.plan.Columns)-len(row.plan.Extra))
		img[mapped] = v
		t, err := row.plan.Apply(img)
		if err != nil {
			return "", err
		}
		if valText(t[mapped]) != dst[1] {
			return ValidationDifferent, nil
		}
	}
	return "", nil
}

// readOne reads the selected expressions of the row with the given key;
// nil when there is none. NULL reads as "".
func readOne(ctx context.Context, db *sql.DB, sel, table string, cols []string, key []any) ([]string, error) {
	where := make([]string, len(cols))
	for i, c := range cols {
		where[i] = sqlgen.QuoteIdent(c) + " = ?"
	}
	rows, err := db.QueryContext(ctx, "SELECT "+sel+" FROM "+table+" WHERE "+strings.Join(where, " AND ")+" LIMIT 1", key...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	n, _ := rows.Columns()
	raw := make([]sql.RawBytes, len(n))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := make([]string, len(raw))
	for i, b := range raw {
		out[i] = string(b)
	}
	return out, rows.Err()
}

// upTable returns an upstream table's current schema, read from the source.
func (r *valRun) upTable(ctx context.Context, id dmnode.TableID) (*schema.Table, error) {
	r.upMu.Lock()
	t, ok := r.upTables[id]
	r.upMu.Unlock()
	if ok {
		return t, nil
	}
	t, err := ShowCreateTable(ctx, r.sdb, id)
	if err != nil {
		return nil, err
	}
	r.upMu.Lock()
	r.upTables[id] = t
	r.upMu.Unlock()
	return t, nil
}

// checkPurged records binlog the relay purged after what the validator
// read (its retention follows the appliers, not the validator, and records
// where the relay starts before it purges): those rows are not compared,
// and the state counts the gap with where it ended (validation status).
func (r *valRun) checkPurged(ctx context.Context, attrs ...any) error {
	start, err := jetstream.LoadRelayStart(ctx, r.v.env.Store, r.v.source)
	if err != nil || !relayGap(r.read, start) {
		return err
	}
	r.v.env.Log.Warn("binlog purged from the relay before the validator read it: its rows are not compared",
		append([]any{"read", r.read.String(), "relay_starts_after", start.String()}, attrs...)...)
	r.gaps++
	r.gapEnd = start
	return nil
}

// flush saves the position, the counts and the errors found.
func (r *valRun) flush(ctx context.Context) error {
	checked, skipped, gaps, found := r.checked, r.skipped, r.gaps, r.found
	var stopped bool
	if !r.dirty && len(found) == 0 && checked == 0 && skipped == 0 && gaps == 0 {
		// Nothing new to save: only look whether validation stop or
		// start was asked.
		var s ValidatorState
		if _, err := r.v.env.Store.Load(ctx, ValidatorKey(r.v.task, r.v.source), &s); err != nil {
			return err
		}
		r.setStopped(s.Stopped)
		return nil
	}
	st, err := UpdateValidatorState(ctx, r.v.env.Store, r.v.task, r.v.source, func(s *ValidatorState) error {
		s.Mode = r.set.Mode
		s.Position, s.Read = r.pos, r.read
		s.Checked += checked
		s.Skipped += skipped
		if gaps > 0 {
			s.Gaps += gaps
			s.GapEnd = r.gapEnd
		}
		s.Pending = int64(len(r.pending))
		s.addErrors(found)
		stopped = s.Stopped
		return nil
	})
	if err != nil {
		return err
	}
	r.setStopped(stopped)
	r.checked, r.skipped, r.gaps, r.found, r.dirty = 0, 0, 0, nil, false
	_ = st
	return nil
}

func (r *valRun) setStopped(stopped bool) {
	if stopped != r.stopped {
		r.v.env.Log.Info("validation stop or start", "stopped", stopped)
		r.stopped = stopped
	}
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func pick(row []any, idx []int) []any {
	out := make([]any, len(idx))
	for i, k := range idx {
		if k < len(row) {
			out[i] = row[k]
		}
	}
	return out
}

// valText is a value's text as a server prints it.
func valText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// valKeyString is the canonical form of a key: the length-prefixed text of
// each value, NULL distinct from the empty string.
func valKeyString(key []any) string {
	var b []byte
	for _, v := range key {
		if v == nil {
			b = append(b, 0)
			continue
		}
		s := valText(v)
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return string(b)
}

func displayValKey(cols []string, key []any) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		if key[i] == nil {
			out[i] = c + "=NULL"
		} else {
			out[i] = c + "=" + valText(key[i])
		}
	}
	return out
}
