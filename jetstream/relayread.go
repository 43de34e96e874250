package jetstream

import (
	"context"
	"fmt"
	"time"
)

// RelayReader reads one source's relay in order from a sequence on, for a
// reader that only reads: the continuous validator. It parses each
// message's headers and counts the messages purged before they were read.
type RelayReader struct {
	cur    RelayCursor
	source string
	next   uint64
}

// OpenRelayReader starts reading relay at sequence seq.
func OpenRelayReader(ctx context.Context, relay Relay, seq uint64) (*RelayReader, error) {
	cur, err := relay.Read(ctx, seq)
	if err != nil {
		return nil, err
	}
	return &RelayReader{cur: cur, source: relay.Source(), next: seq}, nil
}

// Next returns the next message's headers and payload, and how many
// messages before it were purged from the stream before they were read.
// ok is false when none arrived within wait.
func (r *RelayReader) Next(wait time.Duration) (h RelayHeaders, data []byte, skipped uint64, ok bool, err error) {
	m, _, ok, err := r.cur.Next(wait)
	if err != nil || !ok {
		return h, nil, 0, false, err
	}
	if m.Seq > r.next {
		skipped = m.Seq - r.next
	}
	if m.Seq != 0 { // 0: the message came without its metadata
		r.next = m.Seq + 1
	}
	if h, err = ParseRelayHeaders(m.Header); err != nil {
		return h, nil, 0, false, fmt.Errorf("stream of source %s: %w", r.source, err)
	}
	return h, m.Data, skipped, true, nil
}

// Stop ends the reading; a Next waiting returns an error.
func (r *RelayReader) Stop() { r.cur.Stop() }
