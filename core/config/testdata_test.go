package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestQuickStartTask(t *testing.T) {
	got, err := LoadTask("testdata/dm-quickstart-task.yaml")
	if err != nil {
		t.Fatal(err)
	}
	diffTask(t, got, quickStartTask)
}

// quickStartInstance is an instance of the quick start task.
func quickStartInstance(id, mapping string) Instance {
	return Instance{
		SourceID:           id,
		BAListName:         "instance",
		RouteRules:         []string{"sharding-route-rules-table", "sharding-route-rules-schema"},
		ColumnMappingRules: []string{mapping},
		MydumperConfigName: "global",
		LoaderConfigName:   "global",
		SyncerConfigName:   "global",
		Dump:               DumpSettings{Threads: 4, ChunkRows: 200000},
		Load:               LoadSettings{PoolSize: 16},
		Sync:               SyncSettings{WorkerCount: 16, Batch: 100},
	}
}

// quickStartMapping is a column mapping of the quick start task.
func quickStartMapping(id string) *ColumnMappingRule {
	return &ColumnMappingRule{
		SchemaPattern: "dmtest",
		TablePattern:  "t*",
		SourceColumn:  "id",
		TargetColumn:  "id",
		Expression:    ExprPartitionID,
		Arguments:     []string{id, "", "t", ""}, // the missing separator is filled in
	}
}

// quickStartTask is testdata/dm-quickstart-task.yaml decoded.
var quickStartTask = &Task{
	Name:           "test",
	TaskMode:       ModeAll,
	ShardMode:      ShardPessimistic, // from is-sharding: true
	IsSharding:     true,
	TargetDatabase: DBConfig{Host: "127.0.0.1", Port: 4000, User: "root"},
	// online-ddl is not written: true, with DM's rules
	OnlineDDL:        true,
	ShadowTableRules: []string{DefaultShadowTableRule},
	TrashTableRules:  []string{DefaultTrashTableRule},
	MySQLInstances: []Instance{
		quickStartInstance("mysql-replica-01", "instance-1"),
		quickStartInstance("mysql-replica-02", "instance-2"),
		quickStartInstance("mysql-replica-03", "instance-3"),
	},
	Routes: map[string]*RouteRule{
		"sharding-route-rules-table":  {SchemaPattern: "dmtest", TablePattern: "t*", TargetSchema: "dmtest", TargetTable: "t"},
		"sharding-route-rules-schema": {SchemaPattern: "dmtest", TargetSchema: "dmtest"},
	},
	ColumnMappings: map[string]*ColumnMappingRule{
		"instance-1": quickStartMapping("1"),
		"instance-2": quickStartMapping("2"),
		"instance-3": quickStartMapping("3"),
	},
	BAList:    map[string]*BAListRule{"instance": {DoDBs: []string{"dmtest"}}},
	Mydumpers: map[string]*MydumperConfig{"global": {Threads: 4, ChunkFilesize: "64", SkipTzUTC: true}},
	Loaders:   map[string]*LoaderConfig{"global": {PoolSize: 16, Dir: "./dumped_data"}},
	Syncers:   map[string]*SyncerConfig{"global": {WorkerCount: 16, Batch: 100}},
	File:      "testdata/dm-quickstart-task.yaml",
	Warnings: []string{
		"testdata/dm-quickstart-task.yaml:82:5: mydumpers.global.chunk-filesize: ignored: dmnode splits tables into chunks of rows (rows), not files",
		"testdata/dm-quickstart-task.yaml:83:5: mydumpers.global.skip-tz-utc: ignored: " + whyUTC,
		"testdata/dm-quickstart-task.yaml:88:5: loaders.global.dir: ignored: " + whyNoDumpFiles,
		"testdata/dm-quickstart-task.yaml:93:5: syncers.global.batch: " + batchNote(100),
	},
}

func TestQuickStartSource(t *testing.T) {
	got, err := LoadSource("testdata/dm-source.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Source{
		SourceID: "mysql-replica-01",
		Flavor:   FlavorMariaDB,
		From:     DBConfig{Host: "127.0.0.1", Port: 3307, User: "root"},
		File:     "testdata/dm-source.yaml",

		RelayMaxBytes: DefaultRelayMaxSize, BinlogPurgeWarn: DefaultBinlogPurgeMargin,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("source:\n got %+v\nwant %+v", got, want)
	}
}

func TestFullTask(t *testing.T) {
	got, err := LoadTask("testdata/dm-full-task.yaml")
	if err != nil {
		t.Fatal(err)
	}
	diffTask(t, got, fullTask)
}

const fullFile = "testdata/dm-full-task.yaml:"

// fullTask is testdata/dm-full-task.yaml decoded.
var fullTask = &Task{
	Name:                "shop",
	TaskMode:            ModeIncremental,
	ShardMode:           ShardOptimistic,
	IsSharding:          true,
	MetaSchema:          "dm_meta",
	CollationCompatible: "loose",
	Timezone:            "Asia/Shanghai",
	IgnoreCheckingItems: []string{"auto_increment_ID"},
	OnlineDDL:           true,
	ShadowTableRules:    []string{DefaultShadowTableRule},
	TrashTableRules:     []string{DefaultTrashTableRule},
	TargetDatabase: DBConfig{
		Host: "tidb.example.com", Port: 4000, User: "dm", Password: "c2VjcmV0",
		Session: map[string]string{
			"sql_mode":             "ANSI_QUOTES,NO_ZERO_IN_DATE,NO_ZERO_DATE",
			"tidb_skip_utf8_check": "1",
		},
	},
	MySQLInstances: []Instance{{
		SourceID: "mysql-replica-01",
		Meta: &Meta{BinlogName: "binlog.000001", BinlogPos: 4,
			BinlogGTID: "03fc0263-28c7-11e7-a653-6c0b84d59f30:1-7041423"},
		BAListName:         "bw-rule-1",
		RouteRules:         []string{"route-rule-1", "route-rule-2"},
		ColumnMappingRules: []string{"cm-rule-1"},
		FilterRules:        []string{"filter-rule-1", "filter-rule-2"},
		ExpressionFilters:  []string{"even_c"},
		MydumperConfigName: "global",
		LoaderConfigName:   "global",
		SyncerConfigName:   "global",
		Dump:               DumpSettings{Threads: 4, ChunkRows: 100000},
		Load:               LoadSettings{PoolSize: 16},
		Sync:               SyncSettings{WorkerCount: 16, Batch: 100},
	}, {
		SourceID:       "mysql-replica-02",
		Meta:           &Meta{BinlogGTID: "03fc0263-28c7-11e7-a653-6c0b84d59f30:1-40"},
		BAListName:     "bw-rule-1",
		RouteRules:     []string{"route-rule-2"},
		FilterRules:    []string{"filter-rule-1"},
		Mydumper:       &MydumperConfig{Threads: 8, Rows: 10000, Where: "id < 1000000"},
		MydumperThread: 16,
		Loader:         &LoaderConfig{PoolSize: 4, ImportMode: "sql", OnDuplicate: "replace"},
		LoaderThread:   8,
		Syncer:         &SyncerConfig{WorkerCount: 32, Batch: 500, SafeMode: true},
		SyncerThread:   64,
		Dump:           DumpSettings{Threads: 16, ChunkRows: 10000, Where: "id < 1000000"},
		Load:           LoadSettings{PoolSize: 8},
		Sync:           SyncSettings{WorkerCount: 64, Batch: 500, SafeMode: true},
	}},
	Routes: map[string]*RouteRule{
		"route-rule-1": {
			SchemaPattern: "test_*", TablePattern: "t_*", TargetSchema: "test", TargetTable: "t",
			ExtractTable:  &Extractor{TableRegexp: "t_(.*)", TargetColumn: "c_table"},
			ExtractSchema: &Extractor{SchemaRegexp: "test_(.*)", TargetColumn: "c_schema"},
			ExtractSource: &Extractor{SourceRegexp: "(.*)", TargetColumn: "c_source"},
		},
		"route-rule-2": {SchemaPattern: "test_*", TargetSchema: "test"},
	},
	ColumnMappings: map[string]*ColumnMappingRule{"cm-rule-1": {
		SchemaPattern: "test_*", TablePattern: "t_*", Expression: ExprPartitionID,
		SourceColumn: "id", TargetColumn: "id", Arguments: []string{"1", "test", "t", "_"},
	}},
	BAList: map[string]*BAListRule{"bw-rule-1": {
		DoDBs:     []string{"~^test.*", "user"},
		IgnoreDBs: []string{"mysql", "account"},
		DoTables: []TableRef{
			{DBName: "~^test.*", TblName: "~^t.*"},
			{DBName: "user", TblName: "information"},
		},
		IgnoreTables: []TableRef{{DBName: "user", TblName: "log"}},
	}},
	Filters: map[string]*FilterRule{
		"filter-rule-1": {SchemaPattern: "test_*", TablePattern: "t_*", Events: []string{"truncate table", "drop table"},
			SQLPattern: []string{`^DROP\s+PROCEDURE`, `^CREATE\s+PROCEDURE`}, Action: "Ignore"},
		"filter-rule-2": {SchemaPattern: "test_*", Events: []string{"all dml", "Create Schema"}, Action: "Do"},
	},
	ExpressionFilters: map[string]*ExpressionFilter{
		"even_c": {Schema: "expr_filter", Table: "tbl", InsertValueExpr: "c % 2 = 0"},
	},
	Mydumpers: map[string]*MydumperConfig{"global": {Threads: 4, ChunkFilesize: "64", Rows: 100000, SkipTzUTC: true}},
	Loaders: map[string]*LoaderConfig{"global": {PoolSize: 16, Dir: "./dumped_data", ImportMode: "logical",
		OnDuplicateLogical: "replace"}},
	Syncers: map[string]*SyncerConfig{"global": {WorkerCount: 16, Batch: 100, QueueSize: 1024,
		CheckpointFlushInterval: 30, SafeModeDuration: "60s", MultipleRows: true}},
	File: "testdata/dm-full-task.yaml",
	Warnings: []string{
		fullFile + "8:1: meta-schema: ignored: dmnode keeps its metadata in schema dmnode_meta",
		fullFile + "15:1: clean-dump-file: ignored: " + whyNoDumpFiles,
		fullFile + "16:1: timezone: ignored: " + whyUTC,
		fullFile + "17:1: enable-heartbeat: ignored: " + whyDeprecated,
		fullFile + "24:3: target-database.max-allowed-packet: ignored: deprecated in DM: the value is read from the server",
		fullFile + "62:7: mysql-instances[1].syncer.batch: " + batchNote(500),
		fullFile + "128:5: mydumpers.global.chunk-filesize: ignored: dmnode splits tables into chunks of rows (rows), not files",
		fullFile + "130:5: mydumpers.global.skip-tz-utc: ignored: " + whyUTC,
		fullFile + "136:5: loaders.global.dir: ignored: " + whyNoDumpFiles,
		fullFile + "143:5: syncers.global.batch: " + batchNote(100),
		fullFile + "144:5: syncers.global.queue-size: ignored: dmnode bounds its buffers itself",
		fullFile + "145:5: syncers.global.checkpoint-flush-interval: ignored: " + whyCheckpoint,
		fullFile + "147:5: syncers.global.safe-mode-duration: ignored: " + whyCheckpoint + ", so no automatic safe mode is needed after a restart",
		fullFile + "149:5: syncers.global.multiple-rows: ignored: dmnode always batches row changes, up to batch per transaction",
	},
}

// batchNote is the warning about syncers.*.batch: n.
func batchNote(n int) string {
	return fmt.Sprintf("%d: at most %d rows per multi-row statement the applier sends; "+
		"a target transaction holds up to %d row changes (dmnode's own bound)", n, n, ApplyMaxRows)
}

// diffTask reports the differences between two tasks field by field.
func diffTask(t *testing.T, got, want *Task) {
	t.Helper()
	gv, wv := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for i := range gv.NumField() {
		name := gv.Type().Field(i).Name
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if reflect.DeepEqual(g, w) {
			continue
		}
		if name == "Warnings" {
			t.Errorf("Warnings:\n got %s\nwant %s", strings.Join(got.Warnings, "\n     "),
				strings.Join(want.Warnings, "\n     "))
			continue
		}
		t.Errorf("%s:\n got %+v\nwant %+v", name, g, w)
	}
}
