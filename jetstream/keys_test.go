package jetstream

import (
	"testing"

	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/dmnode/dmnode"
)

// TestKeySpace pins the checkpoint bucket's key names: they are stored, so
// a change here strands every existing cluster's checkpoints.
func TestKeySpace(t *testing.T) {
	pos := dmnode.Position{File: "mysql-bin.000007", Pos: 4}
	for _, c := range []struct{ got, want string }{
		{DumpKey("t1", "s.1"), "dump.t1.s_2e1"},
		{DumpTablesPrefix("t1", "s1"), "dumptable.t1.s1"},
		{DumpTableKey("t1", "s1", "db", "a.b"), "dumptable.t1.s1.db.a_2eb"},
		{DumpSchemasKey("t1", "s.1"), "dumpschemas.t1.s_2e1"},
		{TailKey("s1"), "tail.s1"},
		{SourceStartKey("s1"), "start.s1"},
		{TailProgressKey("s1"), "progress.tail.s1"},
		{LoadIndexKey("t1", "s1", "db", "t"), "loadindex.t1.s1.db.t"},
		{LoadIndexPrefix("t1", ""), "loadindex.t1"},
		{RelayStartKey("s1"), "relaystart.s1"},
		{HoldKey("t1", "s1"), "hold.t1.s1"},
		{HeldKey("t1", "s1"), "held.t1.s1"},
		{ProgressKey("apply", "t1", "s1"), "progress.apply.t1.s1"},
		{ProgressKey("tail", "", "s1"), "progress.tail.s1"},
		{ProgressKey("relay", "", "s1"), "progress.relay.s1"},
		{ErrorKey("load", "t1", "s1"), "error.load.t1.s1"},
		{ErrorKey("tail", "", "s1"), "error.tail.s1"},
		{tableVersionKey("s1", "db", "t", pos), "schema.s1.t.db.t.mysql-bin_2e000007.0000000004"},
		{databaseVersionKey("s1", "db", pos), "schema.s1.d.db.mysql-bin_2e000007.0000000004"},
		{databaseVersionKey("s1", "", pos), "schema.s1.s.mysql-bin_2e000007.0000000004"},
	} {
		if c.got != c.want {
			t.Errorf("key %q, want %q", c.got, c.want)
		}
	}
}

// HeaderMsgID is JetStream's message id header, which the relay's
// duplicate window keys on.
func TestHeaderMsgIDIsJetStreams(t *testing.T) {
	if HeaderMsgID != njs.MsgIDHeader {
		t.Fatalf("HeaderMsgID = %q, JetStream's is %q", HeaderMsgID, njs.MsgIDHeader)
	}
}
