package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/plan"
)

// TiDB DM's OpenAPI v1 for sources and tasks, on the paths and with the
// payloads DM's dm.yaml gives them, mapped onto the control methods. A DM
// script that creates sources and tasks, starts, stops, reads status and
// deletes runs unchanged where the two agree; docs/http.md lists where
// they do not.
//
// DM's JSON source and task are turned into the DM YAML files dmnode's
// configuration decoders read (core/config), so a JSON request is checked
// exactly as the same YAML file given to the CLI, with the same errors.

// DMSource is DM's source object.
type DMSource struct {
	SourceName   string           `json:"source_name"`
	Host         string           `json:"host"`
	Port         int              `json:"port"`
	User         string           `json:"user"`
	Password     *string          `json:"password,omitempty"`
	EnableGTID   bool             `json:"enable_gtid"`
	Enable       bool             `json:"enable"`
	Flavor       string           `json:"flavor,omitempty"`
	TaskNameList []string         `json:"task_name_list,omitempty"`
	Security     *DMSecurity      `json:"security,omitempty"`
	Purge        json.RawMessage  `json:"purge,omitempty"`
	RelayConfig  json.RawMessage  `json:"relay_config,omitempty"`
	StatusList   []DMSourceStatus `json:"status_list,omitempty"`
}

// DMSecurity is DM's TLS settings object (certificates by content).
type DMSecurity struct {
	SSLCAContent   string   `json:"ssl_ca_content"`
	SSLCertContent string   `json:"ssl_cert_content"`
	SSLKeyContent  string   `json:"ssl_key_content"`
	CertAllowedCN  []string `json:"cert_allowed_cn,omitempty"`
}

// DMSourceStatus is DM's source status: the node that runs its tailer.
type DMSourceStatus struct {
	SourceName string `json:"source_name"`
	WorkerName string `json:"worker_name"`
	ErrorMsg   string `json:"error_msg,omitempty"`
}

// DMCreateSourceRequest is the body of POST /api/v1/sources.
type DMCreateSourceRequest struct {
	Source     DMSource `json:"source"`
	WorkerName string   `json:"worker_name,omitempty"`
}

// DMList is DM's list answer.
type DMList[T any] struct {
	Total int `json:"total"`
	Data  []T `json:"data"`
}

// DMTask is DM's task object.
type DMTask struct {
	Name                      string                        `json:"name"`
	TaskMode                  string                        `json:"task_mode"`
	ShardMode                 string                        `json:"shard_mode,omitempty"`
	StrictOptimisticShardMode bool                          `json:"strict_optimistic_shard_mode,omitempty"`
	MetaSchema                string                        `json:"meta_schema,omitempty"`
	Timezone                  string                        `json:"timezone,omitempty"`
	EnhanceOnlineSchemaChange bool                          `json:"enhance_online_schema_change"`
	OnDuplicate               string                        `json:"on_duplicate"`
	TargetConfig              DMTarget                      `json:"target_config"`
	BinlogFilterRule          map[string]DMBinlogFilterRule `json:"binlog_filter_rule,omitempty"`
	TableMigrateRule          []DMTableMigrateRule          `json:"table_migrate_rule"`
	SourceConfig              DMTaskSourceConfig            `json:"source_config"`
	StatusList                []DMSubTaskStatus             `json:"status_list,omitempty"`
	IgnoreCheckingItems       []string                      `json:"ignore_checking_items,omitempty"`
}

// DMTarget is DM's target database object.
type DMTarget struct {
	Host     string            `json:"host"`
	Port     int               `json:"port"`
	User     string            `json:"user"`
	Password string            `json:"password"`
	Security *DMSecurity       `json:"security,omitempty"`
	Session  map[string]string `json:"session,omitempty"`
}

// DMBinlogFilterRule is DM's binlog filter rule: events and statements to
// ignore, for the tables of the migrate rules that name it.
type DMBinlogFilterRule struct {
	IgnoreEvent []string `json:"ignore_event,omitempty"`
	IgnoreSQL   []string `json:"ignore_sql,omitempty"`
}

// DMTableMigrateRule selects upstream tables of a source and where they go.
type DMTableMigrateRule struct {
	Source struct {
		SourceName string `json:"source_name"`
		Schema     string `json:"schema"`
		Table      string `json:"table,omitempty"`
	} `json:"source"`
	Target *struct {
		Schema string `json:"schema,omitempty"`
		Table  string `json:"table,omitempty"`
	} `json:"target,omitempty"`
	BinlogFilterRule []string `json:"binlog_filter_rule,omitempty"`
}

// DMTaskSourceConfig is DM's per-task source settings.
type DMTaskSourceConfig struct {
	FullMigrateConf *struct {
		ExportThreads int    `json:"export_threads,omitempty"`
		ImportThreads int    `json:"import_threads,omitempty"`
		DataDir       string `json:"data_dir,omitempty"`
		Consistency   string `json:"consistency,omitempty"`
		ImportMode    string `json:"import_mode,omitempty"`
	} `json:"full_migrate_conf,omitempty"`
	IncrMigrateConf *struct {
		ReplThreads int   `json:"repl_threads,omitempty"`
		ReplBatch   int   `json:"repl_batch,omitempty"`
		SafeMode    *bool `json:"safe_mode,omitempty"`
	} `json:"incr_migrate_conf,omitempty"`
	SourceConf []DMTaskSourceConf `json:"source_conf"`
}

// DMTaskSourceConf is a source of the task and where its binlog starts.
type DMTaskSourceConf struct {
	SourceName string `json:"source_name"`
	BinlogName string `json:"binlog_name,omitempty"`
	BinlogPos  uint32 `json:"binlog_pos,omitempty"`
	BinlogGTID string `json:"binlog_gtid,omitempty"`
}

// DMCreateTaskRequest is the body of POST /api/v1/tasks. Task is DM's JSON
// task object or, as dmnode also accepts, the task.yaml text;
// TaskConfigFile is the YAML text under the name DM's converter uses.
type DMCreateTaskRequest struct {
	Task           json.RawMessage `json:"task,omitempty"`
	TaskConfigFile string          `json:"task_config_file,omitempty"`
	RemoveMeta     bool            `json:"remove_meta,omitempty"`
	SourceNameList []string        `json:"source_name_list,omitempty"`
}

// DMOperateTaskResponse answers task creation.
type DMOperateTaskResponse struct {
	Task        DMTask `json:"task"`
	CheckResult string `json:"check_result"`
}

// DMSubTaskStatus is the status of a task on one source.
type DMSubTaskStatus struct {
	Name       string        `json:"name"`
	SourceName string        `json:"source_name"`
	WorkerName string        `json:"worker_name"`
	Stage      string        `json:"stage"` // Running | Paused | Stopped | Finished
	Unit       string        `json:"unit"`  // Dump | Load | Sync
	ErrorMsg   string        `json:"error_msg,omitempty"`
	LoadStatus *DMLoadStatus `json:"load_status,omitempty"`
	SyncStatus *DMSyncStatus `json:"sync_status,omitempty"`
	DumpStatus *DMDumpStatus `json:"dump_status,omitempty"`
}

// DMDumpStatus, DMLoadStatus and DMSyncStatus carry the figures dmnode
// has of DM's; the others are zero.
type DMDumpStatus struct {
	TotalTables       int64   `json:"total_tables"`
	FinishedRows      float64 `json:"finished_rows"`
	EstimateTotalRows float64 `json:"estimate_total_rows"`
	Progress          string  `json:"progress"`
}

type DMLoadStatus struct {
	Progress string `json:"progress"`
	Bps      int64  `json:"bps"`
}

type DMSyncStatus struct {
	MasterBinlog        string `json:"master_binlog"`
	SyncerBinlog        string `json:"syncer_binlog"`
	Synced              bool   `json:"synced"`
	SecondsBehindMaster int64  `json:"seconds_behind_master"`
	RecentTPS           int64  `json:"recent_tps"`
	TotalEvents         int64  `json:"total_events"`
}

// DMStartTaskRequest and DMStopTaskRequest are the optional bodies of
// start and stop; dmnode acts on the whole task.
type DMStartTaskRequest struct {
	RemoveMeta           bool     `json:"remove_meta,omitempty"`
	SourceNameList       []string `json:"source_name_list,omitempty"`
	StartTime            string   `json:"start_time,omitempty"`
	SafeModeTimeDuration string   `json:"safe_mode_time_duration,omitempty"`
}

type DMStopTaskRequest struct {
	TimeoutDuration string   `json:"timeout_duration,omitempty"`
	SourceNameList  []string `json:"source_name_list,omitempty"`
}

func (a *httpAPI) dmRoutes() []apiRoute {
	return []apiRoute{
		{Method: http.MethodPost, Path: "/api/v1/sources", Tag: "source", Summary: "create a source (DM)",
			Body: DMCreateSourceRequest{}, Resp: DMSource{}, Status: http.StatusCreated, serve: a.dmCreateSource},
		{Method: http.MethodGet, Path: "/api/v1/sources", Tag: "source", Summary: "list the sources (DM)", Query: []string{"with_status"},
			Resp: DMList[DMSource]{}, Status: http.StatusOK, serve: a.dmListSources},
		{Method: http.MethodGet, Path: "/api/v1/sources/{source-name}", Tag: "source", Summary: "get a source (DM)", Query: []string{"with_status"},
			Resp: DMSource{}, Status: http.StatusOK, serve: a.dmGetSource},
		{Method: http.MethodDelete, Path: "/api/v1/sources/{source-name}", Tag: "source", Summary: "delete a source (DM); refused while a task uses it",
			Query: []string{"force"}, Status: http.StatusNoContent, serve: a.dmDeleteSource},
		{Method: http.MethodPost, Path: "/api/v1/tasks", Tag: "task", Summary: "create and start a task (DM): the task as DM's JSON object, or its task.yaml text in task or task_config_file, or a YAML body",
			Body: DMCreateTaskRequest{}, BodyText: true, Resp: DMOperateTaskResponse{}, Status: http.StatusCreated, serve: a.dmCreateTask},
		{Method: http.MethodGet, Path: "/api/v1/tasks", Tag: "task", Summary: "list the tasks (DM)", Query: []string{"with_status", "stage", "source_name_list"},
			Resp: DMList[DMTask]{}, Status: http.StatusOK, serve: a.dmListTasks},
		{Method: http.MethodGet, Path: "/api/v1/tasks/{task-name}", Tag: "task", Summary: "get a task (DM)", Query: []string{"with_status"},
			Resp: DMTask{}, Status: http.StatusOK, serve: a.dmGetTask},
		{Method: http.MethodDelete, Path: "/api/v1/tasks/{task-name}", Tag: "task", Summary: "delete a task (DM): force stops a running one first; its checkpoints go unless keep_meta",
			Query: []string{"force", "keep_meta"}, Status: http.StatusNoContent, serve: a.dmDeleteTask},
		{Method: http.MethodPost, Path: "/api/v1/tasks/{task-name}/start", Tag: "task", Summary: "start (resume) a task (DM)",
			Body: DMStartTaskRequest{}, Status: http.StatusOK, serve: a.dmStartTask},
		{Method: http.MethodPost, Path: "/api/v1/tasks/{task-name}/stop", Tag: "task", Summary: "stop a task, keeping its checkpoints (DM)",
			Body: DMStopTaskRequest{}, Status: http.StatusOK, serve: a.dmStopTask},
		{Method: http.MethodGet, Path: "/api/v1/tasks/{task-name}/status", Tag: "task", Summary: "the task's status per source (DM); source_name_list selects sources",
			Query: []string{"source_name_list"}, Resp: DMList[DMSubTaskStatus]{}, Status: http.StatusOK, serve: a.dmTaskStatus},
		{Method: http.MethodGet, Path: "/api/v1/tasks/{task-name}/sources", Tag: "task", Summary: "the task's sources (dmnode; DM lists them in the task's source_config)",
			Resp: DMList[DMSource]{}, Status: http.StatusOK, serve: a.dmTaskSources},
		{Method: http.MethodPost, Path: "/api/v1/tasks/converters", Tag: "task", Summary: "turn a JSON task into its task.yaml text (DM)",
			Body: DMCreateTaskRequest{}, Resp: map[string]string{}, Status: http.StatusCreated, serve: a.dmConvertTask},
	}
}

// dmFail answers a failed DM call with DM's error object.
func dmFail(w http.ResponseWriter, status int, msg string) { writeError(w, status, msg) }

func (a *httpAPI) dmCreateSource(w http.ResponseWriter, r *http.Request) {
	data, err := readBody(r)
	var req DMCreateSourceRequest
	if err == nil {
		err = decodeJSON(data, &req)
	}
	if err != nil {
		dmFail(w, http.StatusBadRequest, err.Error())
		return
	}
	file, err := dmSourceYAML(req.Source)
	if err != nil {
		dmFail(w, http.StatusBadRequest, err.Error())
		return
	}
	resp, status := a.call(r.Context(), "source.add", &Request{Files: []File{file}})
	if status != http.StatusOK {
		dmFail(w, status, resp.Error)
		return
	}
	out := req.Source
	out.Password, out.Security, out.Enable = nil, nil, true
	writeJSON(w, http.StatusCreated, out)
}

// dmSourceYAML writes DM's JSON source as a DM source file.
func dmSourceYAML(s DMSource) (File, error) {
	if s.SourceName == "" {
		return File{}, fmt.Errorf("source: source_name is required")
	}
	from := map[string]any{"host": s.Host, "port": s.Port, "user": s.User}
	if s.Password != nil {
		from["password"] = *s.Password
	}
	if s.Security != nil {
		return File{}, fmt.Errorf("source %s: security: give TLS settings in a source file (dmnode source add), not as certificate contents", s.SourceName)
	}
	doc := yaml.MapSlice{{Key: "source-id", Value: s.SourceName}, {Key: "enable-gtid", Value: s.EnableGTID}}
	if s.Flavor != "" {
		doc = append(doc, yaml.MapItem{Key: "flavor", Value: s.Flavor})
	}
	doc = append(doc, yaml.MapItem{Key: "from", Value: yaml.MapSlice{
		{Key: "host", Value: from["host"]}, {Key: "port", Value: from["port"]}, {Key: "user", Value: from["user"]}, {Key: "password", Value: from["password"]},
	}})
	out, err := yaml.Marshal(doc)
	if err != nil {
		return File{}, err
	}
	return File{Name: "source " + s.SourceName + " (POST /api/v1/sources)", Data: string(out)}, nil
}

func (a *httpAPI) dmSources(r *http.Request) ([]DMSource, *Response, int) {
	resp, status := a.call(r.Context(), "source.list", &Request{})
	if status != http.StatusOK {
		return nil, resp, status
	}
	withStatus := r.URL.Query().Get("with_status") == "true"
	st := a.n.fsm.State()
	out := []DMSource{}
	for _, s := range resp.Sources {
		host, port, _ := net.SplitHostPort(s.Address)
		p, _ := strconv.Atoi(port)
		d := DMSource{SourceName: s.ID, Host: host, Port: p, User: s.User, EnableGTID: s.EnableGTID, Enable: true, Flavor: s.Flavor, TaskNameList: s.Tasks}
		if withStatus {
			d.StatusList = []DMSourceStatus{{SourceName: s.ID, WorkerName: st.Assign["tail/"+s.ID].Node}}
		}
		out = append(out, d)
	}
	return out, resp, http.StatusOK
}

func (a *httpAPI) dmListSources(w http.ResponseWriter, r *http.Request) {
	srcs, resp, status := a.dmSources(r)
	if status != http.StatusOK {
		dmFail(w, status, resp.Error)
		return
	}
	writeJSON(w, http.StatusOK, DMList[DMSource]{Total: len(srcs), Data: srcs})
}

func (a *httpAPI) dmGetSource(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("source_name")
	srcs, resp, status := a.dmSources(r)
	if status != http.StatusOK {
		dmFail(w, status, resp.Error)
		return
	}
	for _, s := range srcs {
		if s.SourceName == name {
			writeJSON(w, http.StatusOK, s)
			return
		}
	}
	dmFail(w, http.StatusNotFound, "source "+name+" not found")
}

func (a *httpAPI) dmDeleteSource(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("source_name")
	if _, ok := a.n.fsm.State().Sources[name]; !ok {
		dmFail(w, http.StatusNotFound, "source "+name+" not found")
		return
	}
	resp, status := a.call(r.Context(), "source.remove", &Request{Name: name})
	if status != http.StatusOK {
		dmFail(w, status, resp.Error)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// dmTaskFile reads the task of a create request: DM's JSON object, or the
// task.yaml text (in "task" as a string, in task_config_file, or as the
// whole body when it is not JSON).
func dmTaskFile(r *http.Request, data []byte) (File, bool, error) {
	ct := r.Header.Get("Content-Type")
	trimmed := bytes.TrimSpace(data)
	if strings.Contains(ct, "yaml") || strings.HasPrefix(ct, "text/") || (len(trimmed) > 0 && trimmed[0] != '{') {
		return File{Name: "task.yaml (POST /api/v1/tasks)", Data: string(data)}, false, nil
	}
	var req DMCreateTaskRequest
	if err := decodeJSON(data, &req); err != nil {
		return File{}, false, err
	}
	if req.TaskConfigFile != "" {
		return File{Name: "task_config_file (POST /api/v1/tasks)", Data: req.TaskConfigFile}, req.RemoveMeta, nil
	}
	if len(req.Task) == 0 {
		return File{}, false, fmt.Errorf("request body: give task (DM's JSON task, or the task.yaml text) or task_config_file")
	}
	var text string
	if err := json.Unmarshal(req.Task, &text); err == nil {
		return File{Name: "task (POST /api/v1/tasks)", Data: text}, req.RemoveMeta, nil
	}
	var t DMTask
	if err := decodeJSON(req.Task, &t); err != nil {
		return File{}, false, fmt.Errorf("task: %w", err)
	}
	f, err := dmTaskYAML(t)
	return f, req.RemoveMeta, err
}

// dmTaskYAML writes DM's JSON task as a DM task file: each table migrate
// rule becomes a block-allow-list entry of its source, a route when it
// names a target, and a filter per binlog filter rule it names.
func dmTaskYAML(t DMTask) (File, error) {
	if t.Name == "" {
		return File{}, fmt.Errorf("task: name is required")
	}
	name := "task " + t.Name + " (JSON of POST /api/v1/tasks)"
	doc := yaml.MapSlice{{Key: "name", Value: t.Name}, {Key: "task-mode", Value: t.TaskMode}}
	if t.ShardMode != "" {
		doc = append(doc, yaml.MapItem{Key: "shard-mode", Value: t.ShardMode})
	}
	if t.StrictOptimisticShardMode {
		doc = append(doc, yaml.MapItem{Key: "strict-optimistic-shard-mode", Value: true})
	}
	if t.MetaSchema != "" {
		doc = append(doc, yaml.MapItem{Key: "meta-schema", Value: t.MetaSchema})
	}
	if t.Timezone != "" {
		doc = append(doc, yaml.MapItem{Key: "timezone", Value: t.Timezone})
	}
	if t.EnhanceOnlineSchemaChange {
		doc = append(doc, yaml.MapItem{Key: "online-ddl", Value: true})
	}
	if len(t.IgnoreCheckingItems) > 0 {
		doc = append(doc, yaml.MapItem{Key: "ignore-checking-items", Value: t.IgnoreCheckingItems})
	}
	if t.TargetConfig.Security != nil {
		return File{}, fmt.Errorf("%s: target_config.security: give TLS settings in a task file, not as certificate contents", name)
	}
	target := yaml.MapSlice{{Key: "host", Value: t.TargetConfig.Host}, {Key: "port", Value: t.TargetConfig.Port},
		{Key: "user", Value: t.TargetConfig.User}, {Key: "password", Value: t.TargetConfig.Password}}
	if len(t.TargetConfig.Session) > 0 {
		target = append(target, yaml.MapItem{Key: "session", Value: t.TargetConfig.Session})
	}
	doc = append(doc, yaml.MapItem{Key: "target-database", Value: target})

	type perSource struct {
		ba      yaml.MapSlice
		dbs     []string
		tables  []yaml.MapSlice
		routes  []string
		filters []string
	}
	bySource := map[string]*perSource{}
	var routes, filters, baList yaml.MapSlice
	for i, rule := range t.TableMigrateRule {
		src := rule.Source.SourceName
		if src == "" {
			return File{}, fmt.Errorf("%s: table_migrate_rule[%d].source.source_name is required", name, i)
		}
		ps := bySource[src]
		if ps == nil {
			ps = &perSource{}
			bySource[src] = ps
		}
		tbl := rule.Source.Table
		if tbl == "" {
			ps.dbs = append(ps.dbs, rule.Source.Schema)
			tbl = "*"
		} else {
			ps.tables = append(ps.tables, yaml.MapSlice{{Key: "db-name", Value: rule.Source.Schema}, {Key: "tbl-name", Value: tbl}})
		}
		if rule.Target != nil && (rule.Target.Schema != "" || rule.Target.Table != "") {
			id := fmt.Sprintf("rule-%d", i+1)
			rt := yaml.MapSlice{{Key: "schema-pattern", Value: rule.Source.Schema}}
			if rule.Source.Table != "" {
				rt = append(rt, yaml.MapItem{Key: "table-pattern", Value: rule.Source.Table})
			}
			rt = append(rt, yaml.MapItem{Key: "target-schema", Value: rule.Target.Schema})
			if rule.Target.Table != "" {
				rt = append(rt, yaml.MapItem{Key: "target-table", Value: rule.Target.Table})
			}
			routes = append(routes, yaml.MapItem{Key: id, Value: rt})
			ps.routes = append(ps.routes, id)
		}
		for _, fname := range rule.BinlogFilterRule {
			f, ok := t.BinlogFilterRule[fname]
			if !ok {
				return File{}, fmt.Errorf("%s: table_migrate_rule[%d].binlog_filter_rule: %q is not in binlog_filter_rule", name, i, fname)
			}
			id := fmt.Sprintf("%s-rule-%d", fname, i+1)
			fr := yaml.MapSlice{{Key: "schema-pattern", Value: rule.Source.Schema}}
			if rule.Source.Table != "" {
				fr = append(fr, yaml.MapItem{Key: "table-pattern", Value: rule.Source.Table})
			}
			if len(f.IgnoreEvent) > 0 {
				fr = append(fr, yaml.MapItem{Key: "events", Value: f.IgnoreEvent})
			}
			if len(f.IgnoreSQL) > 0 {
				fr = append(fr, yaml.MapItem{Key: "sql-pattern", Value: f.IgnoreSQL})
			}
			fr = append(fr, yaml.MapItem{Key: "action", Value: "Ignore"})
			filters = append(filters, yaml.MapItem{Key: id, Value: fr})
			ps.filters = append(ps.filters, id)
		}
	}
	if len(t.SourceConfig.SourceConf) == 0 {
		return File{}, fmt.Errorf("%s: source_config.source_conf: name at least one source", name)
	}
	var instances []yaml.MapSlice
	for i, sc := range t.SourceConfig.SourceConf {
		if sc.SourceName == "" {
			return File{}, fmt.Errorf("%s: source_config.source_conf[%d].source_name is required", name, i)
		}
		inst := yaml.MapSlice{{Key: "source-id", Value: sc.SourceName}}
		if sc.BinlogName != "" || sc.BinlogGTID != "" {
			meta := yaml.MapSlice{}
			if sc.BinlogName != "" {
				meta = append(meta, yaml.MapItem{Key: "binlog-name", Value: sc.BinlogName}, yaml.MapItem{Key: "binlog-pos", Value: sc.BinlogPos})
			}
			if sc.BinlogGTID != "" {
				meta = append(meta, yaml.MapItem{Key: "binlog-gtid", Value: sc.BinlogGTID})
			}
			inst = append(inst, yaml.MapItem{Key: "meta", Value: meta})
		}
		if ps := bySource[sc.SourceName]; ps != nil {
			id := "source-" + sc.SourceName
			rule := yaml.MapSlice{}
			if len(ps.dbs) > 0 {
				rule = append(rule, yaml.MapItem{Key: "do-dbs", Value: ps.dbs})
			}
			if len(ps.tables) > 0 {
				rule = append(rule, yaml.MapItem{Key: "do-tables", Value: ps.tables})
			}
			baList = append(baList, yaml.MapItem{Key: id, Value: rule})
			inst = append(inst, yaml.MapItem{Key: "block-allow-list", Value: id})
			if len(ps.routes) > 0 {
				inst = append(inst, yaml.MapItem{Key: "route-rules", Value: ps.routes})
			}
			if len(ps.filters) > 0 {
				inst = append(inst, yaml.MapItem{Key: "filter-rules", Value: ps.filters})
			}
		}
		inst = append(inst, yaml.MapItem{Key: "mydumper-config-name", Value: "global"},
			yaml.MapItem{Key: "loader-config-name", Value: "global"}, yaml.MapItem{Key: "syncer-config-name", Value: "global"})
		instances = append(instances, inst)
	}
	for src := range bySource {
		if !slices.ContainsFunc(t.SourceConfig.SourceConf, func(sc DMTaskSourceConf) bool { return sc.SourceName == src }) {
			return File{}, fmt.Errorf("%s: table_migrate_rule names source %s, which is not in source_config.source_conf", name, src)
		}
	}
	doc = append(doc, yaml.MapItem{Key: "mysql-instances", Value: instances})
	if len(baList) > 0 {
		doc = append(doc, yaml.MapItem{Key: "block-allow-list", Value: baList})
	}
	if len(routes) > 0 {
		doc = append(doc, yaml.MapItem{Key: "routes", Value: routes})
	}
	if len(filters) > 0 {
		doc = append(doc, yaml.MapItem{Key: "filters", Value: filters})
	}
	dumper, loader, syncer := yaml.MapSlice{}, yaml.MapSlice{}, yaml.MapSlice{}
	if f := t.SourceConfig.FullMigrateConf; f != nil {
		if f.ExportThreads > 0 {
			dumper = append(dumper, yaml.MapItem{Key: "threads", Value: f.ExportThreads})
		}
		if f.ImportThreads > 0 {
			loader = append(loader, yaml.MapItem{Key: "pool-size", Value: f.ImportThreads})
		}
		if f.DataDir != "" {
			loader = append(loader, yaml.MapItem{Key: "dir", Value: f.DataDir})
		}
		if f.ImportMode != "" {
			loader = append(loader, yaml.MapItem{Key: "import-mode", Value: f.ImportMode})
		}
	}
	if t.OnDuplicate != "" {
		loader = append(loader, yaml.MapItem{Key: "on-duplicate-logical", Value: t.OnDuplicate})
	}
	if c := t.SourceConfig.IncrMigrateConf; c != nil {
		if c.ReplThreads > 0 {
			syncer = append(syncer, yaml.MapItem{Key: "worker-count", Value: c.ReplThreads})
		}
		if c.ReplBatch > 0 {
			syncer = append(syncer, yaml.MapItem{Key: "batch", Value: c.ReplBatch})
		}
		if c.SafeMode != nil {
			syncer = append(syncer, yaml.MapItem{Key: "safe-mode", Value: *c.SafeMode})
		}
	}
	doc = append(doc,
		yaml.MapItem{Key: "mydumpers", Value: yaml.MapSlice{{Key: "global", Value: dumper}}},
		yaml.MapItem{Key: "loaders", Value: yaml.MapSlice{{Key: "global", Value: loader}}},
		yaml.MapItem{Key: "syncers", Value: yaml.MapSlice{{Key: "global", Value: syncer}}})
	out, err := yaml.Marshal(doc)
	if err != nil {
		return File{}, err
	}
	return File{Name: name, Data: string(out)}, nil
}

func (a *httpAPI) dmCreateTask(w http.ResponseWriter, r *http.Request) {
	data, err := readBody(r)
	var file File
	var removeMeta bool
	if err == nil {
		file, removeMeta, err = dmTaskFile(r, data)
	}
	if err != nil {
		dmFail(w, http.StatusBadRequest, err.Error())
		return
	}
	resp, status := a.call(r.Context(), "task.submit", &Request{Files: []File{file}, RemoveMeta: removeMeta})
	if status != http.StatusOK {
		writeJSON(w, status, apiError{Error: resp.Error, ErrorMsg: resp.Error, Code: status, Response: resp})
		return
	}
	p, err := plan.Decode(file.Name, []byte(file.Data))
	if err != nil {
		dmFail(w, http.StatusInternalServerError, err.Error())
		return
	}
	var check []string
	for _, f := range resp.Findings {
		check = append(check, f.String())
	}
	if len(check) == 0 {
		check = append(check, "pre-check is passed.")
	}
	writeJSON(w, http.StatusCreated, DMOperateTaskResponse{Task: dmTaskOf(p.Task), CheckResult: strings.Join(check, "\n")})
}

func (a *httpAPI) dmConvertTask(w http.ResponseWriter, r *http.Request) {
	data, err := readBody(r)
	var file File
	if err == nil {
		file, _, err = dmTaskFile(r, data)
	}
	var p *plan.Plan
	if err == nil {
		p, err = plan.Decode(file.Name, []byte(file.Data))
	}
	if err != nil {
		dmFail(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"task": dmTaskOf(p.Task), "task_config_file": file.Data})
}

// dmTaskOf describes a decoded task as DM's JSON task; the target's
// password is never shown.
func dmTaskOf(t *config.Task) DMTask {
	d := DMTask{
		Name: t.Name, TaskMode: t.TaskMode, ShardMode: t.ShardMode, StrictOptimisticShardMode: t.StrictOptimisticShardMode,
		MetaSchema: t.MetaSchema, Timezone: t.Timezone, EnhanceOnlineSchemaChange: t.OnlineDDL, OnDuplicate: "replace",
		TargetConfig:        DMTarget{Host: t.TargetDatabase.Host, Port: t.TargetDatabase.Port, User: t.TargetDatabase.User, Password: "******"},
		IgnoreCheckingItems: t.IgnoreCheckingItems,
		TableMigrateRule:    []DMTableMigrateRule{},
	}
	for _, inst := range t.MySQLInstances {
		sc := DMTaskSourceConf{SourceName: inst.SourceID}
		if inst.Meta != nil {
			sc.BinlogName, sc.BinlogPos, sc.BinlogGTID = inst.Meta.BinlogName, inst.Meta.BinlogPos, inst.Meta.BinlogGTID
		}
		d.SourceConfig.SourceConf = append(d.SourceConfig.SourceConf, sc)
		for _, id := range inst.RouteRules {
			rt := t.Routes[id]
			if rt == nil {
				continue
			}
			var m DMTableMigrateRule
			m.Source.SourceName, m.Source.Schema, m.Source.Table = inst.SourceID, rt.SchemaPattern, rt.TablePattern
			m.Target = &struct {
				Schema string `json:"schema,omitempty"`
				Table  string `json:"table,omitempty"`
			}{rt.TargetSchema, rt.TargetTable}
			d.TableMigrateRule = append(d.TableMigrateRule, m)
		}
		if len(inst.RouteRules) == 0 {
			if ba := t.BAList[inst.BAListName]; ba != nil {
				for _, db := range ba.DoDBs {
					var m DMTableMigrateRule
					m.Source.SourceName, m.Source.Schema = inst.SourceID, db
					d.TableMigrateRule = append(d.TableMigrateRule, m)
				}
				for _, tb := range ba.DoTables {
					var m DMTableMigrateRule
					m.Source.SourceName, m.Source.Schema, m.Source.Table = inst.SourceID, tb.DBName, tb.TblName
					d.TableMigrateRule = append(d.TableMigrateRule, m)
				}
			}
		}
	}
	return d
}

// dmTask reads one task of the catalog as DM's JSON task.
func (a *httpAPI) dmTask(t *catalog.Task) (DMTask, error) {
	p, err := plan.Of(t)
	if err != nil {
		return DMTask{}, err
	}
	return dmTaskOf(p.Task), nil
}

func (a *httpAPI) dmListTasks(w http.ResponseWriter, r *http.Request) {
	resp, status := a.call(r.Context(), "task.list", &Request{})
	if status != http.StatusOK {
		dmFail(w, status, resp.Error)
		return
	}
	q := r.URL.Query()
	withStatus := q.Get("with_status") == "true"
	stage := q.Get("stage")
	srcFilter := q["source_name_list"]
	st := a.n.fsm.State()
	out := []DMTask{}
	for _, ts := range resp.Tasks {
		t := st.Tasks[ts.Name]
		if t == nil {
			continue
		}
		d, err := a.dmTask(t)
		if err != nil {
			dmFail(w, http.StatusInternalServerError, err.Error())
			return
		}
		subs := dmSubTasks(st, ts, nil)
		if stage != "" && !slices.ContainsFunc(subs, func(s DMSubTaskStatus) bool { return s.Stage == stage }) {
			continue
		}
		if len(srcFilter) > 0 && !slices.ContainsFunc(ts.Sources, func(s SourceStatus) bool { return slices.Contains(srcFilter, s.Source) }) {
			continue
		}
		if withStatus {
			d.StatusList = subs
		}
		out = append(out, d)
	}
	writeJSON(w, http.StatusOK, DMList[DMTask]{Total: len(out), Data: out})
}

func (a *httpAPI) dmGetTask(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("task_name")
	resp, status := a.call(r.Context(), "task.status", &Request{Name: name})
	if status != http.StatusOK {
		dmFail(w, status, resp.Error)
		return
	}
	st := a.n.fsm.State()
	t := st.Tasks[name]
	if t == nil || len(resp.Tasks) != 1 {
		dmFail(w, http.StatusNotFound, "task "+name+" not found")
		return
	}
	d, err := a.dmTask(t)
	if err != nil {
		dmFail(w, http.StatusInternalServerError, err.Error())
		return
	}
	if r.URL.Query().Get("with_status") == "true" {
		d.StatusList = dmSubTasks(st, resp.Tasks[0], nil)
	}
	writeJSON(w, http.StatusOK, d)
}

// dmSubTasks describes a task's status per source in DM's terms.
func dmSubTasks(st *catalog.State, ts TaskStatus, only []string) []DMSubTaskStatus {
	out := []DMSubTaskStatus{}
	for _, s := range ts.Sources {
		if len(only) > 0 && !slices.Contains(only, s.Source) {
			continue
		}
		d := DMSubTaskStatus{Name: ts.Name, SourceName: s.Source, ErrorMsg: s.LastError}
		for _, kind := range []string{"apply", "load", "dump"} {
			if as, ok := st.Assign[kind+"/"+ts.Name+"/"+s.Source]; ok {
				d.WorkerName = as.Node
				break
			}
		}
		switch {
		case ts.State == catalog.Paused || s.Stage == "error":
			d.Stage = "Paused"
		case ts.State == catalog.Stopped:
			d.Stage = "Stopped"
		case s.Stage == "done":
			d.Stage = "Finished"
		default:
			d.Stage = "Running"
		}
		switch s.Stage {
		case "dump":
			d.Unit = "Dump"
		case "load", "done":
			d.Unit = "Load"
		default:
			d.Unit = "Sync"
		}
		if s.Stage == "dump" || s.Stage == "load" {
			d.DumpStatus = &DMDumpStatus{TotalTables: int64(s.TablesTotal), FinishedRows: float64(s.RowsDumped), EstimateTotalRows: float64(s.RowsEstimated), Progress: fmt.Sprintf("%.2f %%", s.Percent)}
			d.LoadStatus = &DMLoadStatus{Progress: fmt.Sprintf("%.2f %%", s.Percent)}
		}
		if d.Unit == "Sync" {
			d.SyncStatus = &DMSyncStatus{MasterBinlog: s.Upstream, SyncerBinlog: s.Applied, Synced: s.Upstream != "" && s.Upstream == s.Applied,
				SecondsBehindMaster: s.LagSeconds, RecentTPS: int64(s.RowsPerSecond), TotalEvents: s.RowsInserted + s.RowsUpdated + s.RowsDeleted}
		}
		out = append(out, d)
	}
	return out
}

func (a *httpAPI) dmDeleteTask(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("task_name")
	q := r.URL.Query()
	t := a.n.fsm.State().Tasks[name]
	if t == nil {
		dmFail(w, http.StatusNotFound, "task "+name+" not found")
		return
	}
	if q.Get("force") == "true" && t.Desired != catalog.Stopped {
		if resp, status := a.call(r.Context(), "task.stop", &Request{Name: name}); status != http.StatusOK {
			dmFail(w, status, resp.Error)
			return
		}
	}
	resp, status := a.call(r.Context(), "task.delete", &Request{Name: name, Purge: q.Get("keep_meta") != "true"})
	if status != http.StatusOK {
		dmFail(w, status, resp.Error)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// dmLifecycle serves start (resume) and stop: dmnode acts on the whole
// task, so a source_name_list other than all the task's sources is refused.
func (a *httpAPI) dmLifecycle(w http.ResponseWriter, r *http.Request, method string, sources []string) {
	name := r.PathValue("task_name")
	t := a.n.fsm.State().Tasks[name]
	if t == nil {
		dmFail(w, http.StatusNotFound, "task "+name+" not found")
		return
	}
	if len(sources) > 0 && !slices.Equal(slices.Sorted(slices.Values(sources)), t.SortedSources()) {
		dmFail(w, http.StatusBadRequest, fmt.Sprintf("source_name_list: dmnode starts and stops task %s on all its sources (%s) at once", name, strings.Join(t.SortedSources(), ", ")))
		return
	}
	resp, status := a.call(r.Context(), method, &Request{Name: name})
	if status != http.StatusOK {
		dmFail(w, status, resp.Error)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (a *httpAPI) dmStartTask(w http.ResponseWriter, r *http.Request) {
	data, err := readBody(r)
	var req DMStartTaskRequest
	if err == nil {
		err = decodeJSON(data, &req)
	}
	if err == nil && (req.StartTime != "" || req.SafeModeTimeDuration != "") {
		err = fmt.Errorf("start_time and safe_mode_time_duration: dmnode resumes a task from its checkpoints only")
	}
	if err != nil {
		dmFail(w, http.StatusBadRequest, err.Error())
		return
	}
	a.dmLifecycle(w, r, "task.resume", req.SourceNameList)
}

func (a *httpAPI) dmStopTask(w http.ResponseWriter, r *http.Request) {
	data, err := readBody(r)
	var req DMStopTaskRequest
	if err == nil {
		err = decodeJSON(data, &req)
	}
	if err != nil {
		dmFail(w, http.StatusBadRequest, err.Error())
		return
	}
	a.dmLifecycle(w, r, "task.stop", req.SourceNameList)
}

func (a *httpAPI) dmTaskStatus(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("task_name")
	resp, status := a.call(r.Context(), "task.status", &Request{Name: name})
	if status != http.StatusOK {
		dmFail(w, status, resp.Error)
		return
	}
	subs := dmSubTasks(a.n.fsm.State(), resp.Tasks[0], r.URL.Query()["source_name_list"])
	writeJSON(w, http.StatusOK, DMList[DMSubTaskStatus]{Total: len(subs), Data: subs})
}

func (a *httpAPI) dmTaskSources(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("task_name")
	t := a.n.fsm.State().Tasks[name]
	if t == nil {
		dmFail(w, http.StatusNotFound, "task "+name+" not found")
		return
	}
	srcs, resp, status := a.dmSources(r)
	if status != http.StatusOK {
		dmFail(w, status, resp.Error)
		return
	}
	out := []DMSource{}
	for _, s := range srcs {
		if _, ok := t.Sources[s.SourceName]; ok {
			out = append(out, s)
		}
	}
	writeJSON(w, http.StatusOK, DMList[DMSource]{Total: len(out), Data: out})
}
