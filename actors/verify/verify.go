package verify

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/plan"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
)

// Input is what a verification reads: the task, its sources and where it
// comes from.
type Input struct {
	Task *config.Task
	// Spec is the task file as submitted; a state started on another
	// version of the file is refused.
	Spec string
	// Sources holds every mysql-instance of the task compiled for its
	// source (the source's configuration and the task's rules), by source
	// id: the task's plan.
	Sources map[string]*plan.Source
	Log     *slog.Logger
	// Hold stops the appliers of HoldSources at the positions of the
	// sources' snapshots while the target's is taken; nil, or a source
	// not listed, is not held (its applier does not run).
	Hold        Holder
	HoldSources []string
}

// Step continues a verification: st is the state the previous step
// returned, nil to start a new one. It verifies chunks for about
// opt.StepTime (always at least one) and returns the new state, which is
// Done when every table is verified. On an error it returns the state as
// far as it got along with the error, so the caller can keep the
// progress; the chunk that failed is verified again on the next step.
// Step opens its own connections and closes them before it returns.
func Step(ctx context.Context, in Input, st *State, opt Options) (*State, error) {
	opt, err := opt.normalize()
	if err != nil {
		return st, err
	}
	spec := specDigest(in.Spec)
	if st != nil {
		if st.Version != stateVersion || st.Task != in.Task.Name || st.Spec != spec {
			return st, fmt.Errorf("the verification state is of another task or of another version of task %s; start a new verification", in.Task.Name)
		}
		if st.Done() {
			return st, nil
		}
	}
	log := in.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tdb, err := actors.OpenTarget(ctx, in.Task.TargetDatabase, 1)
	if err != nil {
		return st, fmt.Errorf("target: %w", err)
	}
	defer tdb.Close()
	srcs := &sources{in: in, dbs: map[string]*sql.DB{}}
	defer srcs.close()
	need := func(string) bool { return true }
	if st != nil {
		need = func(target string) bool {
			i := slices.IndexFunc(st.Tables, func(t *TableState) bool { return t.Report.Target == target })
			return i >= 0 && !st.Tables[i].done()
		}
	}
	ups, err := srcs.enumerate(ctx, need)
	if err != nil {
		return st, err
	}
	if st == nil {
		st = newState(in.Task.Name, spec, ups)
		log.Info("verification started", "tables", len(st.Tables))
	}
	// Every chunk of this step is compared at one position per source.
	snap, err := takeSnapshots(ctx, in, srcs.dbs, tdb)
	if err != nil {
		return st, err
	}
	defer snap.close()
	for _, us := range ups {
		for _, u := range us {
			u.db = snap.src[u.source]
		}
	}
	st.MaxHeld = max(st.MaxHeld, snap.held)
	st.Positions = map[string]string{}
	for src, p := range snap.at {
		st.Positions[src] = p.String()
	}
	b := &budget{deadline: time.Now().Add(opt.StepTime)}
	for _, ts := range st.Tables {
		if ts.done() {
			continue
		}
		tr, err := prepareTable(ctx, snap.tgt, ts, ups[ts.Report.Target], opt)
		if err != nil {
			return st, err
		}
		if tr == nil {
			log.Info("table skipped", "table", ts.Report.Target, "reason", ts.Report.Reason)
			continue
		}
		finished, err := tr.work(ctx, b)
		if err != nil {
			return st, fmt.Errorf("verify %s: %w", ts.Report.Target, err)
		}
		if !finished {
			return st, nil
		}
		log.Info("table verified", "table", ts.Report.Target, "status", ts.Report.Status, "rows", ts.Report.RowsCompared)
	}
	st.Finished = time.Now().UTC()
	return st, nil
}

// budget is the time one step may take; it always allows one chunk.
type budget struct {
	deadline time.Time
	used     bool
}

func (b *budget) spent() bool { return b.used && time.Now().After(b.deadline) }

func specDigest(spec string) string {
	sum := sha256.Sum256([]byte(spec))
	return hex.EncodeToString(sum[:8])
}

// upstream is one upstream table of the task, with its plan.
type upstream struct {
	id     string // source:schema.table
	source string
	// the target table it is routed to, as named on the target
	targetSchema, targetTable string
	db                        actors.Queryer // the source's snapshot
	rules                     *rules.Rules
	table                     *schema.Table
	plan                      *rules.TablePlan
	err                       error // why no plan could be built
}

// sources opens each source once per step.
type sources struct {
	in  Input
	dbs map[string]*sql.DB
}

func (s *sources) close() {
	for _, db := range s.dbs {
		db.Close()
	}
}

// enumerate lists the upstream tables of the task as the dumper does (the
// block/allow list and online DDL rules decide) and plans those routed to
// a target table that need accepts, grouped by target table ("schema.table")
// and ordered by id.
func (s *sources) enumerate(ctx context.Context, need func(target string) bool) (map[string][]*upstream, error) {
	out := map[string][]*upstream{}
	insts := slices.Clone(s.in.Task.MySQLInstances)
	slices.SortFunc(insts, func(a, b config.Instance) int { return strings.Compare(a.SourceID, b.SourceID) })
	for i := range insts {
		inst := &insts[i]
		src, ok := s.in.Sources[inst.SourceID]
		if !ok {
			return nil, fmt.Errorf("source %s is not known", inst.SourceID)
		}
		r := src.Rules
		db, err := actors.OpenDB(ctx, src.Config.From, 1)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", inst.SourceID, err)
		}
		s.dbs[inst.SourceID] = db
		ids, err := actors.ListTables(ctx, db)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", inst.SourceID, err)
		}
		for _, id := range ids {
			if !r.Replicated(id.Schema, id.Table) {
				continue
			}
			ts, tt, err := r.Route(id.Schema, id.Table)
			if err != nil {
				return nil, err
			}
			target := ts + "." + tt
			if !need(target) {
				continue
			}
			u, err := s.plan(ctx, inst.SourceID, db, r, id)
			if err != nil {
				return nil, err
			}
			u.targetSchema, u.targetTable = ts, tt
			out[target] = append(out[target], u)
		}
	}
	for _, ups := range out {
		slices.SortFunc(ups, func(a, b *upstream) int { return strings.Compare(a.id, b.id) })
	}
	return out, nil
}

func (s *sources) plan(ctx context.Context, source string, db *sql.DB, r *rules.Rules, id dmnode.TableID) (*upstream, error) {
	t, err := actors.ShowCreateTable(ctx, db, id)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", source, err)
	}
	u := &upstream{id: source + ":" + id.Schema + "." + id.Table, source: source, db: db, rules: r, table: t}
	u.plan, u.err = r.Plan(id.Schema, id.Table, t.ColumnNames())
	return u, nil
}

// newState starts a verification of the target tables in ups, in name
// order, with the notes on rules that make intended differences.
func newState(task, spec string, ups map[string][]*upstream) *State {
	st := &State{Version: stateVersion, Task: task, Spec: spec, Started: time.Now().UTC()}
	targets := make([]string, 0, len(ups))
	for t := range ups {
		targets = append(targets, t)
	}
	slices.Sort(targets)
	for _, target := range targets {
		ts := &TableState{Report: TableReport{Target: target, Status: StatusPending}}
		if u := ups[target]; len(u) > 0 {
			ts.Report.Schema, ts.Report.Table = u[0].targetSchema, u[0].targetTable
		}
		for _, u := range ups[target] {
			ts.Report.Upstream = append(ts.Report.Upstream, u.id)
			ts.Upstream = append(ts.Upstream, &Cursor{Table: u.id})
			ts.Report.Notes = append(ts.Report.Notes, filterNotes(u)...)
		}
		st.Tables = append(st.Tables, ts)
	}
	return st
}

// filterNotes names the rules of an upstream table whose effect verify
// cannot tell from a difference.
func filterNotes(u *upstream) []string {
	var notes []string
	if u.plan != nil && u.plan.FiltersRows() {
		notes = append(notes, u.id+": expression filters apply: rows an insert filter drops are not compared; update and delete filters may leave intended differences")
	}
	var kinds []string
	for _, k := range []dmnode.ChangeKind{dmnode.Insert, dmnode.Update, dmnode.Delete} {
		if skip, err := u.rules.FilterDML(u.table.Schema, u.table.Name, k); err == nil && skip {
			kinds = append(kinds, k.String()+"s")
		}
	}
	if len(kinds) > 0 {
		notes = append(notes, fmt.Sprintf("%s: the binlog event filter skips %v: differences may be intended", u.id, kinds))
	}
	return notes
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
