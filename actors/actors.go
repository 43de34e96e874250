// Package actors holds dmnode's shard actors: the dumper, loader, tailer and
// applier. Each is a small unit with one method, Run(ctx), and an explicit
// checkpoint (in the JetStream KV bucket; the applier's in the target, with
// the rows; the loader's are the acknowledgements of its durable consumer),
// so the node host can start it on any node and it continues where its
// previous incarnation stopped.
//
// Run returns nil when its work is finished (a dumper after the last chunk)
// or when its context ends, and an error when it cannot go on. Errors wrapped
// with Permanent need an operator; every other error is retried by the host
// with backoff.
package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/plan"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/jetstream"
)

// Env is what an actor gets from the node that hosts it.
type Env struct {
	Node  string
	Epoch uint64 // the assignment epoch of this incarnation
	// Store holds the actors' relays, snapshot queues, checkpoints and
	// schema history (jetstream.Stores: JetStream in a node, memstore in
	// unit tests).
	Store jetstream.Stores
	// Catalog returns the current catalog: an immutable snapshot shared
	// with every reader, never to be changed (clone it first).
	Catalog func() *catalog.State
	// Propose applies a catalog command through Raft (forwarded to the
	// leader when needed) and returns the command's error.
	Propose func(ctx context.Context, c catalog.Command) error
	// Request is Propose returning the command's result (the outcome of a
	// shard DDL arrival). An error the catalog gave is a
	// *catalog.RejectedError: asking again gives the same answer.
	Request func(ctx context.Context, c catalog.Command) (catalog.Result, error)
	Log     *slog.Logger
	// Metrics counts what the actor moves; nil counts nothing.
	Metrics Metrics
}

// Phases an actor reports its rows and bytes under.
const (
	PhaseDump  = "dump"  // rows read from the snapshot and published
	PhaseLoad  = "load"  // dumped rows committed to the target
	PhaseSync  = "sync"  // binlog row changes committed to the target
	PhaseRelay = "relay" // binlog row changes published to the source's stream
)

// Metrics receives what an actor moves, for the node's /metrics endpoint.
// The host binds it to the actor's kind, task and source. Methods are safe
// for concurrent use, never block and never fail.
type Metrics interface {
	// Rows counts n rows of one operation (insert, update or delete; dump
	// and load rows are inserts) done in phase: published for dump and
	// relay, committed to the target for load and sync.
	Rows(phase, op string, n int64)
	// Bytes counts n bytes of encoded messages published (dump, relay) or
	// consumed and committed (load, sync).
	Bytes(phase string, n int64)
	// Pending reports how many messages of stream are still to be read by
	// the actor after the last one it received.
	Pending(stream string, n uint64)
}

type nopMetrics struct{}

func (nopMetrics) Rows(string, string, int64) {}
func (nopMetrics) Bytes(string, int64)        {}
func (nopMetrics) Pending(string, uint64)     {}

// metrics returns env.Metrics, or one that counts nothing.
func (env Env) metrics() Metrics {
	if env.Metrics == nil {
		return nopMetrics{}
	}
	return env.Metrics
}

// Actor is one incarnation of a shard actor.
type Actor interface {
	Run(ctx context.Context) error
}

// New returns the actor for spec.
func New(spec catalog.ActorSpec, env Env) (Actor, error) {
	switch spec.Kind {
	case catalog.KindTail:
		return &Tailer{env: env, source: spec.Source}, nil
	case catalog.KindDump:
		return &Dumper{env: env, task: spec.Task, source: spec.Source}, nil
	case catalog.KindLoad:
		return &Loader{env: env, task: spec.Task, source: spec.Source}, nil
	case catalog.KindApply:
		return &Applier{env: env, task: spec.Task, source: spec.Source}, nil
	case KindValidate:
		return &Validator{env: env, task: spec.Task, source: spec.Source}, nil
	}
	return nil, Permanent(fmt.Errorf("unknown actor kind %q", spec.Kind))
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, is permanent.
// A fenced checkpoint is permanent: a newer incarnation owns the work.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p) || errors.Is(err, jetstream.ErrFenced)
}

// taskEnv is the decoded configuration one actor of a task works with.
// task, inst, source and rules are the task's plan, shared with every
// other reader of it: read only.
type taskEnv struct {
	task   *config.Task
	inst   *config.Instance
	source *config.Source
	rules  *rules.Rules
	state  *catalog.TaskSource
	mode   string
}

// loadTask takes the task's plan (decoded and compiled once per version
// of the task and source files) for the source from the catalog.
func loadTask(env Env, taskName, sourceID string) (*taskEnv, error) {
	st := env.Catalog()
	t, ok := st.Tasks[taskName]
	if !ok {
		return nil, Permanent(fmt.Errorf("task %q is not in the catalog", taskName))
	}
	ts, ok := t.Sources[sourceID]
	if !ok {
		return nil, Permanent(fmt.Errorf("task %q has no source %q", taskName, sourceID))
	}
	p, err := plan.Of(t)
	if err != nil {
		return nil, Permanent(fmt.Errorf("decode task %q: %w", taskName, err))
	}
	s, ok := st.Sources[sourceID]
	if !ok {
		return nil, Permanent(fmt.Errorf("source %q is not in the catalog", sourceID))
	}
	ps, err := p.Source(s)
	if err != nil {
		return nil, Permanent(err)
	}
	return &taskEnv{task: p.Task, inst: ps.Instance, source: ps.Config, rules: ps.Rules, state: ts, mode: t.Mode}, nil
}

func loadSource(st *catalog.State, id string) (*config.Source, error) {
	s, ok := st.Sources[id]
	if !ok {
		return nil, Permanent(fmt.Errorf("source %q is not in the catalog", id))
	}
	src, err := plan.SourceOf(s)
	if err != nil {
		return nil, Permanent(fmt.Errorf("decode source %q: %w", id, err))
	}
	return src, nil
}
