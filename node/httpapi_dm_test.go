package node

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/jetstream"
)

// testHTTP serves the HTTP API's routes over a control layer with fakes
// (no tokens: httpauth_test covers the guard).
type testHTTP struct {
	*testControl
	a   *httpAPI
	mux *http.ServeMux
}

func newTestHTTP(tc *testControl) *testHTTP {
	a := &httpAPI{n: tc.control, hs: tc.handlers(), hist: newHistory(historyInterval, historyLen), verifies: map[string]*verifyRun{}, ctx: context.Background()}
	mux := http.NewServeMux()
	for _, rt := range a.routes() {
		mux.HandleFunc(rt.muxPattern(), rt.serve)
	}
	return &testHTTP{testControl: tc, a: a, mux: mux}
}

// do sends a request and decodes a JSON answer into out (when not nil).
func (h *testHTTP) do(t *testing.T, method, path, ct, body string, out any) (int, string) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	w := httptest.NewRecorder()
	h.mux.ServeHTTP(w, r)
	if out != nil && w.Code < 300 {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, w.Body)
		}
	}
	return w.Code, w.Body.String()
}

// errorOf reads the error text of a failed request.
func errorOf(t *testing.T, body string) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e
}

// DM's source routes list the catalog's sources (never a password), get
// one, refuse a missing one with 404, and refuse to create a source that
// is not reachable or not described fully, naming why.
func TestHTTPDMSources(t *testing.T) {
	h := newTestHTTP(seeded(t))
	h.exec(catalog.Command{Op: catalog.OpAssign, Assign: map[string]string{"tail/s1": "n2"}})
	var list DMList[DMSource]
	if code, body := h.do(t, http.MethodGet, "/api/v1/sources?with_status=true", "", "", &list); code != http.StatusOK {
		t.Fatalf("list: %d %s", code, body)
	}
	if list.Total != 3 || len(list.Data) != 3 {
		t.Fatalf("list %+v", list)
	}
	s1 := list.Data[0]
	if s1.SourceName != "s1" || s1.Host != "127.0.0.1" || s1.Port != 1 || s1.User != "dm" || s1.Password != nil || strings.Join(s1.TaskNameList, ",") != "t" ||
		len(s1.StatusList) != 1 || s1.StatusList[0].WorkerName != "n2" {
		t.Errorf("s1 %+v", s1)
	}
	var one DMSource
	if code, _ := h.do(t, http.MethodGet, "/api/v1/sources/s2", "", "", &one); code != http.StatusOK || one.SourceName != "s2" || one.StatusList != nil {
		t.Errorf("get s2: %d %+v", code, one)
	}
	if code, body := h.do(t, http.MethodGet, "/api/v1/sources/s9", "", "", nil); code != http.StatusNotFound || errorOf(t, body).Error != "source s9 not found" {
		t.Errorf("get s9: %d %s", code, body)
	}
	if code, _ := h.do(t, http.MethodDelete, "/api/v1/sources/s9", "", "", nil); code != http.StatusNotFound {
		t.Errorf("delete s9: %d", code)
	}
	code, body := h.do(t, http.MethodDelete, "/api/v1/sources/s1", "", "", nil)
	if code != http.StatusBadRequest || !strings.Contains(errorOf(t, body).Error, "in use") {
		t.Errorf("delete a source in use: %d %s", code, body)
	}

	for _, c := range []struct{ name, body, want string }{
		{"an unknown key", `{"source":{"source_name":"s4","hots":"x"}}`, "hots"},
		{"no name", `{"source":{"host":"127.0.0.1","port":1}}`, "source_name is required"},
		{"certificates", `{"source":{"source_name":"s4","host":"127.0.0.1","port":1,"security":{}}}`, "security"},
		{"an unreachable source", `{"source":{"source_name":"s4","host":"127.0.0.1","port":1,"user":"dm","password":"pw","enable":true}}`, "source s4"},
	} {
		code, body := h.do(t, http.MethodPost, "/api/v1/sources", "application/json", c.body, nil)
		if e := errorOf(t, body); code != http.StatusBadRequest || !strings.Contains(e.Error, c.want) || e.Code != code {
			t.Errorf("create with %s: %d %s", c.name, code, body)
		}
	}
	if _, ok := h.fsm.State().Sources["s4"]; ok {
		t.Error("a refused source is in the catalog")
	}
}

// DM's task routes: list and get with the status per source in DM's
// stages and units, start and stop of the whole task only, delete with
// force, and the converter.
func TestHTTPDMTasks(t *testing.T) {
	h := newTestHTTP(seeded(t))
	h.exec(catalog.Command{Op: catalog.OpAssign, Assign: map[string]string{"apply/t/s1": "n2", "load/t/s2": "n1"}})
	h.progress.put(jetstream.ErrorKey(catalog.KindLoad, "t", "s2"), ActorError{Actor: "load/t/s2", Error: "disk full", Permanent: true, Time: time.Now()})
	h.progress.progress("tail", "", "s1", jetstream.TailProgress{})

	var list DMList[DMTask]
	if code, body := h.do(t, http.MethodGet, "/api/v1/tasks?with_status=true", "", "", &list); code != http.StatusOK || list.Total != 1 {
		t.Fatalf("list: %d %s", code, body)
	}
	task := list.Data[0]
	if task.Name != "t" || task.TaskMode != "all" || task.TargetConfig.Password != "******" || len(task.SourceConfig.SourceConf) != 2 || len(task.StatusList) != 2 {
		t.Fatalf("task %+v", task)
	}
	sync, load := task.StatusList[0], task.StatusList[1]
	if sync.SourceName != "s1" || sync.Stage != "Running" || sync.Unit != "Sync" || sync.WorkerName != "n2" || sync.SyncStatus == nil {
		t.Errorf("s1 %+v", sync)
	}
	// (A source stopped on an error shows unit Sync whatever its stage:
	// dmSubTasks maps the unit from the stage, which is then "error".)
	if load.SourceName != "s2" || load.Stage != "Paused" || load.WorkerName != "n1" || load.ErrorMsg != "load/t/s2: disk full" {
		t.Errorf("s2 %+v", load)
	}
	for query, want := range map[string]int{"stage=Paused": 1, "stage=Finished": 0, "source_name_list=s2": 1, "source_name_list=s3": 0} {
		list = DMList[DMTask]{}
		if code, _ := h.do(t, http.MethodGet, "/api/v1/tasks?"+query, "", "", &list); code != http.StatusOK || list.Total != want || want > 0 && list.Data[0].StatusList != nil {
			t.Errorf("list ?%s: %d tasks, want %d", query, list.Total, want)
		}
	}
	var got DMTask
	if code, _ := h.do(t, http.MethodGet, "/api/v1/tasks/t", "", "", &got); code != http.StatusOK || got.Name != "t" || got.StatusList != nil {
		t.Errorf("get t: %d %+v", code, got)
	}
	if code, body := h.do(t, http.MethodGet, "/api/v1/tasks/nope", "", "", nil); code != http.StatusNotFound || !strings.Contains(body, "task nope not found") {
		t.Errorf("get nope: %d %s", code, body)
	}
	// Once the error is cleared, s2 is loading.
	delete(h.progress.kv, jetstream.ErrorKey(catalog.KindLoad, "t", "s2"))
	h.progress.progress("dump", "t", "s2", actors.DumpProgress{Tables: 2, RowsTotal: 200})
	h.progress.progress("load", "t", "s2", actors.LoadProgress{RowsLoaded: 50})
	var subs DMList[DMSubTaskStatus]
	if code, _ := h.do(t, http.MethodGet, "/api/v1/tasks/t/status?source_name_list=s2", "", "", &subs); code != http.StatusOK || subs.Total != 1 {
		t.Fatalf("status of s2: %d %+v", code, subs)
	}
	if s := subs.Data[0]; s.SourceName != "s2" || s.Stage != "Running" || s.Unit != "Load" || s.ErrorMsg != "" ||
		s.LoadStatus == nil || s.LoadStatus.Progress != "25.00 %" || s.DumpStatus == nil || s.DumpStatus.TotalTables != 2 {
		t.Errorf("status of s2: %+v", s)
	}
	var srcs DMList[DMSource]
	if code, _ := h.do(t, http.MethodGet, "/api/v1/tasks/t/sources", "", "", &srcs); code != http.StatusOK || srcs.Total != 2 || srcs.Data[1].SourceName != "s2" {
		t.Errorf("sources of t: %d %+v", code, srcs)
	}
	if code, _ := h.do(t, http.MethodGet, "/api/v1/tasks/nope/sources", "", "", nil); code != http.StatusNotFound {
		t.Errorf("sources of nope: %d", code)
	}

	// Start and stop act on the whole task.
	code, body := h.do(t, http.MethodPost, "/api/v1/tasks/t/stop", "application/json", `{"source_name_list":["s1"]}`, nil)
	if code != http.StatusBadRequest || !strings.Contains(body, "all its sources (s1, s2)") {
		t.Errorf("stop of one source: %d %s", code, body)
	}
	if code, body := h.do(t, http.MethodPost, "/api/v1/tasks/t/stop", "application/json", `{"source_name_list":["s2","s1"]}`, nil); code != http.StatusOK {
		t.Fatalf("stop: %d %s", code, body)
	}
	if d := h.fsm.State().Tasks["t"].Desired; d != catalog.Stopped {
		t.Errorf("after stop: %s", d)
	}
	if code, body := h.do(t, http.MethodPost, "/api/v1/tasks/t/start", "application/json", `{"start_time":"2024-01-01 00:00:00"}`, nil); code != http.StatusBadRequest || !strings.Contains(body, "checkpoints only") {
		t.Errorf("start at a time: %d %s", code, body)
	}
	if code, _ := h.do(t, http.MethodPost, "/api/v1/tasks/nope/start", "", "", nil); code != http.StatusNotFound {
		t.Errorf("start nope: %d", code)
	}
	if code, body := h.do(t, http.MethodPost, "/api/v1/tasks/t/start", "", "", nil); code != http.StatusOK || h.fsm.State().Tasks["t"].Desired != catalog.Running {
		t.Fatalf("start: %d %s", code, body)
	}

	// Delete: a running task only with force, which stops it first.
	if code, body := h.do(t, http.MethodDelete, "/api/v1/tasks/t?keep_meta=true", "", "", nil); code != http.StatusBadRequest || !strings.Contains(body, "stop it first") {
		t.Errorf("delete of a running task: %d %s", code, body)
	}
	if code, _ := h.do(t, http.MethodDelete, "/api/v1/tasks/nope", "", "", nil); code != http.StatusNotFound {
		t.Errorf("delete nope: %d", code)
	}
	ops := len(h.cmd.ops())
	if code, body := h.do(t, http.MethodDelete, "/api/v1/tasks/t?force=true&keep_meta=true", "", "", nil); code != http.StatusNoContent {
		t.Fatalf("forced delete: %d %s", code, body)
	}
	if got := strings.Join(h.cmd.ops()[ops:], ","); got != catalog.OpSetDesired+","+catalog.OpDeleteTask {
		t.Errorf("forced delete proposed %s", got)
	}
	if _, ok := h.fsm.State().Tasks["t"]; ok {
		t.Error("the deleted task is in the catalog")
	}
}

// Creating a task runs task submit's check: a failure answers 400 with
// the error and the check's response; the converter turns DM's JSON into
// the task file, or names what is wrong.
func TestHTTPDMCreateAndConvert(t *testing.T) {
	h := newTestHTTP(seeded(t))
	yamlTask := strings.Replace(strings.Replace(ctlTaskYAML, "name: t\n", "name: n\n", 1), "source-id: s2", "source-id: s9", 1)
	code, body := h.do(t, http.MethodPost, "/api/v1/tasks", "application/yaml", yamlTask, nil)
	if e := errorOf(t, body); code != http.StatusBadRequest || !strings.Contains(e.Error, "source s9: not added yet") || e.Response == nil {
		t.Errorf("create with a source not added: %d %s", code, body)
	}
	if _, ok := h.fsm.State().Tasks["n"]; ok {
		t.Error("a refused task is in the catalog")
	}
	if code, body := h.do(t, http.MethodPost, "/api/v1/tasks", "application/json", `{"remove_meta":true}`, nil); code != http.StatusBadRequest || !strings.Contains(body, "give task") {
		t.Errorf("create without a task: %d %s", code, body)
	}

	dm := `{"task":{"name":"c","task_mode":"incremental","enhance_online_schema_change":false,"on_duplicate":"replace",
	  "target_config":{"host":"127.0.0.1","port":4000,"user":"root","password":"pw"},
	  "table_migrate_rule":[{"source":{"source_name":"s1","schema":"db"}}],
	  "source_config":{"source_conf":[{"source_name":"s1"}]}}}`
	var conv struct {
		Task DMTask `json:"task"`
		File string `json:"task_config_file"`
	}
	if code, body := h.do(t, http.MethodPost, "/api/v1/tasks/converters", "application/json", dm, &conv); code != http.StatusCreated {
		t.Fatalf("convert: %d %s", code, body)
	}
	if conv.Task.Name != "c" || conv.Task.TargetConfig.Password != "******" || !strings.Contains(conv.File, "task-mode: incremental") || !strings.Contains(conv.File, "do-dbs") {
		t.Errorf("converted %+v\n%s", conv.Task, conv.File)
	}
	if code, body := h.do(t, http.MethodPost, "/api/v1/tasks/converters", "application/json", `{"task":{"task_mode":"all"}}`, nil); code != http.StatusBadRequest || !strings.Contains(body, "name is required") {
		t.Errorf("convert without a name: %d %s", code, body)
	}
}

// dmnode's own routes: every control method by POST, read methods also
// by GET; the statuses follow the error (400, 404, 503); the
// verification runs in the background and GET reads how it ended.
func TestHTTPNativeRoutes(t *testing.T) {
	h := newTestHTTP(seeded(t))
	var resp Response
	if code, body := h.do(t, http.MethodPost, "/api/v1/dmnode/task.pause", "application/json", `{"name":"t"}`, &resp); code != http.StatusOK || !strings.Contains(resp.Report[0], "paused") {
		t.Fatalf("pause: %d %s", code, body)
	}
	if h.fsm.State().Tasks["t"].Desired != catalog.Paused {
		t.Error("task not paused")
	}
	if code, body := h.do(t, http.MethodPost, "/api/v1/dmnode/task.pause", "application/json", `{"nmae":"t"}`, nil); code != http.StatusBadRequest || !strings.Contains(body, "nmae") {
		t.Errorf("unknown key: %d %s", code, body)
	}
	resp = Response{}
	if code, _ := h.do(t, http.MethodGet, "/api/v1/dmnode/task.status?name=t", "", "", &resp); code != http.StatusOK || len(resp.Tasks) != 1 || resp.Tasks[0].State != catalog.Paused {
		t.Errorf("status: %d %+v", code, resp)
	}
	code, body := h.do(t, http.MethodGet, "/api/v1/dmnode/task.status?name=nope", "", "", nil)
	if e := errorOf(t, body); code != http.StatusNotFound || e.Response == nil || e.ErrorMsg != e.Error {
		t.Errorf("status of nope: %d %s", code, body)
	}
	if code, _ := h.do(t, http.MethodGet, "/api/v1/dmnode/task.pause", "", "", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("GET of a write method: %d", code)
	}
	h.cl.catchUp = errors.New("no leader")
	if code, body := h.do(t, http.MethodPost, "/api/v1/dmnode/task.resume", "application/json", `{"name":"t"}`, nil); code != http.StatusBadRequest || !strings.Contains(body, "no leader") {
		t.Errorf("write without a leader: %d %s", code, body)
	}
	h.cl.catchUp = nil
	h.ready.Store(false)
	if code, _ := h.do(t, http.MethodGet, "/api/v1/dmnode/source.list", "", "", nil); code != http.StatusServiceUnavailable {
		t.Errorf("while loading: %d", code)
	}
	h.ready.Store(true)

	// History: one sample of each task, dropped with the task.
	h.a.sampleOnce(context.Background())
	var hist []TaskHistory
	if code, _ := h.do(t, http.MethodGet, "/api/v1/dmnode/history?task=t", "", "", &hist); code != http.StatusOK || len(hist) != 1 || len(hist[0].Samples) != 1 ||
		hist[0].Samples[0].State != catalog.Paused || len(hist[0].Samples[0].Sources) != 2 {
		t.Errorf("history %+v", hist)
	}

	// Verification: refused for an unknown task, run in the background
	// for a known one; its end (here a refusal) is what GET reads.
	if code, _ := h.do(t, http.MethodPost, "/api/v1/dmnode/tasks/nope/verify", "", "", nil); code != http.StatusNotFound {
		t.Errorf("verify nope: %d", code)
	}
	var run verifyRun
	if code, body := h.do(t, http.MethodPost, "/api/v1/dmnode/tasks/t/verify", "", "", &run); code != http.StatusAccepted || !run.Running || run.Task != "t" {
		t.Fatalf("verify t: %d %s", code, body)
	}
	h.a.wg.Wait()
	run = verifyRun{}
	if code, _ := h.do(t, http.MethodGet, "/api/v1/dmnode/tasks/t/verify", "", "", &run); code != http.StatusOK || run.Running || run.Finished.IsZero() ||
		!strings.Contains(run.Error, "source s2 is still in stage load") {
		t.Errorf("verification of t: %d %+v", code, run)
	}
	if code, _ := h.do(t, http.MethodGet, "/api/v1/dmnode/tasks/s1/verify", "", "", nil); code != http.StatusNotFound {
		t.Errorf("verification never started: %d", code)
	}
	if code, _ := h.do(t, http.MethodGet, "/api/v1/nothing", "", "", nil); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Errorf("unknown route: %d", code)
	}
}
