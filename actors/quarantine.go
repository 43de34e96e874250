package actors

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/schema"
)

// Quarantine: a DDL on one table that the target rejects, or that TiDB's
// table of refusals (core/tidb) says TiDB cannot run, stops only that
// table. Its target table is quarantined: the changes of every upstream
// table of the source routed to it are held from the DDL on, while the
// source's other tables go on replicating.
//
// Holding uses the applier's resync state (shard.go), as a shard DDL lock
// does: a hold keyed by the target table, with From the end of the DDL
// and Floor the end of the transaction before it. The checkpoint does not
// move past the floor while the table is held, so the relay keeps (and
// its retention counts) every event the held table still needs, and a
// restart reads again from there; Reached, written in the same target
// transaction as the rows, tells which changes after the checkpoint the
// other tables have applied already. Nothing of the held table is kept in
// memory.
//
// The catalog records the rejected statement for the table (`task
// status` shows it). The operator's `task skip` or `task replace` naming
// the table restarts the applier: it reads from the checkpoint, passes
// over what was applied, meets the DDL again and runs the operator's
// decision, then applies the held changes in order, once. A restart
// without a decision (`task pause` and `task resume` after the operator
// fixed the target) tries the DDL again: accepted, the table goes on;
// rejected, it is quarantined again at the same place.

// errQuarantined says that the DDL being applied quarantined its table:
// the applier goes on with the next transaction.
var errQuarantined = errors.New("table quarantined")

func quarantineKey(target string) string { return "quarantine:" + target }

// targetName names the target table of an upstream table as schema.table,
// "" when the task does not replicate it.
func (r *applyRun) targetName(db, table string) string {
	if table == "" || !r.te.rules.Replicated(db, table) {
		return ""
	}
	ts, tt, err := r.te.rules.Route(db, table)
	if err != nil {
		return ""
	}
	return ts + "." + tt
}

// quarantineHold returns the hold of the target table of upstream table
// id, if it is quarantined.
func (s *shardState) quarantineHold(id dmnode.TableID) *hold {
	if s.route == nil || !s.quarantines() {
		return nil
	}
	k := memberTableKey(id.Schema, id.Table)
	target, ok := s.targets[k]
	if !ok {
		target = s.route(id.Schema, id.Table)
		s.targets[k] = target
	}
	if target == "" {
		return nil
	}
	return s.Holds[quarantineKey(target)]
}

// quarantines reports whether any target table is quarantined or
// re-syncing.
func (s *shardState) quarantines() bool {
	for _, h := range s.Holds {
		if h.Target != "" {
			return true
		}
	}
	return false
}

// stateless reports whether the applier has no resync state to write
// with its checkpoint, so that a batch may be committed over several
// connections (a quarantined table's state is written with the
// checkpoint, in one target transaction).
func (s *shardState) stateless() bool {
	return s == nil || (len(s.Holds) == 0 && !s.written)
}

// quarantineTarget names the target table a rejection of DDL d would
// quarantine: a statement on one replicated table that creates or alters
// it or one of its indexes. Others (renames, drops, several tables,
// statements on databases) pause the source.
func (r *applyRun) quarantineTarget(d schema.DDL) string {
	switch d.Kind {
	case schema.CreateTable, schema.AlterTable, schema.CreateIndex, schema.DropIndex:
	default:
		return ""
	}
	if len(d.Tables) != 1 {
		return ""
	}
	return r.targetName(d.Tables[0].Schema, d.Tables[0].Name)
}

// quarantine holds the target table named by shard.cur from the DDL being
// applied on, recording in the catalog the statements and why they were
// rejected, and returns errQuarantined.
func (r *applyRun) quarantine(ctx context.Context, stmts []string, why error) error {
	s, pos, target := r.shard, r.pending, r.shard.cur
	rej := &catalog.RejectedDDL{Table: target, Pos: pos, Stmts: stmts, Error: why.Error()}
	if _, err := r.request(ctx, catalog.ShardOp{Kind: catalog.ShardReject, Task: r.a.task, Source: r.a.source, Rejected: rej}); err != nil {
		return fmt.Errorf("record the quarantine of table %s: %w (the rejection: %v)", target, err, why)
	}
	k := quarantineKey(target)
	h := s.Holds[k]
	if h == nil || h.From != pos {
		h = &hold{Target: target, From: pos, Floor: r.lastEnd}
		s.Holds[k] = h
	}
	h.Held = true
	r.target.ForgetAll()
	r.log.Warn("table quarantined: its changes are held, the task's other tables go on",
		"table", target, "pos", pos.String(), "ddl", abbreviate(strings.Join(stmts, "; ")), "reason", why.Error(),
		"way_out", fmt.Sprintf("dmnode task skip %s --source %s --table %s, or dmnode task replace %s --source %s --table %s --sql '...'",
			r.a.task, r.a.source, target, r.a.task, r.a.source, target))
	return errQuarantined
}
