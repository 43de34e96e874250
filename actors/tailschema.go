package actors

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
)

// The tailer's side of the schema history (jetstream.SchemaStore): the
// starting versions at its start position, the versions its DDL makes, the
// corrections the binlog's row metadata brings, and the tracker in force
// at its checkpoint.

// tailOpenDB opens the source and target connections of the tailer's
// schema readers: OpenDB (a test gives a stand-in).
var tailOpenDB = OpenDB

// loadTracker returns the schemas in force at the checkpoint's position,
// from the schema history, and the tables whose schema there is a guess.
// A checkpoint written before the history carries every schema: they are
// moved into the history at its position and dropped from it.
func (t *Tailer) loadTracker(ctx context.Context, schemas jetstream.SchemaStore, cp *TailCheckpoint) (*schema.Tracker, map[schema.TableRef]bool, error) {
	if len(cp.Schemas) > 0 {
		old := schema.NewTracker()
		if err := json.Unmarshal(cp.Schemas, old); err != nil {
			return nil, nil, Permanent(fmt.Errorf("decode tracked schemas of source %s: %w", t.source, err))
		}
		if err := putTracker(ctx, schemas, t.source, cp.Pos, old, jetstream.OriginSource, cp.Flavor); err != nil {
			return nil, nil, err
		}
		cp.Schemas = nil
	}
	set, err := schemas.At(ctx, t.source, cp.Pos)
	if err != nil {
		return nil, nil, fmt.Errorf("read the schemas of source %s at %s: %w", t.source, cp.Pos, err)
	}
	tracker := set.Tracker()
	if tracker.Flavor() == "" {
		tracker.SetFlavor(cp.Flavor)
	}
	guessed := map[schema.TableRef]bool{}
	for _, v := range set.Tables {
		if v.Guess() {
			guessed[schema.TableRef{Schema: v.Schema, Name: v.Name}] = true
		}
	}
	return tracker, guessed, nil
}

// checkpoint returns the tailer's checkpoint and its revision, creating
// the first one when there is none (initCheckpoint). A checkpoint of an
// earlier version, also one a dumper wrote for the tailer before the
// relay's start had a record of its own, is resumed as it is.
func (t *Tailer) checkpoint(ctx context.Context, src *config.Source, tailFrom dmnode.Position) (TailCheckpoint, uint64, error) {
	var cp TailCheckpoint
	rev, err := t.env.Store.Load(ctx, tailKey(t.source), &cp)
	if err != nil || rev != 0 {
		return cp, rev, err
	}
	return t.initCheckpoint(ctx, src, tailFrom)
}

// initCheckpoint creates the first checkpoint, at the start of the
// source's relay (jetstream.SourceStart): a dumper's snapshot when a dump
// recorded one, else where chooseStart claims it.
func (t *Tailer) initCheckpoint(ctx context.Context, src *config.Source, tailFrom dmnode.Position) (TailCheckpoint, uint64, error) {
	start, ok, err := jetstream.LoadSourceStart(ctx, t.env.Store, t.source)
	if err != nil {
		return TailCheckpoint{}, 0, err
	}
	if !ok {
		if start, err = t.chooseStart(ctx, src, tailFrom); err != nil {
			return TailCheckpoint{}, 0, err
		}
	}
	if start.Task != "" {
		t.env.Log.Info("tailer starts at a dump's snapshot", "source", t.source, "task", start.Task, "from", start.Pos.String())
	}
	cp := TailCheckpoint{Pos: start.Pos, Flavor: start.Flavor, Epoch: t.env.Epoch}
	rev, err := t.env.Store.Save(ctx, tailKey(t.source), cp, 0)
	return cp, rev, err
}

// chooseStart claims the start of the relay when no dumper did: at the
// catalog's TailFrom, or the source's current position. Unless versions at
// or before that position are in the schema store already (a task's
// submission or a dump wrote them), the starting versions are written
// there: the source's schemas when the tailer starts at the current
// position; for a position in the past, where the source's schemas may
// have changed since, the target's tables of the incremental tasks that
// start there (as TiDB DM does) where they differ from the source's, and
// the source's current schemas for the rest. Both are guesses, which the
// binlog's row metadata corrects where the source logs it. A dumper that
// claimed the start meanwhile wins: its snapshot is returned.
func (t *Tailer) chooseStart(ctx context.Context, src *config.Source, from dmnode.Position) (jetstream.SourceStart, error) {
	db, err := tailOpenDB(ctx, src.From, 1)
	if err != nil {
		return jetstream.SourceStart{}, fmt.Errorf("source %s: %w", t.source, err)
	}
	defer db.Close()
	flavor, err := DetectFlavor(ctx, db, src.Flavor)
	if err != nil {
		return jetstream.SourceStart{}, err
	}
	now, err := MasterPosition(ctx, db, flavor)
	if err != nil {
		return jetstream.SourceStart{}, err
	}
	if from.IsZero() {
		from = now
	}
	schemas := t.env.Store.Schemas()
	known, err := schemas.HasAny(ctx, t.source, from)
	if err != nil {
		return jetstream.SourceStart{}, err
	}
	if !known {
		tr, err := LoadSchemas(ctx, db, flavor)
		if err != nil {
			return jetstream.SourceStart{}, err
		}
		origin := jetstream.OriginSource
		if from.Compare(now) < 0 {
			origin = jetstream.OriginSourceNow
		}
		if err := putTracker(ctx, schemas, t.source, from, tr, origin, flavor); err != nil {
			return jetstream.SourceStart{}, err
		}
		if origin == jetstream.OriginSourceNow {
			vs := t.targetSchemas(ctx, tr, from)
			if err := schemas.PutTables(ctx, t.source, vs); err != nil {
				return jetstream.SourceStart{}, err
			}
			t.env.Log.Info("tailer starts in the past: starting schemas guessed", "source", t.source, "from", from.String(),
				"now", now.String(), "tables", len(tr.Tables()), "from_target", len(vs))
		}
	}
	return jetstream.ClaimSourceStart(ctx, t.env.Store, t.source, jetstream.SourceStart{Pos: from, Flavor: flavor})
}

// targetSchemas returns, for the tables that the incremental tasks
// starting at from replicate, the target table's schema (its extracted
// columns left out) where its columns differ from the source's current
// ones: the target was loaded at that position, the source may have
// changed since. A target that cannot be read is passed over with a
// warning: the source's schema stays the guess.
func (t *Tailer) targetSchemas(ctx context.Context, tr *schema.Tracker, from dmnode.Position) []jetstream.TableVersion {
	st := t.env.Catalog()
	var out []jetstream.TableVersion
	done := map[schema.TableRef]bool{}
	for _, name := range st.TaskNames() {
		task := st.Tasks[name]
		ts, ok := task.Sources[t.source]
		if !ok || task.Mode != catalog.ModeIncremental || ts.Start.Compare(from) != 0 {
			continue
		}
		te, err := loadTask(t.env, name, t.source)
		if err != nil {
			t.env.Log.Warn("starting schemas: task not read", "task", name, "err", err)
			continue
		}
		vs, err := targetVersions(ctx, te, tr, from, done)
		if err != nil {
			t.env.Log.Warn("starting schemas: target tables not read", "task", name, "err", err)
		}
		out = append(out, vs...)
	}
	return out
}

func targetVersions(ctx context.Context, te *taskEnv, tr *schema.Tracker, from dmnode.Position, done map[schema.TableRef]bool) ([]jetstream.TableVersion, error) {
	db, err := tailOpenDB(ctx, te.task.TargetDatabase, 1)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	defer db.Close()
	var out []jetstream.TableVersion
	for _, up := range tr.Tables() {
		ref := schema.TableRef{Schema: up.Schema, Name: up.Name}
		if done[ref] || !te.rules.Replicated(up.Schema, up.Name) {
			continue
		}
		p, err := te.rules.Plan(up.Schema, up.Name, up.ColumnNames())
		if err != nil {
			continue
		}
		tt, err := ShowCreateTable(ctx, db, dmnode.TableID{Schema: p.TargetSchema, Table: p.TargetTable})
		if err != nil {
			continue // not on the target (yet): the source's schema stays
		}
		var cols []string
		for _, c := range tt.ColumnNames() {
			if !slices.ContainsFunc(p.Extra, func(e string) bool { return strings.EqualFold(e, c) }) {
				cols = append(cols, c)
			}
		}
		done[ref] = true
		if up.SameColumns(cols) {
			continue
		}
		guess, err := tt.Project(up.Schema, up.Name, cols)
		if err != nil {
			return out, err
		}
		out = append(out, jetstream.TableVersion{Pos: from, Schema: up.Schema, Name: up.Name, Table: guess, Origin: jetstream.OriginTarget})
	}
	return out, nil
}

// putTracker writes every table and database of tr as versions at pos.
func putTracker(ctx context.Context, store jetstream.SchemaStore, source string, pos dmnode.Position, tr *schema.Tracker, origin, flavor string) error {
	tables := tr.Tables()
	vs := make([]jetstream.TableVersion, len(tables))
	for i, tbl := range tables {
		vs[i] = jetstream.TableVersion{Pos: pos, Schema: tbl.Schema, Name: tbl.Name, Table: tbl, Origin: origin}
	}
	if err := store.PutTables(ctx, source, vs); err != nil {
		return err
	}
	dbs := []jetstream.DatabaseVersion{{Pos: pos, Name: "", Flavor: cmp.Or(tr.Flavor(), flavor)}}
	for _, name := range tr.Databases() {
		cs, co, _ := tr.DatabaseCharset(name)
		if name == "" {
			dbs[0].Charset, dbs[0].Collation = cs, co
			continue
		}
		dbs = append(dbs, jetstream.DatabaseVersion{Pos: pos, Name: name, Charset: cs, Collation: co})
	}
	return store.PutDatabases(ctx, source, dbs)
}

// handOverSnapshot records the schemas of a dumper's consistent snapshot
// as versions at its position, and claims that position as the start of
// the source's relay (jetstream.ClaimSourceStart): the tailer starts there
// unless a start is recorded already (an earlier dump's, or the tailer's
// own). The versions are written either way: they are the schemas at that
// position, whatever else the history holds, so a reader of the history
// at the snapshot (a loader creating target tables) finds them even when
// the tailer has not read that far yet.
func handOverSnapshot(ctx context.Context, store interface {
	jetstream.CheckpointStore
	Schemas() jetstream.SchemaStore
}, task, source, flavor string, pos dmnode.Position, tr *schema.Tracker) error {
	if err := putTracker(ctx, store.Schemas(), source, pos, tr, jetstream.OriginSnapshot, flavor); err != nil {
		return err
	}
	_, err := jetstream.ClaimSourceStart(ctx, store, source, jetstream.SourceStart{Pos: pos, Flavor: flavor, Task: task})
	return err
}

// recordDDL writes the versions a DDL made, at the end of its transaction:
// the new definition of every table it names (none when the table no
// longer exists) and the charset of the database it names. Writing them
// again when the binlog is re-read writes the same versions.
func (r *tailRun) recordDDL(ctx context.Context, d schema.DDL, pos dmnode.Position) error {
	if d.Kind == schema.Skip {
		return nil
	}
	var vs []jetstream.TableVersion
	seen := map[schema.TableRef]bool{}
	for _, ref := range d.Tables {
		if seen[ref] || rules.IsSystemSchema(ref.Schema) {
			continue
		}
		seen[ref] = true
		delete(r.guessed, ref)
		v := jetstream.TableVersion{Pos: pos, Schema: ref.Schema, Name: ref.Name, Origin: jetstream.OriginDDL}
		if tbl, ok := r.tracker.Get(ref.Schema, ref.Name); ok {
			v.Table = tbl
		}
		vs = append(vs, v)
	}
	if err := r.schemas.PutTables(ctx, r.t.source, vs); err != nil {
		return fmt.Errorf("record schema versions at %s: %w", pos, err)
	}
	if d.Schema == "" || rules.IsSystemSchema(d.Schema) {
		return nil
	}
	dv := jetstream.DatabaseVersion{Pos: pos, Name: d.Schema, Dropped: true}
	if cs, co, ok := r.tracker.DatabaseCharset(d.Schema); ok {
		dv.Charset, dv.Collation, dv.Dropped = cs, co, false
	}
	if err := r.schemas.PutDatabases(ctx, r.t.source, []jetstream.DatabaseVersion{dv}); err != nil {
		return fmt.Errorf("record schema versions at %s: %w", pos, err)
	}
	return nil
}

// rowMetadata reconciles a table's tracked schema (nil: none) with the
// row metadata of its TABLE_MAP event (binlog_row_metadata=FULL). A guessed
// starting schema, or a missing one, is replaced: by the guess reduced to
// the columns the binlog names when it has them all (keeping what the
// binlog does not say: defaults, indexes), else by the schema the row
// metadata describes. Any other disagreement means the tracker is wrong,
// and the tailer stops naming the table, the position and the way out.
func (r *tailRun) rowMetadata(ctx context.Context, h *replication.EventHeader, id dmnode.TableID, tbl *schema.Table, tm *replication.TableMapEvent) (*schema.Table, error) {
	ref := schema.TableRef{Schema: id.Schema, Name: id.Table}
	names := tm.ColumnNameString()
	if tbl != nil && !r.guessed[ref] {
		return nil, Permanent(fmt.Errorf("source %s at %s:%d: the binlog's row metadata gives %s the columns (%s), but the schema dmnode tracks for it has (%s): "+
			"rows cannot be decoded with a wrong schema. Fix: write the table's CREATE TABLE as of %s (where the tailer resumes) into a file and run "+
			"dmnode binlog-schema update %s %s %s FILE (dmnode binlog-schema show %s %s %s lists its versions); the tailer restarts with it",
			r.t.source, r.file, h.LogPos, id, strings.Join(names, ", "), strings.Join(tbl.ColumnNames(), ", "), r.cp.Pos,
			r.t.source, id.Schema, id.Table, r.t.source, id.Schema, id.Table))
	}
	var fixed *schema.Table
	var err error
	if tbl != nil {
		fixed, err = tbl.Project(id.Schema, id.Table, names)
	}
	if fixed == nil {
		if fixed, err = tableFromRowMetadata(id.Schema, id.Table, tm); err != nil {
			return nil, Permanent(fmt.Errorf("source %s at %s:%d: the schema of %s is not known here and cannot be read from the row metadata: %w. "+
				"Fix: write its CREATE TABLE as of %s (where the tailer resumes) into a file and run dmnode binlog-schema update %s %s %s FILE; the tailer restarts with it",
				r.t.source, r.file, h.LogPos, id, err, r.cp.Pos, r.t.source, id.Schema, id.Table))
		}
	}
	at := r.read // the schema in force for the transaction this event is in
	if at.IsZero() {
		at = r.cp.Pos
	}
	v := jetstream.TableVersion{Pos: at, Schema: id.Schema, Name: id.Table, Table: fixed, Origin: jetstream.OriginRowMetadata}
	if err := r.schemas.PutTables(ctx, r.t.source, []jetstream.TableVersion{v}); err != nil {
		return nil, err
	}
	r.tracker.Put(fixed)
	delete(r.guessed, ref)
	was := "(none)"
	if tbl != nil {
		was = strings.Join(tbl.ColumnNames(), ",")
	}
	r.log.Warn("starting schema taken from the binlog's row metadata", "table", id.String(),
		"pos", fmt.Sprintf("%s:%d", r.file, h.LogPos), "was", was, "now", strings.Join(names, ","))
	fixed, _ = r.tracker.Get(id.Schema, id.Table)
	return fixed, nil
}

// TailPosition returns where a source's tailer resumes: its checkpoint;
// the zero Position when it has none yet.
func TailPosition(ctx context.Context, store jetstream.CheckpointStore, source string) (dmnode.Position, error) {
	var cp TailCheckpoint
	if _, err := store.Load(ctx, tailKey(source), &cp); err != nil {
		return dmnode.Position{}, err
	}
	return cp.Pos, nil
}

// TableFromTarget returns the schema of an upstream table as the target
// table of a task has it: the routed target table with its extracted
// columns left out, named as the upstream table.
func TableFromTarget(ctx context.Context, env Env, task, source, db, table string) (*schema.Table, error) {
	te, err := loadTask(env, task, source)
	if err != nil {
		return nil, err
	}
	tdb, err := tailOpenDB(ctx, te.task.TargetDatabase, 1)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	defer tdb.Close()
	ts, tt, err := te.rules.Route(db, table)
	if err != nil {
		return nil, err
	}
	tbl, err := ShowCreateTable(ctx, tdb, dmnode.TableID{Schema: ts, Table: tt})
	if err != nil {
		return nil, err
	}
	// The target's columns include the extracted ones, which a plan of
	// them refuses: a plan of no columns names them too.
	p, err := te.rules.Plan(db, table, nil)
	if err != nil {
		return nil, err
	}
	var cols []string
	for _, c := range tbl.ColumnNames() {
		if !slices.ContainsFunc(p.Extra, func(e string) bool { return strings.EqualFold(e, c) }) {
			cols = append(cols, c)
		}
	}
	return tbl.Project(db, table, cols)
}
