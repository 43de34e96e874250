package jetstream

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/dmnode/dmnode"
)

// updates is a transaction of n one-row UPDATEs whose after image repeats
// the before image but for one column, as a binlog in full row images has
// them; its strings are random hex, which S2 cannot shorten by itself.
func updates(rng *rand.Rand, n, width int) dmnode.Txn {
	hex := func() string {
		const digits = "0123456789abcdef"
		b := make([]byte, width)
		for i := range b {
			b[i] = digits[rng.IntN(16)]
		}
		return string(b)
	}
	ch := dmnode.Change{Table: dmnode.TableID{Schema: "sbtest", Table: "sbtest1"}, Columns: []string{"id", "k", "c", "pad"}, Key: []int{0}}
	for i := range n {
		c, pad := hex(), hex()
		ch.Rows = append(ch.Rows, dmnode.RowChange{Kind: dmnode.Update,
			Before: []any{int64(i), int64(rng.IntN(1e6)), c, pad},
			After:  []any{int64(i), int64(rng.IntN(1e6)), c, pad}})
	}
	return dmnode.Txn{End: dmnode.Position{File: "mysql-bin.000001", Pos: uint32(1000 + n)}, Time: 1700000000, Changes: []dmnode.Change{ch}}
}

// A batch or part whose encoding compresses by an eighth or more goes
// compressed and decodes to what was encoded; a reader of batches still
// refuses a compressed part and a reader of parts a compressed batch.
func TestCompressedRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := &dmnode.Batch{Txns: []dmnode.Txn{updates(rng, 200, 120), updates(rng, 3, 60)}}
	plain := encoder{buf: []byte{codecVersion}}
	plain.uvarint(uint64(len(b.Txns)))
	for i := range b.Txns {
		if err := plain.txn(&b.Txns[i]); err != nil {
			t.Fatal(err)
		}
	}
	data, err := EncodeBatch(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	if data[0] != formatS2 || len(data) > len(plain.buf)*3/4 {
		t.Fatalf("format %d, %d bytes of %d", data[0], len(data), len(plain.buf))
	}
	got, err := DecodeBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, b) {
		t.Fatal("compressed batch decodes to another")
	}
	part, err := EncodeTxnPart(nil, &b.Txns[0])
	if err != nil {
		t.Fatal(err)
	}
	if part[0] != formatS2 {
		t.Fatalf("part of format %d", part[0])
	}
	txn, err := DecodeTxnPart(part)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*txn, b.Txns[0]) {
		t.Fatal("compressed part decodes to another")
	}
	if _, err := DecodeBatch(part); err == nil || !strings.Contains(err.Error(), "unknown format version 2") {
		t.Errorf("DecodeBatch of a compressed part: %v", err)
	}
	if _, err := DecodeTxnPart(data); err == nil {
		t.Error("DecodeTxnPart accepted a compressed batch")
	}
}

// What does not compress by an eighth, and what is small, goes as it is.
func TestIncompressibleStaysPlain(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	noise := make([]byte, 4096)
	for i := range noise {
		noise[i] = byte(rng.UintN(256))
	}
	ch := dmnode.Change{Table: dmnode.TableID{Schema: "s", Table: "t"}, Columns: []string{"b"}, Key: []int{0},
		Rows: []dmnode.RowChange{{Kind: dmnode.Insert, After: []any{noise}}}}
	for _, b := range []*dmnode.Batch{{Txns: []dmnode.Txn{{Changes: []dmnode.Change{ch}}}}, sampleBatch()} {
		data, err := EncodeBatch(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		if data[0] != formatBatch {
			t.Errorf("%d bytes: format %d", len(data), data[0])
		}
	}
}

// A compressed part larger than a message is cut into fragments, put
// together by the Assembler and inflated by the decoder.
func TestCompressedFragments(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	txn := updates(rng, 8000, 200)
	data, err := EncodeTxnPart(nil, &txn)
	if err != nil {
		t.Fatal(err)
	}
	if data[0] != formatS2 || len(data) <= MaxMessageBytes {
		t.Fatalf("format %d, %d bytes: want a compressed part larger than a message", data[0], len(data))
	}
	frags, err := Fragment(data, MaxMessageBytes)
	if err != nil {
		t.Fatal(err)
	}
	var a Assembler
	for i, f := range frags {
		whole, done, err := a.Add(f)
		if err != nil {
			t.Fatal(err)
		}
		if done != (i == len(frags)-1) {
			t.Fatalf("fragment %d of %d: whole=%v", i, len(frags), done)
		}
		if done {
			got, err := DecodeTxnPart(whole)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, txn) {
				t.Fatal("reassembled part decodes to another")
			}
		}
	}
}

// A compressed message that is cut short, claims more than
// MaxFragmentedBytes, or holds anything but a batch or a part is refused
// as corrupt, without a panic and without allocating what it claims.
func TestInflateRejectsCorrupt(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	data, err := EncodeBatch(nil, &dmnode.Batch{Txns: []dmnode.Txn{updates(rng, 50, 100)}})
	if err != nil || data[0] != formatS2 {
		t.Fatalf("format %d, %v", data[0], err)
	}
	for cut := 1; cut < len(data); cut += 97 {
		if _, err := DecodeBatch(data[:cut]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d of %d: %v", cut, len(data), err)
		}
	}
	huge := binary.AppendUvarint([]byte{formatS2}, MaxFragmentedBytes+1)
	huge = append(huge, make([]byte, 64)...)
	if _, err := DecodeBatch(huge); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("a claim of %d bytes: %v", MaxFragmentedBytes+1, err)
	}
	for _, inner := range []byte{formatFragment, formatS2, 0} {
		msg := append([]byte{inner}, strings.Repeat("x", 1000)...)
		bad := append([]byte{formatS2}, s2.Encode(nil, msg)...)
		if _, err := DecodeBatch(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("a compressed message of format %d: %v", inner, err)
		}
	}
}

// A dumped chunk's message of rows that repeat themselves goes compressed,
// from EncodeRowBatch and from RowBatchEncoder alike (the same bytes), and
// DecodeRowBatch and the RowReader read it back.
func TestCompressedRowBatch(t *testing.T) {
	rb := &RowBatch{Source: "mysql-replica-01", Table: dmnode.TableID{Schema: "shop", Table: "orders"},
		Columns: []string{"id", "status", "note"}, Key: []int{0}, Chunk: 4, Part: 1}
	w := NewRowBatchEncoder(rb)
	for i := range 500 {
		row := []any{int64(i), "shipped", `{"carrier": "ground", "country": "DE", "gift": false}`}
		rb.Rows = append(rb.Rows, row)
		w.Row(len(row))
		for _, v := range row {
			if err := w.Value(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	data, err := EncodeRowBatch(nil, rb)
	if err != nil {
		t.Fatal(err)
	}
	if data[0] != formatS2 || len(data) > w.Size()/4 {
		t.Fatalf("format %d, %d bytes of %d", data[0], len(data), w.Size())
	}
	if msg := w.Message(nil, 1, false, false); !reflect.DeepEqual(msg, data) {
		t.Error("RowBatchEncoder's message differs from EncodeRowBatch's")
	}
	got, err := DecodeRowBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rb) {
		t.Fatal("compressed row batch decodes to another")
	}
	_, rr, err := DecodeRowBatchHead(data)
	if err != nil || rr.Rows() != 500 {
		t.Fatalf("head: %d rows, %v", rr.Rows(), err)
	}
	n := 0
	for cols, ok := rr.Next(); ok; cols, ok = rr.Next() {
		for range cols {
			if v := rr.Value(); v.Kind == KindString && string(v.Bytes) != "shipped" && v.Bytes[0] != '{' {
				t.Fatalf("value %q", v.Bytes)
			}
		}
		n++
	}
	if rr.Err() != nil || n != 500 {
		t.Fatalf("read %d rows, %v", n, rr.Err())
	}
}

// A compressed encoding takes its place after what dst held, in dst's
// buffer when it has room: the prefix stays, the message after it
// decodes.
func TestCompressAppends(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	b := &dmnode.Batch{Txns: []dmnode.Txn{updates(rng, 100, 80)}}
	dst := make([]byte, 3, 1<<20)
	copy(dst, "abc")
	data, err := EncodeBatch(dst, b)
	if err != nil {
		t.Fatal(err)
	}
	if string(data[:3]) != "abc" || data[3] != formatS2 || &data[0] != &dst[0] {
		t.Fatalf("prefix %q, format %d, same buffer %v", data[:3], data[3], &data[0] == &dst[0])
	}
	got, err := DecodeBatch(data[3:])
	if err != nil || !reflect.DeepEqual(got, b) {
		t.Fatalf("decode after a prefix: %v", err)
	}
}
