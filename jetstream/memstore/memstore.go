// Package memstore keeps dmnode's relays, snapshot queues, checkpoints and
// schema history in memory, behind the interfaces of package jetstream
// (jetstream.Stores), for unit tests of the actors: no NATS server.
//
// It behaves as the JetStream implementation does, as far as the
// interfaces promise (the conformance suite in package storetest runs
// against both), and lets a test inject the faults a real deployment
// sees: a call that fails, a publish or acknowledgement lost, a message
// published or delivered twice, a slow call (Inject).
package memstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dmnode/dmnode/jetstream"
)

// Op names an operation a fault can be injected into.
type Op string

// The operations.
const (
	RelayPublish Op = "relay.publish" // Relay.Publish
	RelayRead    Op = "relay.read"    // a message delivered by RelayCursor.Next
	QueuePublish Op = "queue.publish" // SnapshotQueue.Publish
	QueueDeliver Op = "queue.deliver" // a message delivered by SnapshotConsumer.Next
	QueueAck     Op = "queue.ack"     // SnapshotMsg.Ack
	Load         Op = "checkpoint.load"
	Save         Op = "checkpoint.save"
	Put          Op = "checkpoint.put"
	Delete       Op = "checkpoint.delete"
)

// Fault is what happens to a call of Op. Exactly one of Err, Drop and
// Duplicate is set, or none for a Delay only.
type Fault struct {
	Op Op
	// Nth is the call the fault hits, counted from its injection (1: the
	// next call); 0 hits every call.
	Nth int
	// Err: the call does nothing and returns Err.
	Err error
	// Drop: the reply is lost. A write (a publish, an acknowledgement,
	// Save, Put, Delete) takes effect and returns ErrLostReply; a
	// snapshot message's delivery is lost on the way (it is delivered
	// again to the next consumer of the source, as after AckWait). No
	// effect on a relay read, whose ordered consumer re-reads what it
	// missed.
	Drop bool
	// Duplicate: the call takes effect twice. A publish is stored twice
	// (the duplicate window of a message with an id still applies, as it
	// does on the server to a client that re-sends); a delivery is
	// delivered again right after.
	Duplicate bool
	// Delay: the call waits this long first.
	Delay time.Duration
}

type fault struct {
	Fault
	left int // calls before it hits; -1: every call
}

// Store is the in-memory implementation of jetstream.Stores. The zero
// value is not usable: use New.
type Store struct {
	mu      sync.Mutex
	faults  []*fault
	calls   map[Op]int
	rev     uint64
	kv      map[string]jetstream.Entry
	watches map[string][]*watch
	relays  map[string]*relay
	queues  map[string]*queue
	schemas *jetstream.MemSchemas
	wake    chan struct{} // closed at the next change (changed)
	// Now is the clock (messages' times, the duplicate window, entries'
	// creation); time.Now unless a test sets it before use.
	Now func() time.Time
}

var _ jetstream.Stores = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{calls: map[Op]int{}, kv: map[string]jetstream.Entry{}, watches: map[string][]*watch{},
		relays: map[string]*relay{}, queues: map[string]*queue{}, schemas: jetstream.NewMemSchemas(), Now: time.Now}
}

// Inject adds a fault.
func (s *Store) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	left := f.Nth - 1
	if f.Nth <= 0 {
		left = -1
	}
	s.faults = append(s.faults, &fault{Fault: f, left: left})
}

// Clear removes every fault.
func (s *Store) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Calls returns how many calls of op were made.
func (s *Store) Calls(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// hit counts a call of op and returns the fault that hits it; s.mu is
// held.
func (s *Store) hit(op Op) Fault {
	s.calls[op]++
	var out Fault
	for i := 0; i < len(s.faults); i++ {
		f := s.faults[i]
		if f.Op != op {
			continue
		}
		switch {
		case f.left < 0:
		case f.left == 0:
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			i--
		default:
			f.left--
			continue
		}
		if out.Op == "" {
			out = f.Fault
		}
	}
	return out
}

// enter counts a call of op and returns its fault, after its delay,
// with s.mu held.
func (s *Store) enter(ctx context.Context, op Op) (Fault, error) {
	s.mu.Lock()
	f := s.hit(op)
	if f.Delay > 0 {
		s.mu.Unlock()
		select {
		case <-time.After(f.Delay):
		case <-ctx.Done():
			s.mu.Lock()
			return f, ctx.Err()
		}
		s.mu.Lock()
	}
	if err := ctx.Err(); err != nil {
		return f, err
	}
	return f, f.Err
}

// Schemas returns the schema history.
func (s *Store) Schemas() jetstream.SchemaStore { return s.schemas }

// Checkpoints.

// Load reads the value at key into v.
func (s *Store) Load(ctx context.Context, key string, v any) (uint64, error) {
	_, err := s.enter(ctx, Load)
	defer s.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("load checkpoint %s: %w", key, err)
	}
	e, ok := s.kv[key]
	if !ok {
		return 0, nil
	}
	if err := json.Unmarshal(e.Value, v); err != nil {
		return 0, fmt.Errorf("decode checkpoint %s: %w", key, err)
	}
	return e.Rev, nil
}

// set stores data at key; s.mu is held.
func (s *Store) set(key string, data []byte) uint64 {
	s.rev++
	e := jetstream.Entry{Key: key, Value: data, Rev: s.rev, Created: s.Now()}
	s.kv[key] = e
	s.notify(jetstream.KeyUpdate{Entry: e})
	return s.rev
}

func (s *Store) remove(key string) {
	if _, ok := s.kv[key]; !ok {
		return
	}
	delete(s.kv, key)
	s.rev++
	s.notify(jetstream.KeyUpdate{Entry: jetstream.Entry{Key: key, Rev: s.rev, Created: s.Now()}, Deleted: true})
}

// Save writes v at key if it is at revision rev.
func (s *Store) Save(ctx context.Context, key string, v any, rev uint64) (uint64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode checkpoint %s: %w", key, err)
	}
	f, err := s.enter(ctx, Save)
	defer s.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("save checkpoint %s: %w", key, err)
	}
	if s.kv[key].Rev != rev {
		return 0, fmt.Errorf("save checkpoint %s: %w", key, jetstream.ErrFenced)
	}
	n := s.set(key, data)
	if f.Drop {
		return 0, fmt.Errorf("save checkpoint %s: %w", key, ErrLostReply)
	}
	return n, nil
}

// Put writes v at key.
func (s *Store) Put(ctx context.Context, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	f, err := s.enter(ctx, Put)
	defer s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	s.set(key, data)
	return lost(f, "put "+key)
}

// Delete removes the keys.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	f, err := s.enter(ctx, Delete)
	defer s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("delete %s: %w", strings.Join(keys, ", "), err)
	}
	for _, k := range keys {
		s.remove(k)
	}
	return lost(f, "delete "+strings.Join(keys, ", "))
}

// DeleteIf removes key if it is at revision rev.
func (s *Store) DeleteIf(ctx context.Context, key string, rev uint64) error {
	f, err := s.enter(ctx, Delete)
	defer s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if e, ok := s.kv[key]; !ok || e.Rev != rev {
		return fmt.Errorf("delete %s: %w", key, jetstream.ErrFenced)
	}
	s.remove(key)
	return lost(f, "delete "+key)
}

// Get returns the raw value at key.
func (s *Store) Get(ctx context.Context, key string) (jetstream.Entry, bool, error) {
	_, err := s.enter(ctx, Load)
	defer s.mu.Unlock()
	if err != nil {
		return jetstream.Entry{}, false, fmt.Errorf("read %s: %w", key, err)
	}
	e, ok := s.kv[key]
	return e, ok, nil
}

func (s *Store) under(prefix string) []jetstream.Entry {
	var out []jetstream.Entry
	for k, e := range s.kv {
		if strings.HasPrefix(k, prefix+".") {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rev < out[j].Rev })
	return out
}

// LoadPrefix calls fn with every key under prefix, oldest write first.
func (s *Store) LoadPrefix(ctx context.Context, prefix string, fn func(key string, rev uint64, value []byte) error) error {
	_, err := s.enter(ctx, Load)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("list checkpoints %s: %w", prefix, err)
	}
	es := s.under(prefix)
	s.mu.Unlock()
	for _, e := range es {
		if err := fn(e.Key, e.Rev, e.Value); err != nil {
			return err
		}
	}
	return nil
}

// DeletePrefix removes every key under prefix.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	f, err := s.enter(ctx, Delete)
	defer s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("delete %s.>: %w", prefix, err)
	}
	for _, e := range s.under(prefix) {
		s.remove(e.Key)
	}
	return lost(f, "delete "+prefix+".>")
}

// Watch follows key.
func (s *Store) Watch(ctx context.Context, key string) (jetstream.KeyWatch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &watch{s: s, key: key, ch: make(chan jetstream.KeyUpdate, 64)}
	if e, ok := s.kv[key]; ok {
		w.ch <- jetstream.KeyUpdate{Entry: e}
	}
	w.ch <- jetstream.KeyUpdate{Initial: true}
	s.watches[key] = append(s.watches[key], w)
	return w, nil
}

type watch struct {
	s       *Store
	key     string
	ch      chan jetstream.KeyUpdate
	stopped bool
}

// notify sends u to the key's watches; s.mu is held. A watcher that lets
// 64 updates pile up loses the oldest, never the last (as promised).
func (s *Store) notify(u jetstream.KeyUpdate) {
	for _, w := range s.watches[u.Key] {
		for {
			select {
			case w.ch <- u:
			default:
				select {
				case <-w.ch:
				default:
				}
				continue
			}
			break
		}
	}
}

func (w *watch) Updates() <-chan jetstream.KeyUpdate { return w.ch }

func (w *watch) Stop() {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.stopped {
		return
	}
	w.stopped = true
	ws := w.s.watches[w.key]
	for i, x := range ws {
		if x == w {
			w.s.watches[w.key] = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	close(w.ch)
}

// lost returns ErrLostReply for a call a Drop fault hit.
func lost(f Fault, what string) error {
	if f.Drop {
		return fmt.Errorf("%s: %w", what, ErrLostReply)
	}
	return nil
}

var errStopped = errors.New("stopped")
