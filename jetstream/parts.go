package jetstream

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/dmnode/dmnode"
)

// Sizes without a ceiling. Two mechanisms, one inside the other:
//
//   - A transaction too large for one message travels as a sequence of
//     parts (format 2), each a self-contained piece of its changes. The
//     messages of a sequence carry HeaderTxn (which transaction: the
//     position of its first event), HeaderPart (the message's number in the
//     sequence, from 0) and, on the last message only, HeaderLast and the
//     position headers. A reader so never takes a non-last message's place
//     as a transaction boundary, and can apply the parts as they come.
//   - An encoded message larger than MaxMessageBytes (a part or a dumped
//     row batch holding a huge row) is cut into fragments (format 3), sent
//     as consecutive messages of the same subject and put together again by
//     an Assembler before it is decoded. Both the relay and the snapshot
//     stream use it: one mechanism for rows of any size.
//
// The messages of one sequence are contiguous in their subject; a
// writer that dies in the middle of one resumes it (the tailer re-reads
// the transaction and publishes from the message after the last one the
// stream holds, see actors/tail.go) or leaves it unfinished (the dumper,
// whose unfinished chunks are dumped again): an Assembler that sees a new
// sequence begin drops the unfinished one.

// Message formats: the first byte of every message.
const (
	formatBatch    = codecVersion // whole transactions, or a dumped row batch
	formatTxnPart  = 2            // a part of a transaction (EncodeTxnPart)
	formatFragment = 3            // a fragment of a larger message (Fragment)
	// formatS2 (compress.go) = 4: a compressed message of format 1 or 2
)

// MaxFragmentedBytes bounds a message put together from fragments: 1 GiB,
// MySQL's largest max_allowed_packet, so no row a source can hold is
// refused, and a corrupt length cannot make a reader allocate without bound.
const MaxFragmentedBytes = 1 << 30

// MaxFragments is the number of fragments of the largest message.
const MaxFragments = (MaxFragmentedBytes + MaxMessageBytes - 1) / MaxMessageBytes

// Headers of a transaction's part messages.
const (
	HeaderTxn  = "Dmnode-Txn"  // the transaction: position of its first event, "file:pos"
	HeaderPart = "Dmnode-Part" // the message's number within the transaction, from 0
	HeaderLast = "Dmnode-Last" // "1" on the transaction's last message
)

// EncodeTxnPart appends the encoding of a part of a transaction (its
// changes, and its end and commit time when it is the last part) to dst,
// compressed where that pays (see compress).
func EncodeTxnPart(dst []byte, t *dmnode.Txn) ([]byte, error) {
	e := encoder{buf: append(dst, formatTxnPart)}
	if err := e.txn(t); err != nil {
		return nil, err
	}
	e.ddlTrailer([]dmnode.Txn{*t})
	return compress(e.buf, len(dst)), nil
}

// DecodeTxnPart decodes a message written by EncodeTxnPart.
func DecodeTxnPart(data []byte) (*dmnode.Txn, error) {
	data, err := inflate(data)
	if err != nil {
		return nil, fmt.Errorf("decode transaction part: %w", err)
	}
	d := decoder{buf: data}
	if v := d.byte(); v != formatTxnPart {
		return nil, fmt.Errorf("decode transaction part: unknown format version %d", v)
	}
	t := d.txn()
	txns := []dmnode.Txn{t}
	d.ddlTrailer(txns)
	t = txns[0]
	if d.err != nil {
		return nil, fmt.Errorf("decode transaction part: %w", d.err)
	}
	return &t, nil
}

// Fragment returns data as it is when it fits in max bytes, else cut into
// fragment messages of at most max bytes each, to be published in order
// and put together by an Assembler.
func Fragment(data []byte, max int) ([][]byte, error) {
	if len(data) <= max {
		return [][]byte{data}, nil
	}
	if len(data) > MaxFragmentedBytes {
		return nil, fmt.Errorf("a message of %d bytes is larger than %d bytes, the most a fragmented message can hold", len(data), MaxFragmentedBytes)
	}
	const head = 1 + 3*10 // format byte and three uvarints at most
	room := max - head
	count := (len(data) + room - 1) / room
	out := make([][]byte, 0, count)
	for i := 0; i < count; i++ {
		chunk := data[i*room : min((i+1)*room, len(data))]
		e := encoder{buf: make([]byte, 0, head+len(chunk))}
		e.buf = append(e.buf, formatFragment)
		e.uvarint(uint64(i))
		e.uvarint(uint64(count))
		e.uvarint(uint64(len(data)))
		out = append(out, append(e.buf, chunk...))
	}
	return out, nil
}

// IsFragment reports whether a message is a fragment of a larger one.
func IsFragment(data []byte) bool { return len(data) > 0 && data[0] == formatFragment }

// ErrFragmentOrder is returned by Assembler.Add for a fragment that does
// not continue the message being put together.
var ErrFragmentOrder = errors.New("fragment out of order")

// Assembler puts fragmented messages together. It holds at most one
// message being assembled (at most MaxFragmentedBytes). Not safe for
// concurrent use.
type Assembler struct {
	buf         []byte
	next, count int
	total       int
	// Dropped counts the unfinished messages dropped because a new one
	// began.
	Dropped int
}

// Add takes the next message of a subject. It returns the message whole
// (data itself when it is not a fragment, the assembled message when data
// is its last fragment) and true, or nil and false while a fragmented
// message is unfinished. A message that is not a fragment, or a first
// fragment, arriving while another is unfinished drops the unfinished one
// (its writer died before finishing it; see the comment at the top). A
// fragment that does not continue the unfinished message returns
// ErrFragmentOrder and leaves the assembler as it was.
func (a *Assembler) Add(data []byte) ([]byte, bool, error) {
	if !IsFragment(data) {
		a.drop()
		return data, true, nil
	}
	d := decoder{buf: data[1:]}
	idx, count, total := d.uvarint(), d.uvarint(), d.uvarint()
	if d.err != nil || count < 2 || idx >= count || total > MaxFragmentedBytes || count > total {
		return nil, false, fmt.Errorf("fragment header: %w", ErrCorrupt)
	}
	if idx == 0 {
		a.drop()
		a.buf, a.next, a.count, a.total = make([]byte, 0, total), 0, int(count), int(total)
	}
	if a.count == 0 || int(idx) != a.next || int(count) != a.count || int(total) != a.total {
		return nil, false, fmt.Errorf("fragment %d of %d after %d of %d: %w", idx, count, a.next, a.count, ErrFragmentOrder)
	}
	if len(a.buf)+len(d.buf) > a.total {
		return nil, false, fmt.Errorf("fragments longer than the %d bytes announced: %w", a.total, ErrCorrupt)
	}
	a.buf = append(a.buf, d.buf...)
	a.next++
	if a.next < a.count {
		return nil, false, nil
	}
	if len(a.buf) != a.total {
		return nil, false, fmt.Errorf("fragments hold %d bytes, %d announced: %w", len(a.buf), a.total, ErrCorrupt)
	}
	out := a.buf
	a.Reset()
	return out, true, nil
}

// Pending reports whether a fragmented message is unfinished.
func (a *Assembler) Pending() bool { return a.count > 0 }

// Reset forgets the unfinished message, if any.
func (a *Assembler) Reset() { a.buf, a.next, a.count, a.total = nil, 0, 0, 0 }

func (a *Assembler) drop() {
	if a.Pending() {
		a.Dropped++
		a.Reset()
	}
}

// PartHeaders returns the headers of message n of the part sequence of the
// transaction that begins at begin. last is nil except on the sequence's
// last message, where it is the transaction (its end and commit time go in
// the position headers).
func PartHeaders(begin dmnode.Position, n int, last *dmnode.Txn) Header {
	h := Header{}
	id := begin.File + ":" + strconv.FormatUint(uint64(begin.Pos), 10)
	h.Set(HeaderTxn, id)
	h.Set(HeaderPart, strconv.Itoa(n))
	if last != nil {
		h = BatchHeaders(&dmnode.Batch{Txns: []dmnode.Txn{*last}})
		h.Set(HeaderTxn, id)
		h.Set(HeaderPart, strconv.Itoa(n))
		h.Set(HeaderLast, "1")
	}
	// Makes a re-publish of the same message a no-op within the stream's
	// duplicate window.
	h.Set(HeaderMsgID, "txn:"+id+":"+strconv.Itoa(n))
	return h
}

// RelayHeaders is what the headers of a relay message say.
type RelayHeaders struct {
	// Part is set on a message of a transaction's part sequence; Begin
	// and N then say which transaction and which message.
	Part  bool
	Begin dmnode.Position // File and Pos only
	N     int
	// Last is set on a message that ends a transaction: every message
	// that is not a part, and a sequence's last. End and Time are then
	// the end position and commit time of its last transaction.
	Last bool
	End  dmnode.Position
	Time uint32
}

// Order is the position a message sorts by in the stream: its end, or for
// a non-last part its transaction's first event. Ends of transactions
// never fall between a transaction's first event and its end, so
// comparing Order with a transaction end p tells whether the message
// holds anything of a transaction that ends after p.
func (h RelayHeaders) Order() dmnode.Position {
	if h.Last {
		return h.End
	}
	return h.Begin
}

// ParseRelayHeaders reads the headers of a relay (binlog stream) message.
func ParseRelayHeaders(h Header) (RelayHeaders, error) {
	var r RelayHeaders
	if id := h.Get(HeaderTxn); id != "" {
		i := strings.LastIndexByte(id, ':')
		pos, err := strconv.ParseUint(id[i+1:], 10, 32)
		n, nerr := strconv.Atoi(h.Get(HeaderPart))
		if i <= 0 || err != nil || nerr != nil || n < 0 {
			return r, fmt.Errorf("part headers %q %q: %w", id, h.Get(HeaderPart), ErrCorrupt)
		}
		r.Part, r.Begin, r.N = true, dmnode.Position{File: id[:i], Pos: uint32(pos)}, n
		if h.Get(HeaderLast) == "" {
			return r, nil
		}
	}
	end, t, err := HeaderPosition(h)
	if err != nil {
		return r, err
	}
	r.Last, r.End, r.Time = true, end, t
	return r, nil
}
