package actors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
)

// onlineDDLTable keeps the ALTERs seen on online schema change tools' shadow
// tables (gh-ost's _t_gho, pt-online-schema-change's _t_new) until the tool
// swaps the shadow table in; they are then applied to the real target table.
// Rows are written in the same transaction as the checkpoint, so a restart
// between the ALTER and the swap loses nothing.
const onlineDDLTable = `CREATE TABLE IF NOT EXISTS ` + MetaSchema + `.online_ddl (
	task       VARCHAR(128) NOT NULL,
	source     VARCHAR(128) NOT NULL,
	db         VARCHAR(64) NOT NULL,
	tbl        VARCHAR(64) NOT NULL,
	seq        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
	current_db VARCHAR(64) NOT NULL,
	stmt       MEDIUMTEXT NOT NULL,
	PRIMARY KEY (task, source, db, tbl, seq),
	KEY (seq)
)`

// ddl applies one upstream schema change at a transaction boundary: the
// DML before it is committed first, and the position after it is committed
// once it is applied. Statements on tables outside the task are skipped.
func (r *applyRun) ddl(ctx context.Context, c *dmnode.Change, t *dmnode.Txn) error {
	x := &ddlText{c: c}
	r.ddlNow = x
	defer func() { r.ddlNow = nil }()
	d, parts, err := x.describe()
	if err != nil {
		return err
	}
	r.pending, r.pendAt = t.End, t.Time
	if r.filteredUnparsed(x, d) {
		r.forgetFiltered(d) // not parsed, so not followed
	} else if err := r.follow(ctx, c, d); err != nil {
		return err
	}
	handled, err := r.onlineDDL(ctx, c, d)
	if err != nil || handled {
		if err != nil {
			return err
		}
		return r.commitDDL(ctx)
	}
	if !r.ddlInScope(d) {
		return r.commit(ctx)
	}
	if skip, err := x.filter(r.te.rules); err != nil || skip {
		if err != nil {
			return Permanent(err)
		}
		r.log.Info("DDL filtered by the task's rules", "ddl", abbreviate(c.DDL), "pos", t.End.String())
		return r.commit(ctx)
	}
	// A rejection of a statement on one table quarantines that table
	// (quarantine.go) instead of pausing the source.
	if r.shard != nil {
		r.shard.cur = r.quarantineTarget(d)
		defer func() { r.shard.cur = "" }()
	}
	if r.shard != nil && r.shard.mode != "" {
		err = r.shardDDL(ctx, c, d, parts, r.upSchemas, t)
	} else {
		err = r.execDDL(ctx, c, d, parts)
	}
	if err != nil && !errors.Is(err, errQuarantined) {
		return err
	}
	return r.commitDDL(ctx)
}

func (r *applyRun) ddlInScope(d schema.DDL) bool {
	if len(d.Tables) == 0 {
		return d.Schema != "" && r.te.rules.AllowedSchema(d.Schema)
	}
	for _, tb := range d.Tables {
		if r.te.rules.Allowed(tb.Schema, tb.Name) {
			return true
		}
	}
	return false
}

// follow applies a DDL to upSchemas, the applier's record of the upstream
// tables whose definition it knows at its own position in the binlog:
// those created by a replicated CREATE TABLE, and those a statement needs
// (the table CREATE TABLE ... LIKE copies, the table CREATE TABLE IF NOT
// EXISTS finds) read from their target table, which holds every DDL up to
// this position. Renames, ALTERs and drops then keep the record current,
// so a table created by DDL gets the definition its statement gave it,
// never the source's current one.
func (r *applyRun) follow(ctx context.Context, c *dmnode.Change, d schema.DDL) error {
	if r.upSchemas == nil {
		r.upSchemas = schema.NewTracker()
	}
	if d.Kind == schema.CreateTable {
		for _, ref := range d.Tables {
			if err := r.seed(ctx, ref); err != nil {
				return err
			}
		}
	}
	if _, err := r.applyDDLTo(r.upSchemas, c); err != nil && !errors.Is(err, schema.ErrUnknownTable) {
		// The record does not fit the statement (a replay of a DDL it
		// has seen, say): its tables are forgotten rather than guessed.
		for _, ref := range d.Tables {
			r.upSchemas.Drop(ref.Schema, ref.Name)
		}
		r.log.Warn("DDL does not fit the applier's record of the upstream schema; its tables are read again when needed",
			"ddl", abbreviate(c.DDL), "err", err)
	}
	return nil
}

// seed records the definition of a replicated upstream table that
// upSchemas does not know, read from its target table without the columns
// the route extracts. A table missing on the target stays unknown.
func (r *applyRun) seed(ctx context.Context, ref schema.TableRef) error {
	if _, ok := r.upSchemas.Get(ref.Schema, ref.Name); ok || !r.te.rules.Replicated(ref.Schema, ref.Name) {
		return nil
	}
	ts, tt, err := r.te.rules.Route(ref.Schema, ref.Name)
	if err != nil {
		return nil // the statement's own routing reports it
	}
	extra, err := r.te.rules.Extracted(ref.Schema, ref.Name)
	if err != nil {
		return nil
	}
	create, ok, err := r.target.ShowCreateTable(ctx, ts, tt)
	if err != nil || !ok {
		return err // no such table, or a view: unknown
	}
	tbl, err := schema.ParseCreateTableAs(ref.Schema, ref.Name, create, extra)
	if err != nil {
		r.log.Warn("cannot read the definition of a target table", "table", ts+"."+tt, "err", err)
		return nil
	}
	r.upSchemas.Put(tbl)
	return nil
}

func (r *applyRun) execDDL(ctx context.Context, c *dmnode.Change, d schema.DDL, parts schema.Partitioning) error {
	switch d.Kind {
	case schema.Skip:
		return nil
	case schema.CreateTable:
		return r.createTable(ctx, d)
	case schema.RenameTable, schema.AlterTable:
		if len(d.Tables) < 2 {
			break // no rename
		}
		// A table may move to a database the target does not have
		// yet: one that held no table when the task started.
		if err := r.ensureTargetSchemas(ctx, d.Tables); err != nil {
			return err
		}
		if done, err := r.renameApplied(ctx, d); err != nil || done {
			if done {
				r.log.Warn("rename already applied on the target (a replay after a crash)", "ddl", abbreviate(c.DDL))
				for _, ref := range d.Tables {
					r.target.Forget(ref.Schema, ref.Name)
				}
			}
			return err
		}
	}
	if d.Kind == schema.RenameTable && len(d.Tables) > 2 {
		return r.renameWithMarker(ctx, c, d)
	}
	if parts.Exchanged != nil {
		return r.guardedDDL(ctx, c, d, *parts.Exchanged, r.target.RowsFingerprint)
	}
	if parts.Maintenance && !parts.RemovesRows {
		// ADD, COALESCE, REORGANIZE PARTITION, PARTITION BY, REMOVE
		// PARTITIONING: some run twice without an error and change the
		// partitions again.
		return r.guardedDDL(ctx, c, d, d.Tables[0], r.target.PartitionsFingerprint)
	}
	if parts.RemovesRows {
		if why, err := r.partitionRowsDiffer(ctx, d.Tables[0]); err != nil || why != "" {
			if err != nil {
				return err
			}
			return r.refuseDDL(ctx, c, why, fmt.Sprintf("run `dmnode task replace %s --source %s --sql 'DELETE FROM ...'` with a DELETE of the rows the partitions hold upstream, or `dmnode task skip %s --source %s` to go on without it",
				r.a.task, r.a.source, r.a.task, r.a.source))
		}
	}
	if err := r.execPlainDDL(ctx, c); err != nil {
		return err
	}
	// Cached plans name target tables the statement may have dropped,
	// renamed or changed.
	for _, ref := range d.Tables {
		r.target.Forget(ref.Schema, ref.Name)
	}
	return nil
}

// renameWithMarker runs a RENAME TABLE of several tables so that a replay
// after a crash between it and its checkpoint knows whether it ran: a swap
// or a cycle (a TO tmp, b TO a, tmp TO b) leaves the same names behind and
// would run again, swapping the tables back. The same atomic statement
// renames a marker table of dmnode_meta to a name made of the position;
// when that name exists the statement is on the target. The marker is
// dropped once the checkpoint after the statement is committed.
func (r *applyRun) renameWithMarker(ctx context.Context, c *dmnode.Change, d schema.DDL) error {
	routed, err := r.routeDDL(c)
	if err != nil {
		return Permanent(fmt.Errorf("route DDL %q: %w", abbreviate(c.DDL), err))
	}
	base, done := renameMarkers(r.a.task, r.a.source, r.pending)
	ran, err := r.targetTableExists(ctx, schema.TableRef{Schema: MetaSchema, Name: done}, false)
	if err != nil {
		return err
	}
	if ran {
		r.log.Warn("rename already applied on the target (a replay after a crash)", "ddl", abbreviate(c.DDL))
	} else {
		if err := r.target.CreateMarker(ctx, base); err != nil {
			return err
		}
		stmt := routed + ", " + MetaSchema + "." + base + " TO " + MetaSchema + "." + done
		if err := r.runTargetDDL(ctx, []string{stmt}, c.DDL); err != nil {
			return err
		}
	}
	for _, ref := range d.Tables {
		r.target.Forget(ref.Schema, ref.Name)
	}
	if err := r.commit(ctx); err != nil {
		return err
	}
	if err := r.target.DropMarker(ctx, done); err != nil {
		r.log.Warn("drop rename marker", "table", MetaSchema+"."+done, "err", err)
	}
	return nil
}

// guardedDDL runs a statement that a replay after a crash could not just
// run again (EXCHANGE PARTITION swaps rows back; ADD PARTITION PARTITIONS
// n or COALESCE change the partitions again) with a record of it in
// dmnode_meta.ddl_inflight, deleted with the checkpoint after it: the
// position and the fingerprint of what the statement changes on table
// ref, taken before. A restart that finds the record runs the statement
// again only when the fingerprint is still the same (the statement did
// not run, or its effect is no change).
func (r *applyRun) guardedDDL(ctx context.Context, c *dmnode.Change, d schema.DDL, ref schema.TableRef,
	fingerprint func(ctx context.Context, schemaName, table string) (string, error)) error {
	pos := r.pending.String()
	ts, tt, err := r.te.rules.Route(ref.Schema, ref.Name)
	if err != nil {
		return Permanent(fmt.Errorf("route DDL %q: %w", abbreviate(c.DDL), err))
	}
	fp, err := fingerprint(ctx, ts, tt)
	if err != nil {
		return err
	}
	inflight, before, err := r.target.InflightDDL(ctx)
	if err != nil {
		return err
	}
	if inflight == pos && before != fp {
		r.log.Warn("DDL already applied on the target (a replay after a crash)", "ddl", abbreviate(c.DDL))
	} else {
		if inflight != pos {
			if err := r.target.RecordInflightDDL(ctx, pos, fp); err != nil {
				return err
			}
		}
		if err := r.execPlainDDL(ctx, c); err != nil {
			return err
		}
	}
	for _, t := range append(d.Tables, ref) {
		r.target.Forget(t.Schema, t.Name)
	}
	r.stmts = append(r.stmts, stmt{query: "DELETE FROM " + MetaSchema + ".ddl_inflight WHERE task = ? AND source = ?", args: []any{r.a.task, r.a.source}})
	return nil
}

// renameMarkers names the marker table of a task and source, and the name
// a rename at pos gives it.
func renameMarkers(task, source string, pos dmnode.Position) (base, done string) {
	h := sha256.Sum256([]byte(task + "\x00" + source))
	base = "rename_" + hex.EncodeToString(h[:10])
	h = sha256.Sum256([]byte(task + "\x00" + source + "\x00" + pos.String()))
	return base, "renamed_" + hex.EncodeToString(h[:10])
}

// renameApplied reports whether a RENAME TABLE or ALTER TABLE ... RENAME
// is already on the target: its first table is gone there and the name it
// takes exists. A statement replayed after a crash between it and its
// checkpoint would otherwise fail (a swap fails on its first new name,
// which execTargetDDL takes as applied). A rename cycle (a TO tmp, b TO a,
// tmp TO b) leaves the same names behind and cannot be told apart.
func (r *applyRun) renameApplied(ctx context.Context, d schema.DDL) (bool, error) {
	if len(d.Tables) < 2 {
		return false, nil
	}
	from, to := d.Tables[0], d.Tables[1]
	if !r.te.rules.Replicated(from.Schema, from.Name) || !r.te.rules.Replicated(to.Schema, to.Name) {
		return false, nil
	}
	fromThere, err := r.targetTableExists(ctx, from, true)
	if err != nil || fromThere {
		return false, err
	}
	return r.targetTableExists(ctx, to, true)
}

// targetTableExists looks a table up on the target, its name routed when
// route is set.
func (r *applyRun) targetTableExists(ctx context.Context, ref schema.TableRef, route bool) (bool, error) {
	ts, tt := ref.Schema, ref.Name
	if route {
		var err error
		if ts, tt, err = r.te.rules.Route(ref.Schema, ref.Name); err != nil {
			return false, nil // the statement's own routing reports it
		}
	}
	return r.target.TableExists(ctx, ts, tt)
}

// partitionRowsDiffer says why the partitions of a table hold other rows on
// the target than upstream, "" when they hold the same: TiDB's KEY and
// LINEAR partitioning place rows by another hash than MySQL's, so DROP or
// TRUNCATE PARTITION would remove other rows there.
func (r *applyRun) partitionRowsDiffer(ctx context.Context, ref schema.TableRef) (string, error) {
	if _, isTiDB, err := r.target.Dialect(ctx); err != nil || !isTiDB {
		return "", err
	}
	ts, tt, err := r.te.rules.Route(ref.Schema, ref.Name)
	if err != nil {
		return "", nil // the statement's own routing reports it
	}
	method, err := r.target.PartitionMethod(ctx, ts, tt)
	if err != nil {
		return "", err
	}
	m := strings.ToUpper(method)
	if strings.Contains(m, "KEY") || strings.Contains(m, "LINEAR") {
		return fmt.Sprintf("the target %s.%s is partitioned by %s, which TiDB places rows in by another hash than MySQL's, so the statement would remove other rows there", ts, tt, m), nil
	}
	return "", nil
}

// refuseDDL pauses the source at a DDL the target would run but that would
// make it differ from the source, recording it as rejected so that the
// operator's task skip or task replace at this position goes on.
func (r *applyRun) refuseDDL(ctx context.Context, c *dmnode.Change, why, wayOut string) error {
	if r.decision(r.pending) != nil {
		return r.runTargetDDL(ctx, nil, c.DDL)
	}
	routed, err := r.routeDDL(c)
	if err != nil {
		return Permanent(fmt.Errorf("route DDL %q: %w", abbreviate(c.DDL), err))
	}
	err = fmt.Errorf("DDL %q at %s not run: %s", abbreviate(c.DDL), r.pending, why)
	if r.shard != nil && r.shard.cur != "" {
		return r.quarantine(ctx, []string{routed}, fmt.Errorf("%w; %s", err, wayOut))
	}
	rej := &catalog.RejectedDDL{Pos: r.pending, Stmts: []string{routed}, Error: err.Error()}
	if _, perr := r.request(ctx, catalog.ShardOp{Kind: catalog.ShardReject, Task: r.a.task, Source: r.a.source, Rejected: rej}); perr != nil {
		return fmt.Errorf("record the refused DDL: %w (%v)", perr, err)
	}
	return Permanent(fmt.Errorf("%w; the task is paused at this DDL: %s", err, wayOut))
}

// ensureTargetSchemas creates the target databases of the replicated
// tables refs.
func (r *applyRun) ensureTargetSchemas(ctx context.Context, refs []schema.TableRef) error {
	done := map[string]bool{}
	for _, ref := range refs {
		if !r.te.rules.Replicated(ref.Schema, ref.Name) {
			continue
		}
		ts, _, err := r.te.rules.Route(ref.Schema, ref.Name)
		if err != nil || done[ts] {
			continue // the statement's own routing reports the error
		}
		done[ts] = true
		if err := r.target.CreateSchema(ctx, ts); err != nil {
			return err
		}
	}
	return nil
}

// createTable creates the target table of a table created upstream, from
// its definition at this position (in upSchemas, which applied the
// statement) with the route applied and extracted columns added. A table
// of the same name dropped before has left no plan behind.
func (r *applyRun) createTable(ctx context.Context, d schema.DDL) error {
	ref := d.Tables[0]
	if !r.te.rules.Replicated(ref.Schema, ref.Name) {
		return nil // outside the task (created LIKE a table inside it, say)
	}
	r.target.Forget(ref.Schema, ref.Name)
	up, ok := r.upSchemas.Get(ref.Schema, ref.Name)
	if !ok {
		// CREATE TABLE ... LIKE of a table known neither here nor on
		// the target: the target table is created with its first row.
		r.log.Warn("the definition of a created table is not known at this position; its target table is created with its first row",
			"table", ref.String(), "ddl", abbreviate(d.SQL))
		return nil
	}
	_, err := r.target.Plan(ctx, dmnode.TableID{Schema: ref.Schema, Table: ref.Name}, up.ColumnNames(), func() *schema.Table { return up })
	return err
}

func (r *applyRun) routeFunc() schema.RouteFunc {
	return func(db, table string) (string, string, error) {
		return r.te.rules.Route(db, table)
	}
}

// execTargetDDL runs a routed DDL on the target. Errors that say the change
// is already there (a replay after a crash between the DDL and its
// checkpoint) are taken as success; any other rejection is permanent and
// names the statement and the target's answer (runTargetDDL adds the way
// out).
func (r *applyRun) execTargetDDL(ctx context.Context, stmt, upstream string) error {
	err := r.target.ExecDDL(ctx, stmt)
	var refusal *ddlRefusal
	if errors.As(err, &refusal) {
		switch {
		case errors.Is(err, errDDLPresent):
			r.log.Warn("DDL already applied on the target", "ddl", abbreviate(stmt), "target_error", refusal.Message)
			return nil
		case errors.Is(err, errPartitionPresent) && r.applied.Compare(r.started) == 0:
			// Taken as applied only for the first DDL after a restart,
			// which may have run before a crash: anywhere else the
			// target's partitions differ from the source's.
			r.log.Warn("partition DDL already applied on the target (a replay after a crash)", "ddl", abbreviate(stmt), "target_error", refusal.Message)
			return nil
		}
	}
	if err != nil {
		if IsPermanent(err) {
			return Permanent(fmt.Errorf("the target rejected DDL %q (upstream %q) at %s: %w",
				abbreviate(stmt), abbreviate(upstream), r.pending, err))
		}
		return fmt.Errorf("DDL %q: %w", abbreviate(stmt), err)
	}
	r.log.Info("DDL applied", "ddl", abbreviate(stmt))
	return nil
}

// onlineDDL handles statements on the shadow and trash tables of online
// schema change tools. It reports whether the statement was one.
func (r *applyRun) onlineDDL(ctx context.Context, c *dmnode.Change, d schema.DDL) (bool, error) {
	if d.Kind == schema.RenameTable {
		return r.onlineSwap(ctx, d)
	}
	ghost := false
	for _, tb := range d.Tables {
		if kind, _ := r.te.rules.OnlineTable(tb.Name); kind != rules.OnlineReal {
			ghost = true
		}
	}
	if !ghost {
		return false, nil
	}
	tb := d.Tables[0]
	kind, real := r.te.rules.OnlineTable(tb.Name)
	if kind != rules.OnlineShadow || d.Kind != schema.AlterTable || !r.te.rules.Allowed(tb.Schema, real) {
		return true, nil // creating, filling or dropping a shadow or trash table
	}
	r.stmts = append(r.stmts, stmt{
		query: "INSERT INTO " + MetaSchema + ".online_ddl (task, source, db, tbl, current_db, stmt) VALUES (?, ?, ?, ?, ?, ?)",
		args:  []any{r.a.task, r.a.source, tb.Schema, real, c.DDLSchema, c.DDL},
	})
	r.log.Info("online schema change: ALTER of a shadow table kept until the swap", "table", tb.String(), "real", real)
	return true, nil
}

// onlineSwap applies the kept ALTERs of a shadow table when a RENAME swaps
// it in for the real table, and skips the renames of the tool's tables.
func (r *applyRun) onlineSwap(ctx context.Context, d schema.DDL) (bool, error) {
	handled := false
	for i := 0; i+1 < len(d.Tables); i += 2 {
		from, to := d.Tables[i], d.Tables[i+1]
		fromKind, real := r.te.rules.OnlineTable(from.Name)
		toKind, _ := r.te.rules.OnlineTable(to.Name)
		switch {
		case fromKind == rules.OnlineShadow && real == to.Name:
			handled = true
			if err := r.applyKeptDDL(ctx, from, to); err != nil {
				return true, err
			}
		case fromKind != rules.OnlineReal || toKind != rules.OnlineReal:
			handled = true
		}
	}
	return handled, nil
}

func (r *applyRun) applyKeptDDL(ctx context.Context, shadow, real schema.TableRef) error {
	all, err := r.target.KeptOnlineDDL(ctx, real.Schema, real.Name)
	if err != nil {
		return err
	}
	route := func(db, table string) (string, string, error) {
		if db == shadow.Schema && table == shadow.Name {
			table = real.Name
		}
		return r.te.rules.Route(db, table)
	}
	for _, k := range all {
		if r.te.task.ShardMode != "" {
			return Permanent(fmt.Errorf("online schema change of sharded table %s (shard-mode %s): the ALTERs an online schema change tool runs on its shadow table are not coordinated across shards; stopped before %q: run the same ALTER directly on every shard instead, or stop the task, apply the change on the target by hand and redo the task from a new snapshot",
				real, r.te.task.ShardMode, abbreviate(k.Query)))
		}
		stmt, err := r.routeKept(k.DB, k.Query, route)
		if err != nil {
			return Permanent(fmt.Errorf("route online DDL %q: %w", abbreviate(k.Query), err))
		}
		if err := r.runTargetDDL(ctx, []string{stmt}, k.Query); err != nil {
			return err
		}
	}
	r.stmts = append(r.stmts, stmt{
		query: "DELETE FROM " + MetaSchema + ".online_ddl WHERE task = ? AND source = ? AND db = ? AND tbl = ?",
		args:  []any{r.a.task, r.a.source, real.Schema, real.Name},
	})
	r.target.Forget(real.Schema, real.Name)
	return nil
}
