package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dmnode/dmnode/actors/verify"
)

// The HTTP API is a second transport over the control API's handlers
// (handlers(), api.go): the NATS request/reply protocol and HTTP call the
// same functions through serve, so the CLI, scripts and the web console
// cannot disagree. Writes on a follower reach the leader the way NATS
// requests do, through propose.
//
// Three groups of routes share one mux:
//   - /api/v1/dmnode/METHOD: every control method, its body the CLI's
//     Request, its answer the Response (dmnode's own API);
//   - /api/v1/sources, /api/v1/tasks...: TiDB DM's OpenAPI v1 paths and
//     payloads, mapped onto the same methods (httpapi_dm.go);
//   - / and /console/: the embedded web console (httpapi_console.go).
//
// /api/v1/openapi.json describes all of them (httpapi_openapi.go).

// apiRoute is one route of the HTTP API: what the OpenAPI document says
// about it and the function that serves it.
type apiRoute struct {
	Method string
	// Path is written as in OpenAPI: /api/v1/tasks/{task-name}.
	Path    string
	Summary string
	Tag     string // dmnode | source | task | console
	// Query names the query parameters the route reads.
	Query []string
	// Body and Resp are values of the request body's and the success
	// answer's types (nil: none); the document's schemas come from them.
	Body   any
	Resp   any
	Status int // of a success
	// BodyText marks routes that also take a YAML text body.
	BodyText bool
	serve    func(w http.ResponseWriter, r *http.Request)
}

// muxPattern is the route's net/http pattern: ServeMux wildcards must be
// Go identifiers, so {task-name} becomes {task_name}.
func (rt apiRoute) muxPattern() string {
	return rt.Method + " " + strings.ReplaceAll(rt.Path, "-name}", "_name}")
}

// httpAPI holds what the HTTP routes keep between requests: the handler
// map, the per-task history sampled for the console's graphs, and the last
// verification of each task run through HTTP.
type httpAPI struct {
	n    *control
	hs   map[string]handler
	hist *history
	// ctx ends when the node stops serving HTTP; wg tracks the sampler
	// and the verifications running in the background.
	ctx context.Context
	wg  sync.WaitGroup

	doc []byte // the OpenAPI document, built once the routes are known

	mu       sync.Mutex
	verifies map[string]*verifyRun
}

// verifyRun is the last verification of a task started through HTTP.
type verifyRun struct {
	Task     string         `json:"task"`
	Running  bool           `json:"running"`
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished,omitzero"`
	Error    string         `json:"error,omitempty"`
	Report   *verify.Report `json:"report,omitempty"`
}

// httpOnlyExcluded are control methods HTTP does not offer: cluster.join
// answers with the keys that seal stored passwords, for joining nodes
// only.
var httpOnlyExcluded = map[string]bool{"cluster.join": true}

// mountAPI adds the HTTP API, its OpenAPI document and the web console to
// mux, and starts the history sampler; the returned function stops it.
func (n *Node) mountAPI(mux *http.ServeMux) (stop func()) {
	a := &httpAPI{n: n.ctl, hs: n.ctl.handlers(), hist: newHistory(historyInterval, historyLen), verifies: map[string]*verifyRun{}, ctx: context.Background()}
	routes := a.routes()
	roles, err := newHTTPRoles(n.creds)
	if err != nil {
		// Tokens come from seeds this node loaded; without them no route
		// of the API is served rather than an open one.
		n.log.Error("http api tokens: the API refuses every request", "err", err)
		roles = &httpRoles{}
	}
	for _, rt := range routes {
		mux.HandleFunc(rt.muxPattern(), roles.guard(rt, rt.serve))
	}
	doc, err := openAPIDocument(routes)
	if err != nil {
		// A test proves the document builds; a node still serves its API.
		n.log.Error("openapi document", "err", err)
	}
	a.doc = doc
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no route %s %s: /api/v1/openapi.json lists the routes", r.Method, r.URL.Path), Code: http.StatusNotFound})
	})
	mountConsole(mux)
	ctx, cancel := context.WithCancel(context.Background())
	a.ctx = ctx
	a.wg.Go(func() { a.sample(ctx) })
	return func() { cancel(); a.wg.Wait() }
}

// apiError is the body of a failed request: dmnode's error text (the same
// file/line/key text the CLI prints) under both dmnode's and DM's names.
type apiError struct {
	Error    string    `json:"error"`
	ErrorMsg string    `json:"error_msg,omitempty"`
	Code     int       `json:"error_code"`
	Response *Response `json:"response,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Error: msg, ErrorMsg: msg, Code: status})
}

// call runs one control method as the NATS API does, and says which HTTP
// status its outcome is.
func (a *httpAPI) call(ctx context.Context, method string, req *Request) (*Response, int) {
	data, err := json.Marshal(req)
	if err != nil {
		return &Response{Error: err.Error()}, http.StatusBadRequest
	}
	resp := a.n.serve(ctx, a.hs[method], method, data)
	return resp, statusOf(resp.Error)
}

// statusOf maps a control method's error text to an HTTP status: a
// missing task or source is 404, a node still loading its catalog 503,
// any other refusal (a bad file, a precheck failure, a wrong state) 400.
func statusOf(msg string) int {
	switch {
	case msg == "":
		return http.StatusOK
	case strings.Contains(msg, "still loading its catalog"):
		return http.StatusServiceUnavailable
	case strings.Contains(msg, " not found"), strings.HasPrefix(msg, "no task "), strings.Contains(msg, "no such source"), strings.Contains(msg, "unknown source"):
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// readBody reads a request body of at most 16 MiB.
func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 16<<20+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if len(data) > 16<<20 {
		return nil, errors.New("request body over 16 MiB")
	}
	return data, nil
}

// decodeJSON decodes a JSON body strictly: an unknown key is an error that
// names it, like the configuration decoders do.
func decodeJSON(data []byte, v any) error {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

func (a *httpAPI) routes() []apiRoute {
	var rs []apiRoute
	methods := make([]string, 0, len(a.hs))
	for m := range a.hs {
		if !httpOnlyExcluded[m] {
			methods = append(methods, m)
		}
	}
	slices.Sort(methods)
	for _, m := range methods {
		rs = append(rs, apiRoute{
			Method: http.MethodPost, Path: "/api/v1/dmnode/" + m, Tag: "dmnode",
			Summary: "control method " + m + ": the body is the CLI's request, the answer its response",
			Body:    Request{}, Resp: Response{}, Status: http.StatusOK,
			serve: a.native(m),
		})
		if readMethods[m] {
			rs = append(rs, apiRoute{
				Method: http.MethodGet, Path: "/api/v1/dmnode/" + m, Tag: "dmnode", Query: []string{"name"},
				Summary: "control method " + m + " (reads only; ?name= names the task)",
				Resp:    Response{}, Status: http.StatusOK,
				serve: a.native(m),
			})
		}
	}
	rs = append(rs,
		apiRoute{
			Method: http.MethodGet, Path: "/api/v1/openapi.json", Tag: "dmnode",
			Summary: "this document",
			Resp:    map[string]any{}, Status: http.StatusOK,
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(a.doc)
			},
		},
		apiRoute{
			Method: http.MethodGet, Path: "/api/v1/dmnode/history", Tag: "dmnode", Query: []string{"task"},
			Summary: "the node's own history of each task's per-source lag, rate and progress over the last hour",
			Resp:    []TaskHistory{}, Status: http.StatusOK, serve: a.getHistory,
		},
		apiRoute{
			Method: http.MethodPost, Path: "/api/v1/dmnode/tasks/{task-name}/verify", Tag: "dmnode",
			Summary: "start a verification of the task's rows (the steps run on the node); GET reads its report",
			Resp:    verifyRun{}, Status: http.StatusAccepted, serve: a.startVerify,
		},
		apiRoute{
			Method: http.MethodGet, Path: "/api/v1/dmnode/tasks/{task-name}/verify", Tag: "dmnode",
			Summary: "the last verification of the task started through HTTP, with its differing rows",
			Resp:    verifyRun{}, Status: http.StatusOK, serve: a.getVerify,
		},
	)
	rs = append(rs, a.dmRoutes()...)
	return rs
}

// native serves one control method: a POST's body is the Request; a GET
// (read methods) takes the task's name from ?name=.
func (a *httpAPI) native(method string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		req := &Request{}
		if r.Method == http.MethodPost {
			data, err := readBody(r)
			if err == nil {
				err = decodeJSON(data, req)
			}
			if err != nil {
				writeError(w, http.StatusBadRequest, err.Error())
				return
			}
		} else {
			req.Name = r.URL.Query().Get("name")
		}
		resp, status := a.call(r.Context(), method, req)
		if status != http.StatusOK {
			writeJSON(w, status, apiError{Error: resp.Error, ErrorMsg: resp.Error, Code: status, Response: resp})
			return
		}
		writeJSON(w, status, resp)
	}
}

func (a *httpAPI) getHistory(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.hist.get(r.URL.Query().Get("task")))
}

// startVerify runs a verification to its end in the background, one
// control step after another as the CLI does, keeping the state between
// steps; GET reads the report so far.
func (a *httpAPI) startVerify(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("task_name")
	if _, ok := a.n.fsm.State().Tasks[name]; !ok {
		writeError(w, http.StatusNotFound, "task "+name+" not found")
		return
	}
	a.mu.Lock()
	if v := a.verifies[name]; v != nil && v.Running {
		a.mu.Unlock()
		writeError(w, http.StatusConflict, "a verification of task "+name+" runs already")
		return
	}
	run := &verifyRun{Task: name, Running: true, Started: time.Now().UTC()}
	a.verifies[name] = run
	snap := *run
	a.mu.Unlock()
	a.wg.Go(func() { a.runVerify(name, run) })
	writeJSON(w, http.StatusAccepted, snap)
}

func (a *httpAPI) runVerify(name string, run *verifyRun) {
	ctx, cancel := context.WithTimeout(a.ctx, time.Hour)
	defer cancel()
	var state *verify.State
	for {
		resp, _ := a.call(ctx, "task.verify", &Request{Name: name, Verify: &VerifyStep{State: state}})
		a.mu.Lock()
		if resp.Verify != nil && resp.Verify.State != nil {
			state = resp.Verify.State
			run.Report = state.Report()
		}
		done := resp.Error != "" || state == nil || state.Done()
		if resp.Error != "" {
			run.Error = resp.Error
		}
		if done {
			run.Running, run.Finished = false, time.Now().UTC()
		}
		a.mu.Unlock()
		if done {
			return
		}
	}
}

func (a *httpAPI) getVerify(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("task_name")
	a.mu.Lock()
	defer a.mu.Unlock()
	v := a.verifies[name]
	if v == nil {
		writeError(w, http.StatusNotFound, "no verification of task "+name+" was started through HTTP on this node")
		return
	}
	writeJSON(w, http.StatusOK, v)
}
