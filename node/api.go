package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/actors/precheck"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/plan"
	"github.com/dmnode/dmnode/jetstream"
)

// APIPrefix is the subject prefix of the control API: a request for method
// M goes to apiPrefix()+M (APIPrefix behind the deployment name, if any),
// with a JSON Request and a JSON Response.
const APIPrefix = "dmnode.api."

func apiPrefix() string { return jetstream.Subject(APIPrefix) }

// Request is a control API request.
type Request struct {
	Files []File `json:"files,omitempty"`
	Name  string `json:"name,omitempty"`
	// Retry marks a cluster.join from a node that tried to join before
	// and holds the start of a Raft log (not a wiped node).
	Retry bool `json:"retry,omitempty"`
	// Verify is the step of a task.verify request.
	Verify *VerifyStep `json:"verify,omitempty"`
	// Purge makes task.delete remove the task's checkpoints too.
	Purge bool `json:"purge,omitempty"`
	// RemoveMeta makes task.submit remove checkpoints an earlier task of
	// the same name left, and start afresh.
	RemoveMeta bool `json:"remove_meta,omitempty"`
	// Shard carries the arguments of the shard DDL methods.
	Shard *ShardRequest `json:"shard,omitempty"`
	// Schema carries the arguments of the binlog-schema methods.
	Schema *SchemaRequest `json:"schema,omitempty"`
	// Cutover carries the settings of task.cutover.
	Cutover *Cutover `json:"cutover,omitempty"`
	// Validation carries the arguments of the validation methods.
	Validation *ValidationRequest `json:"validation,omitempty"`
	// Forwarded marks a request a node that could not answer it passed
	// on to the leader; the leader answers it or refuses, never passes it
	// on again.
	Forwarded bool `json:"forwarded,omitempty"`
}

// File is a configuration file sent by the CLI, named as the user gave it
// so errors can point into it.
type File struct {
	Name string `json:"name"`
	Data string `json:"data"`
}

// Response is a control API response. Error is set when the request failed.
type Response struct {
	Error    string   `json:"error,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Report   []string `json:"report,omitempty"`
	// Findings are the precheck's findings of task check and submit.
	Findings []precheck.Finding `json:"findings,omitempty"`
	Sources  []SourceInfo       `json:"sources,omitempty"`
	Tasks    []TaskStatus       `json:"tasks,omitempty"`
	Members  []MemberStatus     `json:"members,omitempty"`
	Verify   *VerifyStep        `json:"verify,omitempty"`
	// ShardLocks answers task.ddl-locks.
	ShardLocks *ShardLocks `json:"shard_locks,omitempty"`
	// Validation answers the validation methods (validation.go).
	Validation []ValidationStatus `json:"validation,omitempty"`
	// Schemas answers the binlog-schema methods.
	Schemas *SchemaAnswer `json:"schemas,omitempty"`
	// Cutover answers task.cutover, also when it failed.
	Cutover *CutoverReport `json:"cutover,omitempty"`
	// ClusterKeys answers cluster.join: the keys that seal stored
	// passwords, which every member holds.
	ClusterKeys string `json:"cluster_keys,omitempty"`
	// Health answers node.health: the node's view of NATS and JetStream.
	Health []NodeHealth `json:"health,omitempty"`
}

// SourceInfo describes a source for source list; it never holds a password.
type SourceInfo struct {
	ID         string   `json:"source"`
	Address    string   `json:"address"`
	User       string   `json:"user"`
	Flavor     string   `json:"flavor"`
	EnableGTID bool     `json:"enable_gtid"`
	Tasks      []string `json:"tasks"`
}

type handler func(ctx context.Context, req *Request) (*Response, error)

type apiServer struct {
	subs []*nats.Subscription
	wg   sync.WaitGroup
}

func (a *apiServer) stop() {
	for _, s := range a.subs {
		_ = s.Unsubscribe()
	}
	a.wg.Wait()
}

func (n *control) handlers() map[string]handler {
	return map[string]handler{
		"source.add":      n.apiSourceAdd,
		"source.list":     n.apiSourceList,
		"source.remove":   n.apiSourceRemove,
		"task.check":      n.apiTaskCheck,
		"task.submit":     n.apiTaskSubmit,
		"task.status":     n.apiTaskStatus,
		"task.list":       n.apiTaskStatus,
		"task.stop":       n.apiTaskStop,
		"task.pause":      n.apiTaskPause,
		"task.resume":     n.apiTaskResume,
		"task.delete":     n.apiTaskDelete,
		"task.update":     n.apiTaskUpdate,
		"task.verify":     n.apiTaskVerify,
		"task.cutover":    n.apiTaskCutover,
		"cluster.status":  n.apiClusterStatus,
		"cluster.join":    n.members.apiClusterJoin,
		"cluster.remove":  n.members.apiClusterRemove,
		"cluster.leave":   n.members.apiClusterLeave,
		"node.health":     n.apiNodeHealth,
		"task.ddl-locks":  n.apiDDLLocks,
		"task.ddl-unlock": n.apiDDLUnlock,
		"task.skip":       n.apiTaskSkip,
		"task.replace":    n.apiTaskReplace,

		"binlog-schema.list":   n.apiBinlogSchemaList,
		"binlog-schema.show":   n.apiBinlogSchemaShow,
		"binlog-schema.update": n.apiBinlogSchemaUpdate,

		// the continuous validator (validation.go)
		"validation.status":        n.apiValidationStatus,
		"validation.show-error":    n.apiValidationShowError,
		"validation.clear-error":   n.apiValidationChange("clear"),
		"validation.ignore-error":  n.apiValidationChange("ignore"),
		"validation.resolve-error": n.apiValidationChange("resolve"),
		"validation.start":         n.apiValidationStartStop(false),
		"validation.stop":          n.apiValidationStartStop(true),
	}
}

// nodeSubject is the prefix of the control API of one particular node,
// used to reach the leader.
func nodeSubject(id string) string { return jetstream.Subject("dmnode.node." + id + ".api.") }

// serveAPI subscribes the control API (any node answers; writes reach the
// leader through propose) and the leader's propose subject. Each request
// runs in its own goroutine, bounded by the request's own timeout.
func (n *Node) serveAPI(ctx context.Context) (*apiServer, error) {
	a := &apiServer{}
	hs := n.ctl.handlers()
	handle := func(prefix string) nats.MsgHandler {
		return func(m *nats.Msg) {
			method := strings.TrimPrefix(m.Subject, prefix)
			a.wg.Go(func() {
				resp := n.ctl.serve(ctx, hs[method], method, m.Data)
				data, _ := json.Marshal(resp)
				if err := respond(n.nc, m, data); err != nil {
					n.log.Warn("reply to api request", "method", method, "err", err)
				}
			})
		}
	}
	// One queue group for the whole cluster: one node answers each
	// request, the one the client is connected to when it can (NATS
	// prefers local queue members). Requests about a particular node go to
	// its own subject below.
	sub, err := n.nc.QueueSubscribe(apiPrefix()+">", "dmnode-api", handle(apiPrefix()))
	if err != nil {
		return nil, fmt.Errorf("subscribe control api: %w", err)
	}
	a.subs = append(a.subs, sub)
	sub, err = n.nc.Subscribe(nodeSubject(n.id)+">", handle(nodeSubject(n.id)))
	if err != nil {
		a.stop()
		return nil, fmt.Errorf("subscribe node api: %w", err)
	}
	a.subs = append(a.subs, sub)
	sub, err = n.nc.Subscribe(readIndexSubject(n.id), func(m *nats.Msg) {
		a.wg.Go(func() {
			var r readIndexReply
			if idx, err := n.members.leaderReadIndex(ctx); err != nil {
				r.Error = err.Error()
			} else {
				r.Index = idx
			}
			reply, _ := json.Marshal(r)
			_ = m.Respond(reply)
		})
	})
	if err != nil {
		a.stop()
		return nil, fmt.Errorf("subscribe read index: %w", err)
	}
	a.subs = append(a.subs, sub)
	sub, err = n.nc.Subscribe(proposeSubject(n.id), func(m *nats.Msg) {
		a.wg.Go(func() {
			var c catalog.Command
			var r proposeReply
			err := json.Unmarshal(m.Data, &c)
			if err == nil {
				r.Result, err = n.request(ctx, c)
			}
			if err != nil {
				var rej *catalog.RejectedError
				r.Error, r.Rejected = err.Error(), errors.As(err, &rej)
			}
			reply, _ := json.Marshal(r)
			_ = m.Respond(reply)
		})
	})
	if err != nil {
		a.stop()
		return nil, fmt.Errorf("subscribe propose: %w", err)
	}
	a.subs = append(a.subs, sub)
	return a, nil
}

// readMethods change nothing: a node answers them from its own catalog
// when the leader cannot be reached, and a client may send one again when
// no answer came.
var readMethods = map[string]bool{
	"task.status": true, "task.list": true, "source.list": true, "task.ddl-locks": true, "cluster.status": true,
	"binlog-schema.list": true, "binlog-schema.show": true,
	"validation.status": true, "validation.show-error": true,
}

// ReadOnly reports whether a control API method changes nothing.
func ReadOnly(method string) bool { return readMethods[method] }

func (n *control) serve(ctx context.Context, h handler, method string, data []byte) *Response {
	if h == nil {
		return &Response{Error: fmt.Sprintf("unknown method %q", method)}
	}
	var req Request
	if err := json.Unmarshal(data, &req); err != nil {
		return &Response{Error: fmt.Sprintf("decode request: %v", err)}
	}
	if !n.ready.Load() {
		switch {
		case method == "cluster.status":
			return n.statusBeforeReady(ctx, &req)
		case !strings.HasPrefix(method, "cluster."):
			return &Response{Error: notReadyError}
		}
	}

	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	switch {
	case method != "cluster.status" && strings.HasPrefix(method, "cluster."):
		// join, remove and leave go to the leader, which is current.
	case readMethods[method]:
		// Status is wanted most when the cluster is in trouble: it waits
		// a moment to be current, then answers with what this node knows.
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		_ = n.catchUpWithLeader(cctx)
		ccancel()
	default:
		// Any node may answer; it first catches up with what the leader
		// committed, so a client reads its own writes (a task submitted
		// right after its source was added through another node).
		if err := n.catchUpWithLeader(ctx); err != nil {
			return &Response{Error: fmt.Sprintf("%s: %v", method, err)}
		}
	}
	resp, err := h(ctx, &req)
	if resp == nil {
		resp = &Response{}
	}
	if err != nil {
		resp.Error = err.Error()
	}
	return resp
}

// notReadyError answers a request that needs the catalog before this node
// has loaded it: the client tries another node, or again.
const notReadyError = "the node is still loading its catalog: it waits for a Raft leader (a majority of voters must be up)"

// statusBeforeReady answers cluster.status on a node that has not loaded
// its catalog yet (a node just started or restarted): it knows neither the
// members nor the leader, and an empty list would read as "no members, no
// leader". The leader answers instead when this node knows one within a
// moment; otherwise the node says it is not ready, and the client asks
// again or another node. A request already forwarded is not forwarded
// again, so two nodes that are both loading never pass it back and forth.
func (n *control) statusBeforeReady(ctx context.Context, req *Request) *Response {
	if !req.Forwarded {
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		fwd := *req
		fwd.Forwarded = true
		resp, err := n.members.forwardToLeader(fctx, "cluster.status", &fwd)
		if err == nil && resp != nil {
			return resp
		}
	}
	return &Response{Error: notReadyError}
}

func (n *control) apiSourceAdd(ctx context.Context, req *Request) (*Response, error) {
	if len(req.Files) == 0 {
		return nil, errors.New("no source file given")
	}
	resp := &Response{}
	var errs []error
	for _, f := range req.Files {
		src, err := config.DecodeSource(f.Name, []byte(f.Data))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		resp.Warnings = append(resp.Warnings, src.Warnings...)
		if twin := caseTwin(n.fsm.State().SourceIDs(), src.SourceID); twin != "" {
			errs = append(errs, fmt.Errorf("%s: source-id: %q: source %q exists, and source ids that differ only in case share their rows in the dmnode_meta tables of a target whose collation ignores case: choose another id", f.Name, src.SourceID, twin))
			continue
		}
		if err := n.checkSourceReachable(ctx, src); err != nil {
			errs = append(errs, fmt.Errorf("%s: source %s: %w", f.Name, src.SourceID, err))
			continue
		}
		sealed, err := n.sealFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: add source %s: %w", f.Name, src.SourceID, err))
			continue
		}
		c := catalog.Command{Op: catalog.OpAddSource, Source: &catalog.Source{ID: src.SourceID, File: f.Name, YAML: sealed}}
		if err := n.propose(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("%s: add source %s: %w", f.Name, src.SourceID, err))
			continue
		}
		resp.Report = append(resp.Report, fmt.Sprintf("source %s added (%s:%d)", src.SourceID, src.From.Host, src.From.Port))
	}
	return resp, errors.Join(errs...)
}

func (n *control) apiSourceList(ctx context.Context, req *Request) (*Response, error) {
	st := n.fsm.State()
	resp := &Response{}
	for _, id := range st.SourceIDs() {
		s := st.Sources[id]
		info := SourceInfo{ID: id}
		if src, err := plan.SourceOf(s); err == nil {
			info.Address = fmt.Sprintf("%s:%d", src.From.Host, src.From.Port)
			info.User, info.Flavor, info.EnableGTID = src.From.User, src.Flavor, src.EnableGTID
		}
		for _, name := range st.TaskNames() {
			if _, ok := st.Tasks[name].Sources[id]; ok {
				info.Tasks = append(info.Tasks, name)
			}
		}
		resp.Sources = append(resp.Sources, info)
	}
	return resp, nil
}

func (n *control) apiSourceRemove(ctx context.Context, req *Request) (*Response, error) {
	if err := n.propose(ctx, catalog.Command{Op: catalog.OpRemoveSource, Name: req.Name}); err != nil {
		return nil, err
	}
	// No task uses the source any more: its relay and tailer checkpoint
	// go with it, so a source added again under this id starts afresh.
	if err := actors.PurgeSource(ctx, n.store, req.Name); err != nil {
		return nil, fmt.Errorf("source %s removed, but its relay stays: %w", req.Name, err)
	}
	return &Response{Report: []string{"source " + req.Name + " removed, with its relay and tailer checkpoint"}}, nil
}
