package node

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/core/config"
)

func testRoutes() []apiRoute {
	c := newFakeControl().control
	a := &httpAPI{n: c, hs: c.handlers()}
	return a.routes()
}

// Every route of the HTTP API is in the OpenAPI document, which validates,
// and the routes mount on one mux without conflicts.
func TestOpenAPIDocumentHasEveryRoute(t *testing.T) {
	routes := testRoutes()
	data, err := openAPIDocument(routes)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	seen := map[string]bool{}
	for _, rt := range routes {
		if seen[rt.Method+rt.Path] {
			t.Errorf("route %s %s twice", rt.Method, rt.Path)
		}
		seen[rt.Method+rt.Path] = true
		if _, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]; !ok {
			t.Errorf("route %s %s is not in the document", rt.Method, rt.Path)
		}
		mux.HandleFunc(rt.muxPattern(), rt.serve)
	}
	n := 0
	for _, ops := range doc.Paths {
		n += len(ops)
	}
	if n != len(routes) {
		t.Errorf("the document has %d operations, the API %d routes", n, len(routes))
	}
	for m := range newFakeControl().handlers() {
		if !httpOnlyExcluded[m] && !seen["POST/api/v1/dmnode/"+m] {
			t.Errorf("control method %s has no HTTP route", m)
		}
	}
	for _, want := range []string{"/api/v1/sources", "/api/v1/sources/{source-name}", "/api/v1/tasks", "/api/v1/tasks/{task-name}",
		"/api/v1/tasks/{task-name}/start", "/api/v1/tasks/{task-name}/stop", "/api/v1/tasks/{task-name}/status"} {
		if doc.Paths[want] == nil {
			t.Errorf("DM path %s missing", want)
		}
	}
}

func TestStatusOf(t *testing.T) {
	for msg, want := range map[string]int{
		"": 200, "task x not found": 404, `no task "x": dmnode task list shows the tasks`: 404,
		"the node is still loading its catalog: it waits": 503,
		"t.yaml:3: target-database.port: not a number":    400,
	} {
		if got := statusOf(msg); got != want {
			t.Errorf("statusOf(%q) = %d, want %d", msg, got, want)
		}
	}
}

// DM's JSON source and task become files core/config decodes as DM's YAML.
func TestDMJSONToYAML(t *testing.T) {
	pw := "secret"
	f, err := dmSourceYAML(DMSource{SourceName: "mysql-01", Host: "127.0.0.1", Port: 3307, User: "root", Password: &pw, EnableGTID: true})
	if err != nil {
		t.Fatal(err)
	}
	src, err := config.DecodeSource(f.Name, []byte(f.Data))
	if err != nil {
		t.Fatalf("%v\n%s", err, f.Data)
	}
	if src.SourceID != "mysql-01" || src.From.Port != 3307 || src.From.Password != "secret" || !src.EnableGTID {
		t.Fatalf("decoded %+v from\n%s", src, f.Data)
	}

	var task DMTask
	body := `{"name":"t1","task_mode":"all","shard_mode":"pessimistic","enhance_online_schema_change":false,"on_duplicate":"replace",
	 "target_config":{"host":"127.0.0.1","port":4000,"user":"root","password":""},
	 "binlog_filter_rule":{"no-drop":{"ignore_event":["drop table"]}},
	 "table_migrate_rule":[
	   {"source":{"source_name":"mysql-01","schema":"db","table":"t*"},"target":{"schema":"db","table":"t"},"binlog_filter_rule":["no-drop"]},
	   {"source":{"source_name":"mysql-02","schema":"db","table":"t*"},"target":{"schema":"db","table":"t"}}],
	 "source_config":{"incr_migrate_conf":{"repl_threads":8,"repl_batch":50},
	   "source_conf":[{"source_name":"mysql-01"},{"source_name":"mysql-02","binlog_name":"bin.000002","binlog_pos":4}]}}`
	if err := decodeJSON([]byte(body), &task); err != nil {
		t.Fatal(err)
	}
	f, err = dmTaskYAML(task)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := config.DecodeTask(f.Name, []byte(f.Data))
	if err != nil {
		t.Fatalf("%v\n%s", err, f.Data)
	}
	if ct.Name != "t1" || ct.ShardMode != "pessimistic" || len(ct.MySQLInstances) != 2 || len(ct.Routes) != 2 || len(ct.Filters) != 1 {
		t.Fatalf("decoded %+v from\n%s", ct, f.Data)
	}
	if m := ct.MySQLInstances[1].Meta; m == nil || m.BinlogName != "bin.000002" || m.BinlogPos != 4 {
		t.Fatalf("meta of mysql-02: %+v\n%s", m, f.Data)
	}
	back := dmTaskOf(ct)
	if back.TargetConfig.Password != "******" || len(back.TableMigrateRule) != 2 || len(back.SourceConfig.SourceConf) != 2 {
		t.Fatalf("task as DM JSON: %+v", back)
	}

	// A rule naming a source the task does not list is refused by name.
	task.SourceConfig.SourceConf = task.SourceConfig.SourceConf[:1]
	if _, err := dmTaskYAML(task); err == nil || !strings.Contains(err.Error(), "mysql-02") {
		t.Fatalf("want an error naming mysql-02, got %v", err)
	}
	// Unknown keys are named.
	if err := decodeJSON([]byte(`{"name":"x","task_moed":"all"}`), &task); err == nil || !strings.Contains(err.Error(), "task_moed") {
		t.Fatalf("want an error naming task_moed, got %v", err)
	}
}

// The task of a create request: DM JSON, YAML text in "task" or
// task_config_file, or a YAML body.
func TestDMTaskFileForms(t *testing.T) {
	yamlText := "name: y\ntask-mode: all\n"
	for name, c := range map[string]struct{ ct, body, want string }{
		"yaml body":        {"application/yaml", yamlText, yamlText},
		"task as text":     {"application/json", `{"task": "name: y\ntask-mode: all\n"}`, yamlText},
		"task_config_file": {"application/json", `{"task_config_file": "name: y\ntask-mode: all\n"}`, yamlText},
	} {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/tasks", strings.NewReader(c.body))
		r.Header.Set("Content-Type", c.ct)
		f, _, err := dmTaskFile(r, []byte(c.body))
		if err != nil || f.Data != c.want {
			t.Errorf("%s: %q, %v", name, f.Data, err)
		}
	}
}

func TestHistoryRing(t *testing.T) {
	h := newHistory(time.Second, 3)
	for i := range 5 {
		h.add("a", HistorySample{Time: time.Unix(int64(i), 0), Sources: []SourceHistoryFigure{{Source: "s", LagSeconds: int64(i)}}})
	}
	h.add("b", HistorySample{})
	got := h.get("a")
	if len(got) != 1 || len(got[0].Samples) != 3 || got[0].Samples[0].Sources[0].LagSeconds != 2 || got[0].Samples[2].Sources[0].LagSeconds != 4 {
		t.Fatalf("ring: %+v", got)
	}
	h.keep(map[string]bool{"b": true})
	if all := h.get(""); len(all) != 1 || all[0].Task != "b" {
		t.Fatalf("after keep: %+v", all)
	}
}
