package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The JetStream implementation of the boundary (boundary.go): thin
// wrappers over the streams, consumers and the bucket, with the names,
// subjects and configurations of store.go.

var _ Stores = (*Store)(nil)

// Relay opens (creating it when needed) the relay stream of source.
func (s *Store) Relay(ctx context.Context, source string) (Relay, error) {
	st, err := s.BinlogStream(ctx, source)
	if err != nil {
		return nil, err
	}
	return &jsRelay{js: s.JS, st: st, source: source, subject: BinlogSubject(source)}, nil
}

// DeleteRelay removes the relay stream of source.
func (s *Store) DeleteRelay(ctx context.Context, source string) error {
	return s.DeleteBinlogStream(ctx, source)
}

type jsRelay struct {
	js      jetstream.JetStream
	st      jetstream.Stream
	source  string
	subject string
}

func (r *jsRelay) Source() string { return r.source }

func (r *jsRelay) Publish(ctx context.Context, data []byte, h Header, lastSeq uint64) (uint64, error) {
	msg := &nats.Msg{Subject: r.subject, Data: data, Header: nats.Header(h)}
	ack, err := r.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(lastSeq))
	if isWrongSequence(err) {
		return 0, fmt.Errorf("publish to the relay of source %s: another writer appended: %w", r.source, ErrFenced)
	}
	if err != nil {
		return 0, fmt.Errorf("publish to the relay of source %s: %w", r.source, err)
	}
	return ack.Sequence, nil
}

func relayMsg(m *jetstream.RawStreamMsg) RelayMsg {
	return RelayMsg{Seq: m.Sequence, Header: Header(m.Header), Data: m.Data, Time: m.Time}
}

func (r *jsRelay) Last(ctx context.Context) (RelayMsg, bool, error) {
	m, err := r.st.GetLastMsgForSubject(ctx, r.subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return RelayMsg{}, false, nil
	}
	if err != nil {
		return RelayMsg{}, false, fmt.Errorf("read the last message of the relay of source %s: %w", r.source, err)
	}
	return relayMsg(m), true, nil
}

func (r *jsRelay) Get(ctx context.Context, seq uint64) (RelayMsg, error) {
	m, err := r.st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		err = fmt.Errorf("%w (%v)", ErrNotFound, err)
	}
	if err != nil {
		return RelayMsg{}, fmt.Errorf("read stream message %d of source %s: %w", seq, r.source, err)
	}
	return relayMsg(m), nil
}

func (r *jsRelay) Info(ctx context.Context) (RelayInfo, error) {
	info, err := r.st.Info(ctx)
	if err != nil {
		return RelayInfo{}, fmt.Errorf("read relay stream info of source %s: %w", r.source, err)
	}
	st := info.State
	return RelayInfo{FirstSeq: st.FirstSeq, LastSeq: st.LastSeq, Msgs: st.Msgs, Bytes: st.Bytes}, nil
}

func (r *jsRelay) PurgeBelow(ctx context.Context, seq uint64) error {
	return PurgeBelow(ctx, r.st, seq)
}

// Read reads through an ordered consumer, iterated, with at most 64
// messages and 8 MiB waiting in the client.
func (r *jsRelay) Read(ctx context.Context, from uint64) (RelayCursor, error) {
	cons, err := r.st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{r.subject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    from,
		// Without a bound a consumer whose stream lost its quorum retries
		// for ever, deaf to ctx; a few attempts ride out a stream leader
		// election, then the caller's retry takes over.
		MaxResetAttempts: 3,
	})
	if err != nil {
		return nil, fmt.Errorf("read stream of source %s: %w", r.source, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(64, 8<<20),
		jetstream.PullExpiry(10*time.Second), jetstream.PullHeartbeat(2*time.Second))
	if err != nil {
		return nil, fmt.Errorf("read stream of source %s: %w", r.source, err)
	}
	return &jsCursor{it: it, source: r.source}, nil
}

type jsCursor struct {
	it     jetstream.MessagesContext
	source string
}

func (c *jsCursor) Next(wait time.Duration) (RelayMsg, uint64, bool, error) {
	m, err := c.it.Next(jetstream.NextMaxWait(wait))
	if errors.Is(err, nats.ErrTimeout) {
		return RelayMsg{}, 0, false, nil
	}
	if err != nil {
		return RelayMsg{}, 0, false, fmt.Errorf("read stream of source %s: %w", c.source, err)
	}
	out := RelayMsg{Header: Header(m.Headers()), Data: m.Data()}
	var pending uint64
	if md, err := m.Metadata(); err == nil {
		out.Seq, out.Time, pending = md.Sequence.Stream, md.Timestamp, md.NumPending
	}
	return out, pending, true, nil
}

func (c *jsCursor) Stop() { c.it.Stop() }

// SnapshotQueue opens the snapshot queue of task: a stream per source
// (SnapshotStream), each created when first used. A task whose chunks an
// earlier release began to copy into one stream for the whole task
// (TaskSnapshotStream) goes on in that stream, so that nothing it holds
// is left behind.
func (s *Store) SnapshotQueue(ctx context.Context, task string) (SnapshotQueue, error) {
	q := &jsQueue{s: s, task: task}
	st, err := s.JS.Stream(ctx, TaskSnapshotStream(task))
	switch {
	case err == nil:
		q.whole = st
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, fmt.Errorf("open the snapshot stream of task %s: %w", task, err)
	}
	return q, nil
}

// DeleteSnapshotQueue removes every snapshot stream of task.
func (s *Store) DeleteSnapshotQueue(ctx context.Context, task string) error {
	names := s.JS.StreamNames(ctx, jetstream.WithStreamListSubject(SnapshotSubjects(task)))
	var found []string
	for name := range names.Name() {
		found = append(found, name)
	}
	if err := names.Err(); err != nil {
		return fmt.Errorf("list the snapshot streams of task %s: %w", task, err)
	}
	for _, name := range found {
		if err := s.JS.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("delete snapshot stream %s of task %s: %w", name, task, err)
		}
	}
	return nil
}

type jsQueue struct {
	s    *Store
	task string
	// whole is the task's one stream of an earlier release, if it has
	// one; nil, each source has its own.
	whole   jetstream.Stream
	streams sync.Map // source → jetstream.Stream, those opened so far
}

// stream returns the stream that holds source's chunks, creating it when
// needed.
func (q *jsQueue) stream(ctx context.Context, source string) (jetstream.Stream, error) {
	if q.whole != nil {
		return q.whole, nil
	}
	if st, ok := q.streams.Load(source); ok {
		return st.(jetstream.Stream), nil
	}
	st, err := q.s.SnapshotStream(ctx, q.task, source)
	if err != nil {
		return nil, err
	}
	q.streams.Store(source, st)
	return st, nil
}

func (q *jsQueue) Publish(ctx context.Context, source, id string, data []byte) error {
	if _, err := q.stream(ctx, source); err != nil {
		return err
	}
	var opts []jetstream.PublishOpt
	if id != "" {
		opts = append(opts, jetstream.WithMsgID(id))
	}
	if _, err := q.s.JS.PublishMsg(ctx, &nats.Msg{Subject: SnapshotSubject(q.task, source), Data: data}, opts...); err != nil {
		return fmt.Errorf("publish to the snapshot stream of task %s source %s: %w", q.task, source, err)
	}
	return nil
}

// Drop deletes the source's stream: an idle stream is still a Raft group
// on every replica for as long as the task runs.
func (q *jsQueue) Drop(ctx context.Context, source string) error {
	if q.whole != nil {
		return nil
	}
	q.streams.Delete(source)
	if err := q.s.JS.DeleteStream(ctx, SnapshotStream(q.task, source)); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("delete the snapshot stream of task %s source %s: %w", q.task, source, err)
	}
	return nil
}

// Consume creates a durable consumer of its own per incarnation, named
// load_<epoch> (load_<source>_<epoch> in a task's one stream of an
// earlier release), after deleting those of earlier incarnations (named
// load_<epoch>, or load_<source> and load_<source>_<epoch>): messages a dead
// incarnation fetched but never acknowledged are delivered again at once
// instead of after AckWait, and a stale incarnation still running
// elsewhere can neither fetch (and sit on) this one's messages nor
// acknowledge any, because its consumer is gone.
//
// It reads through one continuous pull subscription, not a Fetch per
// batch: a Fetch's inbox is unsubscribed once its wait is over, and on a
// loaded server a pull request answered after that delivered messages to
// nobody, which then sat unacknowledged until AckWait (ten minutes)
// before they were delivered again. The subscription's inbox lives as long
// as the consumer, so a late delivery still arrives.
func (q *jsQueue) Consume(ctx context.Context, source string, epoch uint64, maxAckPending, prefetch int) (SnapshotConsumer, error) {
	st, err := q.stream(ctx, source)
	if err != nil {
		return nil, err
	}
	// In a stream of the source's own the consumers need no source in
	// their name (which would make it too long for a long one).
	prefix := "load"
	if q.whole != nil {
		prefix = "load_" + Token(source)
	}
	if err := deleteConsumers(ctx, st, prefix); err != nil {
		return nil, err
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       fmt.Sprintf("%s_%d", prefix, epoch),
		FilterSubject: SnapshotSubject(q.task, source),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       10 * time.Minute,
		MaxAckPending: maxAckPending,
	})
	if err != nil {
		return nil, fmt.Errorf("create load consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(prefetch))
	if err != nil {
		return nil, fmt.Errorf("fetch dumped chunks: %w", err)
	}
	return &jsConsumer{cons: cons, it: it}, nil
}

// deleteConsumers deletes the stream's consumers named prefix or
// prefix_<epoch>: those of earlier loader incarnations of a source.
func deleteConsumers(ctx context.Context, stream jetstream.Stream, prefix string) error {
	names := stream.ConsumerNames(ctx)
	var old []string
	for name := range names.Name() {
		epoch, ok := strings.CutPrefix(name, prefix+"_")
		if _, err := strconv.ParseUint(epoch, 10, 64); name == prefix || ok && err == nil {
			old = append(old, name)
		}
	}
	if err := names.Err(); err != nil {
		return fmt.Errorf("list load consumers: %w", err)
	}
	for _, name := range old {
		if err := stream.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("reset load consumer: %w", err)
		}
	}
	return nil
}

type jsConsumer struct {
	cons jetstream.Consumer
	it   jetstream.MessagesContext
}

func (c *jsConsumer) Next(wait time.Duration) (SnapshotMsg, bool, error) {
	m, err := c.it.Next(jetstream.NextMaxWait(wait))
	if errors.Is(err, nats.ErrTimeout) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("fetch dumped chunks: %w", err)
	}
	return jsSnapMsg{m}, true, nil
}

func (c *jsConsumer) Pending(ctx context.Context) (uint64, uint64, error) {
	info, err := c.cons.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("read load consumer: %w", err)
	}
	return info.NumPending, uint64(info.NumAckPending), nil
}

func (c *jsConsumer) Stop() { c.it.Stop() }

type jsSnapMsg struct{ m jetstream.Msg }

func (m jsSnapMsg) Data() []byte { return m.m.Data() }

func (m jsSnapMsg) Ack(ctx context.Context) error {
	if err := m.m.DoubleAck(ctx); err != nil {
		return fmt.Errorf("acknowledge dumped rows: %w", err)
	}
	return nil
}

func (m jsSnapMsg) Pending() uint64 {
	if md, err := m.m.Metadata(); err == nil {
		return md.NumPending
	}
	return 0
}

// DeleteIf removes key if it is still at revision rev.
func (s *Store) DeleteIf(ctx context.Context, key string, rev uint64) error {
	err := s.KV.Delete(ctx, key, jetstream.LastRevision(rev))
	if isWrongSequence(err) {
		return fmt.Errorf("delete %s: %w", key, ErrFenced)
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// Get returns the raw value at key.
func (s *Store) Get(ctx context.Context, key string) (Entry, bool, error) {
	e, err := s.KV.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("read %s: %w", key, err)
	}
	return Entry{Key: key, Value: e.Value(), Rev: e.Revision(), Created: e.Created()}, true, nil
}

// Watch follows key through a KV watch.
func (s *Store) Watch(ctx context.Context, key string) (KeyWatch, error) {
	w, err := s.KV.Watch(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", key, err)
	}
	kw := &jsWatch{w: w, out: make(chan KeyUpdate, 16), done: make(chan struct{})}
	go kw.pump()
	return kw, nil
}

type jsWatch struct {
	w    jetstream.KeyWatcher
	out  chan KeyUpdate
	done chan struct{}
	once sync.Once
}

func (w *jsWatch) pump() {
	defer close(w.out)
	for e := range w.w.Updates() {
		var u KeyUpdate
		if e == nil {
			u.Initial = true
		} else {
			u.Entry = Entry{Key: e.Key(), Value: e.Value(), Rev: e.Revision(), Created: e.Created()}
			u.Deleted = e.Operation() != jetstream.KeyValuePut
		}
		select {
		case w.out <- u:
		case <-w.done:
			return
		}
	}
}

func (w *jsWatch) Updates() <-chan KeyUpdate { return w.out }

func (w *jsWatch) Stop() {
	w.once.Do(func() { close(w.done) })
	_ = w.w.Stop()
}
