package jetstream

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Pipeline appends messages to the one subject of a stream that holds
// only that subject (a source's relay), in order, with up to a window of
// them sent and not yet acknowledged: the writer goes on reading and
// encoding while the stream stores what it sent (each store costs the
// stream an fsync, see node/natsserver.go).
//
// Every message expects the stream's last sequence of the subject to be
// the one of the message sent before it, and (but the first) the stream's
// last message to be that message itself, by its message ID (every
// message has one; the pipeline makes one for a message without). So the
// stream stores the messages in the order sent, with no gap: once one is
// lost or refused, every later one is refused too, and a writer that
// another has replaced cannot append (the first refusal is then
// ErrFenced). The sequence alone would not do: after a refusal the next
// message's expected sequence can match the other writer's message. An
// acknowledgement whose sequence is not the one expected (a duplicate
// message ID) is an error too.
//
// Sequences are consecutive in such a stream, so each message's is known
// when it is sent, except the first in an empty subject (the stream may
// have held messages since purged): that one is sent alone and its
// sequence learnt from its acknowledgement.
//
// A message counts as published only once its acknowledgement came,
// which the caller learns from the ack function it gave, called in the
// order of the messages, on the caller's goroutine, within Publish or
// Drain. After an error the pipeline is unusable: the messages after the
// failed one may or may not be in the stream, and the writer starts again
// from what the stream holds. Not safe for concurrent use.
type Pipeline struct {
	js      jetstream.JetStream
	subject string
	last    uint64 // the sequence the last message sent will have
	// known says last is known: false until the first message in an
	// empty subject is acknowledged.
	known bool
	// lastID is the message ID of the last message sent ("" before the
	// first); ids and prefix make IDs for messages without one.
	lastID   string
	prefix   string
	ids      uint64
	inflight []inflight
	bytes    int
	maxMsgs  int
	maxBytes int
	// AckWait bounds the wait for one acknowledgement.
	AckWait time.Duration
	err     error
}

type inflight struct {
	fut  jetstream.PubAckFuture
	seq  uint64
	size int
	ack  func()
}

// NewPipeline returns a pipeline appending to subject after the message
// of sequence last (0: the subject is empty), with at most maxMsgs
// messages and maxBytes bytes of data unacknowledged (at least one
// message whatever its size). maxMsgs 1 publishes one message at a time.
func NewPipeline(js jetstream.JetStream, subject string, last uint64, maxMsgs, maxBytes int) *Pipeline {
	return &Pipeline{js: js, subject: subject, last: last, known: last > 0, maxMsgs: max(1, maxMsgs), maxBytes: maxBytes, AckWait: 30 * time.Second,
		prefix: strconv.FormatUint(rand.Uint64(), 36)}
}

// Publish sends one message of the pipeline's subject after waiting, when
// the window is full, for the oldest acknowledgements. ack is called once
// the stream acknowledged the message.
func (p *Pipeline) Publish(ctx context.Context, data []byte, h nats.Header, ack func()) error {
	if p.err != nil {
		return p.err
	}
	for len(p.inflight) > 0 && (len(p.inflight) >= p.maxMsgs || p.bytes+len(data) > p.maxBytes) {
		if err := p.waitOldest(ctx); err != nil {
			return err
		}
	}
	if h == nil {
		h = nats.Header{}
	}
	id := h.Get(jetstream.MsgIDHeader)
	if id == "" {
		p.ids++
		id = p.prefix + "." + strconv.FormatUint(p.ids, 10)
		h.Set(jetstream.MsgIDHeader, id)
	}
	opts := []jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(p.last)}
	if p.lastID != "" {
		opts = append(opts, jetstream.WithExpectLastMsgID(p.lastID))
	}
	msg := &nats.Msg{Subject: p.subject, Data: data, Header: h}
	fut, err := p.js.PublishMsgAsync(msg, opts...)
	if err != nil {
		return p.fail(fmt.Errorf("publish to %s: %w", p.subject, err))
	}
	p.last++
	p.lastID = id
	p.inflight = append(p.inflight, inflight{fut: fut, seq: p.last, size: len(data), ack: ack})
	p.bytes += len(data)
	if p.maxMsgs == 1 || !p.known {
		return p.Drain(ctx)
	}
	return nil
}

// Drain waits until every message sent is acknowledged.
func (p *Pipeline) Drain(ctx context.Context) error {
	for len(p.inflight) > 0 {
		if err := p.waitOldest(ctx); err != nil {
			return err
		}
	}
	return p.err
}

// Pending is the number of messages sent and not acknowledged yet.
func (p *Pipeline) Pending() int { return len(p.inflight) }

// LastSeq is the sequence of the last message acknowledged, or the one
// the pipeline began after.
func (p *Pipeline) LastSeq() uint64 { return p.last - uint64(len(p.inflight)) }

func (p *Pipeline) waitOldest(ctx context.Context) error {
	if p.err != nil {
		return p.err
	}
	f := p.inflight[0]
	timer := time.NewTimer(p.AckWait)
	defer timer.Stop()
	select {
	case a := <-f.fut.Ok():
		if !p.known && !a.Duplicate && len(p.inflight) == 1 {
			// The first message in an empty subject.
			f.seq, p.last, p.known = a.Sequence, a.Sequence, true
		}
		if a.Duplicate || a.Sequence != f.seq {
			return p.fail(fmt.Errorf("publish to %s: the stream stored the message at sequence %d (duplicate %v) where %d was expected",
				p.subject, a.Sequence, a.Duplicate, f.seq))
		}
	case err := <-f.fut.Err():
		if isWrongSequence(err) || isWrongLastMsgID(err) {
			return p.fail(fmt.Errorf("publish to %s: another writer appended to the stream: %w", p.subject, ErrFenced))
		}
		return p.fail(fmt.Errorf("publish to %s: %w", p.subject, err))
	case <-timer.C:
		return p.fail(fmt.Errorf("publish to %s: no acknowledgement of the message of sequence %d in %v", p.subject, f.seq, p.AckWait))
	case <-ctx.Done():
		return p.fail(ctx.Err())
	}
	p.inflight = p.inflight[1:]
	p.bytes -= f.size
	if f.ack != nil {
		f.ack()
	}
	return nil
}

func isWrongLastMsgID(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrCodeStreamWrongLastMsgID
}

// jsErrCodeStreamWrongLastMsgID is the server's JSStreamWrongLastMsgIDErrF,
// which the client does not name.
const jsErrCodeStreamWrongLastMsgID jetstream.ErrorCode = 10070

func (p *Pipeline) fail(err error) error {
	if p.err == nil {
		p.err = err
	}
	return p.err
}
