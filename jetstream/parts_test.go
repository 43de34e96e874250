package jetstream

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/dmnode/dmnode"
)

func TestTxnPartRoundTrip(t *testing.T) {
	for _, txn := range sampleBatch().Txns {
		data, err := EncodeTxnPart(nil, &txn)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeTxnPart(data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, txn) {
			t.Fatalf("round trip differs:\n got %#v\nwant %#v", got, txn)
		}
		// A reader of batches rejects a part, and a reader of parts a
		// batch: neither misreads the other.
		if _, err := DecodeBatch(data); err == nil || !strings.Contains(err.Error(), "unknown format version 2") {
			t.Fatalf("DecodeBatch of a part: %v", err)
		}
	}
	batch, _ := EncodeBatch(nil, sampleBatch())
	if _, err := DecodeTxnPart(batch); err == nil {
		t.Fatal("DecodeTxnPart accepted a batch")
	}
}

func TestFragmentReassemble(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 99, 100, 101, 1000, 4567} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.UintN(256))
		}
		frags, err := Fragment(data, 100)
		if err != nil {
			t.Fatal(err)
		}
		if size <= 100 && (len(frags) != 1 || !bytes.Equal(frags[0], data)) {
			t.Fatalf("size %d: a message that fits is cut into %d", size, len(frags))
		}
		var a Assembler
		var out []byte
		for i, f := range frags {
			if len(f) > 100 {
				t.Fatalf("size %d: fragment %d has %d bytes", size, i, len(f))
			}
			got, whole, err := a.Add(f)
			if err != nil {
				t.Fatal(err)
			}
			if whole != (i == len(frags)-1) {
				t.Fatalf("size %d: fragment %d of %d: whole=%v", size, i, len(frags), whole)
			}
			if whole {
				out = got
			}
		}
		if !bytes.Equal(out, data) || a.Pending() {
			t.Fatalf("size %d: reassembled %d bytes, pending %v", size, len(out), a.Pending())
		}
	}
}

func TestAssemblerSequences(t *testing.T) {
	msg := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	first, _ := Fragment(msg(250, 'a'), 100)
	second, _ := Fragment(msg(250, 'b'), 100)
	if len(first) < 3 {
		t.Fatalf("250 bytes in 100-byte fragments: %d fragments", len(first))
	}

	// A sequence begun anew drops the unfinished one.
	var a Assembler
	a.Add(first[0])
	a.Add(first[1])
	for i, f := range second {
		got, whole, err := a.Add(f)
		if err != nil {
			t.Fatal(err)
		}
		if i == len(second)-1 && (!whole || !bytes.Equal(got, msg(250, 'b'))) {
			t.Fatalf("second message: whole=%v, %q", whole, got)
		}
	}
	if a.Dropped != 1 {
		t.Fatalf("Dropped = %d, want 1", a.Dropped)
	}

	// A whole message drops the unfinished one too, and is returned as is.
	a = Assembler{}
	a.Add(first[0])
	if got, whole, err := a.Add([]byte{1, 2, 3}); err != nil || !whole || !bytes.Equal(got, []byte{1, 2, 3}) || a.Dropped != 1 {
		t.Fatalf("whole message after a fragment: %v %v %v dropped %d", got, whole, err, a.Dropped)
	}

	// A fragment that continues nothing, or skips one, is refused and
	// changes nothing.
	a = Assembler{}
	if _, _, err := a.Add(first[1]); !errors.Is(err, ErrFragmentOrder) {
		t.Fatalf("stray fragment: %v", err)
	}
	a.Add(first[0])
	if _, _, err := a.Add(first[2]); !errors.Is(err, ErrFragmentOrder) {
		t.Fatalf("skipped fragment: %v", err)
	}
	var got []byte
	for _, f := range first[1:] {
		var whole bool
		var err error
		if got, whole, err = a.Add(f); err != nil || whole != (len(got) > 0) {
			t.Fatalf("after a refused fragment: %v %v", whole, err)
		}
	}
	if !bytes.Equal(got, msg(250, 'a')) {
		t.Fatalf("after a refused fragment: got %q", got)
	}

	// A corrupt header is an error, not an allocation of its claimed size.
	bad := []byte{formatFragment, 0, 2, 0xff, 0xff, 0xff, 0xff, 0x7f}
	if _, _, err := (&Assembler{}).Add(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt header: %v", err)
	}
}

func TestRelayHeaders(t *testing.T) {
	begin := dmnode.Position{File: "mysql-bin.000002", Pos: 1234}
	txn := dmnode.Txn{End: dmnode.Position{File: "mysql-bin.000002", Pos: 99999, GTID: "0-1-5"}, Time: 42}

	h, err := ParseRelayHeaders(PartHeaders(begin, 3, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !h.Part || h.Last || h.N != 3 || h.Begin != begin || h.Order() != begin {
		t.Fatalf("non-last part: %+v", h)
	}
	// A non-last part has no position: a reader of positions alone
	// cannot take it for a transaction boundary.
	if _, _, err := HeaderPosition(PartHeaders(begin, 3, nil)); err == nil {
		t.Fatal("HeaderPosition of a non-last part succeeded")
	}

	h, err = ParseRelayHeaders(PartHeaders(begin, 7, &txn))
	if err != nil {
		t.Fatal(err)
	}
	if !h.Part || !h.Last || h.N != 7 || h.End != txn.End || h.Time != 42 || h.Order() != txn.End {
		t.Fatalf("last part: %+v", h)
	}

	h, err = ParseRelayHeaders(BatchHeaders(&dmnode.Batch{Txns: []dmnode.Txn{txn}}))
	if err != nil {
		t.Fatal(err)
	}
	if h.Part || !h.Last || h.End != txn.End {
		t.Fatalf("batch: %+v", h)
	}

	bad := PartHeaders(begin, 1, nil)
	bad.Set(HeaderPart, "x")
	if _, err := ParseRelayHeaders(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad part number: %v", err)
	}
}
