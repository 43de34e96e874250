package actors

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/jetstream/memstore"
	"github.com/dmnode/dmnode/tests/harness"
)

// noise is n characters that S2 cannot compress (base64 of pseudo-random
// bytes): a value that stays as large in a relay message as it is.
func noise(n int) string {
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return base64.StdEncoding.EncodeToString(b)[:n]
}

// startJetStream starts an embedded NATS server with JetStream, as a node
// does, and opens a store on it.
func startJetStream(t testing.TB) *jetstream.Store {
	t.Helper()
	_, nc := harness.StartNATS(t, "", func(o *server.Options) { o.MaxPayload = 1 << 20 })
	st, err := jetstream.Open(context.Background(), nc, 1)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// relayMsg is a stream message as the test compares them.
type relayMsg struct {
	h    jetstream.RelayHeaders
	data string
}

func readRelay(t *testing.T, st jetstream.Stores, source string) []relayMsg {
	t.Helper()
	ctx := context.Background()
	relay, err := st.Relay(ctx, source)
	if err != nil {
		t.Fatal(err)
	}
	info, err := relay.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []relayMsg
	for seq := info.FirstSeq; seq <= info.LastSeq && info.Msgs > 0; seq++ {
		m, err := relay.Get(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		h, err := jetstream.ParseRelayHeaders(m.Header)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		out = append(out, relayMsg{h, string(m.Data)})
	}
	return out
}

// tailScript feeds a tailer incarnation the events of a binlog: a small
// transaction, then one of rowsEvents rows events of 200 rows each with a
// value of bigValue bytes in its first row, then a small one.
type tailScript struct {
	rowsEvents int
	bigValue   int
}

// run plays the script on a new incarnation of source's tailer, stopping
// after stopAfter rows events of the big transaction (-1: to the end), as
// a tailer that dies there would. It reports whether the tailer got to the
// end: a fault the store was told to inject (memstore) kills it too.
func (s tailScript) run(t *testing.T, st jetstream.Stores, source string, stopAfter int) bool {
	t.Helper()
	ctx := context.Background()
	r, hdr, table, _ := scriptTailer(t, st, source)
	id := int32(0)
	rows := func(n int, big int) *replication.RowsEvent {
		e := &replication.RowsEvent{Table: table, ColumnCount: 2}
		for i := 0; i < n; i++ {
			id++
			v := fmt.Sprintf("row %d", id)
			if i == 0 && big > 0 {
				v = strings.Repeat("x", big)
			}
			e.Rows = append(e.Rows, []any{id, v})
		}
		return e
	}
	alive := func(err error) bool {
		t.Helper()
		if err != nil && !errors.Is(err, errInjected) && !errors.Is(err, memstore.ErrLostReply) {
			t.Fatal(err)
		}
		return err == nil
	}
	txn := func(events, stop int, big int) bool {
		r.begin(hdr(replication.MARIADB_GTID_EVENT))
		for i := 0; i < events; i++ {
			if i == stop || !alive(r.rows(ctx, hdr(replication.WRITE_ROWS_EVENTv1), rows(200, big))) {
				return false
			}
		}
		return alive(r.commit(ctx, hdr(replication.XID_EVENT)))
	}
	if !txn(1, -1, 0) || !txn(s.rowsEvents, stopAfter, s.bigValue) || !txn(1, -1, 0) {
		return false // died here
	}
	return alive(r.flush(ctx))
}

// errInjected is the error a test has memstore inject.
var errInjected = errors.New("injected by the test")

// A tailer that dies in the middle of publishing a transaction's parts,
// and re-reads the transaction from its start, continues the sequence
// after the stream's last message: the stream ends up holding exactly what
// a tailer that never died publishes.
func TestTailerResumesPartSequence(t *testing.T) {
	st := startJetStream(t)
	for _, s := range []tailScript{
		{rowsEvents: 200},                    // parts of whole rows events
		{rowsEvents: 6, bigValue: 2 << 20},   // and parts in fragments
		{rowsEvents: 3, bigValue: 600 << 10}, // parts of one rows event each
	} {
		name := fmt.Sprintf("%d_%d", s.rowsEvents, s.bigValue)
		s.run(t, st, "once-"+name, -1)
		want := readRelay(t, st, "once-"+name)
		parts, last := 0, 0
		for _, m := range want {
			if m.h.Part {
				parts++
			}
			if m.h.Part && m.h.Last {
				last++
			}
		}
		if parts < 3 || last != 1 || want[0].h.Part || want[len(want)-1].h.Part {
			t.Fatalf("%s: %d messages, %d of a part sequence, %d last: want a whole batch, a sequence of 3 or more with one last message, a whole batch", name, len(want), parts, last)
		}
		midway := 0
		for stop := s.rowsEvents / 3; stop < s.rowsEvents; stop += max(1, s.rowsEvents/3) {
			source := fmt.Sprintf("killed-%s-%d", name, stop)
			s.run(t, st, source, stop)
			partial := len(readRelay(t, st, source))
			if partial > 1 {
				midway++ // died with a sequence begun
			}
			s.run(t, st, source, -1)
			got := readRelay(t, st, source)
			if len(got) != len(want) {
				t.Fatalf("%s, died after %d rows events (%d messages): %d messages, want %d", name, stop, partial, len(got), len(want))
			}
			for i := range want {
				if got[i].h != want[i].h || got[i].data != want[i].data {
					t.Fatalf("%s, died after %d rows events: message %d differs: %+v, want %+v", name, stop, i, got[i].h, want[i].h)
				}
			}
		}
		if midway == 0 {
			t.Fatalf("%s: no tailer died with a sequence begun", name)
		}
	}
}

// The order positions of a relay's messages never decrease, and a non-last
// part sorts by its transaction's first event: firstAfter's binary search
// holds.
func TestRelayOrderPositions(t *testing.T) {
	st := startJetStream(t)
	tailScript{rowsEvents: 20}.run(t, st, "order", -1)
	msgs := readRelay(t, st, "order")
	var prev dmnode.Position
	for i, m := range msgs {
		if m.h.Order().Compare(prev) < 0 {
			t.Fatalf("message %d sorts at %s, before %s", i, m.h.Order(), prev)
		}
		prev = m.h.Order()
	}
}

// A transaction cut into no parts that still does not fit in a message (a
// DDL statement of 2 MiB, say) goes as a sequence of one fragmented part,
// whose last message alone carries the position.
func TestTailerOversizedWholeTxn(t *testing.T) {
	st := startJetStream(t)
	ctx := context.Background()
	relay, err := st.Relay(ctx, "ddl")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	r := &tailRun{t: &Tailer{env: Env{Store: st, Log: log}, source: "ddl"}, log: log, relay: relay, gate: newRelayGate(1 << 40)}
	ddl := "CREATE TABLE t (id int) COMMENT '" + noise(2<<20) + "'"
	txn := dmnode.Txn{End: dmnode.Position{File: "mysql-bin.000001", Pos: 5000}, Time: 7,
		Changes: []dmnode.Change{{Table: dmnode.TableID{Schema: "db", Table: "t"}, DDL: ddl, DDLSchema: "db"}}}
	r.pending.Txns = []dmnode.Txn{txn}
	r.pendBeg = []dmnode.Position{{File: "mysql-bin.000001", Pos: 300}}
	if err := r.flush(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := readRelay(t, st, "ddl")
	if len(msgs) < 3 {
		t.Fatalf("%d messages, want the fragments of one part", len(msgs))
	}
	var a jetstream.Assembler
	for i, m := range msgs {
		last := i == len(msgs)-1
		if !m.h.Part || m.h.N != i || m.h.Last != last || m.h.Begin != (dmnode.Position{File: "mysql-bin.000001", Pos: 300}) {
			t.Fatalf("message %d: %+v", i, m.h)
		}
		data, whole, err := a.Add([]byte(m.data))
		if err != nil || whole != last {
			t.Fatalf("message %d: whole %v, %v", i, whole, err)
		}
		if last {
			got, err := jetstream.DecodeTxnPart(data)
			if err != nil {
				t.Fatal(err)
			}
			if got.Changes[0].DDL != ddl || m.h.End != txn.End || r.published != txn.End {
				t.Fatalf("decoded part: end %s, published %s, ddl of %d bytes", m.h.End, r.published, len(got.Changes[0].DDL))
			}
		}
	}
}

// The applier refuses a relay whose part sequences are broken instead of
// taking a part for a transaction boundary or skipping one.
func TestApplierRefusesBrokenSequences(t *testing.T) {
	ctx := context.Background()
	begin := dmnode.Position{File: "mysql-bin.000001", Pos: 300}
	part, err := jetstream.EncodeTxnPart(nil, &dmnode.Txn{})
	if err != nil {
		t.Fatal(err)
	}
	frags, err := jetstream.Fragment(append(part, make([]byte, 3<<20)...), jetstream.MaxMessageBytes)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := jetstream.EncodeBatch(nil, &dmnode.Batch{Txns: []dmnode.Txn{{End: begin}}})
	if err != nil {
		t.Fatal(err)
	}
	type msg struct {
		h    jetstream.Header
		data []byte
	}
	for _, tc := range []struct {
		name string
		msgs []msg
		want string
	}{
		{"a sequence read from its middle", []msg{{jetstream.PartHeaders(begin, 1, nil), part}}, "where the start of a sequence was due"},
		{"a message skipped", []msg{{jetstream.PartHeaders(begin, 0, nil), frags[0]}, {jetstream.PartHeaders(begin, 2, nil), frags[1]}},
			"message 2 of the transaction at mysql-bin.000001:300 where message 1"},
		{"a batch inside a sequence", []msg{{jetstream.PartHeaders(begin, 0, nil), frags[0]}, {jetstream.BatchHeaders(&dmnode.Batch{Txns: []dmnode.Txn{{End: begin}}}), batch}},
			"a batch inside the part sequence"},
		{"a fragment missing", []msg{{jetstream.PartHeaders(begin, 0, nil), frags[0]}, {jetstream.PartHeaders(begin, 1, nil), frags[2]}},
			"fragments broken"},
		{"a sequence ending inside a part", []msg{{jetstream.PartHeaders(begin, 0, nil), frags[0]},
			{jetstream.PartHeaders(begin, 1, &dmnode.Txn{End: dmnode.Position{File: "mysql-bin.000001", Pos: 900}}), frags[1]}},
			"ends inside a fragmented part"},
	} {
		r := &applyRun{a: &Applier{source: "s"}}
		var err error
		for _, m := range tc.msgs {
			if err = r.message(ctx, m.h, m.data); err != nil {
				break
			}
		}
		if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a permanent error with %q", tc.name, err, tc.want)
		}
	}
}

// snapStub is a snapshot stream message for the loader's fragments.
type snapStub struct {
	data  []byte
	acked *int
}

func (m snapStub) Data() []byte                  { return m.data }
func (m snapStub) Ack(ctx context.Context) error { *m.acked++; return nil }
func (m snapStub) Pending() uint64               { return 0 }

// The loader puts dumped fragments together, and acknowledges and drops
// those that cannot be: an unfinished message a dead dumper left, and the
// rest of one whose acknowledgements a crash cut short.
func TestLoaderFragments(t *testing.T) {
	ctx := context.Background()
	acked := 0
	msg := func(b []byte) jetstream.SnapshotMsg { return snapStub{data: b, acked: &acked} }
	big := func(c byte) []byte { return append([]byte{1}, strings.Repeat(string(c), 3<<20)...) }
	a, err := jetstream.Fragment(big('a'), dumpMaxMsg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := jetstream.Fragment(big('b'), dumpMaxMsg)
	f := &fragments{log: slog.New(slog.DiscardHandler)}
	step := func(m []byte, wantWhole bool, wantMsgs, wantAcked int) snapMsg {
		t.Helper()
		sm, whole, err := f.add(ctx, msg(m))
		if err != nil || whole != wantWhole || len(sm.ms) != wantMsgs || acked != wantAcked {
			t.Fatalf("whole %v (want %v), %d messages (want %d), %d acknowledged (want %d), err %v",
				whole, wantWhole, len(sm.ms), wantMsgs, acked, wantAcked, err)
		}
		return sm
	}
	step(a[0], false, 0, 0)
	step(a[1], false, 0, 0)
	// A whole message after an unfinished one: the unfinished one is
	// dropped.
	if sm := step([]byte{1, 2}, true, 1, 2); string(sm.data) != "\x01\x02" {
		t.Fatalf("whole message: %q", sm.data)
	}
	// The rest of a message whose first fragments were acknowledged.
	step(a[2], false, 0, 3)
	// A message in fragments, whole.
	for i, m := range b {
		last := i == len(b)-1
		n := 0
		if last {
			n = len(b)
		}
		if sm := step(m, last, n, 3); last && string(sm.data) != string(big('b')) {
			t.Fatalf("message b put together wrong: %d bytes", len(sm.data))
		}
	}
	// An unfinished message, dropped at the end.
	step(a[0], false, 0, 3)
	if err := f.drop(ctx); err != nil || acked != 4 || len(f.held) != 0 {
		t.Fatalf("drop: %v, %d acknowledged", err, acked)
	}
}

func TestIsTxnTooLarge(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&mysql.MySQLError{Number: 1197, Message: "Multi-statement transaction required more than 'max_binlog_cache_size' bytes of storage"}, true},
		{fmt.Errorf("target: INSERT …: %w", &mysql.MySQLError{Number: 8004, Message: "Transaction is too large"}), true},
		{Permanent(fmt.Errorf("commit: %w", &mysql.MySQLError{Number: 8025, Message: "entry too large"})), true},
		{&mysql.MySQLError{Number: 1213, Message: "Deadlock found"}, false},
		{&mysql.MySQLError{Number: 1062, Message: "Duplicate entry"}, false},
		{fmt.Errorf("connection refused"), false},
	} {
		if got := isTxnTooLarge(tc.err); got != tc.want {
			t.Errorf("isTxnTooLarge(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// scriptTailer is a new incarnation of source's tailer over db.t (id int
// primary key, v longtext) that resumes after what the relay holds, with
// hdr making the header of its next event and table db.t's table map: for
// tests that feed it rows events by hand; at is the end of the last
// header made.
func scriptTailer(t testing.TB, st jetstream.Stores, source string) (r *tailRun, hdr func(replication.EventType) *replication.EventHeader, table *replication.TableMapEvent, at func() uint32) {
	t.Helper()
	return scriptTailerFor(t, st, source, "CREATE TABLE t (id int NOT NULL PRIMARY KEY, v longtext)", 2)
}

// scriptTailerFor is scriptTailer for table db.t created by ddl, with cols
// columns.
func scriptTailerFor(t testing.TB, st jetstream.Stores, source, ddl string, cols int) (r *tailRun, hdr func(replication.EventType) *replication.EventHeader, table *replication.TableMapEvent, at func() uint32) {
	t.Helper()
	ctx := t.Context()
	relay, err := st.Relay(ctx, source)
	if err != nil {
		t.Fatal(err)
	}
	published, lastSeq, resume, err := lastPublished(ctx, relay)
	if err != nil {
		t.Fatal(err)
	}
	tr := schema.NewTracker()
	if _, err := tr.Apply("db", ddl); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	r = &tailRun{
		t: &Tailer{env: Env{Store: st, Log: log}, source: source}, log: log, tracker: tr,
		cp: TailCheckpoint{Flavor: "mariadb"}, published: published, lastSeq: lastSeq,
		relay: relay, resume: resume, file: "mysql-bin.000001",
		gate: newRelayGate(1 << 40),
	}
	pos := uint32(4)
	hdr = func(typ replication.EventType) *replication.EventHeader {
		pos += 100
		return &replication.EventHeader{EventType: typ, LogPos: pos, Timestamp: 1700000000}
	}
	table = &replication.TableMapEvent{Schema: []byte("db"), Table: []byte("t"), ColumnCount: uint64(cols)}
	return r, hdr, table, func() uint32 { return pos }
}
