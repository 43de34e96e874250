package actors

import (
	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/filter"
	"github.com/dmnode/dmnode/core/schema"
)

// readDDL parses the text of a QUERY event once, reads its typed form
// (relayedDDL) and then applies it to the tracker, which changes the
// parsed statement. The error is the tracker's (schema.Tracker.Apply).
func (r *tailRun) readDDL(db, q string) (schema.DDL, *dmnode.DDLInfo, error) {
	st := schema.ParseDDL(db, q)
	info := relayedDDL(st)
	d, err := r.tracker.ApplyStmt(st)
	return d, info, err
}

// relayedDDL returns the typed form the tailer relays with a DDL
// (dmnode.Change.DDLInfo): what the statement is and does to partitions
// (schema.Stmt.Info) and its parts as the event filter classifies them,
// all read from the tailer's one parse of it, before its tracker applies
// it. Nil when the text could not be read; the parts are left out when
// the filter would read the text on its own (a statement the parser
// rejects, or none it parses), and an applier then classifies the text.
func relayedDDL(st *schema.Stmt) *dmnode.DDLInfo {
	in := st.Info()
	if in == nil || st.Err() != nil {
		return in
	}
	nodes := st.Nodes()
	if len(nodes) == 0 {
		return in
	}
	in.Events, in.Classified = filter.Relay(filter.ClassifyNodes(st.DB, nodes)), true
	return in
}
