package jetstream

import (
	"context"
	"errors"
	"time"
)

// The boundary between the actors and NATS. The actors see only these
// interfaces; Store implements them over JetStream (jsboundary.go) and
// package memstore in memory, for tests, with faults to inject. The
// conformance suite (package storetest) runs against both.
//
// Every method is safe for concurrent use unless its doc says otherwise,
// blocks on the store's round trips, honours ctx, and returns the store's
// errors wrapped with what was being done (key, source, task).

// ErrNotFound is returned (wrapped) by a read of a relay message that is
// not in the relay: never published, or purged.
var ErrNotFound = errors.New("not found")

// Relays opens the relays of sources. A relay is the binlog of one source
// as the tailer published it: an append-only log of messages numbered by
// sequence (the stream BINLOG_<source>).
type Relays interface {
	// Relay creates the relay of source when it does not exist and returns
	// it. Opening it again returns a handle on the same log.
	Relay(ctx context.Context, source string) (Relay, error)
	// DeleteRelay removes the relay of source and everything in it; a
	// missing relay is not an error.
	DeleteRelay(ctx context.Context, source string) error
}

// RelayMsg is one message of a relay.
type RelayMsg struct {
	// Seq is the message's sequence: sequences start at 1, grow by one
	// per message stored, and are never reused, also after a purge. A
	// cursor's message whose metadata could not be read has Seq 0.
	Seq    uint64
	Header Header
	Data   []byte
	// Time is when the relay stored the message; it never decreases with
	// Seq.
	Time time.Time
}

// RelayInfo is the state of a relay. An empty relay that held messages
// has FirstSeq = LastSeq+1.
type RelayInfo struct {
	FirstSeq, LastSeq uint64
	Msgs, Bytes       uint64
}

// Relay is the binlog of one source.
//
// Promised: messages are stored in the order Publish returned, numbered by
// consecutive sequences; a Read delivers them in sequence order without
// duplicates and without gaps, except for messages purged before they
// were delivered (the reader sees the sequence jump). Published messages
// are durable once Publish returns (as durable as the store: JetStream's
// file storage, replicated by its replicas; memory for the fake).
//
// Not promised: a Read sees a message published after it started only
// eventually (within a pull); Info's figures may be a moment old.
// Nothing bounds the relay's size: the tailer and the retention loop do.
type Relay interface {
	// Source is the source whose relay this is.
	Source() string
	// Publish appends a message, provided the relay's last message is
	// still lastSeq (0: the relay is empty); otherwise it stores nothing
	// and returns an error wrapping ErrFenced (another tailer appended).
	// It returns the message's sequence. A message whose HeaderMsgID
	// repeats that of a message published within the duplicate window
	// (two minutes) is not stored again: Publish returns the earlier
	// message's sequence (the check of lastSeq comes first).
	Publish(ctx context.Context, data []byte, h Header, lastSeq uint64) (uint64, error)
	// Last returns the last message; ok is false when the relay is empty.
	Last(ctx context.Context) (m RelayMsg, ok bool, err error)
	// Get returns the message at seq, or an error wrapping ErrNotFound.
	Get(ctx context.Context, seq uint64) (RelayMsg, error)
	// Info returns the relay's state.
	Info(ctx context.Context) (RelayInfo, error)
	// Read starts reading at sequence from (the first message at or
	// after it, since earlier ones may be purged).
	Read(ctx context.Context, from uint64) (RelayCursor, error)
	// PurgeBelow removes every message with a sequence below seq.
	PurgeBelow(ctx context.Context, seq uint64) error
}

// RelayCursor reads a relay in sequence order. Its methods are for one
// goroutine, except Stop, which may be called from any.
type RelayCursor interface {
	// Next returns the next message and how many messages follow it in
	// the relay (an estimate for metrics); ok is false when none arrived
	// within wait. After Stop, Next returns an error.
	Next(wait time.Duration) (m RelayMsg, pending uint64, ok bool, err error)
	// Stop ends the reading.
	Stop()
}

// SnapshotQueues opens the snapshot queues of tasks.
type SnapshotQueues interface {
	// SnapshotQueue creates the queue of task when it does not exist and
	// returns it.
	SnapshotQueue(ctx context.Context, task string) (SnapshotQueue, error)
	// DeleteSnapshotQueue removes the queue of task and everything in it;
	// a missing queue is not an error.
	DeleteSnapshotQueue(ctx context.Context, task string) error
}

// SnapshotQueue is the work queue of one task's dumped row batches (a
// stream SNAPSHOT_<task>__<source> per source): the dumper of each source publishes, the loader
// of that source consumes and acknowledges.
//
// Promised: a message stays in the queue until acknowledged; a consumer
// receives a source's messages in the order they were published, each
// once, except that a message delivered but not acknowledged is delivered
// again to the next consumer of the source (at least once, so a message
// may arrive twice: the loader's writes are idempotent). A message
// published is durable once Publish returns.
//
// Not promised: no deduplication of publishes (a dumper that publishes a
// chunk again after a crash has it loaded twice); no order between
// sources.
type SnapshotQueue interface {
	// Publish appends a message to the source's part of the queue. A
	// message with an id (not empty) is stored once: a publish of the
	// same id again within two minutes, a retry after a lost reply, is
	// confirmed without storing it a second time.
	Publish(ctx context.Context, source, id string, data []byte) error
	// Consume opens the consumer of the source's messages for the loader
	// incarnation epoch. Consumers of earlier incarnations of the source
	// are removed first: what they received and did not acknowledge is
	// delivered to this one, at once, and they can no longer acknowledge.
	// At most maxAckPending messages are delivered and not yet
	// acknowledged; prefetch messages at most wait in the client.
	Consume(ctx context.Context, source string, epoch uint64, maxAckPending, prefetch int) (SnapshotConsumer, error)
	// Drop removes the source's part of the queue, with what it holds and
	// its consumer, once the source's load is finished; a later Publish
	// or Consume begins it afresh. A queue kept the way an earlier
	// release kept it, one stream for the whole task, keeps everything
	// until DeleteSnapshotQueue.
	Drop(ctx context.Context, source string) error
}

// SnapshotConsumer delivers a source's snapshot messages to one loader
// incarnation. Next is for one goroutine; Ack, Pending and Stop may be
// called from any.
type SnapshotConsumer interface {
	// Next returns the next message; ok is false when none arrived within
	// wait.
	Next(wait time.Duration) (m SnapshotMsg, ok bool, err error)
	// Pending returns how many messages are not yet delivered and how
	// many are delivered and not acknowledged. Delivered counts what is
	// on its way to the client or waits in it (prefetch), not only what
	// Next returned.
	Pending(ctx context.Context) (pending, ackPending uint64, err error)
	// Stop ends the delivery; messages not acknowledged stay in the queue.
	Stop()
}

// SnapshotMsg is one delivered snapshot message.
type SnapshotMsg interface {
	Data() []byte
	// Ack acknowledges the message and returns once the queue confirmed
	// it: the message is gone and counts no more as pending.
	Ack(ctx context.Context) error
	// Pending is how many messages followed this one when it was
	// delivered (for metrics).
	Pending() uint64
}

// CheckpointStore keeps the actors' checkpoints and reports: JSON values
// under the keys of keys.go, each with a revision that grows with every
// write of the key.
//
// Promised: Save is a compare-and-set on the revision, so of two writers
// that loaded the same revision one wins and the other gets ErrFenced;
// a value written is durable once the call returns; a Load after a write
// returned sees it (or a later one).
//
// Not promised: revisions are not consecutive, and not comparable between
// keys; Put and Delete are last-writer-wins; LoadPrefix is not a snapshot
// of the prefix at one instant when it is written to meanwhile.
type CheckpointStore interface {
	// Load reads the value at key into v and returns its revision; a
	// missing key leaves v untouched and returns revision 0.
	Load(ctx context.Context, key string, v any) (uint64, error)
	// Save writes v at key if the key is still at revision rev (0: the
	// key must not exist) and returns the new revision; otherwise it
	// writes nothing and returns an error wrapping ErrFenced.
	Save(ctx context.Context, key string, v any, rev uint64) (uint64, error)
	// Put writes v at key whatever its revision.
	Put(ctx context.Context, key string, v any) error
	// Delete removes the keys; missing ones are not an error.
	Delete(ctx context.Context, keys ...string) error
	// DeleteIf removes key if it is still at revision rev; otherwise (a
	// missing key included) it returns an error wrapping ErrFenced.
	DeleteIf(ctx context.Context, key string, rev uint64) error
	// Get returns the raw value at key with its revision and when that
	// revision was written; ok is false when the key does not exist.
	Get(ctx context.Context, key string) (e Entry, ok bool, err error)
	// LoadPrefix calls fn with every key under prefix (prefix.*, at any
	// depth), in no promised order, on the caller's goroutine; an error
	// from fn stops the walk and is returned.
	LoadPrefix(ctx context.Context, prefix string, fn func(key string, rev uint64, value []byte) error) error
	// DeletePrefix removes every key under prefix.
	DeletePrefix(ctx context.Context, prefix string) error
	// Watch follows key: the current value first (when there is one), then
	// every change, in the order written. Intermediate values may be
	// skipped by a slow watcher only in that a later one supersedes them:
	// the last value is always delivered.
	Watch(ctx context.Context, key string) (KeyWatch, error)
}

// Entry is one key's value as stored.
type Entry struct {
	Key     string
	Value   []byte
	Rev     uint64
	Created time.Time // when this revision was written
}

// KeyWatch is a watch on one key.
type KeyWatch interface {
	// Updates delivers the changes: an update with Deleted set when the
	// key was removed. The channel is closed when the watch ends.
	Updates() <-chan KeyUpdate
	// Stop ends the watch.
	Stop()
}

// KeyUpdate is a change of a watched key. Initial marks the end of the
// values that were current when the watch started (Entry empty).
type KeyUpdate struct {
	Entry
	Deleted bool
	Initial bool
}

// Stores is everything the actors keep outside their targets, behind the
// interfaces above. Store implements it over JetStream, memstore in
// memory.
type Stores interface {
	CheckpointStore
	Relays
	SnapshotQueues
	Schemas() SchemaStore
}
