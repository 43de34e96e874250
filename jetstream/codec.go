package jetstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/dmnode/dmnode"
)

// The event codec is a compact binary encoding of batches: every integer is a
// varint, every string and byte slice is length-prefixed, and row values
// carry a one-byte type tag. A message starts with a format version byte so
// that readers reject what they do not understand instead of misreading it.

const codecVersion = 1

// Value type tags.
const (
	tagNil byte = iota
	tagInt
	tagUint
	tagFloat32
	tagFloat64
	tagString
	tagBytes
)

// ErrCorrupt is returned by the decoders for a message that is truncated or
// malformed.
var ErrCorrupt = errors.New("corrupt message")

// EncodeBatch appends the encoding of b to dst, compressed where that pays
// (see compress).
func EncodeBatch(dst []byte, b *dmnode.Batch) ([]byte, error) {
	e := encoder{buf: append(dst, codecVersion)}
	e.uvarint(uint64(len(b.Txns)))
	for i := range b.Txns {
		if err := e.txn(&b.Txns[i]); err != nil {
			return nil, err
		}
	}
	e.ddlTrailer(b.Txns)
	return compress(e.buf, len(dst)), nil
}

// DecodeBatch decodes a message written by EncodeBatch.
func DecodeBatch(data []byte) (*dmnode.Batch, error) {
	data, err := inflate(data)
	if err != nil {
		return nil, fmt.Errorf("decode batch: %w", err)
	}
	d := decoder{buf: data}
	if v := d.byte(); v != codecVersion {
		return nil, fmt.Errorf("decode batch: unknown format version %d", v)
	}
	n := d.count()
	b := &dmnode.Batch{Txns: make([]dmnode.Txn, 0, n)}
	for i := 0; i < n && d.err == nil; i++ {
		b.Txns = append(b.Txns, d.txn())
	}
	d.ddlTrailer(b.Txns)
	if d.err != nil {
		return nil, fmt.Errorf("decode batch: %w", d.err)
	}
	return b, nil
}

// RowBatch is a message of the snapshot stream: rows of one primary-key
// chunk of one table, read inside the dump's consistent snapshot.
type RowBatch struct {
	Source  string
	Table   dmnode.TableID
	Columns []string
	Key     []int
	Chunk   int  // chunk number within the table
	Part    int  // message number within the chunk, from 0
	Last    bool // the chunk's last message
	Rows    [][]any
}

// EncodeRowBatch appends the encoding of r to dst, compressed where that
// pays (see compress).
func EncodeRowBatch(dst []byte, r *RowBatch) ([]byte, error) {
	e := encoder{buf: append(dst, codecVersion)}
	e.string(r.Source)
	e.string(r.Table.Schema)
	e.string(r.Table.Table)
	e.strings(r.Columns)
	e.ints(r.Key)
	e.uvarint(uint64(r.Chunk))
	e.uvarint(uint64(r.Part))
	e.bool(r.Last)
	e.uvarint(uint64(len(r.Rows)))
	for _, row := range r.Rows {
		if err := e.row(row); err != nil {
			return nil, err
		}
	}
	return compress(e.buf, len(dst)), nil
}

// DecodeRowBatch decodes a message written by EncodeRowBatch.
func DecodeRowBatch(data []byte) (*RowBatch, error) {
	r, rd, err := DecodeRowBatchHead(data)
	if err != nil {
		return nil, err
	}
	d := &rd.d
	r.Rows = make([][]any, 0, rd.left)
	for i := 0; i < rd.left && d.err == nil; i++ {
		r.Rows = append(r.Rows, d.row())
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode row batch: %w", d.err)
	}
	return r, nil
}

// RowReader reads the rows of a RowBatch message one value at a time,
// without a Go value per row or field, for a consumer that turns them into
// another encoding (the loader's LOAD DATA file). Not safe for concurrent
// use.
type RowReader struct {
	d    decoder
	left int // rows not yet begun
	vals int // values of the current row not yet read
}

// DecodeRowBatchHead decodes a message written by EncodeRowBatch but its
// rows (Rows stays nil), and returns a reader of them. The reader's values
// alias data.
func DecodeRowBatchHead(data []byte) (*RowBatch, *RowReader, error) {
	data, err := inflate(data)
	if err != nil {
		return nil, nil, fmt.Errorf("decode row batch: %w", err)
	}
	d := decoder{buf: data}
	if v := d.byte(); v != codecVersion {
		return nil, nil, fmt.Errorf("decode row batch: unknown format version %d", v)
	}
	r := &RowBatch{Source: d.string()}
	r.Table = dmnode.TableID{Schema: d.string(), Table: d.string()}
	r.Columns = d.strings()
	r.Key = d.ints()
	r.Chunk = int(d.uvarint())
	r.Part = int(d.uvarint())
	r.Last = d.bool()
	n := d.count()
	if d.err != nil {
		return nil, nil, fmt.Errorf("decode row batch: %w", d.err)
	}
	return r, &RowReader{d: d, left: n}, nil
}

// Rows returns how many rows are left to read, the current one included
// once it is begun.
func (r *RowReader) Rows() int { return r.left }

// Next begins the next row and returns its number of values, to be read
// with Value; false after the last row or at an error (Err). The values of
// the previous row must all have been read.
func (r *RowReader) Next() (int, bool) {
	if r.left == 0 || r.d.err != nil {
		return 0, false
	}
	if r.vals != 0 {
		r.d.err = errors.New("row read before the previous one was finished")
		return 0, false
	}
	r.left--
	r.vals = r.d.count()
	return r.vals, r.d.err == nil
}

// Value reads the next value of the current row.
func (r *RowReader) Value() RawValue {
	if r.vals == 0 {
		r.d.fail()
		return RawValue{}
	}
	r.vals--
	var v RawValue
	switch v.Kind = ValueKind(r.d.byte()); v.Kind {
	case KindNil:
	case KindInt:
		v.Int = r.d.varint()
	case KindUint:
		v.Uint = r.d.uvarint()
	case KindFloat32:
		if b := r.d.raw(4); b != nil {
			v.Float = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
		}
	case KindFloat64:
		if b := r.d.raw(8); b != nil {
			v.Float = math.Float64frombits(binary.LittleEndian.Uint64(b))
		}
	case KindString, KindBytes:
		v.Bytes = r.d.raw(r.d.count())
	default:
		r.d.fail()
	}
	return v
}

// Err returns the error that ended the reading, nil when none did.
func (r *RowReader) Err() error {
	if r.d.err != nil {
		return fmt.Errorf("decode row batch: %w", r.d.err)
	}
	return nil
}

// ValueKind is the type of a RawValue.
type ValueKind byte

// The kinds of RawValue, with the Go type DecodeRowBatch gives each.
const (
	KindNil     = ValueKind(tagNil)     // nil
	KindInt     = ValueKind(tagInt)     // int64
	KindUint    = ValueKind(tagUint)    // uint64
	KindFloat32 = ValueKind(tagFloat32) // float32
	KindFloat64 = ValueKind(tagFloat64) // float64
	KindString  = ValueKind(tagString)  // string
	KindBytes   = ValueKind(tagBytes)   // []byte
)

// RawValue is one value of a row as RowReader reads it: Int, Uint, Float
// (a float32 widened) or Bytes by its Kind. Bytes alias the message.
type RawValue struct {
	Kind  ValueKind
	Int   int64
	Uint  uint64
	Float float64
	Bytes []byte
}

// RowBatchEncoder builds the messages of one chunk row by row, in
// EncodeRowBatch's format, for a producer that reads rows one at a time:
// it keeps only their encoding, not the rows as values, and knows the
// exact size of the message it would make. Not safe for concurrent use.
type RowBatchEncoder struct {
	head    []byte  // the encoding up to Part
	body    encoder // the rows
	rows    int
	lastRow int // offset in body of the last row begun
}

// NewRowBatchEncoder returns an encoder of messages with h's source,
// table, columns, key and chunk; h.Rows, Part and Last are ignored.
func NewRowBatchEncoder(h *RowBatch) *RowBatchEncoder {
	e := encoder{buf: []byte{codecVersion}}
	e.string(h.Source)
	e.string(h.Table.Schema)
	e.string(h.Table.Table)
	e.strings(h.Columns)
	e.ints(h.Key)
	e.uvarint(uint64(h.Chunk))
	return &RowBatchEncoder{head: e.buf}
}

// Row begins a row of n values; the next n calls of Value or StringBytes
// give them.
func (w *RowBatchEncoder) Row(n int) {
	w.lastRow = len(w.body.buf)
	w.rows++
	w.body.uvarint(uint64(n))
}

// Value adds a value of the current row. After an error the encoder is
// unusable until Reset.
func (w *RowBatchEncoder) Value(v any) error { return w.body.value(v) }

// StringBytes adds a string value of the current row from its bytes, or
// NULL when b is nil; it decodes as Value(string(b)) would.
func (w *RowBatchEncoder) StringBytes(b []byte) {
	if b == nil {
		w.body.buf = append(w.body.buf, tagNil)
		return
	}
	w.body.buf = append(w.body.buf, tagString)
	w.body.uvarint(uint64(len(b)))
	w.body.buf = append(w.body.buf, b...)
}

// Rows is the number of rows added since the last Reset.
func (w *RowBatchEncoder) Rows() int { return w.rows }

// Size is an upper bound of the size of Message's result, within 21 bytes
// (before compression, which only shortens it).
func (w *RowBatchEncoder) Size() int { return len(w.head) + 21 + len(w.body.buf) }

// Message appends to dst the message of the rows added since the last
// Reset, or of all but the last of them when withoutLast is set,
// compressed where that pays (see compress).
func (w *RowBatchEncoder) Message(dst []byte, part int, last, withoutLast bool) []byte {
	rows, end := w.rows, len(w.body.buf)
	if withoutLast && rows > 0 {
		rows, end = rows-1, w.lastRow
	}
	e := encoder{buf: append(dst, w.head...)}
	e.uvarint(uint64(part))
	e.bool(last)
	e.uvarint(uint64(rows))
	return compress(append(e.buf, w.body.buf[:end]...), len(dst))
}

// Reset drops the rows added, or all but the last when keepLast is set.
func (w *RowBatchEncoder) Reset(keepLast bool) {
	if !keepLast || w.rows == 0 {
		w.body.buf, w.rows = w.body.buf[:0], 0
		return
	}
	n := copy(w.body.buf, w.body.buf[w.lastRow:])
	w.body.buf, w.rows, w.lastRow = w.body.buf[:n], 1, 0
}

type encoder struct{ buf []byte }

func (e *encoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *encoder) varint(v int64)   { e.buf = binary.AppendVarint(e.buf, v) }
func (e *encoder) string(s string)  { e.uvarint(uint64(len(s))); e.buf = append(e.buf, s...) }
func (e *encoder) bool(b bool) {
	if b {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}

func (e *encoder) strings(ss []string) {
	e.uvarint(uint64(len(ss)))
	for _, s := range ss {
		e.string(s)
	}
}

func (e *encoder) ints(is []int) {
	e.uvarint(uint64(len(is)))
	for _, i := range is {
		e.uvarint(uint64(i))
	}
}

func (e *encoder) position(p dmnode.Position) {
	e.string(p.File)
	e.uvarint(uint64(p.Pos))
	e.string(p.GTID)
}

func (e *encoder) txn(t *dmnode.Txn) error {
	e.position(t.End)
	e.uvarint(uint64(t.Time))
	e.uvarint(uint64(len(t.Changes)))
	for i := range t.Changes {
		c := &t.Changes[i]
		e.string(c.Table.Schema)
		e.string(c.Table.Table)
		e.string(c.DDL)
		e.string(c.DDLSchema)
		e.strings(c.Columns)
		e.ints(c.Key)
		e.uvarint(uint64(len(c.Rows)))
		for _, r := range c.Rows {
			e.buf = append(e.buf, byte(r.Kind))
			if err := e.row(r.Before); err != nil {
				return err
			}
			if err := e.row(r.After); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *encoder) row(vals []any) error {
	e.uvarint(uint64(len(vals)))
	for _, v := range vals {
		if err := e.value(v); err != nil {
			return err
		}
	}
	return nil
}

func (e *encoder) value(v any) error {
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, tagNil)
	case int64:
		e.buf = append(e.buf, tagInt)
		e.varint(x)
	case uint64:
		e.buf = append(e.buf, tagUint)
		e.uvarint(x)
	case float32:
		e.buf = append(e.buf, tagFloat32)
		e.buf = binary.LittleEndian.AppendUint32(e.buf, math.Float32bits(x))
	case float64:
		e.buf = append(e.buf, tagFloat64)
		e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(x))
	case string:
		e.buf = append(e.buf, tagString)
		e.string(x)
	case []byte:
		e.buf = append(e.buf, tagBytes)
		e.uvarint(uint64(len(x)))
		e.buf = append(e.buf, x...)
	default:
		return fmt.Errorf("encode value: unsupported type %T", v)
	}
	return nil
}

type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = ErrCorrupt
	}
	d.buf = nil
}

func (d *decoder) byte() byte {
	if len(d.buf) < 1 {
		d.fail()
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// count reads a length and checks it against the bytes left, so a corrupt
// length cannot make the decoder allocate without bound.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.buf)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) raw(n int) []byte {
	if n > len(d.buf) {
		d.fail()
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) string() string { return string(d.raw(d.count())) }
func (d *decoder) bool() bool     { return d.byte() == 1 }

func (d *decoder) strings() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.string()
	}
	return ss
}

func (d *decoder) ints() []int {
	n := d.count()
	if n == 0 {
		return nil
	}
	is := make([]int, n)
	for i := range is {
		is[i] = int(d.uvarint())
	}
	return is
}

func (d *decoder) txn() dmnode.Txn {
	t := dmnode.Txn{End: dmnode.Position{File: d.string(), Pos: uint32(d.uvarint()), GTID: d.string()}}
	t.Time = uint32(d.uvarint())
	n := d.count()
	t.Changes = make([]dmnode.Change, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		c := dmnode.Change{Table: dmnode.TableID{Schema: d.string(), Table: d.string()}}
		c.DDL = d.string()
		c.DDLSchema = d.string()
		c.Columns = d.strings()
		c.Key = d.ints()
		rn := d.count()
		if rn > 0 {
			c.Rows = make([]dmnode.RowChange, 0, rn)
		}
		for j := 0; j < rn && d.err == nil; j++ {
			r := dmnode.RowChange{Kind: dmnode.ChangeKind(d.byte())}
			r.Before = d.row()
			r.After = d.row()
			c.Rows = append(c.Rows, r)
		}
		t.Changes = append(t.Changes, c)
	}
	return t
}

func (d *decoder) row() []any {
	n := d.count()
	if n == 0 {
		return nil
	}
	vals := make([]any, n)
	for i := range vals {
		vals[i] = d.value()
	}
	return vals
}

func (d *decoder) value() any {
	switch tag := d.byte(); tag {
	case tagNil:
		return nil
	case tagInt:
		return d.varint()
	case tagUint:
		return d.uvarint()
	case tagFloat32:
		b := d.raw(4)
		if b == nil {
			return nil
		}
		return math.Float32frombits(binary.LittleEndian.Uint32(b))
	case tagFloat64:
		b := d.raw(8)
		if b == nil {
			return nil
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	case tagString:
		return d.string()
	case tagBytes:
		return d.raw(d.count())
	default:
		d.fail()
		return nil
	}
}
