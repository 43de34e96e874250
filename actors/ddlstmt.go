package actors

import (
	"context"
	"errors"
	"fmt"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/filter"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/shardddl"
)

// ddlText is the DDL an applier is applying and what it read of it. What
// the statement is and whether the event filter skips it come from the
// typed form the tailer relayed with it (dmnode.DDLInfo), with no parse.
// The stages that need the statement itself (the record of upstream
// schemas, the route to the target, the shard locks' schema after it,
// TiDB's adaptation) share one parse of it, made when the first of them
// asks; none changes what the others read (the trackers and the route
// work on copies). A DDL the filter skips is not parsed.
type ddlText struct {
	c  *dmnode.Change
	st *schema.Stmt // nil until a stage needs it

	routed   bool // route was asked: the next three fields hold its answer
	text     string
	node     ast.StmtNode // the routed statement; nil when routing read the text again
	routeErr error
	// kept are the routed statements of other DDLs this one runs (the
	// ALTERs of a shadow table kept until the swap), by text.
	kept map[string]ast.StmtNode
}

// stmt returns the one parse of the DDL.
func (x *ddlText) stmt() *schema.Stmt {
	if x.st == nil {
		x.st = schema.ParseDDL(x.c.DDLSchema, x.c.DDL)
	}
	return x.st
}

// describe returns what the DDL is: its kind and tables as a tracker that
// knows no table reads them, and what it does to partitions. The tailer
// relays them with the statement; a change relayed by an older version,
// without them, is read from the parse here.
func (x *ddlText) describe() (schema.DDL, schema.Partitioning, error) {
	if d, p, ok := schema.FromInfo(x.c.DDL, x.c.DDLInfo); ok {
		return d, p, nil
	}
	d, p, err := x.stmt().Describe()
	if err != nil && !errors.Is(err, schema.ErrUnknownTable) {
		return d, p, Permanent(fmt.Errorf("parse DDL %q: %w", abbreviate(x.c.DDL), err))
	}
	return d, p, nil
}

// describeDDL is describe for a change outside an applier run.
func describeDDL(c *dmnode.Change) (schema.DDL, schema.Partitioning, error) {
	return (&ddlText{c: c}).describe()
}

// relayedParts returns the DDL's parts as the event filter classifies
// them, relayed with it; ok is false when it came without them.
func (x *ddlText) relayedParts() ([]filter.DDLEvent, bool) {
	return filter.RelayedEvents(x.c.DDLInfo)
}

// filter reports whether the task's event filter skips the DDL (see
// rules.FilterDDL): from the relayed parts, else from the parse.
func (x *ddlText) filter(rl *rules.Rules) (bool, error) {
	if parts, ok := x.relayedParts(); ok {
		return rl.FilterDDLEvents(x.c.DDL, parts)
	}
	if st := x.stmt(); st.Err() == nil && len(st.Nodes()) > 0 {
		return rl.FilterDDLEvents(x.c.DDL, filter.ClassifyNodes(x.c.DDLSchema, st.Nodes()))
	}
	return rl.FilterDDL(x.c.DDLSchema, x.c.DDL) // the filter reads what the tracker cannot
}

// skippedByRelayedFilter reports whether the relayed parts say the filter
// skips the DDL, without an error: it is then not parsed at all.
func (x *ddlText) skippedByRelayedFilter(rl *rules.Rules) bool {
	parts, ok := x.relayedParts()
	if !ok {
		return false
	}
	skip, err := rl.FilterDDLEvents(x.c.DDL, parts)
	return skip && err == nil
}

// applyTo applies a copy of the DDL's parse to tr (Tracker.Apply).
func (x *ddlText) applyTo(tr *schema.Tracker) (schema.DDL, error) {
	return tr.ApplyStmt(x.stmt().ForTracker())
}

// route returns the DDL routed for the target (schema.RouteDDL), routed
// once per DDL: every stage routes with the task's routes.
func (x *ddlText) route(route schema.RouteFunc) (string, error) {
	if !x.routed {
		x.text, x.node, x.routeErr = schema.RouteStmt(x.stmt(), route)
		x.routed = true
	}
	return x.text, x.routeErr
}

// routedNode returns the routed statement when stmt is the routed text,
// for a stage that reads it without changing it (the shard locks'
// normalization, TiDB's adaptation); nil otherwise (the stage then parses
// stmt).
func (x *ddlText) routedNode(stmt string) ast.StmtNode {
	if n := x.kept[stmt]; n != nil {
		return n
	}
	if !x.routed || x.node == nil || x.text != stmt {
		return nil
	}
	return x.node
}

// current returns the DDL being applied when it is c; nil for another
// change, whose text a stage then reads on its own.
func (r *applyRun) current(c *dmnode.Change) *ddlText {
	if r.ddlNow != nil && r.ddlNow.c == c {
		return r.ddlNow
	}
	return nil
}

// routeDDL routes a DDL for the target with the task's routes.
func (r *applyRun) routeDDL(c *dmnode.Change) (string, error) {
	if x := r.current(c); x != nil {
		return x.route(r.routeFunc())
	}
	return schema.RouteDDL(c.DDLSchema, c.DDL, r.routeFunc())
}

// routeKept routes a statement kept in dmnode_meta (an ALTER of a shadow
// table, run when the DDL being applied swaps it in) from one parse, which
// its adaptation to the target reads too.
func (r *applyRun) routeKept(db, query string, route schema.RouteFunc) (string, error) {
	text, node, err := schema.RouteStmt(schema.ParseDDL(db, query), route)
	if err == nil && node != nil && r.ddlNow != nil {
		if r.ddlNow.kept == nil {
			r.ddlNow.kept = map[string]ast.StmtNode{}
		}
		r.ddlNow.kept[text] = node
	}
	return text, err
}

// applyDDLTo applies a DDL to tr, as tr.Apply(c.DDLSchema, c.DDL).
func (r *applyRun) applyDDLTo(tr *schema.Tracker, c *dmnode.Change) (schema.DDL, error) {
	if x := r.current(c); x != nil {
		return x.applyTo(tr)
	}
	return tr.Apply(c.DDLSchema, c.DDL)
}

// normalizeRouted returns the shard locks' text and typed change of a
// routed DDL (shardddl.NormalizeChange), from the routed statement when
// routed is the DDL's own routed text.
func (r *applyRun) normalizeRouted(c *dmnode.Change, routed string) (string, *shardddl.Change, error) {
	if x := r.current(c); x != nil {
		if n := x.routedNode(routed); n != nil {
			return shardddl.NormalizeNode(routed, n)
		}
	}
	return shardddl.NormalizeChange(routed)
}

// parsedForTarget returns the parse of a statement about to be adapted to
// the target when it is the routed text of the DDL being applied; nil
// otherwise.
func (r *applyRun) parsedForTarget(stmt string) ast.StmtNode {
	if r.ddlNow == nil {
		return nil
	}
	return r.ddlNow.routedNode(stmt)
}

// filteredUnparsed reports whether the event filter skips the DDL by the
// parts relayed with it, where ddl consults the filter: a statement in
// the task's scope on no table of an online schema change tool (which
// onlineDDL handles before the filter).
func (r *applyRun) filteredUnparsed(x *ddlText, d schema.DDL) bool {
	if !r.ddlInScope(d) {
		return false
	}
	for _, tb := range d.Tables {
		if kind, _ := r.te.rules.OnlineTable(tb.Name); kind != rules.OnlineReal {
			return false
		}
	}
	return x.skippedByRelayedFilter(r.te.rules)
}

// parsedAdapter is a DDLTarget that also adapts a statement the applier
// has parsed (mariaTarget): node is stmt parsed, which it does not change
// (tidb.AdaptParsed). An optional capability, so that DDLTarget and its
// fakes keep their one AdaptDDL.
type parsedAdapter interface {
	AdaptParsedDDL(ctx context.Context, stmt string, node ast.StmtNode) ([]string, error)
}

func (m *mariaTarget) AdaptParsedDDL(ctx context.Context, stmt string, node ast.StmtNode) ([]string, error) {
	return m.dialect.adaptParsed(ctx, m.db, m.log, stmt, node)
}

// adaptForTarget adapts one routed DDL to the target's dialect, from the
// routed statement of the DDL's one parse when stmt is its text and the
// target can.
func (r *applyRun) adaptForTarget(ctx context.Context, stmt string) ([]string, error) {
	if pa, ok := r.target.(parsedAdapter); ok {
		if n := r.parsedForTarget(stmt); n != nil {
			return pa.AdaptParsedDDL(ctx, stmt, n)
		}
	}
	return r.target.AdaptDDL(ctx, stmt)
}

// forgetFiltered keeps the record of upstream schemas honest about a DDL
// the event filter skips, which is not parsed: the tables it names are
// forgotten, as those of a statement that does not fit the record, and
// read again from their target tables when a statement needs them. A
// TRUNCATE changes no definition; DROP DATABASE forgets its tables.
func (r *applyRun) forgetFiltered(d schema.DDL) {
	switch d.Kind {
	case schema.Skip, schema.TruncateTable:
		return
	case schema.DropDatabase:
		for _, tbl := range r.upSchemas.Tables() {
			if tbl.Schema == d.Schema {
				r.upSchemas.Drop(tbl.Schema, tbl.Name)
			}
		}
	}
	for _, ref := range d.Tables {
		r.upSchemas.Drop(ref.Schema, ref.Name)
	}
}
