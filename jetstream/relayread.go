package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// RelayReader reads one source's relay (its binlog stream) in order from a
// stream sequence on, for a reader that only reads: the continuous
// validator. Messages come through an ordered consumer, iterated, with at
// most 64 messages and 8 MiB waiting in the client.
type RelayReader struct {
	it     jetstream.MessagesContext
	source string
	next   uint64
}

// OpenRelayReader starts reading stream, the relay of source, at sequence
// seq.
func OpenRelayReader(ctx context.Context, stream jetstream.Stream, source string, seq uint64) (*RelayReader, error) {
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{BinlogSubject(source)},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    seq,
		// A consumer whose stream lost its quorum would otherwise retry
		// for ever, deaf to its context.
		MaxResetAttempts: 3,
	})
	if err != nil {
		return nil, fmt.Errorf("read stream of source %s: %w", source, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(64, 8<<20),
		jetstream.PullExpiry(10*time.Second), jetstream.PullHeartbeat(2*time.Second))
	if err != nil {
		return nil, fmt.Errorf("read stream of source %s: %w", source, err)
	}
	return &RelayReader{it: it, source: source, next: seq}, nil
}

// Next returns the next message's headers and payload, and how many
// messages before it were purged from the stream before they were read.
// ok is false when none arrived within wait.
func (r *RelayReader) Next(wait time.Duration) (h RelayHeaders, data []byte, skipped uint64, ok bool, err error) {
	m, err := r.it.Next(jetstream.NextMaxWait(wait))
	if errors.Is(err, nats.ErrTimeout) {
		return h, nil, 0, false, nil
	}
	if err != nil {
		return h, nil, 0, false, fmt.Errorf("read stream of source %s: %w", r.source, err)
	}
	if md, err := m.Metadata(); err == nil {
		if md.Sequence.Stream > r.next {
			skipped = md.Sequence.Stream - r.next
		}
		r.next = md.Sequence.Stream + 1
	}
	if h, err = ParseRelayHeaders(m.Headers()); err != nil {
		return h, nil, 0, false, fmt.Errorf("stream of source %s: %w", r.source, err)
	}
	return h, m.Data(), skipped, true, nil
}

// Stop ends the reading; a Next waiting returns an error.
func (r *RelayReader) Stop() { r.it.Stop() }
