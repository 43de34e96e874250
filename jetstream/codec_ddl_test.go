package jetstream

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/dmnode/dmnode"
)

// A DDL change's typed form travels in the message's trailer: it
// round-trips, and the bytes before it are those of the same message
// without it, which is all a reader of the first version reads. A
// message without a trailer (written before) decodes with DDLInfo nil.
func TestDDLInfoTrailer(t *testing.T) {
	plain := sampleBatch()
	old, err := EncodeBatch(nil, plain)
	if err != nil {
		t.Fatal(err)
	}
	typed := sampleBatch()
	typed.Txns[1].Changes[0].DDLInfo = &dmnode.DDLInfo{Kind: "create-table", Tables: []dmnode.TableID{{Schema: "dmtest", Table: "t2"}}}
	typed.Txns = append(typed.Txns, dmnode.Txn{End: dmnode.Position{File: "mysql-bin.000003", Pos: 6000},
		Changes: []dmnode.Change{{DDL: "ALTER TABLE t EXCHANGE PARTITION p WITH TABLE u", DDLSchema: "d", DDLInfo: &dmnode.DDLInfo{
			Kind: "alter-table", Tables: []dmnode.TableID{{Schema: "d", Table: "t"}}, PartitionMaintenance: true,
			Exchanged: &dmnode.TableID{Schema: "d", Table: "u"}}}}})
	data, err := EncodeBatch(nil, typed)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, typed) {
		t.Fatalf("round trip differs:\n got %#v\nwant %#v", got, typed)
	}
	got, err = DecodeBatch(old)
	if err != nil || !reflect.DeepEqual(got, plain) || got.Txns[1].Changes[0].DDLInfo != nil {
		t.Fatalf("message without trailer: %v %#v", err, got)
	}
	// Without the third transaction and the trailer, the message is the
	// first version's: the count of transactions differs only.
	two := sampleBatch()
	two.Txns[1].Changes[0].DDLInfo = typed.Txns[1].Changes[0].DDLInfo
	data, err = EncodeBatch(nil, two)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, old) || len(data) == len(old) || data[len(old)] != tagDDLInfo {
		t.Fatalf("the trailer is not after the first version's message")
	}
	// A transaction part carries it too.
	part, err := EncodeTxnPart(nil, &typed.Txns[2])
	if err != nil {
		t.Fatal(err)
	}
	tp, err := DecodeTxnPart(part)
	if err != nil || !reflect.DeepEqual(*tp, typed.Txns[2]) {
		t.Fatalf("part: %v %#v", err, tp)
	}
	// A trailer naming a change the message does not have is corrupt.
	// (The events section is tested in TestDDLEventsSection.)
	bad := append(bytes.Clone(old), tagDDLInfo, 1, 5, 0, 0, 0, 0, 0)
	if _, err := DecodeBatch(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad trailer: %v", err)
	}
}

// The filter's classification travels in a second section after the
// first: it round-trips, a reader of the first section alone decodes the
// same DDLInfo without it, and a classification of no parts stays one.
func TestDDLEventsSection(t *testing.T) {
	info := func() *dmnode.DDLInfo {
		return &dmnode.DDLInfo{Kind: "alter-table", Tables: []dmnode.TableID{{Schema: "d", Table: "t"}}}
	}
	typed := sampleBatch()
	typed.Txns[1].Changes[0].DDLInfo = info()
	plainData, err := EncodeBatch(nil, typed)
	if err != nil {
		t.Fatal(err)
	}
	in := info()
	in.Classified = true
	in.Events = []dmnode.DDLEvent{{Event: "drop column", Also: []string{"alter table"}, Schema: "d", Table: "t"},
		{Event: "alter table", Schema: "d", Table: "t"}}
	typed.Txns[1].Changes[0].DDLInfo = in
	typed.Txns = append(typed.Txns, dmnode.Txn{End: dmnode.Position{File: "mysql-bin.000003", Pos: 6000},
		Changes: []dmnode.Change{{DDL: "GRANT", DDLSchema: "d", DDLInfo: &dmnode.DDLInfo{Kind: "other", Classified: true, Events: []dmnode.DDLEvent{}}}}})
	data, err := EncodeBatch(nil, typed)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBatch(data)
	if err != nil || !reflect.DeepEqual(got, typed) {
		t.Fatalf("round trip: %v\n got %#v\nwant %#v", err, got, typed)
	}
	// The first section is what it was without events: a reader that
	// stops after it reads the same DDLInfo, without them.
	two := sampleBatch()
	two.Txns[1].Changes[0].DDLInfo = in
	data, err = EncodeBatch(nil, two)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, plainData) || data[len(plainData)] != tagDDLEvents {
		t.Fatalf("the events section is not after the first")
	}
	part, err := EncodeTxnPart(nil, &typed.Txns[2])
	if err != nil {
		t.Fatal(err)
	}
	if tp, err := DecodeTxnPart(part); err != nil || !reflect.DeepEqual(*tp, typed.Txns[2]) {
		t.Fatalf("part: %v %#v", err, tp)
	}
	// Events for a change without a DDLInfo are corrupt.
	bad := append(bytes.Clone(plainData), tagDDLEvents, 1, 0, 0, 0)
	if _, err := DecodeBatch(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad section: %v", err)
	}
}
