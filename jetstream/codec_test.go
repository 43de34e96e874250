package jetstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/dmnode/dmnode"
)

func sampleBatch() *dmnode.Batch {
	return &dmnode.Batch{Txns: []dmnode.Txn{
		{
			End:  dmnode.Position{File: "mysql-bin.000003", Pos: 4711, GTID: "0-1-42"},
			Time: 1700000000,
			Changes: []dmnode.Change{{
				Table:   dmnode.TableID{Schema: "dmtest", Table: "t1"},
				Columns: []string{"id", "c", "port", "f", "d", "b"},
				Key:     []int{0},
				Rows: []dmnode.RowChange{
					{Kind: dmnode.Insert, After: []any{uint64(1<<63 + 5), "x", int64(-3307), float64(1.5), float32(2.25), []byte{0, 1, 2}}},
					{Kind: dmnode.Update, Before: []any{uint64(1), nil, int64(0), float64(0), float32(0), []byte{}},
						After: []any{uint64(1), "y", nil, float64(-1e300), float32(1), []byte("z")}},
					{Kind: dmnode.Delete, Before: []any{uint64(2), "", int64(1), nil, nil, nil}},
				},
			}},
		},
		{
			End:     dmnode.Position{File: "mysql-bin.000003", Pos: 5000},
			Changes: []dmnode.Change{{Table: dmnode.TableID{Schema: "dmtest"}, DDL: "CREATE TABLE t2 (id int primary key)", DDLSchema: "dmtest"}},
		},
	}}
}

func TestBatchRoundTrip(t *testing.T) {
	b := sampleBatch()
	data, err := EncodeBatch(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, b) {
		t.Fatalf("round trip differs:\n got %#v\nwant %#v", got, b)
	}
}

func TestRowBatchRoundTrip(t *testing.T) {
	rb := &RowBatch{Source: "mysql-replica-01", Table: dmnode.TableID{Schema: "s", Table: "t"},
		Columns: []string{"a", "b"}, Key: []int{0}, Chunk: 7, Part: 2, Last: true,
		Rows: [][]any{{int64(1), "a"}, {int64(2), nil}}}
	data, err := EncodeRowBatch(nil, rb)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRowBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rb) {
		t.Fatalf("round trip differs:\n got %#v\nwant %#v", got, rb)
	}
}

// RowReader reads what DecodeRowBatch decodes, value by value, and stops
// at a truncated message with ErrCorrupt.
func TestRowReader(t *testing.T) {
	rb := &RowBatch{Source: "mysql-replica-01", Table: dmnode.TableID{Schema: "s", Table: "t"},
		Columns: []string{"a", "b", "c", "d", "e", "f"}, Key: []int{0}, Chunk: 7, Part: 2, Last: true,
		Rows: [][]any{{int64(-1), uint64(1 << 63), float32(0.5), 1.25, "x", []byte{0, 1}}, {nil, nil, nil, nil, nil, nil}}}
	data, err := EncodeRowBatch(nil, rb)
	if err != nil {
		t.Fatal(err)
	}
	head, rr, err := DecodeRowBatchHead(data)
	if err != nil {
		t.Fatal(err)
	}
	want := *rb
	want.Rows = nil
	if !reflect.DeepEqual(head, &want) || rr.Rows() != 2 {
		t.Fatalf("head %#v, %d rows", head, rr.Rows())
	}
	var got [][]any
	for n, ok := rr.Next(); ok; n, ok = rr.Next() {
		row := make([]any, n)
		for i := range row {
			v := rr.Value()
			switch v.Kind {
			case KindInt:
				row[i] = v.Int
			case KindUint:
				row[i] = v.Uint
			case KindFloat32:
				row[i] = float32(v.Float)
			case KindFloat64:
				row[i] = v.Float
			case KindString:
				row[i] = string(v.Bytes)
			case KindBytes:
				row[i] = v.Bytes
			}
		}
		got = append(got, row)
	}
	if rr.Err() != nil || !reflect.DeepEqual(got, rb.Rows) {
		t.Fatalf("rows %#v, %v", got, rr.Err())
	}
	for cut := len(data) - 20; cut < len(data); cut++ {
		_, rr, err := DecodeRowBatchHead(data[:cut])
		if err != nil {
			t.Fatal(err)
		}
		for n, ok := rr.Next(); ok; n, ok = rr.Next() {
			for range n {
				rr.Value()
			}
		}
		if !errors.Is(rr.Err(), ErrCorrupt) {
			t.Fatalf("cut at %d: %v", cut, rr.Err())
		}
	}
}

func TestDecodeRejectsCorruptInput(t *testing.T) {
	data, err := EncodeBatch(nil, sampleBatch())
	if err != nil {
		t.Fatal(err)
	}
	for cut := 1; cut < len(data); cut += 7 {
		if _, err := DecodeBatch(data[:cut]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated at %d: got %v, want ErrCorrupt", cut, err)
		}
	}
	bad := bytes.Clone(data)
	bad[0] = 99
	if _, err := DecodeBatch(bad); err == nil {
		t.Fatal("unknown version accepted")
	}
}

func TestEncodeRejectsUnknownType(t *testing.T) {
	b := &dmnode.Batch{Txns: []dmnode.Txn{{Changes: []dmnode.Change{{Rows: []dmnode.RowChange{{Kind: dmnode.Insert, After: []any{struct{}{}}}}}}}}}
	if _, err := EncodeBatch(nil, b); err == nil {
		t.Fatal("struct value encoded")
	}
}

func TestTokenIsOneToOne(t *testing.T) {
	cases := map[string]string{
		"mysql-replica-01": "mysql-replica-01",
		"a.b":              "a_2eb",
		"a_2eb":            "a_5f2eb",
		"x y*>":            "x_20y_2a_3e",
	}
	for in, want := range cases {
		if got := Token(in); got != want {
			t.Errorf("Token(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkEncodeBatch(b *testing.B) {
	batch := sampleBatch()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = EncodeBatch(buf[:0], batch); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeBatch(b *testing.B) {
	data, _ := EncodeBatch(nil, sampleBatch())
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := DecodeBatch(data); err != nil {
			b.Fatal(err)
		}
	}
}

// The same batch through encoding/json, the codec's yardstick: size and
// speed of the alternative a binary codec has to beat.
func BenchmarkEncodeBatchJSON(b *testing.B) {
	batch := sampleBatch()
	var data []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if data, err = json.Marshal(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(data)))
}

func BenchmarkDecodeBatchJSON(b *testing.B) {
	data, _ := json.Marshal(sampleBatch())
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var out dmnode.Batch
		if err := json.Unmarshal(data, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCodecSmallerThanJSON records the size the binary codec saves.
func TestCodecSmallerThanJSON(t *testing.T) {
	bin, err := EncodeBatch(nil, sampleBatch())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(sampleBatch())
	if len(bin) >= len(js) {
		t.Fatalf("binary batch %d bytes, JSON %d", len(bin), len(js))
	}
	t.Logf("sample batch: binary %d bytes, JSON %d bytes", len(bin), len(js))
}

func TestRowBatchEncoder(t *testing.T) {
	head := &RowBatch{Source: "mysql-replica-01", Table: dmnode.TableID{Schema: "s", Table: "t"},
		Columns: []string{"a", "b", "c"}, Key: []int{0}, Chunk: 300}
	rows := [][]any{
		{int64(1), "a", []byte{0, 1}},
		{uint64(2), nil, float64(0.5)},
		{int64(-3), "", nil},
		{int64(4), "dddd", []byte{}},
	}
	w := NewRowBatchEncoder(head)
	add := func(r []any) {
		w.Row(len(r))
		for _, v := range r {
			if s, ok := v.(string); ok {
				w.StringBytes([]byte(s))
			} else if err := w.Value(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := func(part int, last bool, rows [][]any) []byte {
		rb := *head
		rb.Part, rb.Last, rb.Rows = part, last, rows
		b, err := EncodeRowBatch(nil, &rb)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	check := func(name string, got, want []byte) {
		t.Helper()
		if !bytes.Equal(got, want) {
			t.Errorf("%s: message differs from EncodeRowBatch's", name)
		}
	}
	check("empty", w.Message(nil, 0, true, false), want(0, true, nil))
	add(rows[0])
	add(rows[1])
	add(rows[2])
	msg := w.Message(nil, 200, false, true)
	check("without last", msg, want(200, false, rows[:2]))
	if n := len(w.Message(nil, 1<<40, false, false)); n > w.Size() || w.Size()-n > 21 {
		t.Errorf("Size %d is not within 21 bytes above the message size %d", w.Size(), n)
	}
	w.Reset(true)
	if w.Rows() != 1 {
		t.Fatalf("Rows after Reset(true) = %d, want 1", w.Rows())
	}
	add(rows[3])
	check("kept last", w.Message(nil, 201, true, false), want(201, true, rows[2:]))
	w.Reset(false)
	check("reset", w.Message(nil, 0, false, false), want(0, false, nil))
	got, err := DecodeRowBatch(w.Message(nil, 3, true, false))
	if err != nil || got.Chunk != 300 || got.Part != 3 || !got.Last || len(got.Rows) != 0 {
		t.Errorf("decode: %+v, %v", got, err)
	}
}
