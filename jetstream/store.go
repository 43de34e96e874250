package jetstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmnode/dmnode"
)

// Bucket is the KV bucket that holds every checkpoint.
const Bucket = "dmnode_checkpoints"

// MaxMessageBytes bounds the encoded size of one published batch; it stays
// below JetStream's default 1 MiB max payload with room for headers.
const MaxMessageBytes = 900 << 10

// Message headers of the binlog stream: the position after the batch's last
// transaction and its commit time. A restarted tailer reads them from the
// stream's last message to know what is already published. A transaction's
// part sequence carries them on its last message only (parts.go); read
// them with ParseRelayHeaders, which tells the two apart.
const (
	HeaderFile = "Dmnode-File"
	HeaderPos  = "Dmnode-Pos"
	HeaderGTID = "Dmnode-Gtid"
	HeaderTime = "Dmnode-Time"
)

// ErrFenced is returned by Save when the checkpoint was written by someone
// else since it was loaded: the caller's incarnation is stale and must stop.
var ErrFenced = errors.New("checkpoint fenced: written by a newer incarnation")

// Token turns a source id or task name into a string that is safe in a
// subject, stream name and KV key: letters, digits and '-' are kept,
// every other byte ('_' too) becomes '_' followed by two hex digits. The mapping is
// one-to-one, so two names never share a stream.
func Token(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	return b.String()
}

// deployment names the dmnode deployment whose subjects, streams and bucket
// this process uses (SetDeployment); empty, the names are unprefixed.
var deployment atomic.Pointer[string]

// SetDeployment sets the deployment name that prefixes every subject
// ("NAME.dmnode.api.…"), stream ("NAME_BINLOG_…") and the checkpoint bucket
// ("NAME_dmnode_checkpoints"), so that deployments sharing one NATS
// account do not collide. Set it once at start, before any name is used;
// empty (the default) keeps the unprefixed names of earlier releases.
func SetDeployment(name string) error {
	if name != "" && (Token(name) != name || strings.Contains(name, "_")) {
		return fmt.Errorf("deployment name %q: use letters, digits and '-' only", name)
	}
	deployment.Store(&name)
	return nil
}

// Deployment returns the deployment name set by SetDeployment.
func Deployment() string {
	if d := deployment.Load(); d != nil {
		return *d
	}
	return ""
}

var domain atomic.Pointer[string]

// SetDomain sets the JetStream domain whose API every stream, consumer and
// bucket call goes to ("" for the account's own): for an operator whose
// NATS runs JetStream in domains (a hub and its leaf nodes), where
// $JS.<domain>.API reaches the domain's JetStream from any server.
func SetDomain(name string) error {
	if name != "" && (Token(name) != name || strings.ContainsAny(name, ".*> ")) {
		return fmt.Errorf("jetstream domain %q: a single subject token is needed", name)
	}
	domain.Store(&name)
	return nil
}

// Domain returns the JetStream domain set by SetDomain.
func Domain() string {
	if d := domain.Load(); d != nil {
		return *d
	}
	return ""
}

// NewJetStream is the JetStream context of nc, in the domain SetDomain set.
func NewJetStream(nc *nats.Conn) (jetstream.JetStream, error) {
	if d := Domain(); d != "" {
		return jetstream.NewWithDomain(nc, d)
	}
	return jetstream.New(nc)
}

// Subject prefixes a subject with the deployment name.
func Subject(s string) string {
	if d := Deployment(); d != "" {
		return d + "." + s
	}
	return s
}

// Name prefixes a stream or bucket name with the deployment name.
func Name(s string) string {
	if d := Deployment(); d != "" {
		return d + "_" + s
	}
	return s
}

// BucketName is the checkpoint bucket of this deployment.
func BucketName() string { return Name(Bucket) }

// BinlogStream is the stream name of a source's relay log.
func BinlogStream(source string) string { return Name("BINLOG_" + Token(source)) }

// BinlogSubject is the subject a source's tailer publishes to.
func BinlogSubject(source string) string { return Subject("dmnode.binlog." + Token(source)) }

// SnapshotStream is the stream name of one source's dumped chunks within a
// task. Token never writes "__" (its escapes are '_' and two hex digits),
// so the pair separates the task from the source unambiguously. A name
// longer than JetStream takes (255 bytes) is SNAPSHOT__x and a hash of the
// two instead, which no other name of the scheme can be ("_x" is no
// escape).
func SnapshotStream(task, source string) string {
	if name := Name("SNAPSHOT_" + Token(task) + "__" + Token(source)); len(name) <= maxStreamName {
		return name
	}
	sum := sha256.Sum256([]byte(task + "\x00" + source))
	return Name("SNAPSHOT__x" + hex.EncodeToString(sum[:16]))
}

// maxStreamName is the longest stream name JetStream accepts.
const maxStreamName = 255

// TaskSnapshotStream is the stream name of all of a task's dumped chunks
// as earlier releases kept them, one stream per task; a copy such a
// release began goes on in it (Store.SnapshotQueue).
func TaskSnapshotStream(task string) string { return Name("SNAPSHOT_" + Token(task)) }

// SnapshotSubjects is the subject filter of every source's chunks within
// a task.
func SnapshotSubjects(task string) string { return Subject("dmnode.snapshot." + Token(task) + ".*") }

// SnapshotSubject is the subject of one source's chunks within a task.
func SnapshotSubject(task, source string) string {
	return Subject("dmnode.snapshot." + Token(task) + "." + Token(source))
}

// Store gives the actors their streams and checkpoints.
type Store struct {
	JS jetstream.JetStream
	KV jetstream.KeyValue
	// replicas is the replication factor for new streams, raised by Scale
	// as the cluster grows; verified is the factor every existing stream
	// was last seen to have.
	replicas, verified atomic.Int32
	// raised holds the streams this process raised to more replicas; they
	// count as replicated only once every replica is current, since a peer
	// just added may not be part of the group yet.
	mu     sync.Mutex
	raised map[string]bool
}

// Open creates (or opens) the checkpoint bucket. replicas is the replication
// factor of every stream and bucket it creates: 1 for a single node, 3 for a
// cluster of three or more.
func Open(ctx context.Context, nc *nats.Conn, replicas int) (*Store, error) {
	js, err := NewJetStream(nc)
	if err != nil {
		return nil, fmt.Errorf("open jetstream: %w", err)
	}
	if err := waitJetStream(ctx, js); err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, BucketName())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      BucketName(),
			Description: "dmnode checkpoints",
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
		})
		if err != nil {
			err = explainReplicas(err, replicas)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open checkpoint bucket: %w", err)
	}
	s := &Store{JS: js, KV: kv}
	s.replicas.Store(int32(replicas))
	return s, nil
}

// waitJetStream waits until JetStream answers: in a cluster, its API is
// served only once the servers have elected a metadata leader.
func waitJetStream(ctx context.Context, js jetstream.JetStream) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := js.AccountInfo(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("jetstream is not available: %w", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// MaxReplicas is the largest replication factor JetStream allows.
const MaxReplicas = 5

// SetReplicas raises the replication factor new streams are created with.
func (s *Store) SetReplicas(n int) {
	n = min(max(n, 1), MaxReplicas)
	for {
		old := s.replicas.Load()
		if int(old) >= n || s.replicas.CompareAndSwap(old, int32(n)) {
			return
		}
	}
}

// Scale sets the replication factor for new streams to want and raises
// existing streams and the checkpoint bucket to it. It never lowers a
// stream's replicas. It returns nil only once every stream has been seen
// at that factor.
func (s *Store) Scale(ctx context.Context, want int) error {
	want = min(max(want, 1), MaxReplicas)
	if int(s.replicas.Load()) < want {
		s.replicas.Store(int32(want))
	}
	if int(s.verified.Load()) >= want {
		return nil
	}
	names := s.JS.StreamNames(ctx)
	var errs []error
	for name := range names.Name() {
		if !isOurs(name) {
			continue
		}
		st, err := s.JS.Stream(ctx, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		info := st.CachedInfo()
		cfg := info.Config
		if cfg.Replicas >= want {
			s.mu.Lock()
			need := want/2 + 1
			if s.raised[name] {
				need = want
			}
			s.mu.Unlock()
			if err := replicasCurrent(info, want, need); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		cfg.Replicas = want
		uctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err = s.JS.UpdateStream(uctx, cfg)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("replicate stream %s: %w", name, err))
			continue
		}
		s.mu.Lock()
		if s.raised == nil {
			s.raised = map[string]bool{}
		}
		s.raised[name] = true
		s.mu.Unlock()
		errs = append(errs, fmt.Errorf("stream %s: replicas catching up", name))
	}
	if err := names.Err(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	s.verified.Store(int32(want))
	return nil
}

// isOurs reports whether a stream is one of this deployment's: a relay, a
// snapshot queue or the checkpoint bucket.
func isOurs(stream string) bool {
	return strings.HasPrefix(stream, Name("BINLOG_")) || strings.HasPrefix(stream, Name("SNAPSHOT_")) || stream == "KV_"+BucketName()
}

// Repair finds dmnode's streams (and the checkpoint bucket) configured with
// fewer than want replicas, say because they were created while the
// setting was lower or were changed by hand, and raises them by a stream
// update. It returns, for each stream it could not raise, its name, its
// replicas and why; err is set when the streams cannot be listed.
func (s *Store) Repair(ctx context.Context, want int) ([]string, error) {
	want = min(max(want, 1), MaxReplicas)
	s.SetReplicas(want)
	names := s.JS.StreamNames(ctx)
	var under []string
	for name := range names.Name() {
		if !isOurs(name) {
			continue
		}
		st, err := s.JS.Stream(ctx, name)
		if err != nil {
			if !errors.Is(err, jetstream.ErrStreamNotFound) {
				under = append(under, fmt.Sprintf("%s: cannot read its replicas: %v", name, err))
			}
			continue
		}
		cfg := st.CachedInfo().Config
		if cfg.Replicas >= want {
			continue
		}
		have := cfg.Replicas
		cfg.Replicas = want
		if _, err := s.JS.UpdateStream(ctx, cfg); err != nil {
			under = append(under, fmt.Sprintf("%s: R%d, configured R%d: %v", name, have, want, explainReplicas(err, want)))
		}
	}
	return under, names.Err()
}

// explainReplicas adds to a JetStream error that refused a replication
// factor what it means for the operator.
func explainReplicas(err error, want int) error {
	var apiErr *jetstream.APIError
	// The server's codes: 10005 no suitable peers, 10023 insufficient
	// resources, 10074 replicas > 1 not supported in non-clustered mode.
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == 10005 || apiErr.ErrorCode == 10023 || apiErr.ErrorCode == 10074) {
		return fmt.Errorf("%w: the NATS cluster has fewer JetStream servers than the %d replicas configured (--replicas)", err, want)
	}
	return err
}

// replicasCurrent checks that a stream has a leader and that need of its
// want replicas (the leader included) are caught up with it.
func replicasCurrent(info *jetstream.StreamInfo, want, need int) error {
	if want <= 1 {
		return nil
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return fmt.Errorf("stream %s has no leader yet", info.Config.Name)
	}
	current := 1 // the leader
	for _, p := range info.Cluster.Replicas {
		if p.Current && !p.Offline {
			current++
		}
	}
	if current < need {
		return fmt.Errorf("stream %s: %d of %d replicas are current, %d needed", info.Config.Name, current, want, need)
	}
	return nil
}

// ensureStream opens a stream, creating it with cfg when it does not exist.
// An existing stream keeps its configuration (its replicas in particular).
func (s *Store) ensureStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	st, err := s.JS.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		cfg.Replicas = int(s.replicas.Load())
		st, err = s.JS.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			st, err = s.JS.Stream(ctx, cfg.Name)
		}
		if err != nil {
			err = explainReplicas(err, cfg.Replicas)
		}
	}
	return st, err
}

// BinlogStream creates or opens a source's relay log stream. Messages are
// kept until dmnode's retention purges them (PurgeBelow) once no task needs
// them: the stream has no age, size or count limit of its own, since
// JetStream would enforce one by discarding messages a task may still
// need. Its size is bounded by the tailer instead, which stops reading the
// source while the relay is full. Were a limit ever set, DiscardNew makes
// JetStream refuse new messages rather than drop old ones.
func (s *Store) BinlogStream(ctx context.Context, source string) (jetstream.Stream, error) {
	st, err := s.ensureStream(ctx, jetstream.StreamConfig{
		Name:        BinlogStream(source),
		Description: "binlog of source " + source,
		Subjects:    []string{BinlogSubject(source)},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		Storage:     jetstream.FileStorage,
		Duplicates:  2 * time.Minute,
		MaxMsgSize:  1 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("create stream for source %s: %w", source, err)
	}
	return st, nil
}

// PurgeBelow removes the messages of stream with a sequence below seq;
// seq and every later message stay.
func PurgeBelow(ctx context.Context, stream jetstream.Stream, seq uint64) error {
	if err := stream.Purge(ctx, jetstream.WithPurgeSequence(seq)); err != nil {
		return fmt.Errorf("purge stream %s below %d: %w", stream.CachedInfo().Config.Name, seq, err)
	}
	return nil
}

// DeleteBinlogStream removes a source's relay stream; a missing stream is
// not an error.
func (s *Store) DeleteBinlogStream(ctx context.Context, source string) error {
	err := s.JS.DeleteStream(ctx, BinlogStream(source))
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("delete the relay stream of source %s: %w", source, err)
	}
	return nil
}

// SnapshotStream creates or opens the work queue of one source's dumped
// chunks within a task. A message is removed once the loader acknowledges
// it, after its rows are committed on the target.
//
// One stream per source, not per task: a work queue whose subjects are a
// wildcard reads every acknowledged message back from its store to learn
// its subject before removing it (the server's interest check across
// filtered consumers), and each consumer's next message is searched for
// among the other sources'; a copy's profile had a fifth of dmnode's CPU
// in those reads of the file store.
func (s *Store) SnapshotStream(ctx context.Context, task, source string) (jetstream.Stream, error) {
	st, err := s.ensureStream(ctx, jetstream.StreamConfig{
		Name:        SnapshotStream(task, source),
		Description: "dumped chunks of task " + task + " source " + source,
		Subjects:    []string{SnapshotSubject(task, source)},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  2 * time.Minute,
		MaxMsgSize:  1 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("create snapshot stream for task %s source %s: %w", task, source, err)
	}
	return st, nil
}

// Load reads the checkpoint at key into v and returns its revision; a
// missing key leaves v untouched and returns revision 0.
func (s *Store) Load(ctx context.Context, key string, v any) (uint64, error) {
	e, err := s.KV.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("load checkpoint %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, fmt.Errorf("decode checkpoint %s: %w", key, err)
	}
	return e.Revision(), nil
}

// Save writes v at key if the key is still at revision rev (0: the key must
// not exist yet) and returns the new revision. It returns ErrFenced when
// another writer got there first.
func (s *Store) Save(ctx context.Context, key string, v any, rev uint64) (uint64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode checkpoint %s: %w", key, err)
	}
	var n uint64
	if rev == 0 {
		n, err = s.KV.Create(ctx, key, data)
	} else {
		n, err = s.KV.Update(ctx, key, data, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
		return 0, fmt.Errorf("save checkpoint %s: %w", key, ErrFenced)
	}
	if err != nil {
		return 0, fmt.Errorf("save checkpoint %s: %w", key, err)
	}
	return n, nil
}

// Put writes v at key unconditionally: for progress reports, which are
// advisory and may be overwritten by anyone.
func (s *Store) Put(ctx context.Context, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if _, err := s.KV.Put(ctx, key, data); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// Delete removes the keys, ignoring ones that do not exist.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if err := s.KV.Purge(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("delete %s: %w", k, err)
		}
	}
	return nil
}

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// BatchHeaders returns the headers of a binlog batch message.
func BatchHeaders(b *dmnode.Batch) Header {
	end := b.End()
	h := Header{}
	h.Set(HeaderFile, end.File)
	h.Set(HeaderPos, strconv.FormatUint(uint64(end.Pos), 10))
	if end.GTID != "" {
		h.Set(HeaderGTID, end.GTID)
	}
	h.Set(HeaderTime, strconv.FormatUint(uint64(b.Txns[len(b.Txns)-1].Time), 10))
	// The message id makes a re-publish of the same batch end a no-op
	// within the stream's duplicate window.
	h.Set(HeaderMsgID, end.File+":"+strconv.FormatUint(uint64(end.Pos), 10))
	return h
}

// HeaderPosition reads the end position and commit time from a binlog
// batch message's headers.
func HeaderPosition(h Header) (dmnode.Position, uint32, error) {
	pos, err := strconv.ParseUint(h.Get(HeaderPos), 10, 32)
	if err != nil || h.Get(HeaderFile) == "" {
		return dmnode.Position{}, 0, fmt.Errorf("batch headers: missing position: %w", ErrCorrupt)
	}
	t, _ := strconv.ParseUint(h.Get(HeaderTime), 10, 32)
	return dmnode.Position{File: h.Get(HeaderFile), Pos: uint32(pos), GTID: h.Get(HeaderGTID)}, uint32(t), nil
}

// LoadPrefix calls fn with the key, revision and value of every key under
// prefix (the keys prefix.*, at any depth), in the order the bucket holds
// them, and returns once it has seen them all. It reads them in one
// ordered stream rather than one request per key: an estate's per-table
// checkpoints are thousands of keys. fn runs on the caller's goroutine; an
// error from it stops the walk and is returned.
func (s *Store) LoadPrefix(ctx context.Context, prefix string, fn func(key string, rev uint64, value []byte) error) error {
	return walkKV(ctx, s.KV, prefix+".>", "list checkpoints "+prefix, func(e jetstream.KeyValueEntry) error {
		return fn(e.Key(), e.Revision(), e.Value())
	})
}

// walkKV calls fn with every current entry of kv under filter, in one
// ordered watch, and returns once it has seen them all or fn fails (then
// with fn's error). what names the walk in errors.
func walkKV(ctx context.Context, kv jetstream.KeyValue, filter, what string, fn func(jetstream.KeyValueEntry) error) error {
	w, err := kv.Watch(ctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("%s: watch ended early", what)
			}
			if e == nil {
				return nil // every current value has been delivered
			}
			if err := fn(e); err != nil {
				return err
			}
		}
	}
}

// DeletePrefix removes every key under prefix (see LoadPrefix).
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	l, err := s.KV.ListKeysFiltered(ctx, prefix+".>")
	if err != nil {
		return fmt.Errorf("list checkpoints %s: %w", prefix, err)
	}
	var keys []string
	for k := range l.Keys() {
		keys = append(keys, k)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list checkpoints %s: %w", prefix, err)
	}
	return s.Delete(ctx, keys...)
}
