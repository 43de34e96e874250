package memstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dmnode/dmnode/jetstream"
)

// ErrLostReply is what a call whose reply a Drop fault lost returns: the
// call took effect, the caller cannot know it. To a NATS client that is a
// timeout, and so it is here.
var ErrLostReply = fmt.Errorf("reply lost (injected): %w", context.DeadlineExceeded)

// dupWindow is the relay's duplicate window (store.go: Duplicates).
const dupWindow = 2 * time.Minute

// changed wakes every reader waiting on s; s.mu is held.
func (s *Store) changed() {
	if s.wake != nil {
		close(s.wake)
	}
	s.wake = make(chan struct{})
}

// waitChange returns a channel closed at the next change; s.mu is held.
func (s *Store) waitChange() <-chan struct{} {
	if s.wake == nil {
		s.wake = make(chan struct{})
	}
	return s.wake
}

// Relays.

type relay struct {
	s      *Store
	source string
	msgs   []jetstream.RelayMsg
	first  uint64 // the sequence of msgs[0], or last+1
	last   uint64
	bytes  uint64
	ids    map[string]idSeen
}

type idSeen struct {
	seq uint64
	at  time.Time
}

// Relay opens the relay of source.
func (s *Store) Relay(_ context.Context, source string) (jetstream.Relay, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.relays[source]
	if r == nil {
		r = &relay{s: s, source: source, first: 1, ids: map[string]idSeen{}}
		s.relays[source] = r
	}
	return r, nil
}

// DeleteRelay removes the relay of source.
func (s *Store) DeleteRelay(_ context.Context, source string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.relays[source]; r != nil {
		r.msgs, r.first, r.last, r.bytes, r.ids = nil, 1, 0, 0, map[string]idSeen{}
		delete(s.relays, source)
	}
	s.changed()
	return nil
}

func (r *relay) Source() string { return r.source }

func msgSize(data []byte, h jetstream.Header) uint64 {
	n := len(data)
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v)
		}
	}
	return uint64(n)
}

func (r *relay) Publish(ctx context.Context, data []byte, h jetstream.Header, lastSeq uint64) (uint64, error) {
	f, err := r.s.enter(ctx, RelayPublish)
	defer r.s.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("publish to the relay of source %s: %w", r.source, err)
	}
	var seq uint64
	for range 1 + btoi(f.Duplicate) {
		var last uint64
		if len(r.msgs) > 0 {
			last = r.msgs[len(r.msgs)-1].Seq
		}
		if last != lastSeq && seq == 0 {
			return 0, fmt.Errorf("publish to the relay of source %s: another writer appended: %w", r.source, jetstream.ErrFenced)
		}
		now := r.s.Now()
		id := h.Get(jetstream.HeaderMsgID)
		if seen, ok := r.ids[id]; ok && id != "" && now.Sub(seen.at) < dupWindow {
			seq = seen.seq
			continue
		}
		r.last++
		seq = r.last
		hc := jetstream.Header{}
		for k, v := range h {
			hc[k] = append([]string(nil), v...)
		}
		r.msgs = append(r.msgs, jetstream.RelayMsg{Seq: seq, Header: hc, Data: append([]byte(nil), data...), Time: now})
		r.bytes += msgSize(data, h)
		if id != "" {
			r.ids[id] = idSeen{seq: seq, at: now}
		}
	}
	r.s.changed()
	if f.Drop {
		return 0, fmt.Errorf("publish to the relay of source %s: %w", r.source, ErrLostReply)
	}
	return seq, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (r *relay) Last(ctx context.Context) (jetstream.RelayMsg, bool, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if len(r.msgs) == 0 {
		return jetstream.RelayMsg{}, false, ctx.Err()
	}
	return r.msgs[len(r.msgs)-1], true, ctx.Err()
}

// index returns where seq is in msgs, or the first message after it.
func (r *relay) index(seq uint64) int {
	if seq < r.first {
		return 0
	}
	return int(seq - r.first)
}

func (r *relay) Get(ctx context.Context, seq uint64) (jetstream.RelayMsg, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if seq < r.first || seq > r.last {
		return jetstream.RelayMsg{}, fmt.Errorf("read stream message %d of source %s: %w", seq, r.source, jetstream.ErrNotFound)
	}
	return r.msgs[r.index(seq)], ctx.Err()
}

func (r *relay) Info(ctx context.Context) (jetstream.RelayInfo, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return jetstream.RelayInfo{FirstSeq: r.first, LastSeq: r.last, Msgs: uint64(len(r.msgs)), Bytes: r.bytes}, ctx.Err()
}

func (r *relay) PurgeBelow(ctx context.Context, seq uint64) error {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	for len(r.msgs) > 0 && r.msgs[0].Seq < seq {
		r.bytes -= msgSize(r.msgs[0].Data, r.msgs[0].Header)
		r.msgs = r.msgs[1:]
	}
	r.first = max(r.first, min(seq, r.last+1))
	return ctx.Err()
}

func (r *relay) Read(ctx context.Context, from uint64) (jetstream.RelayCursor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &cursor{r: r, next: max(from, 1), stop: make(chan struct{})}, nil
}

type cursor struct {
	r    *relay
	next uint64
	dup  *jetstream.RelayMsg
	stop chan struct{}
}

func (c *cursor) Next(wait time.Duration) (jetstream.RelayMsg, uint64, bool, error) {
	s := c.r.s
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-c.stop:
			return jetstream.RelayMsg{}, 0, false, fmt.Errorf("read stream of source %s: %w", c.r.source, errStopped)
		default:
		}
		if c.dup != nil {
			m := *c.dup
			c.dup = nil
			return m, 0, true, nil
		}
		s.mu.Lock()
		r := s.relays[c.r.source]
		if r == nil {
			r = c.r
		}
		if i := r.index(c.next); c.next <= r.last && i < len(r.msgs) {
			m := r.msgs[i]
			f := s.hit(RelayRead)
			pending := r.last - m.Seq
			s.mu.Unlock()
			if f.Delay > 0 {
				time.Sleep(f.Delay)
			}
			if f.Err != nil {
				return jetstream.RelayMsg{}, 0, false, fmt.Errorf("read stream of source %s: %w", c.r.source, f.Err)
			}
			c.next = m.Seq + 1
			if f.Duplicate {
				c.dup = &m
			}
			return m, pending, true, nil
		}
		ch := s.waitChange()
		s.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return jetstream.RelayMsg{}, 0, false, nil
		case <-c.stop:
		}
	}
}

func (c *cursor) Stop() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
}

// Snapshot queues.

type queue struct {
	s    *Store
	task string
	seq  uint64
	// msgs are the messages not acknowledged, in publish order.
	msgs []*qmsg
	// cons is each source's current consumer.
	cons map[string]*consumer
	// ids are the message ids published within dupWindow.
	ids map[string]time.Time
}

type qmsg struct {
	seq    uint64
	source string
	data   []byte
	to     *consumer // the consumer it was delivered to, nil when none
}

// SnapshotQueue opens the queue of task.
func (s *Store) SnapshotQueue(_ context.Context, task string) (jetstream.SnapshotQueue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[task]
	if q == nil {
		q = &queue{s: s, task: task, cons: map[string]*consumer{}, ids: map[string]time.Time{}}
		s.queues[task] = q
	}
	return q, nil
}

// DeleteSnapshotQueue removes the queue of task.
func (s *Store) DeleteSnapshotQueue(_ context.Context, task string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queues[task]; q != nil {
		for _, c := range q.cons {
			c.gone = true
		}
		q.msgs = nil
		delete(s.queues, task)
	}
	s.changed()
	return nil
}

// Queued returns the data of the messages of task and source not yet
// acknowledged, in order: what a loader has still to load.
func (s *Store) Queued(task, source string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	if q := s.queues[task]; q != nil {
		for _, m := range q.msgs {
			if m.source == source {
				out = append(out, m.data)
			}
		}
	}
	return out
}

func (q *queue) Publish(ctx context.Context, source, id string, data []byte) error {
	f, err := q.s.enter(ctx, QueuePublish)
	defer q.s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("publish to the snapshot stream of task %s source %s: %w", q.task, source, err)
	}
	for range 1 + btoi(f.Duplicate) {
		now := q.s.Now()
		if at, ok := q.ids[id]; ok && id != "" && now.Sub(at) < dupWindow {
			continue
		}
		if id != "" {
			q.ids[id] = now
		}
		q.seq++
		q.msgs = append(q.msgs, &qmsg{seq: q.seq, source: source, data: append([]byte(nil), data...)})
	}
	q.s.changed()
	if f.Drop {
		return fmt.Errorf("publish to the snapshot stream of task %s source %s: %w", q.task, source, ErrLostReply)
	}
	return nil
}

func (q *queue) Consume(ctx context.Context, source string, epoch uint64, maxAckPending, prefetch int) (jetstream.SnapshotConsumer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.s.mu.Lock()
	defer q.s.mu.Unlock()
	if old := q.cons[source]; old != nil {
		old.gone = true
	}
	for _, m := range q.msgs {
		if m.source == source {
			m.to = nil
		}
	}
	c := &consumer{q: q, source: source, epoch: epoch, max: max(maxAckPending, 1), stop: make(chan struct{})}
	q.cons[source] = c
	q.s.changed()
	return c, nil
}

func (q *queue) Drop(ctx context.Context, source string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q.s.mu.Lock()
	defer q.s.mu.Unlock()
	if c := q.cons[source]; c != nil {
		c.gone = true
		delete(q.cons, source)
	}
	q.msgs = slices.DeleteFunc(q.msgs, func(m *qmsg) bool { return m.source == source })
	q.s.changed()
	return nil
}

type consumer struct {
	q      *queue
	source string
	epoch  uint64
	max    int
	gone   bool // deleted by a later incarnation's Consume
	dup    *snapMsg
	stop   chan struct{}
}

// counts returns the messages of c's source not delivered and those
// delivered to c and not acknowledged; s.mu is held.
func (c *consumer) counts() (pending, ackPending int) {
	for _, m := range c.q.msgs {
		switch {
		case m.source != c.source:
		case m.to == nil:
			pending++
		case m.to == c:
			ackPending++
		}
	}
	return pending, ackPending
}

func (c *consumer) Next(wait time.Duration) (jetstream.SnapshotMsg, bool, error) {
	s := c.q.s
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-c.stop:
			return nil, false, fmt.Errorf("fetch dumped chunks: %w", errStopped)
		default:
		}
		if c.dup != nil {
			m := c.dup
			c.dup = nil
			return m, true, nil
		}
		s.mu.Lock()
		if c.gone {
			s.mu.Unlock()
			return nil, false, errors.New("fetch dumped chunks: consumer deleted")
		}
		pending, ackPending := c.counts()
		var next *qmsg
		if ackPending < c.max {
			for _, m := range c.q.msgs {
				if m.source == c.source && m.to == nil {
					next = m
					break
				}
			}
		}
		if next != nil {
			f := s.hit(QueueDeliver)
			if f.Err == nil {
				next.to = c
			}
			s.mu.Unlock()
			if f.Delay > 0 {
				time.Sleep(f.Delay)
			}
			if f.Err != nil {
				return nil, false, fmt.Errorf("fetch dumped chunks: %w", f.Err)
			}
			if f.Drop {
				continue // lost on the way: delivered again to the next consumer
			}
			m := &snapMsg{c: c, m: next, pending: uint64(pending - 1)}
			if f.Duplicate {
				c.dup = m
			}
			return m, true, nil
		}
		ch := s.waitChange()
		s.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return nil, false, nil
		case <-c.stop:
		}
	}
}

func (c *consumer) Pending(ctx context.Context) (uint64, uint64, error) {
	c.q.s.mu.Lock()
	defer c.q.s.mu.Unlock()
	if c.gone {
		return 0, 0, errors.New("read load consumer: consumer deleted")
	}
	p, a := c.counts()
	return uint64(p), uint64(a), ctx.Err()
}

func (c *consumer) Stop() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
}

type snapMsg struct {
	c       *consumer
	m       *qmsg
	pending uint64
}

func (m *snapMsg) Data() []byte    { return m.m.data }
func (m *snapMsg) Pending() uint64 { return m.pending }

func (m *snapMsg) Ack(ctx context.Context) error {
	s := m.c.q.s
	f, err := s.enter(ctx, QueueAck)
	defer s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("acknowledge dumped rows: %w", err)
	}
	if m.c.gone {
		return errors.New("acknowledge dumped rows: consumer deleted")
	}
	q := m.c.q
	for i, x := range q.msgs {
		if x == m.m {
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			break
		}
	}
	s.changed()
	if f.Drop {
		return fmt.Errorf("acknowledge dumped rows: %w", ErrLostReply)
	}
	return nil
}
