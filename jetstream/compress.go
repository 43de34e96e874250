package jetstream

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
)

// Relay and snapshot messages are compressed with S2 (format 4) where that
// pays: every byte of a message is copied several times on its way through
// JetStream (into the stream's block cache, to disk, to every replica, out
// to each reader), is kept on disk while the message waits, and crosses
// the network once per replica. Row images compress well: an UPDATE's
// after image repeats most of its before image, a batch repeats its
// tables' names and column layouts, and real columns repeat words, dates
// and JSON keys. On the benchmark's rows (random hex strings, which S2
// cannot shorten) a catch-up's relay shrank to 62 %, and its dumped
// chunks stay as they are; S2 gives up on such data at tens of GB/s.
//
// A formatS2 message is the format byte followed by an S2 block whose
// decoding is a whole message of format 1 or 2; fragments (format 3) are
// cut from the compressed message, so a reader puts the fragments together
// first and then inflates. Readers of every format accept a message
// either way, so a stream holding messages of an earlier release reads on.

// formatS2 is the first byte of a compressed message.
const formatS2 = 4

// compressMinBytes is the smallest message worth compressing.
const compressMinBytes = 512

// compress turns the message buf[start:] (what an encoder appended to its
// caller's dst) into a formatS2 message when that makes it at least an
// eighth smaller, and returns buf as it is otherwise. The compressed
// message takes the encoding's place in buf, so a caller that reuses its
// buffer goes on doing so, and nothing is allocated.
func compress(buf []byte, start int) []byte {
	msg := buf[start:]
	if len(msg) < compressMinBytes {
		return buf
	}
	scratch := compressScratch.Get().(*[]byte)
	defer compressScratch.Put(scratch)
	if n := s2.MaxEncodedLen(len(msg)); cap(*scratch) < n {
		*scratch = make([]byte, n)
	}
	enc := s2.Encode((*scratch)[:cap(*scratch)], msg)
	if cap(*scratch) > compressScratchMax {
		*scratch = nil // a huge message's room is not kept
	}
	if 1+len(enc) > len(msg)-len(msg)/8 {
		return buf
	}
	msg[0] = formatS2
	return buf[:start+1+copy(msg[1:], enc)]
}

// compressScratch holds the buffers compress encodes into.
var compressScratch = sync.Pool{New: func() any { return new([]byte) }}

// compressScratchMax is the largest scratch buffer kept for the next
// message: room for a whole relay or snapshot message.
const compressScratchMax = 2 << 20

// inflate returns the message data holds: data itself when it is not
// compressed, or the message its S2 block decodes to, which must be of
// format 1 or 2 and at most MaxFragmentedBytes long (so that a corrupt
// length cannot make a reader allocate without bound).
func inflate(data []byte) ([]byte, error) {
	if len(data) == 0 || data[0] != formatS2 {
		return data, nil
	}
	n, err := s2.DecodedLen(data[1:])
	if err != nil {
		return nil, fmt.Errorf("compressed message: %w: %v", ErrCorrupt, err)
	}
	if n > MaxFragmentedBytes {
		return nil, fmt.Errorf("compressed message of %d bytes: %w", n, ErrCorrupt)
	}
	msg, err := s2.Decode(make([]byte, n), data[1:])
	if err != nil {
		return nil, fmt.Errorf("compressed message: %w: %v", ErrCorrupt, err)
	}
	if len(msg) == 0 || (msg[0] != formatBatch && msg[0] != formatTxnPart) {
		return nil, fmt.Errorf("compressed message holds no batch or transaction part: %w", ErrCorrupt)
	}
	return msg, nil
}
