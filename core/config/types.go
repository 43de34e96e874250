package config

import "time"

// Task is a TiDB DM task file (task.yaml). Field names and YAML keys follow
// TiDB DM so that a DM user's file decodes unchanged; keys that dmnode does
// not implement are rejected by DecodeTask as "KEY: not supported yet".
type Task struct {
	Name          string `yaml:"name"`
	TaskMode      string `yaml:"task-mode"`   // full | incremental | all
	ShardMode     string `yaml:"shard-mode"`  // "" | pessimistic | optimistic
	IsSharding    bool   `yaml:"is-sharding"` // deprecated in DM; Decode sets it exactly when ShardMode is set
	MetaSchema    string `yaml:"meta-schema"` // ignored with a warning: dmnode keeps its meta in dmnode_meta
	Timezone      string `yaml:"timezone"`    // ignored with a warning: dmnode's sessions run in UTC
	CaseSensitive bool   `yaml:"case-sensitive"`
	// StrictOptimisticShardMode is DM's strict-optimistic-shard-mode; only
	// valid with shard-mode optimistic.
	StrictOptimisticShardMode bool `yaml:"strict-optimistic-shard-mode"`
	// CollationCompatible is DM's collation_compatible: loose (default) or strict.
	CollationCompatible string `yaml:"collation_compatible"`

	// OnlineDDL makes the rules recognise the ghost and trash tables of
	// gh-ost, pt-online-schema-change and similar tools. True unless the
	// file says online-ddl: false, as in DM. When it is true and the file
	// gives no rules, Decode fills in DM's default ShadowTableRules and
	// TrashTableRules (DefaultShadowTableRule, DefaultTrashTableRule).
	OnlineDDL        bool     `yaml:"online-ddl"`
	ShadowTableRules []string `yaml:"shadow-table-rules"` // regexps, anchored by Decode; the one group captures the real table name
	TrashTableRules  []string `yaml:"trash-table-rules"`
	// OnlineDDLScheme is DM's deprecated gh-ost | pt; either implies OnlineDDL.
	OnlineDDLScheme string `yaml:"online-ddl-scheme"`

	// IgnoreCheckingItems lists the prechecks to skip; "all" skips them all.
	IgnoreCheckingItems []string `yaml:"ignore-checking-items"`

	TargetDatabase DBConfig   `yaml:"target-database"`
	MySQLInstances []Instance `yaml:"mysql-instances"`

	Routes         map[string]*RouteRule         `yaml:"routes"`
	ColumnMappings map[string]*ColumnMappingRule `yaml:"column-mappings"`
	BAList         map[string]*BAListRule        `yaml:"block-allow-list"` // also accepted as black-white-list

	Filters           map[string]*FilterRule       `yaml:"filters"`
	ExpressionFilters map[string]*ExpressionFilter `yaml:"expression-filter"`

	Mydumpers map[string]*MydumperConfig `yaml:"mydumpers"`
	Loaders   map[string]*LoaderConfig   `yaml:"loaders"`
	Syncers   map[string]*SyncerConfig   `yaml:"syncers"`
	// Validators are DM's continuous validator configurations, referred
	// to by mysql-instances[].validator-config-name.
	Validators map[string]*ValidatorConfig `yaml:"validators"`

	// File is the path the task was read from ("-" for standard input);
	// set by Decode, used in error messages.
	File string `yaml:"-"`
	// Warnings lists keys that were accepted but have no effect in dmnode,
	// each with the reason (for example loaders.*.dir: rows are streamed),
	// and the Notes.
	Warnings []string `yaml:"-"`
	// Notes lists the keys dmnode accepted with its nearest behaviour
	// rather than DM's (import-mode physical: loaded logically), each
	// with what dmnode does instead. Task status shows them while the
	// task runs.
	Notes []string `yaml:"-"`
}

// DBConfig is a database connection (target-database, or a source's from).
type DBConfig struct {
	Host     string            `yaml:"host"`
	Port     int               `yaml:"port"`
	User     string            `yaml:"user"`
	Password string            `yaml:"password"`
	Session  map[string]string `yaml:"session"`
	Security *Security         `yaml:"security"`
}

// Instance is one entry of mysql-instances: a source and the rules applied to it.
type Instance struct {
	SourceID           string   `yaml:"source-id"`
	Meta               *Meta    `yaml:"meta"`
	BAListName         string   `yaml:"block-allow-list"` // also black-white-list
	RouteRules         []string `yaml:"route-rules"`
	ColumnMappingRules []string `yaml:"column-mapping-rules"`
	FilterRules        []string `yaml:"filter-rules"`       // names in Task.Filters, in order
	ExpressionFilters  []string `yaml:"expression-filters"` // names in Task.ExpressionFilters

	MydumperConfigName string          `yaml:"mydumper-config-name"`
	Mydumper           *MydumperConfig `yaml:"mydumper"`
	MydumperThread     int             `yaml:"mydumper-thread"`
	LoaderConfigName   string          `yaml:"loader-config-name"`
	Loader             *LoaderConfig   `yaml:"loader"`
	LoaderThread       int             `yaml:"loader-thread"`
	SyncerConfigName   string          `yaml:"syncer-config-name"`
	Syncer             *SyncerConfig   `yaml:"syncer"`
	SyncerThread       int             `yaml:"syncer-thread"`
	// ValidatorConfigName names an entry of Task.Validators.
	ValidatorConfigName string `yaml:"validator-config-name"`

	// Resolved by Decode from the named or inline unit configs and the
	// *-thread overrides, with defaults filled in.
	Dump DumpSettings `yaml:"-"`
	Load LoadSettings `yaml:"-"`
	Sync SyncSettings `yaml:"-"`
	// Validate is the continuous validator's effective settings.
	Validate ValidateSettings `yaml:"-"`
}

// Meta is the start position of an incremental task without a checkpoint.
type Meta struct {
	BinlogName string `yaml:"binlog-name"`
	BinlogPos  uint32 `yaml:"binlog-pos"`
	BinlogGTID string `yaml:"binlog-gtid"`
}

// RouteRule maps upstream schema/table names to a target (DM table routing).
type RouteRule struct {
	SchemaPattern string     `yaml:"schema-pattern"`
	TablePattern  string     `yaml:"table-pattern"`
	TargetSchema  string     `yaml:"target-schema"`
	TargetTable   string     `yaml:"target-table"`
	ExtractTable  *Extractor `yaml:"extract-table"`
	ExtractSchema *Extractor `yaml:"extract-schema"`
	ExtractSource *Extractor `yaml:"extract-source"`
}

// Extractor writes the capture groups of a regexp applied to the table name,
// schema name or source id into TargetColumn.
type Extractor struct {
	TableRegexp  string `yaml:"table-regexp"`
	SchemaRegexp string `yaml:"schema-regexp"`
	SourceRegexp string `yaml:"source-regexp"`
	TargetColumn string `yaml:"target-column"`
}

// ColumnMappingRule is a DM column mapping (partition id, add prefix, add suffix).
type ColumnMappingRule struct {
	SchemaPattern    string   `yaml:"schema-pattern"`
	TablePattern     string   `yaml:"table-pattern"`
	SourceColumn     string   `yaml:"source-column"`
	TargetColumn     string   `yaml:"target-column"`
	Expression       string   `yaml:"expression"`
	Arguments        []string `yaml:"arguments"`
	CreateTableQuery string   `yaml:"create-table-query"`
}

// BAListRule is a block/allow list.
type BAListRule struct {
	DoDBs        []string   `yaml:"do-dbs"`
	IgnoreDBs    []string   `yaml:"ignore-dbs"`
	DoTables     []TableRef `yaml:"do-tables"`
	IgnoreTables []TableRef `yaml:"ignore-tables"`
}

// TableRef names a table pattern in a block/allow list.
type TableRef struct {
	DBName  string `yaml:"db-name"`
	TblName string `yaml:"tbl-name"`
}

// FilterRule is a binlog event filter rule (a task's filters entry, or an
// element of a source's filters).
type FilterRule struct {
	SchemaPattern string   `yaml:"schema-pattern"`
	TablePattern  string   `yaml:"table-pattern"`
	Events        []string `yaml:"events"`      // DM's event names, any case
	SQLPattern    []string `yaml:"sql-pattern"` // regexps matched against DDL text, case-insensitively
	Action        string   `yaml:"action"`      // Do | Ignore | Error
}

// ExpressionFilter drops the row changes of one table for which a SQL
// expression over the row is true. Exactly one of InsertValueExpr,
// DeleteValueExpr, or UpdateOldValueExpr and/or UpdateNewValueExpr is set.
type ExpressionFilter struct {
	Schema             string `yaml:"schema"`
	Table              string `yaml:"table"`
	InsertValueExpr    string `yaml:"insert-value-expr"`
	UpdateOldValueExpr string `yaml:"update-old-value-expr"`
	UpdateNewValueExpr string `yaml:"update-new-value-expr"`
	DeleteValueExpr    string `yaml:"delete-value-expr"`
}

// MydumperConfig is DM's dump unit configuration.
type MydumperConfig struct {
	Threads       int    `yaml:"threads"`
	ChunkFilesize string `yaml:"chunk-filesize"`
	Rows          int    `yaml:"rows"`
	StatementSize int    `yaml:"statement-size"`
	Where         string `yaml:"where"`
	SkipTzUTC     bool   `yaml:"skip-tz-utc"`
	ExtraArgs     string `yaml:"extra-args"`
	MydumperPath  string `yaml:"mydumper-path"`
}

// LoaderConfig is DM's load unit configuration.
type LoaderConfig struct {
	PoolSize           int    `yaml:"pool-size"`
	Dir                string `yaml:"dir"`
	ImportMode         string `yaml:"import-mode"`
	OnDuplicateLogical string `yaml:"on-duplicate-logical"`
	OnDuplicate        string `yaml:"on-duplicate"`
	// AddIndexAfterLoad (dmnode's own key; DM has none): create the target
	// tables the load creates without their plain secondary indexes and
	// add them, one ALTER TABLE per table, once the rows are loaded.
	AddIndexAfterLoad *bool `yaml:"add-index-after-load"`
}

// SyncerConfig is DM's binlog replication unit configuration.
type SyncerConfig struct {
	WorkerCount             int    `yaml:"worker-count"`
	Batch                   int    `yaml:"batch"`
	QueueSize               int    `yaml:"queue-size"`
	CheckpointFlushInterval int    `yaml:"checkpoint-flush-interval"`
	SafeMode                bool   `yaml:"safe-mode"`
	SafeModeDuration        string `yaml:"safe-mode-duration"`
	Compact                 bool   `yaml:"compact"`
	MultipleRows            bool   `yaml:"multiple-rows"`
	EnableGTID              bool   `yaml:"enable-gtid"`
	AutoFixGTID             bool   `yaml:"auto-fix-gtid"`
}

// ValidatorConfig is DM's continuous validator configuration. Durations
// are Go durations ("30m"), sizes DM's ("500m").
type ValidatorConfig struct {
	Mode               string `yaml:"mode"` // none | fast | full
	WorkerCount        int    `yaml:"worker-count"`
	ValidateInterval   string `yaml:"validate-interval"`
	CheckInterval      string `yaml:"check-interval"`
	RowErrorDelay      string `yaml:"row-error-delay"`
	MetaFlushInterval  string `yaml:"meta-flush-interval"`
	BatchQuerySize     int    `yaml:"batch-query-size"`
	MaxPendingRowSize  string `yaml:"max-pending-row-size"`
	MaxPendingRowCount int    `yaml:"max-pending-row-count"`
}

// DumpSettings are the effective dump settings of one instance, from the
// mydumper configuration and the options of its extra-args.
type DumpSettings struct {
	Threads   int // parallel chunk readers (default 4)
	ChunkRows int // rows per primary-key chunk (default 200000, DM's rows)
	// Where is a SQL condition every dumped row must meet (DM's where,
	// dumpling's --where). It selects the rows of the full copy only: the
	// binlog's row changes are not filtered by it, as in DM.
	Where string
	// Databases and Tables, when set (extra-args --database and
	// --tables-list), restrict the dump to those schemas and to those
	// "schema.table"s; the block-allow-list still decides which tables
	// the binlog replicates, as in DM.
	Databases []string
	Tables    []string
}

// LoadSettings are the effective load settings of one instance.
type LoadSettings struct {
	PoolSize int // target connections (default 16)
	// StatementSize, when set (DM's mydumpers.*.statement-size or
	// extra-args --statement-size), bounds the bytes of each multi-row
	// INSERT the loader sends, as it bounds the INSERTs of DM's dump
	// files; at least one row goes into each. 0 leaves the loader's own
	// sizing.
	StatementSize int
	// AddIndexAfterLoad creates the tables the load creates without their
	// plain secondary indexes and adds them after the rows
	// (loaders.*.add-index-after-load; default DefaultAddIndexAfterLoad).
	AddIndexAfterLoad bool
}

// SyncSettings are the effective sync settings of one instance.
type SyncSettings struct {
	WorkerCount int // default 16
	// Batch, when the file sets syncers.*.batch, bounds the rows of each
	// multi-row statement the applier sends; 0 leaves the applier's own
	// sizing. (DM's batch bounds the statements of a worker's transaction.)
	Batch    int
	SafeMode bool // apply every change idempotently for the whole run
}

// Validator modes, as in DM.
const (
	ValidateNone = "none"
	ValidateFast = "fast"
	ValidateFull = "full"
)

// ValidateSettings are the effective continuous validator settings of one
// instance.
type ValidateSettings struct {
	Mode          string        // none (or empty: no validator), fast or full
	WorkerCount   int           // default 4
	RowErrorDelay time.Duration // default 30m
	// CheckInterval is how long a row that differs waits before it is
	// compared again (default 5s, at most RowErrorDelay/2).
	CheckInterval time.Duration
	// MetaFlushInterval is DM's interval of saving the validator's
	// position (default 5m); dmnode saves it every second.
	MetaFlushInterval time.Duration
	// BatchQuerySize bounds the rows compared in one round (default 100).
	BatchQuerySize int
	// MaxPendingRowCount bounds the rows waiting to be compared; the
	// validator stops reading the binlog while it is reached (default
	// 2^31-1, DM's).
	MaxPendingRowCount int
}

// Source is a TiDB DM source file (source.yaml).
type Source struct {
	SourceID    string   `yaml:"source-id"`
	EnableGTID  bool     `yaml:"enable-gtid"`
	EnableRelay bool     `yaml:"enable-relay"` // ignored with a warning: the binlog stream is always the relay
	Flavor      string   `yaml:"flavor"`       // mysql | mariadb (lower-cased by Decode); detected when empty
	ServerID    uint32   `yaml:"server-id"`
	From        DBConfig `yaml:"from"`

	// Filters are binlog event filter rules that apply to every task
	// replicating from the source, matched with CaseSensitive.
	Filters       []*FilterRule `yaml:"filters"`
	CaseSensitive bool          `yaml:"case-sensitive"`

	// RelayBinlogName and RelayBinlogGTID are where DM's relay starts
	// reading when it has no checkpoint.
	RelayBinlogName string `yaml:"relay-binlog-name"`
	RelayBinlogGTID string `yaml:"relay-binlog-gtid"`
	// Purge is DM's relay purge block; only expires has an effect.
	Purge Purge `yaml:"purge"`
	// RelayMaxSize caps the bytes the source's relay stream holds, e.g.
	// "10GiB" (dmnode's own key; DefaultRelayMaxSize when empty): a full
	// relay makes the tailer stop reading the source until the appliers
	// free space. Decode fills RelayMaxBytes from it.
	RelayMaxSize  string `yaml:"relay-max-size"`
	RelayMaxBytes int64  `yaml:"-"`
	// BinlogPurgeMargin is how long before the source's binlog retention
	// would remove a binlog dmnode still needs that status, log and alert
	// warn, e.g. "1h" (dmnode's own key; DefaultBinlogPurgeMargin when
	// empty). Decode fills BinlogPurgeWarn from it.
	BinlogPurgeMargin string        `yaml:"binlog-purge-margin"`
	BinlogPurgeWarn   time.Duration `yaml:"-"`

	File     string   `yaml:"-"`
	Warnings []string `yaml:"-"`
	Notes    []string `yaml:"-"`
}
