package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// taskWarningCases covers the warnings DecodeTask gives beyond those of
// the files in testdata.
var taskWarningCases = []fileCase{
	{"deprecated task keys", task(strings.Join([]string{
		"enable-heartbeat: true",
		"heartbeat-update-interval: 1",
		"heartbeat-report-interval: 10",
		"remove-meta: false",
		"ansi-quotes: false",
		"",
	}, "\n")), []string{
		"task.yaml:8:1: enable-heartbeat: ignored: " + whyDeprecated,
		"task.yaml:9:1: heartbeat-update-interval: ignored: " + whyDeprecated,
		"task.yaml:10:1: heartbeat-report-interval: ignored: " + whyDeprecated,
		"task.yaml:11:1: remove-meta: ignored: deprecated in DM, replaced by start-task --remove-meta",
		"task.yaml:12:1: ansi-quotes: ignored: " + whyDeprecated,
	}},
	{"unit keys", task(strings.Join([]string{
		"    mydumper: {mydumper-path: ./bin/mydumper}",
		"    loader:",
		"      sorting-dir-physical: /tmp/sort",
		"      on-duplicate-physical: none",
		"      disk-quota-physical: 10GB",
		"      checksum-physical: required",
		"      analyze: optional",
		"      range-concurrency: 16",
		"      compress-kv-pairs: gzip",
		"      pd-addr: 127.0.0.1:2379",
		"    syncer:",
		"      meta-file: syncer.meta",
		"      max-retry: 100",
		"      enable-gtid: true",
		"      auto-fix-gtid: true",
		"      disable-detect: true",
		"      enable-ansi-quotes: true",
		"",
	}, "\n")), []string{
		"task.yaml:8:16: mysql-instances[0].mydumper.mydumper-path: ignored: dmnode has its own dumper",
		"task.yaml:10:7: mysql-instances[0].loader.sorting-dir-physical: ignored: " + whyPhysical,
		"task.yaml:11:7: mysql-instances[0].loader.on-duplicate-physical: ignored: " + whyPhysical,
		"task.yaml:12:7: mysql-instances[0].loader.disk-quota-physical: ignored: " + whyPhysical,
		"task.yaml:13:7: mysql-instances[0].loader.checksum-physical: ignored: " + whyPhysical,
		"task.yaml:14:7: mysql-instances[0].loader.analyze: ignored: dmnode does not analyze tables after the load",
		"task.yaml:15:7: mysql-instances[0].loader.range-concurrency: ignored: " + whyPhysical,
		"task.yaml:16:7: mysql-instances[0].loader.compress-kv-pairs: ignored: " + whyPhysical,
		"task.yaml:17:7: mysql-instances[0].loader.pd-addr: ignored: " + whyPhysical,
		"task.yaml:19:7: mysql-instances[0].syncer.meta-file: ignored: only used by DM's standalone syncer",
		"task.yaml:20:7: mysql-instances[0].syncer.max-retry: ignored: " + whyDeprecated,
		"task.yaml:21:7: mysql-instances[0].syncer.enable-gtid: ignored: deprecated in DM: the source's enable-gtid decides",
		"task.yaml:22:7: mysql-instances[0].syncer.auto-fix-gtid: ignored: " + whyDeprecated,
		"task.yaml:23:7: mysql-instances[0].syncer.disable-detect: ignored: " + whyDeprecated,
		"task.yaml:24:7: mysql-instances[0].syncer.enable-ansi-quotes: ignored: " + whyDeprecated,
	}},
	{"create-table-query", task("    column-mapping-rules: [c]\ncolumn-mappings:\n" +
		"  c: {schema-pattern: a, target-column: b, expression: add suffix, arguments: [x], create-table-query: x}\n"), []string{
		"task.yaml:10:84: column-mappings.c.create-table-query: ignored: unused by DM as well",
	}},
	{"meta in task-mode all", task("    meta: {binlog-name: mysql-bin.000003, binlog-pos: 4}\n"), []string{
		"task.yaml:8:5: mysql-instances[0].meta: ignored in task-mode all: the dump's position is used",
	}},
	{"meta in task-mode full", strings.Replace(baseTask, "task-mode: all", "task-mode: full", 1) +
		"    meta: {binlog-gtid: \"3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5\"}\n", []string{
		"task.yaml:8:5: mysql-instances[0].meta: ignored in task-mode full: it replicates no binlog",
	}},
	{"filters", task(strings.Join([]string{
		"    filter-rules: [f1, f2, f3]",
		"filters:",
		"  f1: {schema-pattern: s, events: [create view, \"recover table\", \"Multi Schema Change\"], action: Ignore}",
		"  f2: {schema-pattern: s, action: Do}",
		"  f3: {schema-pattern: s, action: Error}",
		"online-ddl: false",
		"shadow-table-rules: [\"^_(.+)_gho$\"]",
		"",
	}, "\n")), []string{
		"task.yaml:10:36: filters.f1.events[0]: never matches: view statements are always skipped, as in DM",
		"task.yaml:10:49: filters.f1.events[1]: never matches: it names a TiDB statement, which MySQL and MariaDB do not log",
		"task.yaml:10:66: filters.f1.events[2]: never matches: dmnode classifies each part of an ALTER TABLE separately",
		"task.yaml:11:27: filters.f2.action: Do without events skips every event of the tables the rule covers, as in DM",
		"task.yaml:12:3: filters.f3: matches nothing: it has neither events nor sql-pattern",
		"task.yaml:14:1: shadow-table-rules: ignored: online-ddl is false",
	}},
	{"filters in task-mode full", strings.Replace(baseTask, "task-mode: all", "task-mode: full", 1) + strings.Join([]string{
		"    filter-rules: [f1]",
		"    expression-filters: [e1]",
		"filters:",
		"  f1: {schema-pattern: s, events: [insert], action: Ignore}",
		"expression-filter:",
		"  e1: {schema: s, table: t, insert-value-expr: \"a > 1\"}",
		"online-ddl-scheme: pt",
		"",
	}, "\n"), []string{
		"task.yaml:8:5: mysql-instances[0].filter-rules: ignored in task-mode full: filters apply to the binlog only, as in DM",
		"task.yaml:9:5: mysql-instances[0].expression-filters: ignored in task-mode full: filters apply to the binlog only, as in DM",
		"task.yaml:14:1: online-ddl-scheme: deprecated in DM: write online-ddl: true, which recognises both tools",
	}},
}

func TestTaskWarnings(t *testing.T) {
	for _, tt := range taskWarningCases {
		t.Run(tt.name, func(t *testing.T) {
			task, err := DecodeTask("task.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(task.Warnings, tt.want) {
				t.Errorf("warnings:\n got %s\nwant %s", strings.Join(task.Warnings, "\n     "), strings.Join(tt.want, "\n     "))
			}
		})
	}
}

func TestEffectiveSettings(t *testing.T) {
	task, err := DecodeTask("task.yaml", []byte(task(strings.Join([]string{
		"  - source-id: s2",
		"    mydumper-config-name: m",
		"    loader-config-name: l",
		"    syncer-config-name: s",
		"  - source-id: s3",
		"    mydumper-config-name: m",
		"    mydumper-thread: 2",
		"    loader-config-name: l",
		"    loader-thread: 3",
		"    syncer-config-name: s",
		"    syncer-thread: 5",
		"mydumpers: {m: {threads: 7, rows: 1000, where: \"id > 0\"}}",
		"loaders: {l: {pool-size: 9, add-index-after-load: true}}",
		"syncers: {s: {worker-count: 11, batch: 13, safe-mode: true}}",
		"",
	}, "\n"))))
	if err != nil {
		t.Fatal(err)
	}
	type settings struct {
		Dump DumpSettings
		Load LoadSettings
		Sync SyncSettings
	}
	want := []settings{
		{ // DM's defaults
			DumpSettings{Threads: DefaultDumpThreads, ChunkRows: DefaultChunkRows},
			LoadSettings{PoolSize: DefaultPoolSize, AddIndexAfterLoad: DefaultAddIndexAfterLoad},
			SyncSettings{WorkerCount: DefaultWorkerCount},
		},
		{ // named configs
			DumpSettings{Threads: 7, ChunkRows: 1000, Where: "id > 0"},
			LoadSettings{PoolSize: 9, AddIndexAfterLoad: true},
			SyncSettings{WorkerCount: 11, Batch: 13, SafeMode: true},
		},
		{ // named configs with *-thread overrides
			DumpSettings{Threads: 2, ChunkRows: 1000, Where: "id > 0"},
			LoadSettings{PoolSize: 3, AddIndexAfterLoad: true},
			SyncSettings{WorkerCount: 5, Batch: 13, SafeMode: true},
		},
	}
	for i, inst := range task.MySQLInstances {
		got := settings{inst.Dump, inst.Load, inst.Sync}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("instance %d:\n got %+v\nwant %+v", i, got, want[i])
		}
	}
}

// TestEmptyValuesAskForNothing checks that keys of unsupported features
// are accepted when their value is empty or false.
func TestEmptyValuesAskForNothing(t *testing.T) {
	_, err := DecodeTask("task.yaml", []byte(task(strings.Join([]string{
		"    filter-rules: []",
		"    expression-filters: []",
		"    validator-config-name: \"\"",
		"    mydumper: {extra-args: \"\", statement-size: 0}",
		"    syncer: {compact: false}",
		"filters: {}",
		"expression-filter: {}",
		"validators: {}",
		"shadow-table-rules: []",
		"trash-table-rules: []",
		"online-ddl-scheme: \"\"",
		"online-ddl: false",
		"collation_compatible: loose",
		"strict-optimistic-shard-mode: false",
		"experimental: {}",
		"",
	}, "\n"))))
	if err != nil {
		t.Fatal(err)
	}
}

// TestYAMLFeatures checks anchors, aliases, merge keys, tags and YAML 1.1
// booleans, which DM's yaml.v2 accepts.
func TestYAMLFeatures(t *testing.T) {
	task, err := DecodeTask("task.yaml", []byte(task(strings.Join([]string{
		"    syncer: &sync",
		"      worker-count: 8",
		"      safe-mode: yes",
		"    mydumper: &dump {threads: 2}",
		"  - source-id: s2",
		"    syncer: *sync",
		"    mydumper:",
		"      <<: *dump",
		"      rows: !!int 500",
		"  - source-id: &id s3",
		"    mydumper: &rows {rows: 0x10}",
		"  - source-id: s4",
		"    mydumper:",
		"      <<: *rows",
		"      where: *id",
		"is-sharding: on",
		"",
	}, "\n"))))
	if err != nil {
		t.Fatal(err)
	}
	if task.ShardMode != ShardPessimistic {
		t.Errorf("is-sharding: on: shard mode %q", task.ShardMode)
	}
	dflt := SyncSettings{WorkerCount: DefaultWorkerCount}
	want := []SyncSettings{{WorkerCount: 8, SafeMode: true}, {WorkerCount: 8, SafeMode: true}, dflt, dflt}
	wantDump := []DumpSettings{
		{Threads: 2, ChunkRows: DefaultChunkRows},
		{Threads: 2, ChunkRows: 500},
		{Threads: DefaultDumpThreads, ChunkRows: 16},
		{Threads: DefaultDumpThreads, ChunkRows: 16, Where: "s3"},
	}
	for i, inst := range task.MySQLInstances {
		if inst.Sync != want[i] || !reflect.DeepEqual(inst.Dump, wantDump[i]) {
			t.Errorf("instance %d: got %+v %+v, want %+v %+v", i, inst.Sync, inst.Dump, want[i], wantDump[i])
		}
	}
}

// sourceErrorCases covers every error DecodeSource reports.
var sourceErrorCases = []fileCase{
	{"empty", "", []string{
		"source.yaml: from: required",
		"source.yaml: source-id: required",
	}},
	{"from incomplete", "source-id: a\nfrom:\n  user: root\n", []string{
		"source.yaml:2:1: from.host: required",
		"source.yaml:2:1: from.port: required",
	}},
	{"bad values", "source-id: " + strings.Repeat("a", 33) + "\nflavor: percona\nserver-id: -1\n" +
		"enable-gtid: 1\nfrom: {host: h, port: 0}\n", []string{
		"source.yaml:1:1: source-id: longer than 32 characters",
		`source.yaml:2:1: flavor: invalid value "percona": must be mysql or mariadb, or empty to detect it`,
		"source.yaml:3:1: server-id: must be an integer from 0 to 4294967295",
		"source.yaml:4:1: enable-gtid: must be true or false",
		"source.yaml:5:17: from.port: must be from 1 to 65535",
	}},
	{"not supported yet", strings.Join([]string{
		"source-id: a",
		"enable: false",
		"relay-binlog-name: mysql-bin.000001",
		"relay-binlog-gtid: \"3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5\"",
		"from:",
		"  host: h",
		"  port: 3306",
		"  security: {ssl-cert: /c.pem}",
		"  sesion: {}",
		"",
	}, "\n"), []string{
		"source.yaml:2:1: enable: not supported yet: false (a disabled source); remove the source instead",
		"source.yaml:8:3: from.security: give ssl-cert and ssl-key together (a client certificate needs its key)",
		"source.yaml:8:3: from.security: ssl-ca is required: without a CA dmnode cannot verify the server, and would not use TLS (DM ignores such a block)",
		"source.yaml:9:3: from.sesion: unknown key (did you mean session?)",
	}},
	{"filters", strings.Join([]string{
		"source-id: a",
		"from: {host: h, port: 3306}",
		"filters:",
		"  - {schema-pattern: a, events: [\"all dml\"], action: Ignore}",
		"  - {table-pattern: t, events: [\"al dml\"], sql-pattern: [\"[\"], action: IGNORE}",
		"  -",
		"  - {schema-pattern: a, action: Do, sql: x}",
		"",
	}, "\n"), []string{
		"source.yaml:5:6: filters[1].schema-pattern: required",
		`source.yaml:5:33: filters[1].events[0]: unknown event "al dml" (did you mean "all dml"?)`,
		"source.yaml:5:58: filters[1].sql-pattern[0]: invalid regular expression: error parsing regexp: missing closing ]: `[`",
		`source.yaml:5:64: filters[1].action: invalid value "IGNORE": must be Do, Ignore or Error (capitalized, as in DM)`,
		"source.yaml:6:4: filters[2]: must be a mapping",
		"source.yaml:7:37: filters[3].sql: unknown key",
	}},
}

func TestDecodeSourceErrors(t *testing.T) {
	for _, tt := range sourceErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			src, err := DecodeSource("source.yaml", []byte(tt.yaml))
			got := findings(t, err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tt.want, "\n     "))
			}
			if err != nil && src != nil {
				t.Errorf("DecodeSource returned a source with an error")
			}
		})
	}
}

func TestSourceWarnings(t *testing.T) {
	src, err := DecodeSource("source.yaml", []byte(strings.Join([]string{
		"source-id: mysql-01",
		"enable: true",
		"enable-gtid: true",
		"enable-relay: true",
		"relay-dir: ./relay_log",
		"flavor: MySQL",
		"server-id: 101",
		"charset: utf8mb4",
		"case-sensitive: true",
		"from:",
		"  host: 10.0.0.1",
		"  port: 3306",
		"  user: dm",
		"  password: secret",
		"  max-allowed-packet: 67108864",
		"  session: {time_zone: \"+00:00\"}",
		"purge: {interval: 3600, expires: 0, remain-space: 15}",
		"checker: {check-enable: true, backoff-rollback: 5m, backoff-max: 5m}",
		"filters:",
		"  - {schema-pattern: \"Shop\", table-pattern: \"t_*\", events: [\"drop table\"], action: Ignore}",
		"",
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	want := &Source{
		SourceID: "mysql-01", EnableGTID: true, EnableRelay: true, Flavor: FlavorMySQL, ServerID: 101,
		From: DBConfig{Host: "10.0.0.1", Port: 3306, User: "dm", Password: "secret",
			Session: map[string]string{"time_zone": "+00:00"}},
		Filters:       []*FilterRule{{SchemaPattern: "Shop", TablePattern: "t_*", Events: []string{"drop table"}, Action: "Ignore"}},
		CaseSensitive: true,
		Purge:         Purge{Interval: 3600, RemainSpace: 15},
		RelayMaxBytes: DefaultRelayMaxSize, BinlogPurgeWarn: DefaultBinlogPurgeMargin,
		File: "source.yaml",
		Warnings: []string{
			"source.yaml:4:1: enable-relay: ignored: the source's binlog stream is always the relay, shared by its tasks",
			"source.yaml:5:1: relay-dir: ignored: " + whyRelay,
			"source.yaml:8:1: charset: ignored: " + whyDeprecated,
			"source.yaml:15:3: from.max-allowed-packet: ignored: deprecated in DM: the value is read from the server",
			"source.yaml:17:9: purge.interval: ignored: dmnode trims the relay continuously, a few seconds after no task needs a message",
			"source.yaml:17:37: purge.remain-space: ignored: the relay is a JetStream stream, not a local directory: relay-max-size bounds it",
			"source.yaml:18:1: checker: ignored: dmnode restarts failed actors with its own backoff",
		},
	}
	if !reflect.DeepEqual(src, want) {
		t.Errorf("source:\n got %+v\nwant %+v", src, want)
	}
}

// TestNoPasswordInMessages checks that neither errors nor warnings quote a
// password, whatever is wrong around it.
func TestNoPasswordInMessages(t *testing.T) {
	const secret = "Sup3rS3cret"
	files := []string{
		task("    password: " + secret + "\n"),
		strings.Replace(baseTask, "  port: 4000\n", "  port: 4000\n  password: {value: "+secret+"}\n", 1),
		strings.Replace(baseTask, "  port: 4000\n", "  port: 4000\n  password: \""+secret+"\n", 1),
		strings.Replace(baseTask, "  port: 4000\n", "  port: "+secret+"\n", 1),
		strings.Replace(baseTask, "  port: 4000\n", "  port: 4000\n  password: "+secret+": x\n", 1),
		strings.Replace(baseTask, "  port: 4000\n", "  port: 4000\n  password: ["+secret+"\n", 1),
	}
	for i, f := range files {
		_, err := DecodeTask("task.yaml", []byte(f))
		if err == nil {
			t.Errorf("file %d: no error", i)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("file %d: the error quotes the password: %v", i, err)
		}
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "t.yaml", Line: 3, Column: 5, Key: "a.b", Msg: "required"}, "t.yaml:3:5: a.b: required"},
		{Error{File: "t.yaml", Key: "name", Msg: "required"}, "t.yaml: name: required"},
		{Error{File: "t.yaml", Line: 2, Column: 1, Msg: "bad"}, "t.yaml:2:1: bad"},
		{Error{Key: "name", Msg: "required"}, "name: required"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestLoadFromStdin(t *testing.T) {
	f, err := os.Open("testdata/dm-quickstart-task.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = stdin }()
	task, err := LoadTask("-")
	if err != nil {
		t.Fatal(err)
	}
	if task.File != "-" || task.Name != "test" {
		t.Errorf("got file %q name %q", task.File, task.Name)
	}
	if len(task.Warnings) == 0 || !strings.HasPrefix(task.Warnings[0], "<stdin>:") {
		t.Errorf("warnings do not name standard input: %q", task.Warnings)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	if _, err := LoadTask(path); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("LoadTask: %v", err)
	}
	if _, err := LoadSource(path); err == nil || !strings.Contains(err.Error(), "read source file") {
		t.Errorf("LoadSource: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

// TestScalarTextKept checks that a string key keeps a scalar's text as
// written, as DM's yaml.v2 does, rather than its value as a number.
func TestScalarTextKept(t *testing.T) {
	for _, v := range []string{"1.50", "0x1F", "010", "1e3", "True", "yes", "1_000", ".inf", "-0", "+5", "!!str 010"} {
		src, err := DecodeSource("source.yaml", []byte("source-id: a\nfrom: {host: h, port: 1, password: "+v+"}\n"))
		if err != nil {
			t.Fatalf("password %s: %v", v, err)
		}
		want := strings.TrimPrefix(v, "!!str ")
		if src.From.Password != want {
			t.Errorf("password %s decoded as %q", v, src.From.Password)
		}
	}
	src, err := DecodeSource("source.yaml", []byte("source-id: a\nfrom: {host: h, port: 1, password: &p 010, user: *p}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if src.From.Password != "010" || src.From.User != "010" {
		t.Errorf("anchored 010 decoded as password %q, user %q", src.From.Password, src.From.User)
	}
}

// TestOnlineDDL checks DM's defaults for online DDL and the anchoring of
// custom rules.
func TestOnlineDDL(t *testing.T) {
	tests := []struct {
		extra         string
		online        bool
		shadow, trash []string
	}{
		{"", true, []string{DefaultShadowTableRule}, []string{DefaultTrashTableRule}},
		{"online-ddl: false\n", false, nil, nil},
		{"online-ddl: no\nonline-ddl-scheme: \"\"\n", false, nil, nil},
		{"online-ddl-scheme: pt\n", true, []string{DefaultShadowTableRule}, []string{DefaultTrashTableRule}},
		{"online-ddl: true\nshadow-table-rules: [\"_(.+)_shadow\", \"^x_(.+)$\"]\n", true,
			[]string{"^_(.+)_shadow$", "^x_(.+)$"}, []string{DefaultTrashTableRule}},
		{"trash-table-rules: [\"(.+)_bak$\"]\n", true, []string{DefaultShadowTableRule}, []string{"^(.+)_bak$"}},
	}
	for _, tt := range tests {
		task, err := DecodeTask("task.yaml", []byte(task(tt.extra)))
		if err != nil {
			t.Fatalf("%q: %v", tt.extra, err)
		}
		if task.OnlineDDL != tt.online || !reflect.DeepEqual(task.ShadowTableRules, tt.shadow) ||
			!reflect.DeepEqual(task.TrashTableRules, tt.trash) {
			t.Errorf("%q: online %v shadow %q trash %q", tt.extra, task.OnlineDDL, task.ShadowTableRules, task.TrashTableRules)
		}
	}
}
