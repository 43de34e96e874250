package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/dmnode/dmnode/node"
	"github.com/dmnode/dmnode/tests/harness"
)

// httpClient calls a node's HTTP API.
type httpClient struct {
	t    *testing.T
	base string
	// router, when set, finds each request's operation in the node's
	// OpenAPI document, and every answer is validated against it.
	router routers.Router
	// checked counts the answers validated.
	checked int
	// token, when set, is sent as the bearer token of a role (a node with
	// cluster credentials asks for one).
	token string
}

// checkAgainstOpenAPI loads the node's /api/v1/openapi.json; from then on
// every answer must match the document's schema for its route and status.
func (h *httpClient) checkAgainstOpenAPI() {
	h.t.Helper()
	_, data := h.do("GET", "/api/v1/openapi.json", nil)
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		h.t.Fatalf("load the openapi document: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: h.base}}
	if h.router, err = legacy.NewRouter(doc); err != nil {
		h.t.Fatalf("openapi router: %v", err)
	}
}

// validate checks one answer against the document (routes it lacks are
// the 404 cases, checked by status).
func (h *httpClient) validate(req *http.Request, resp *http.Response, body []byte) {
	h.t.Helper()
	route, params, err := h.router.FindRoute(req)
	if err != nil {
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		h.t.Errorf("%s %s: status %d: the answer does not match the OpenAPI document: %v\n%.2000s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	h.checked++
}

// http returns a client of the node's HTTP API once the node serves it (a
// node opens its HTTP port once JetStream is up, after its NATS API).
func (c *cluster) http() *httpClient {
	h := &httpClient{t: c.t, base: fmt.Sprintf("http://127.0.0.1:%d", c.httpPort)}
	harness.Eventually(c.t, 60*time.Second, func() error {
		resp, err := http.Get(h.base + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("/healthz: %s", resp.Status)
		}
		return nil
	})
	return h
}

// do sends a request (body: nil, a string sent as is, or a value sent as
// JSON) and returns the status and the body.
func (h *httpClient) do(method, path string, body any, contentType ...string) (int, []byte) {
	h.t.Helper()
	var r io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	if len(contentType) > 0 {
		ct = contentType[0]
	}
	req, err := http.NewRequest(method, h.base+path, r)
	if err != nil {
		h.t.Fatal(err)
	}
	if r != nil {
		req.Header.Set("Content-Type", ct)
	}
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	if h.router != nil {
		h.validate(req, resp, data)
	}
	return resp.StatusCode, data
}

// expect sends a request, fails unless the answer has status want, and
// decodes a JSON answer into out (when not nil).
func (h *httpClient) expect(want int, method, path string, body, out any, contentType ...string) []byte {
	h.t.Helper()
	status, data := h.do(method, path, body, contentType...)
	if status != want {
		h.t.Fatalf("%s %s: status %d, want %d:\n%s", method, path, status, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			h.t.Fatalf("%s %s: %v\n%s", method, path, err, data)
		}
	}
	return data
}

// quickstartFile reads a file of deploy/quickstart with the example's
// ports (sources 3307-3309, target 4000) replaced by the test's servers'.
func (c *cluster) quickstartFile(name string) string {
	root, err := harness.ModuleRoot()
	if err != nil {
		c.t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "deploy", "quickstart", name))
	if err != nil {
		c.t.Fatal(err)
	}
	s := string(data)
	for i, s2 := range c.sources {
		s = strings.ReplaceAll(s, fmt.Sprintf("port: %d", 3307+i), fmt.Sprintf("port: %d", s2.Port))
	}
	s = strings.ReplaceAll(s, "port: 4000", fmt.Sprintf("port: %d", c.target.Port))
	// The loader's dump directory of the example is relative to where
	// quickstart.sh runs; the test's is its own.
	return strings.ReplaceAll(s, `dir: "./dumped_data"`, fmt.Sprintf("dir: %q", filepath.Join(c.dir, "dumped_data")))
}

type dmSubTask struct {
	SourceName string `json:"source_name"`
	WorkerName string `json:"worker_name"`
	Stage      string `json:"stage"`
	Unit       string `json:"unit"`
	ErrorMsg   string `json:"error_msg"`
}

// waitDMStatus waits until every source of the task is at stage and unit
// by DM's status route.
func (h *httpClient) waitDMStatus(task, stage, unit string) {
	h.t.Helper()
	harness.Eventually(h.t, 3*time.Minute, func() error {
		var st struct {
			Total int         `json:"total"`
			Data  []dmSubTask `json:"data"`
		}
		status, data := h.do("GET", "/api/v1/tasks/"+task+"/status", nil)
		if status != 200 {
			return fmt.Errorf("status %d: %s", status, data)
		}
		if err := json.Unmarshal(data, &st); err != nil {
			return err
		}
		if st.Total == 0 {
			return fmt.Errorf("no sources: %s", data)
		}
		for _, s := range st.Data {
			if s.Stage != stage || s.Unit != unit {
				return fmt.Errorf("source %s at %s/%s, want %s/%s (%s)", s.SourceName, s.Stage, s.Unit, stage, unit, s.ErrorMsg)
			}
		}
		return nil
	})
}

// The seed example over HTTP only, as curl would do it: the sources from
// their YAML files (one as DM's JSON source), the task from its task.yaml
// text in DM's create request, status watched, a second task created from
// DM's JSON task, rows verified, stop, start, delete; bad input answers
// 400 with the same file/line/key errors as the CLI, unknown routes 404.
// Both tasks end in the row-by-row comparison.
func TestHTTPAPISeedExample(t *testing.T) {
	c := newCluster(t, 3)
	c.seed(300)
	h := c.http()
	h.checkAgainstOpenAPI()
	defer func() { t.Logf("%d answers matched the OpenAPI document", h.checked) }()

	// Bad input: the key and line are named; unknown routes and names 404.
	status, data := h.do("POST", "/api/v1/dmnode/source.add", map[string]any{"files": []map[string]string{{
		"name": "bad-source.yaml", "data": "source-id: x\nfrom:\n  host: 127.0.0.1\n  prot: 3306\n"}}})
	if status != 400 || !strings.Contains(string(data), "bad-source.yaml") || !strings.Contains(string(data), "prot") {
		t.Fatalf("a bad source file: status %d, want 400 naming the file and key:\n%s", status, data)
	}
	var bad struct{ Error string }
	_ = json.Unmarshal(data, &bad)
	cliOut, cliErr := harness.Run(t, c.bin, "--server", c.server(), "source", "add", c.writeFile("bad-source.yaml", "source-id: x\nfrom:\n  host: 127.0.0.1\n  prot: 3306\n"))
	if cliErr == nil || !strings.Contains(strings.ReplaceAll(cliOut, c.dir+"/", ""), bad.Error) {
		t.Fatalf("the CLI and HTTP disagree on a bad file: CLI %v\n%s\nHTTP %s", cliErr, cliOut, bad.Error)
	}
	t.Logf("a bad source file over HTTP: %s", bad.Error)
	status, data = h.do("POST", "/api/v1/tasks", `{"task": {"name": "x", "task_moed": "all"}}`)
	if status != 400 || !strings.Contains(string(data), "task_moed") {
		t.Fatalf("a DM task with an unknown key: status %d, want 400 naming it:\n%s", status, data)
	}
	status, data = h.do("POST", "/api/v1/tasks", "name: x\ntask-mode: all\ntarget-database:\n  port: nope\n", "application/yaml")
	if status != 400 || !strings.Contains(string(data), "port") {
		t.Fatalf("a bad task.yaml: status %d, want 400 naming the key:\n%s", status, data)
	}
	t.Logf("bad task.yaml answered: %s", data)
	for _, path := range []string{"/api/v1/nothing-here", "/api/v1/tasks/nope", "/api/v1/sources/nope", "/api/v1/tasks/nope/status"} {
		if status, data := h.do("GET", path, nil); status != 404 {
			t.Fatalf("GET %s: status %d, want 404:\n%s", path, status, data)
		}
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	h.expect(200, "GET", "/api/v1/openapi.json", nil, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") || doc.Paths["/api/v1/tasks/{task-name}/status"]["get"] == nil {
		t.Fatalf("openapi document: version %q, %d paths", doc.OpenAPI, len(doc.Paths))
	}

	// Sources: the first as DM's JSON source, the others from their YAML files.
	var created struct {
		SourceName string `json:"source_name"`
		Password   any    `json:"password"`
	}
	h.expect(201, "POST", "/api/v1/sources", map[string]any{"source": map[string]any{
		"source_name": "mysql-replica-01", "host": "127.0.0.1", "port": c.sources[0].Port, "user": "root", "password": "",
		"enable_gtid": false, "enable": true, "flavor": "mariadb"}}, &created)
	if created.SourceName != "mysql-replica-01" || created.Password != nil {
		t.Fatalf("created source: %+v", created)
	}
	var files []map[string]string
	for _, f := range []string{"source2.yaml", "source3.yaml"} {
		files = append(files, map[string]string{"name": f, "data": c.quickstartFile(f)})
	}
	h.expect(200, "POST", "/api/v1/dmnode/source.add", map[string]any{"files": files}, nil)
	var sources struct {
		Total int `json:"total"`
		Data  []struct {
			SourceName string `json:"source_name"`
			Port       int    `json:"port"`
		} `json:"data"`
	}
	h.expect(200, "GET", "/api/v1/sources?with_status=true", nil, &sources)
	if sources.Total != 3 || sources.Data[2].Port != c.sources[2].Port {
		t.Fatalf("sources: %+v", sources)
	}

	// The example's task, as its task.yaml text in DM's create request.
	var op struct {
		Task struct {
			Name         string `json:"name"`
			TargetConfig struct {
				Password string `json:"password"`
			} `json:"target_config"`
			SourceConfig struct {
				SourceConf []struct {
					SourceName string `json:"source_name"`
				} `json:"source_conf"`
			} `json:"source_config"`
		} `json:"task"`
		CheckResult string `json:"check_result"`
	}
	h.expect(201, "POST", "/api/v1/tasks", map[string]any{"task": c.quickstartFile("task.yaml")}, &op)
	if op.Task.Name != "test" || len(op.Task.SourceConfig.SourceConf) != 3 || op.Task.TargetConfig.Password != "******" {
		t.Fatalf("created task: %+v", op)
	}
	t.Logf("check_result: %s", op.CheckResult)
	h.waitDMStatus("test", "Running", "Sync")

	// A second task from DM's JSON task: source 1's dmtest.t1 into
	// dmjson.t1, with a binlog filter rule that drops nothing it writes.
	dmTask := map[string]any{
		"name": "dmjson", "task_mode": "all", "enhance_online_schema_change": false, "on_duplicate": "replace",
		"target_config":      map[string]any{"host": "127.0.0.1", "port": c.target.Port, "user": "root", "password": ""},
		"binlog_filter_rule": map[string]any{"no-truncate": map[string]any{"ignore_event": []string{"truncate table"}}},
		"table_migrate_rule": []any{map[string]any{
			"source":             map[string]any{"source_name": "mysql-replica-01", "schema": "dmtest", "table": "t1"},
			"target":             map[string]any{"schema": "dmjson", "table": "t1"},
			"binlog_filter_rule": []string{"no-truncate"},
		}},
		"source_config": map[string]any{"source_conf": []any{map[string]any{"source_name": "mysql-replica-01"}},
			"full_migrate_conf": map[string]any{"export_threads": 2}, "incr_migrate_conf": map[string]any{"repl_batch": 50}},
	}
	h.expect(201, "POST", "/api/v1/tasks", map[string]any{"task": dmTask}, nil)
	h.waitDMStatus("dmjson", "Running", "Sync")
	var list struct {
		Total int `json:"total"`
		Data  []struct {
			Name       string      `json:"name"`
			StatusList []dmSubTask `json:"status_list"`
		} `json:"data"`
	}
	h.expect(200, "GET", "/api/v1/tasks?with_status=true", nil, &list)
	if list.Total != 2 || len(list.Data[1].StatusList) != 3 {
		t.Fatalf("task list: %+v", list)
	}
	var taskSources struct{ Total int }
	h.expect(200, "GET", "/api/v1/tasks/dmjson/sources", nil, &taskSources)
	if taskSources.Total != 1 {
		t.Fatalf("sources of dmjson: %d, want 1", taskSources.Total)
	}

	// Writes, then both targets compared row by row.
	w := startWriters(t, c.sources, 41)
	waitForOps(t, w, 300)
	w.stop(t)
	c.expectEqual("dmtest.t (the example's task, over HTTP)", partitionIDQuery, "SELECT id, c, port FROM dmtest.t")
	c.expectEqual("dmjson.t1 (DM's JSON task)", func(i int) string {
		if i > 0 {
			return "SELECT id, c, port FROM dmtest.t1 WHERE FALSE"
		}
		return "SELECT id, c, port FROM dmtest.t1"
	}, "SELECT id, c, port FROM dmjson.t1")

	// Verify through HTTP: the node runs the steps; the report is equal.
	h.expect(202, "POST", "/api/v1/dmnode/tasks/test/verify", nil, nil)
	var run struct {
		Running bool   `json:"running"`
		Error   string `json:"error"`
		Report  *struct {
			Equal  bool `json:"equal"`
			Tables []struct {
				Target       string `json:"target"`
				RowsCompared int64  `json:"rows_compared"`
			} `json:"tables"`
		} `json:"report"`
	}
	harness.Eventually(t, 3*time.Minute, func() error {
		h.expect(200, "GET", "/api/v1/dmnode/tasks/test/verify", nil, &run)
		if run.Running {
			return fmt.Errorf("verifying")
		}
		return nil
	})
	if run.Error != "" || run.Report == nil || !run.Report.Equal {
		t.Fatalf("verification: %+v", run)
	}
	t.Logf("verified: %+v", run.Report.Tables)

	// Stop and start (DM's names): the stage follows; then delete.
	h.expect(200, "POST", "/api/v1/tasks/test/stop", nil, nil)
	h.waitDMStatus("test", "Stopped", "Sync")
	w = startWriters(t, c.sources, 42)
	waitForOps(t, w, 200)
	h.expect(200, "POST", "/api/v1/tasks/test/start", `{}`, nil)
	h.waitDMStatus("test", "Running", "Sync")
	w.stop(t)
	c.expectEqual("dmtest.t after stop and start over HTTP", partitionIDQuery, "SELECT id, c, port FROM dmtest.t")
	if status, data := h.do("DELETE", "/api/v1/sources/mysql-replica-01", nil); status != 400 {
		t.Fatalf("deleting a source a task uses: status %d, want 400:\n%s", status, data)
	}
	h.expect(204, "DELETE", "/api/v1/tasks/test?force=true", nil, nil)
	h.expect(204, "DELETE", "/api/v1/tasks/dmjson?force=true", nil, nil)
	h.expect(404, "GET", "/api/v1/tasks/test", nil, nil)
	h.expect(204, "DELETE", "/api/v1/sources/mysql-replica-03", nil, nil)
	h.expect(200, "GET", "/api/v1/sources", nil, &sources)
	if sources.Total != 2 {
		t.Fatalf("sources after a delete: %+v", sources)
	}
}

// Writes sent to a follower's HTTP API are forwarded to the leader, not
// refused: a two-node cluster, the source and the task created and the
// task stopped and started through the follower; rows compared.
func TestHTTPAPIFollowerForwardsWrites(t *testing.T) {
	m := newMulti(t, 1, 0)
	ports := map[string]int{}
	for i := range 2 {
		n := &clusterNode{
			name:     fmt.Sprintf("node%d", i+1),
			dataDir:  filepath.Join(m.dir, fmt.Sprintf("node%d", i+1)),
			natsPort: harness.FreePort(t), clusterPort: harness.FreePort(t), raftPort: harness.FreePort(t),
		}
		m.nodes = append(m.nodes, n)
		ports[n.name] = harness.FreePort(t)
		extra := []string{"--http-port", fmt.Sprint(ports[n.name])}
		if i > 0 {
			extra = append(extra, "--join", m.nodes[0].url())
		}
		m.start(t, n, extra...) // the later --http-port wins over launch's 0
	}
	m.seed(200)
	// Each write goes to whichever node is a follower at that moment:
	// leadership may move under load (2 s heartbeat timeout).
	clients := map[string]*httpClient{}
	viaFollower := func(what string) *httpClient {
		t.Helper()
		var leader *clusterNode
		harness.Eventually(t, 60*time.Second, func() error {
			n, ms, err := m.find(func(mb member) bool { return mb.Leader })
			if err == nil && n == nil {
				err = fmt.Errorf("no leader: %+v", ms)
			}
			leader = n
			return err
		})
		for _, n := range m.nodes {
			if n != leader {
				if clients[n.name] == nil {
					m.httpPort = ports[n.name]
					clients[n.name] = m.http()
					// `dmnode start` generated credentials: the admin's token.
					tok, err := node.HTTPTokenFromFile(filepath.Join(m.nodes[0].dataDir, node.AdminCredsFile))
					if err != nil {
						t.Fatal(err)
					}
					clients[n.name].token = tok
				}
				t.Logf("%s through %s's HTTP API (%s leads)", what, n.name, leader.name)
				return clients[n.name]
			}
		}
		t.Fatal("no follower")
		return nil
	}

	viaFollower("create the source").expect(201, "POST", "/api/v1/sources", map[string]any{"source": map[string]any{
		"source_name": sourceID(0), "host": "127.0.0.1", "port": m.sources[0].Port, "user": "root", "password": "",
		"enable_gtid": false, "enable": true}}, nil)
	viaFollower("create the task").expect(201, "POST", "/api/v1/tasks", readFile(t, m.oneSourceTask("follow", "dmtest")), nil, "application/yaml")
	viaFollower("watch").waitDMStatus("follow", "Running", "Sync")
	w := startWriters(t, m.sources, 61)
	waitForOps(t, w, 200)
	viaFollower("stop the task").expect(200, "POST", "/api/v1/tasks/follow/stop", nil, nil)
	viaFollower("watch").waitDMStatus("follow", "Stopped", "Sync")
	viaFollower("start the task").expect(200, "POST", "/api/v1/tasks/follow/start", nil, nil)
	viaFollower("watch").waitDMStatus("follow", "Running", "Sync")
	waitForOps(t, w, w.count()+200)
	w.stop(t)
	m.expectEqual("dmtest.t1 (task created through a follower)", func(int) string { return "SELECT id, c, port FROM dmtest.t1" }, "SELECT id, c, port FROM dmtest.t1")
}
