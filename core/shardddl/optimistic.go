package shardddl

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// parked is a conflicting DDL holding a member in optimistic mode.
type parked struct {
	Arrival  Arrival       `json:"arrival"`
	Conflict *ConflictInfo `json:"conflict"`
	// Columns and Indexes must have the same definition (or be absent) on
	// every member's final schema before the DDL can go to the target.
	Columns []string `json:"columns,omitempty"`
	Indexes []string `json:"indexes,omitempty"`
	Renames []Rename `json:"renames,omitempty"`
	// Manual conflicts are resolved by Unlock only.
	Manual bool `json:"manual,omitempty"`
}

func (l *lock) arriveOptimistic(ms *memberState, a Arrival, ready bool) (Outcome, error) {
	k := ms.Member.String()
	if p := l.Pending; p != nil {
		if p.Member == k && p.Pos.Compare(a.Pos) == 0 {
			return execute(l.ID, p.Stmts), nil
		}
		return wait(l.ID, "%s is executing a DDL on the target table", p.Member), nil
	}
	if p := ms.Parked; p != nil {
		switch c := a.Pos.Compare(p.Arrival.Pos); {
		case c == 0 && !sameStrings(a.DDLs, p.Arrival.DDLs):
			return Outcome{}, fmt.Errorf("lock %s: %s at %s: %q, recorded %q: %w", l.ID, k, a.Pos,
				joinDDLs(a.DDLs), joinDDLs(p.Arrival.DDLs), ErrMismatch)
		case c >= 0:
			return conflictOutcome(l.ID, p.Conflict), nil
		}
	}
	if a.Pos.Compare(ms.Last) <= 0 {
		return skip(l.ID, "done before"), nil
	}
	if ms.Parked != nil {
		return Outcome{}, fmt.Errorf("lock %s: %s at %s, before its held DDL at %s: %w",
			l.ID, k, a.Pos, ms.Parked.Arrival.Pos, ErrOutOfOrder)
	}
	if !ready {
		return wait(l.ID, "not every source of the task has registered its tables"), nil
	}
	if a.After == nil {
		return Outcome{}, fmt.Errorf("lock %s: %s at %s: optimistic mode needs the schema after the DDL: %w", l.ID, k, a.Pos, ErrInvalid)
	}
	if a.Change == nil {
		return Outcome{}, fmt.Errorf("lock %s: %s at %s: optimistic mode needs the typed change of the DDL (ChangeOf): %w", l.ID, k, a.Pos, ErrInvalid)
	}
	rn := a.Change.Renames
	l.Seq++
	a.Seq = l.Seq
	a.After = a.After.Clone()
	if l.Joined == nil {
		joined, jerr := joinTables(nil, l.shards(nil), false)
		if jerr != nil {
			return l.park(ms, a, &parked{Manual: true, Conflict: l.conflictOf(ms, a,
				"the shards' schemas do not join: "+jerr.Error(), jerr)})
		}
		l.Joined = joined
	}
	if p := l.check(ms, a, rn); p != nil {
		return l.park(ms, a, p)
	}
	old := l.Joined
	after := map[string]*schema.Definition{k: a.After}
	joined, _ := joinTables(old, l.shards(after), false) // check joined them
	l.recordDrops(ms, a, joined)
	ms.Schema, ms.Last = a.After, a.Pos
	stmts := diff(l.targetName(), old, joined, l.Extra)
	l.Joined = joined
	l.cleanDropped()
	more, _ := l.resolveParked()
	stmts = append(stmts, more...)
	if len(stmts) == 0 {
		return skip(l.ID, "the target table already takes this shard's rows"), nil
	}
	l.Pending = &execution{Member: k, Pos: a.Pos, Stmts: stmts, Before: old}
	return execute(l.ID, stmts), nil
}

// park holds the member at a conflicting DDL, then sees whether it was the
// last the conflict waited for.
func (l *lock) park(ms *memberState, a Arrival, p *parked) (Outcome, error) {
	p.Arrival = a
	ms.Parked = p
	old := l.Joined
	stmts, released := l.resolveParked()
	if len(stmts) > 0 {
		// The caller executes when it was released; else the first
		// released member does, when it asks again.
		runner := released[0]
		if ms.Parked == nil {
			runner = ms
		}
		l.Pending = &execution{Member: runner.Member.String(), Pos: runner.Last, Stmts: stmts, Before: old}
	}
	switch {
	case ms.Parked != nil:
		return conflictOutcome(l.ID, p.Conflict), nil
	case len(stmts) == 0:
		return skip(l.ID, "every shard made the same change; nothing to change on the target"), nil
	}
	return execute(l.ID, stmts), nil
}

func conflictOutcome(id string, c *ConflictInfo) Outcome {
	cp := *c
	cp.DDLs = slices.Clone(c.DDLs)
	cp.OtherDDLs = slices.Clone(c.OtherDDLs)
	return Outcome{Action: Conflict, Lock: id, Conflict: &cp}
}

// shards returns every member's schema in key order, with the schemas of
// replace in place of theirs. Members without a schema are left out.
func (l *lock) shards(replace map[string]*schema.Definition) []shard {
	var out []shard
	for _, k := range l.keys() {
		s := l.Members[k].Schema
		if r, ok := replace[k]; ok {
			s = r
		}
		if s != nil {
			out = append(out, shard{key: k, schema: s})
		}
	}
	return out
}

// check returns why the arrival cannot join at once, or nil.
func (l *lock) check(ms *memberState, a Arrival, rn []Rename) *parked {
	k, before, after := ms.Member.String(), ms.Schema, a.After
	if before == nil {
		before = &schema.Definition{}
	}
	if len(rn) > 0 {
		p := &parked{Renames: rn}
		var what []string
		for _, r := range rn {
			if r.Index {
				p.Indexes = append(p.Indexes, r.From, r.To)
				what = append(what, fmt.Sprintf("index %s to %s", r.From, r.To))
			} else {
				p.Columns = append(p.Columns, r.From, r.To)
				what = append(what, fmt.Sprintf("column %s to %s", r.From, r.To))
			}
		}
		p.Conflict = l.conflictOf(ms, a, "renames "+strings.Join(what, ", ")+
			"; the other shards still use the old names", nil)
		return p
	}
	for _, ac := range after.Columns {
		bc, ok := before.Column(ac.Name)
		if !ok || widens(bc, ac) {
			continue
		}
		return &parked{Columns: []string{ac.Name}, Conflict: l.conflictOf(ms, a,
			fmt.Sprintf("changes column %s from %s to %s, which does not take every value of the old type", ac.Name, typeSQL(bc), typeSQL(ac)), nil)}
	}
	for _, ac := range after.Columns {
		if _, ok := before.Column(ac.Name); ok {
			continue
		}
		if p := l.checkAdded(ms, a, ac); p != nil {
			return p
		}
	}
	bp, bok := before.Index(primaryName)
	ap, aok := after.Index(primaryName)
	if bok != aok || (bok && !equalIndexes(bp, ap)) {
		return &parked{Indexes: []string{primaryName}, Conflict: l.conflictOf(ms, a,
			"changes the primary key, which identifies the rows of every shard in the target table", nil)}
	}
	if _, err := joinTables(l.Joined, l.shards(map[string]*schema.Definition{k: after}), false); err != nil {
		p := &parked{Conflict: l.conflictOf(ms, a, err.Error(), err)}
		if err.clash.index {
			p.Indexes = []string{err.clash.column}
		} else {
			p.Columns = []string{err.clash.column}
		}
		return p
	}
	return nil
}

// checkAdded checks a column the arrival adds.
func (l *lock) checkAdded(ms *memberState, a Arrival, ac schema.ColumnDef) *parked {
	k := ms.Member.String()
	if d := l.Dropped[strings.ToLower(ac.Name)]; d != nil && slices.Contains(d.Members, k) {
		return &parked{Manual: true, Columns: []string{ac.Name}, Conflict: l.conflictOf(ms, a,
			fmt.Sprintf("adds back column %s, which it dropped while other shards still have it: its rows in between were written without it", ac.Name), nil)}
	}
	var lacking []string
	for _, ok := range l.keys() {
		if ok == k || l.Members[ok].Schema == nil {
			continue
		}
		oc, has := l.Members[ok].Schema.Column(ac.Name)
		switch {
		case !has:
			lacking = append(lacking, ok)
		case !sameType(oc, ac):
			e := &joinError{member: k, against: []string{ok}}
			return &parked{Columns: []string{ac.Name}, Conflict: l.conflictOf(ms, a,
				fmt.Sprintf("adds column %s as %s, but %s has it as %s", ac.Name, typeSQL(ac), ok, typeSQL(oc)), e)}
		}
	}
	if len(lacking) > 0 && !ac.Nullable && ac.Default == nil && ac.Generated == "" {
		return &parked{Columns: []string{ac.Name}, Conflict: l.conflictOf(ms, a,
			fmt.Sprintf("adds column %s NOT NULL without a default, which %s lack", ac.Name, strings.Join(lacking, ", ")), nil)}
	}
	return nil
}

func (l *lock) conflictOf(ms *memberState, a Arrival, reason string, je *joinError) *ConflictInfo {
	c := &ConflictInfo{Lock: l.ID, Member: ms.Member, Pos: a.Pos, DDLs: slices.Clone(a.DDLs), Reason: reason,
		Resolve: fmt.Sprintf("the shard is held at this DDL until every shard makes the same change, or `dmnode task ddl-lock unlock %s --member %s --action exec|skip`",
			l.ID, ms.Member)}
	if je != nil && len(je.against) > 0 {
		if o, ok := l.Members[je.against[0]]; ok {
			m := o.Member
			c.Other = &m
		}
	}
	return c
}

// recordDrops notes the columns the arrival drops that stay in the join.
func (l *lock) recordDrops(ms *memberState, a Arrival, joined *schema.Definition) {
	if ms.Schema == nil {
		return
	}
	k := ms.Member.String()
	for _, c := range ms.Schema.Columns {
		if _, ok := a.After.Column(c.Name); ok {
			continue
		}
		if _, ok := joined.Column(c.Name); !ok {
			continue
		}
		if l.Dropped == nil {
			l.Dropped = map[string]*dropInfo{}
		}
		lc := strings.ToLower(c.Name)
		d := l.Dropped[lc]
		if d == nil {
			d = &dropInfo{Column: c.Name, DDL: joinDDLs(a.DDLs)}
			l.Dropped[lc] = d
		}
		if !slices.Contains(d.Members, k) {
			d.Members = append(d.Members, k)
			slices.Sort(d.Members)
		}
	}
}

// cleanDropped forgets drops the target has made and members that left.
func (l *lock) cleanDropped() {
	for lc, d := range l.Dropped {
		d.Members = slices.DeleteFunc(d.Members, func(k string) bool { return l.Members[k] == nil })
		if _, ok := l.Joined.Column(d.Column); !ok || len(d.Members) == 0 {
			delete(l.Dropped, lc)
		}
	}
	if len(l.Dropped) == 0 {
		l.Dropped = nil
	}
}

// final returns a member's schema once its held DDL is applied.
func final(ms *memberState) *schema.Definition {
	if ms.Parked != nil {
		return ms.Parked.Arrival.After
	}
	return ms.Schema
}

// agreed reports whether every member's final schema defines the names
// of p alike.
func (l *lock) agreed(p *parked) bool {
	same := func(name string, index bool) bool {
		var first any
		for i, k := range l.keys() {
			d := definitionOf(orEmpty(final(l.Members[k])), name, index)
			if i == 0 {
				first = d
			} else if d != first {
				return false
			}
		}
		return true
	}
	for _, c := range p.Columns {
		if !same(c, false) {
			return false
		}
	}
	for _, ix := range p.Indexes {
		if !same(ix, true) {
			return false
		}
	}
	return true
}

func orEmpty(t *schema.Definition) *schema.Definition {
	if t == nil {
		return &schema.Definition{}
	}
	return t
}

// resolveParked releases the held members whose change every member has
// now made, and returns the statements that bring the target along and
// the members released, in arrival order.
func (l *lock) resolveParked() ([]string, []*memberState) {
	if l.Joined == nil {
		return nil, nil
	}
	var held []*memberState
	for _, k := range l.keys() {
		ms := l.Members[k]
		if ms.Parked != nil && !ms.Parked.Manual && l.agreed(ms.Parked) {
			held = append(held, ms)
		}
	}
	if len(held) == 0 {
		return nil, nil
	}
	slices.SortFunc(held, func(a, b *memberState) int { return cmp.Compare(a.Parked.Arrival.Seq, b.Parked.Arrival.Seq) })
	after := map[string]*schema.Definition{}
	for _, ms := range held {
		after[ms.Member.String()] = ms.Parked.Arrival.After
	}
	joined, err := joinTables(l.Joined, l.shards(after), false)
	if err != nil {
		return nil, nil // some other clash remains
	}
	old := l.Joined.Clone()
	var stmts []string
	seen := map[Rename]bool{}
	for _, ms := range held {
		for _, r := range ms.Parked.Renames {
			if seen[r] {
				continue
			}
			seen[r] = true
			if s := applyRename(l.targetName(), old, joined, r); s != "" {
				stmts = append(stmts, s)
			}
		}
	}
	stmts = append(stmts, diff(l.targetName(), old, joined, l.Extra)...)
	for _, ms := range held {
		a := ms.Parked.Arrival
		ms.Parked = nil
		l.recordDrops(ms, a, joined)
		ms.Schema, ms.Last = a.After, a.Pos
	}
	l.Joined = joined
	l.cleanDropped()
	return stmts, held
}

// applyRename renames a column or index of t in place, as the statement it
// returns does on the target; the column takes its definition in joined.
func applyRename(target string, t, joined *schema.Definition, r Rename) string {
	alter := "ALTER TABLE " + target + " "
	if r.Index {
		for i := range t.Indexes {
			if strings.EqualFold(t.Indexes[i].Name, r.From) {
				t.Indexes[i].Name = r.To
				return alter + "RENAME INDEX " + sqlgen.QuoteIdent(r.From) + " TO " + sqlgen.QuoteIdent(r.To)
			}
		}
		return ""
	}
	nc, ok := joined.Column(r.To)
	if !ok {
		return ""
	}
	for i := range t.Columns {
		if !strings.EqualFold(t.Columns[i].Name, r.From) {
			continue
		}
		t.Columns[i] = nc
		for j := range t.Indexes {
			for p := range t.Indexes[j].Columns {
				if strings.EqualFold(t.Indexes[j].Columns[p].Column, r.From) {
					t.Indexes[j].Columns[p].Column = nc.Name
				}
			}
		}
		return alter + "CHANGE COLUMN " + sqlgen.QuoteIdent(r.From) + " " + columnSQL(nc)
	}
	return ""
}

// unlockOptimistic releases held members by hand: their new schemas join
// the others' as they are (a rename as a drop and an add, a narrowed type
// keeping the wider target type, a NOT NULL column made nullable), and
// with exec the target is brought to the join.
func (l *lock) unlockOptimistic(opts UnlockOptions) error {
	var held []*memberState
	for _, k := range l.keys() {
		ms := l.Members[k]
		if ms.Parked != nil && (opts.Member == nil || *opts.Member == ms.Member) {
			held = append(held, ms)
		}
	}
	if opts.Action != UnlockExec && opts.Action != UnlockSkip {
		return fmt.Errorf("unlock action %q: %w", opts.Action, ErrInvalid)
	}
	if len(held) == 0 {
		if l.Pending != nil && opts.Member == nil && opts.Action == UnlockSkip {
			l.Pending = nil // the operator ran it by hand
			return nil
		}
		return fmt.Errorf("lock %s holds no shard%s: %w", l.ID, forMember(opts.Member), ErrNoLock)
	}
	if l.Pending != nil {
		return fmt.Errorf("lock %s: %s is executing a DDL; wait for it, or unlock with --action skip and no shard to give it up: %w",
			l.ID, l.Pending.Member, ErrInvalid)
	}
	after := map[string]*schema.Definition{}
	for _, ms := range held {
		after[ms.Member.String()] = ms.Parked.Arrival.After
	}
	base := l.Joined
	if base == nil {
		base = &schema.Definition{}
	}
	joined, err := joinTables(base, l.shards(after), true)
	if err != nil {
		return fmt.Errorf("lock %s: the shards' schemas cannot be joined (%v); change the upstream schema of one side: %w", l.ID, err, ErrConflict)
	}
	for _, ms := range held {
		a := ms.Parked.Arrival
		ms.Parked = nil
		l.recordDrops(ms, a, joined)
		ms.Schema, ms.Last = a.After, a.Pos
	}
	old := base
	l.Joined = joined
	l.cleanDropped()
	if opts.Action == UnlockExec {
		if stmts := diff(l.targetName(), old, joined, l.Extra); len(stmts) > 0 {
			first := held[0]
			l.Pending = &execution{Member: first.Member.String(), Pos: first.Last, Stmts: stmts, Before: old}
		}
	}
	return nil
}

func forMember(m *Member) string {
	if m == nil {
		return ""
	}
	return " " + m.String()
}

func (l *lock) statusOptimistic() []LockStatus {
	var out []LockStatus
	base := LockStatus{ID: l.ID, Task: l.Task, Target: l.Target, Mode: l.Mode}
	if p := l.Pending; p != nil {
		st := base
		st.State, st.Owner, st.DDLs = "executing", p.Member, slices.Clone(p.Stmts)
		out = append(out, st)
	}
	keys := l.keys()
	for _, k := range keys {
		ms := l.Members[k]
		if ms.Parked == nil {
			continue
		}
		st := base
		st.State, st.DDLs = "conflict", slices.Clone(ms.Parked.Arrival.DDLs)
		st.Conflicts = []ShardStatus{{Member: k, Pos: ms.Parked.Arrival.Pos, DDLs: slices.Clone(ms.Parked.Arrival.DDLs),
			Reason: ms.Parked.Conflict.Reason}}
		for _, o := range keys {
			if o == k {
				continue
			}
			if om := l.Members[o]; om.Parked != nil && l.sameChange(ms.Parked, om) {
				st.Arrived = append(st.Arrived, ShardStatus{Member: o, Pos: om.Parked.Arrival.Pos, DDLs: slices.Clone(om.Parked.Arrival.DDLs)})
			} else {
				st.Missing = append(st.Missing, o)
			}
		}
		out = append(out, st)
	}
	out = append(out, l.pendingDrops(keys)...)
	return append(out, l.pendingIndexes(keys)...)
}

// sameChange reports whether om's held DDL defines p's names as p does.
func (l *lock) sameChange(p *parked, om *memberState) bool {
	for _, c := range p.Columns {
		if definitionOf(p.Arrival.After, c, false) != definitionOf(om.Parked.Arrival.After, c, false) {
			return false
		}
	}
	for _, ix := range p.Indexes {
		if definitionOf(p.Arrival.After, ix, true) != definitionOf(om.Parked.Arrival.After, ix, true) {
			return false
		}
	}
	return true
}

func (l *lock) pendingDrops(keys []string) []LockStatus {
	var cols []string
	for lc := range l.Dropped {
		cols = append(cols, lc)
	}
	slices.Sort(cols)
	var out []LockStatus
	for _, lc := range cols {
		d := l.Dropped[lc]
		st := LockStatus{ID: l.ID, Task: l.Task, Target: l.Target, Mode: l.Mode, State: "pending",
			DDLs: []string{"ALTER TABLE " + l.targetName() + " DROP COLUMN " + sqlgen.QuoteIdent(d.Column)}}
		for _, k := range keys {
			if _, has := orEmpty(l.Members[k].Schema).Column(d.Column); has {
				st.Missing = append(st.Missing, k)
			} else {
				st.Arrived = append(st.Arrived, ShardStatus{Member: k})
			}
		}
		out = append(out, st)
	}
	return out
}

// pendingIndexes lists indexes some members have and the target has not:
// they are added when the last member adds them.
func (l *lock) pendingIndexes(keys []string) []LockStatus {
	if l.Joined == nil {
		return nil
	}
	var names []string
	defs := map[string]schema.Index{}
	for _, k := range keys {
		for _, ix := range orEmpty(l.Members[k].Schema).Indexes {
			ln := strings.ToLower(ix.Name)
			if _, ok := l.Joined.Index(ix.Name); ok {
				continue
			}
			if _, ok := defs[ln]; !ok {
				defs[ln] = ix
				names = append(names, ln)
			}
		}
	}
	slices.Sort(names)
	var out []LockStatus
	for _, ln := range names {
		ix := defs[ln]
		st := LockStatus{ID: l.ID, Task: l.Task, Target: l.Target, Mode: l.Mode, State: "pending",
			DDLs: []string{"ALTER TABLE " + l.targetName() + " ADD " + indexSQL(ix, l.Extra)}}
		for _, k := range keys {
			if _, has := orEmpty(l.Members[k].Schema).Index(ix.Name); has {
				st.Arrived = append(st.Arrived, ShardStatus{Member: k})
			} else {
				st.Missing = append(st.Missing, k)
			}
		}
		out = append(out, st)
	}
	return out
}
