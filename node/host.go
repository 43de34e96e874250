package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/jetstream"
)

// host runs the actors the catalog places on this node. It reconciles on
// every catalog change and every second: an actor assigned here with a new
// epoch is started, one no longer assigned here (or with an older epoch) is
// cancelled and waited for.
type host struct {
	n       *hostDeps
	running map[string]*supervised
	// start runs one incarnation of an actor (runActor; tests fake it).
	start func(ctx context.Context, spec catalog.ActorSpec, env actors.Env) error
	// selfAsked is when refreshSelf last proposed the node's addresses.
	selfAsked time.Time
}

// hostDeps is what the host uses of the node: the catalog and commands
// (for the actors' Env), JetStream, the node's metrics and health, and
// membership's view of the live members. Node.wire builds it.
type hostDeps struct {
	id   string
	cfg  *Config
	log  *slog.Logger
	self catalog.Member
	fsm  catalogView
	cmd  commander
	// store is JetStream, set before the host runs (Node.useStore).
	store *jetstream.Store
	// records is where the host writes the actors' errors and sets the
	// streams' replication: store, set with it (Node.useStore).
	records  actorRecords
	metrics  *metrics
	health   actorHealth
	members  peerView
	replicas func(live int) int
	hostKick <-chan struct{}
}

func (d *hostDeps) request(ctx context.Context, c catalog.Command) (catalog.Result, error) {
	return d.cmd.request(ctx, c)
}

func (d *hostDeps) propose(ctx context.Context, c catalog.Command) error {
	_, err := d.cmd.request(ctx, c)
	return err
}

// actorRecords is what the host writes to JetStream itself.
type actorRecords interface {
	Put(ctx context.Context, key string, v any) error
	Delete(ctx context.Context, keys ...string) error
	SetReplicas(n int)
}

// actorHealth is what the host uses of the node's health: the wake of
// actors waiting out a backoff, and the errors kept while JetStream is
// down.
type actorHealth interface {
	woken() <-chan struct{}
	available() (bool, time.Time, string)
	keepError(key string, e ActorError)
	forget(key string)
}

// peerView is membership's view of the members the host uses.
type peerView interface {
	savePeers(st *catalog.State)
	liveMembers(st *catalog.State) []string
}

type supervised struct {
	epoch  uint64
	cancel context.CancelFunc
	done   chan struct{}
}

func newHost(d *hostDeps) *host {
	return &host{n: d, running: map[string]*supervised{}, start: runActor}
}

func (h *host) run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		h.reconcile(ctx)
		select {
		case <-ctx.Done():
			h.stopAll()
			return
		case <-tick.C:
		case <-h.n.hostKick:
		}
	}
}

func (h *host) reconcile(ctx context.Context) {
	st := h.n.fsm.State()
	h.n.members.savePeers(st)
	h.refreshSelf(ctx, st)
	if !h.n.cfg.Dev {
		// Streams an actor creates get the replication the live cluster
		// can give them now; the leader raises them as it grows.
		h.n.records.SetReplicas(h.n.replicas(len(h.n.members.liveMembers(st))))
	}
	want := map[string]uint64{}
	for id, a := range st.Assign {
		if a.Node == h.n.id {
			want[id] = a.Epoch
		}
	}
	for id, s := range h.running {
		if e, ok := want[id]; !ok || e != s.epoch {
			s.cancel()
			<-s.done
			delete(h.running, id)
		}
	}
	for id, epoch := range want {
		if _, ok := h.running[id]; ok {
			continue
		}
		spec, ok := catalog.ParseActorID(id)
		if !ok {
			continue
		}
		actx, cancel := context.WithCancel(ctx)
		s := &supervised{epoch: epoch, cancel: cancel, done: make(chan struct{})}
		h.running[id] = s
		go func() {
			defer close(s.done)
			h.supervise(actx, spec, epoch)
		}()
	}
}

// refreshSelf updates the node's member record when it was restarted with
// other addresses (a new --nats-url, say), so cluster status shows the
// current ones; the leader does so for itself when it places actors. At
// most once a minute, and never for a node that is leaving.
func (h *host) refreshSelf(ctx context.Context, st *catalog.State) {
	m, ok := st.Members[h.n.id]
	if !ok || m.Leaving || *m == h.n.self || time.Since(h.selfAsked) < time.Minute {
		return
	}
	h.selfAsked = time.Now()
	self := h.n.self
	go func() {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := h.n.propose(pctx, catalog.Command{Op: catalog.OpAddMember, Member: &self}); err != nil {
			h.n.log.Warn("update this node's addresses in the catalog", "err", err)
		}
	}()
}

func (h *host) stopAll() {
	for id, s := range h.running {
		s.cancel()
		<-s.done
		delete(h.running, id)
	}
}

// supervise runs one actor until ctx ends: a recoverable error restarts it
// after an exponential backoff (1 s doubling to 30 s, with jitter, reset
// after a minute of healthy running, cut short and reset when NATS
// reconnects or JetStream answers again); a permanent error parks it until
// its assignment changes. Every error is recorded for task status, and logged
// once per distinct message.
func (h *host) supervise(ctx context.Context, spec catalog.ActorSpec, epoch uint64) {
	log := h.n.log.With("actor", spec.ID(), "task", spec.Task, "source", spec.Source, "epoch", epoch)
	env := actors.Env{
		Node:    h.n.id,
		Epoch:   epoch,
		Store:   h.n.store,
		Catalog: h.n.fsm.State,
		Propose: h.n.propose,
		Request: h.n.request,
		Log:     log,
		Metrics: h.n.metrics.actor(spec),
	}
	defer h.n.metrics.forget(spec)
	backoff := time.Second
	lastMsg := ""
	h.recordError(spec, nil, false) // a new incarnation starts with a clean slate
	for ctx.Err() == nil {
		log.Info("actor starting")
		started := time.Now()
		// An actor that has run for a while after a failure has recovered:
		// its last error no longer describes it.
		failedBefore := lastMsg != ""
		healthy := time.AfterFunc(healthyAfter, func() {
			if failedBefore {
				h.recordError(spec, nil, false)
			}
		})
		// A wake while the actor runs counts too: it may fail just after.
		woken := h.n.health.woken()
		running := h.n.metrics.actorsUp.WithLabelValues(spec.Kind)
		running.Inc()
		err := h.start(ctx, spec, env)
		running.Dec()
		healthy.Stop()
		if ctx.Err() != nil {
			break
		}
		if err == nil {
			// The actor finished its work; it stays idle until the catalog
			// moves on and unassigns it.
			h.recordError(spec, nil, false)
			log.Info("actor finished")
			<-ctx.Done()
			break
		}
		permanent := actors.IsPermanent(err)
		if permanent && errors.Is(err, jetstream.ErrFenced) && h.assigned(spec, epoch) {
			// The catalog still names this incarnation: what fenced it was
			// a stale one writing after this one started. Starting again
			// resumes from what that one left.
			permanent = false
		}
		h.recordError(spec, err, permanent)
		h.n.metrics.actorError(spec, permanent)
		if err.Error() != lastMsg {
			log.Error("actor failed", "err", err, "permanent", permanent)
			lastMsg = err.Error()
		}
		if permanent {
			<-ctx.Done()
			break
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, 30*time.Second)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		case <-woken:
			// NATS or JetStream is back: what failed the actor most
			// likely was their absence, so it starts again at once.
			backoff = time.Second
			log.Info("actor woken: nats or jetstream is back")
		}
	}
	log.Info("actor stopped")
}

func runActor(ctx context.Context, spec catalog.ActorSpec, env actors.Env) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("actor %s panicked: %v\n%s", spec.ID(), r, debug.Stack())
		}
	}()
	a, err := actors.New(spec, env)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// healthyAfter is how long an actor must run after a failure before its
// error is cleared from the status.
const healthyAfter = 30 * time.Second

// ActorError is the last error of an actor, as task status shows it.
type ActorError struct {
	Actor     string    `json:"actor"`
	Error     string    `json:"error"`
	Permanent bool      `json:"permanent"`
	Time      time.Time `json:"time"`
}

// assigned reports whether the catalog, as this node knows it, still places
// the actor here with this epoch.
func (h *host) assigned(spec catalog.ActorSpec, epoch uint64) bool {
	a, ok := h.n.fsm.State().Assign[spec.ID()]
	return ok && a.Node == h.n.id && a.Epoch == epoch
}

func (h *host) recordError(spec catalog.ActorSpec, err error, permanent bool) {
	key := jetstream.ErrorKey(spec.Kind, spec.Task, spec.Source)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var werr error
	if err == nil {
		h.n.health.forget(key)
		werr = h.n.records.Delete(ctx, key)
	} else {
		e := ActorError{Actor: spec.ID(), Error: err.Error(), Permanent: permanent, Time: time.Now().UTC()}
		if up, _, _ := h.n.health.available(); !up {
			// Written once JetStream is back (health.flushUnrecorded);
			// the actor's error is logged by supervise.
			h.n.health.keepError(key, e)
			return
		}
		if werr = h.n.records.Put(ctx, key, e); werr != nil {
			// The KV is down (most likely why the actor failed): the node
			// keeps the error and shows it in status until it can write it.
			h.n.health.keepError(key, e)
		} else {
			h.n.health.forget(key)
		}
	}
	if werr != nil && !errors.Is(werr, context.Canceled) {
		h.n.log.Warn("record actor error", "actor", spec.ID(), "err", werr)
	}
}
