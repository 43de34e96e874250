package config

import (
	"github.com/goccy/go-yaml/ast"
)

// The keys of TiDB DM's task and source files, as of DM v8.5, and what
// dmnode does with each. Keys of the same section are listed in DM's order.

// Reasons given in the warnings for keys that have no effect.
const (
	whyDeprecated  = "deprecated in DM, and without effect in dmnode"
	whyNoDumpFiles = "dmnode writes no dump files: rows are streamed through JetStream"
	whyUTC         = "dmnode runs source and target sessions in UTC, so TIMESTAMP values are exact"
	whyCheckpoint  = "dmnode commits the checkpoint together with the rows it applies"
	whyPhysical    = "only used by import-mode physical, which dmnode does not support"
	whyRelay       = "the relay of a source is a JetStream stream, not a directory"
)

func key(s *spec) *field { return &field{spec: s} }

// ignored is a key that is decoded but has no effect.
func ignored(s *spec, why string) *field { return &field{spec: s, warn: why} }

// dropped is a key that has no effect and no field in the Go types.
func dropped(s *spec, why string) *field { return &field{spec: s, warn: why, drop: true} }

// notYet is a key for a feature dmnode does not implement yet: any value
// other than an empty one (null, "", 0, false, {}, []) is an error.
func notYet(s *spec, why string) *field {
	return &field{spec: s, check: notSupported(why), drop: true}
}

func aliasOf(name string) *field { return &field{alias: name} }

func notSupported(why string) func(ast.Node) string {
	return func(n ast.Node) string {
		if isEmpty(n) {
			return ""
		}
		return "not supported yet: " + why
	}
}

// scalarText is the text of a scalar node ("" for null or a collection).
func scalarText(n ast.Node) string {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value
	case *ast.NullNode, *ast.MappingNode, *ast.SequenceNode:
		return ""
	}
	if n == nil || n.GetToken() == nil {
		return ""
	}
	return n.GetToken().Value
}

// checkEnable accepts a source's enable: true, DM's default.
func checkEnable(n ast.Node) string {
	if b, ok := n.(*ast.BoolNode); ok && !b.Value {
		return "not supported yet: false (a disabled source); remove the source instead"
	}
	return ""
}

var dbSpec = mapSpec(map[string]*field{
	"host":               key(stringSpec),
	"port":               key(intSpec),
	"user":               key(stringSpec),
	"password":           key(stringSpec),
	"max-allowed-packet": dropped(intSpec, "deprecated in DM: the value is read from the server"),
	"session":            key(stringMap),
	"security":           key(securitySpec),
})

// securitySpec is DM's TLS settings; an empty one (every field empty, as
// DM's config export writes it) asks for nothing and is accepted.
var securitySpec = mapSpec(map[string]*field{
	"ssl-ca":          key(stringSpec),
	"ssl-cert":        key(stringSpec),
	"ssl-key":         key(stringSpec),
	"cert-allowed-cn": key(listSpec),
	"ssl-ca-bytes":    key(anySpec),
	"ssl-key-bytes":   key(anySpec),
	"ssl-cert-bytes":  key(anySpec),
	"ssl-ca-base64":   key(stringSpec),
	"ssl-key-base64":  key(stringSpec),
	"ssl-cert-base64": key(stringSpec),
})

var metaSpec = mapSpec(map[string]*field{
	"binlog-name": key(stringSpec),
	"binlog-pos":  key(uint32Spec),
	"binlog-gtid": key(stringSpec),
})

var instanceSpec = mapSpec(map[string]*field{
	"source-id":             key(stringSpec),
	"meta":                  key(metaSpec),
	"filter-rules":          key(listSpec),
	"column-mapping-rules":  key(listSpec),
	"route-rules":           key(listSpec),
	"expression-filters":    key(listSpec),
	"black-white-list":      aliasOf("block-allow-list"),
	"block-allow-list":      key(stringSpec),
	"mydumper-config-name":  key(stringSpec),
	"mydumper":              key(mydumperSpec),
	"mydumper-thread":       key(intSpec),
	"loader-config-name":    key(stringSpec),
	"loader":                key(loaderSpec),
	"loader-thread":         key(intSpec),
	"syncer-config-name":    key(stringSpec),
	"syncer":                key(syncerSpec),
	"syncer-thread":         key(intSpec),
	"validator-config-name": key(stringSpec),
})

var extractorSpec = mapSpec(map[string]*field{
	"table-regexp":  key(stringSpec),
	"schema-regexp": key(stringSpec),
	"source-regexp": key(stringSpec),
	"target-column": key(stringSpec),
})

var routeSpec = mapSpec(map[string]*field{
	"schema-pattern": key(stringSpec),
	"table-pattern":  key(stringSpec),
	"target-schema":  key(stringSpec),
	"target-table":   key(stringSpec),
	"extract-table":  key(extractorSpec),
	"extract-schema": key(extractorSpec),
	"extract-source": key(extractorSpec),
})

var columnMappingSpec = mapSpec(map[string]*field{
	"schema-pattern":     key(stringSpec),
	"table-pattern":      key(stringSpec),
	"source-column":      key(stringSpec),
	"target-column":      key(stringSpec),
	"expression":         key(stringSpec),
	"arguments":          key(listSpec),
	"create-table-query": ignored(stringSpec, "unused by DM as well"),
})

var filterRuleSpec = mapSpec(map[string]*field{
	"schema-pattern": key(stringSpec),
	"table-pattern":  key(stringSpec),
	"events":         key(listSpec),
	"sql-pattern":    key(listSpec),
	"action":         key(stringSpec),
})

var expressionFilterSpec = mapSpec(map[string]*field{
	"schema":                key(stringSpec),
	"table":                 key(stringSpec),
	"insert-value-expr":     key(stringSpec),
	"update-old-value-expr": key(stringSpec),
	"update-new-value-expr": key(stringSpec),
	"delete-value-expr":     key(stringSpec),
})

var tableRefSpec = mapSpec(map[string]*field{
	"db-name":  key(stringSpec),
	"tbl-name": key(stringSpec),
})

var baListSpec = mapSpec(map[string]*field{
	"do-dbs":        key(listSpec),
	"ignore-dbs":    key(listSpec),
	"do-tables":     key(listOf(tableRefSpec)),
	"ignore-tables": key(listOf(tableRefSpec)),
})

var mydumperSpec = mapSpec(map[string]*field{
	"mydumper-path":  ignored(stringSpec, "dmnode has its own dumper"),
	"threads":        key(intSpec),
	"chunk-filesize": ignored(stringSpec, "dmnode splits tables into chunks of rows (rows), not files"),
	"statement-size": key(intSpec),
	"rows":           key(intSpec),
	"where":          key(stringSpec),
	"skip-tz-utc":    ignored(boolSpec, whyUTC),
	"extra-args":     key(stringSpec),
})

var loaderSpec = mapSpec(map[string]*field{
	"pool-size":             key(intSpec),
	"add-index-after-load":  key(boolSpec),
	"dir":                   ignored(stringSpec, whyNoDumpFiles),
	"sorting-dir-physical":  dropped(stringSpec, whyPhysical),
	"import-mode":           key(stringSpec),
	"on-duplicate":          key(stringSpec),
	"on-duplicate-logical":  key(stringSpec),
	"on-duplicate-physical": dropped(stringSpec, whyPhysical),
	"disk-quota-physical":   dropped(stringSpec, whyPhysical),
	"checksum-physical":     dropped(stringSpec, whyPhysical),
	"analyze":               dropped(stringSpec, "dmnode does not analyze tables after the load"),
	"range-concurrency":     dropped(intSpec, whyPhysical),
	"compress-kv-pairs":     dropped(stringSpec, whyPhysical),
	"pd-addr":               dropped(stringSpec, whyPhysical),
})

var syncerSpec = mapSpec(map[string]*field{
	"meta-file":                 dropped(stringSpec, "only used by DM's standalone syncer"),
	"worker-count":              key(intSpec),
	"batch":                     key(intSpec),
	"queue-size":                ignored(intSpec, "dmnode bounds its buffers itself"),
	"checkpoint-flush-interval": ignored(intSpec, whyCheckpoint),
	"compact":                   key(boolSpec),
	"multiple-rows":             ignored(boolSpec, "dmnode always batches row changes, up to batch per transaction"),
	"max-retry":                 dropped(intSpec, whyDeprecated),
	"auto-fix-gtid":             ignored(boolSpec, whyDeprecated),
	"enable-gtid":               ignored(boolSpec, "deprecated in DM: the source's enable-gtid decides"),
	"disable-detect":            dropped(boolSpec, whyDeprecated),
	"safe-mode":                 key(boolSpec),
	"safe-mode-duration": ignored(stringSpec,
		whyCheckpoint+", so no automatic safe mode is needed after a restart"),
	"enable-ansi-quotes": dropped(boolSpec, whyDeprecated),
})

var taskSpec = mapSpec(map[string]*field{
	"name":                         key(stringSpec),
	"task-mode":                    key(stringSpec),
	"is-sharding":                  key(boolSpec),
	"shard-mode":                   key(stringSpec),
	"strict-optimistic-shard-mode": key(boolSpec),
	"ignore-checking-items":        key(listSpec),
	"meta-schema":                  ignored(stringSpec, "dmnode keeps its metadata in schema dmnode_meta"),
	"enable-heartbeat":             dropped(boolSpec, whyDeprecated),
	"heartbeat-update-interval":    dropped(intSpec, whyDeprecated),
	"heartbeat-report-interval":    dropped(intSpec, whyDeprecated),
	"timezone":                     ignored(stringSpec, whyUTC),
	"case-sensitive":               key(boolSpec),
	"collation_compatible":         key(stringSpec),
	"mariadb2tidb":                 notYet(anySpec, "MariaDB-to-TiDB conversion settings"),
	"target-database":              key(dbSpec),
	"mysql-instances":              key(listOf(instanceSpec)),
	"online-ddl":                   key(boolSpec),
	"shadow-table-rules":           key(listSpec),
	"trash-table-rules":            key(listSpec),
	"online-ddl-scheme":            key(stringSpec),
	"routes":                       key(namedSpec(routeSpec)),
	"filters":                      key(namedSpec(filterRuleSpec)),
	"column-mappings":              key(namedSpec(columnMappingSpec)),
	"expression-filter":            key(namedSpec(expressionFilterSpec)),
	"black-white-list":             aliasOf("block-allow-list"),
	"block-allow-list":             key(namedSpec(baListSpec)),
	"mydumpers":                    key(namedSpec(mydumperSpec)),
	"loaders":                      key(namedSpec(loaderSpec)),
	"syncers":                      key(namedSpec(syncerSpec)),
	"validators":                   key(namedSpec(validatorSpec)),
	"clean-dump-file":              dropped(boolSpec, whyNoDumpFiles),
	"ansi-quotes":                  dropped(boolSpec, whyDeprecated),
	"remove-meta":                  dropped(boolSpec, "deprecated in DM, replaced by start-task --remove-meta"),
	"experimental":                 dropped(experimentalSpec, ""),
})

// validatorSpec is DM's continuous validator (validators.NAME).
var validatorSpec = mapSpec(map[string]*field{
	"mode":                  key(stringSpec),
	"worker-count":          key(intSpec),
	"validate-interval":     key(stringSpec),
	"check-interval":        key(stringSpec),
	"row-error-delay":       key(stringSpec),
	"meta-flush-interval":   key(stringSpec),
	"batch-query-size":      key(intSpec),
	"max-pending-row-size":  key(stringSpec),
	"max-pending-row-count": key(intSpec),
})

// experimentalSpec is DM's experimental section, as DM's config task
// writes it.
var experimentalSpec = mapSpec(map[string]*field{
	"async-checkpoint-flush": ignored(boolSpec, whyCheckpoint),
})

// purgeSpec is DM's relay purge block. expires maps (see Purge);
// interval and remain-space do not: dmnode trims the relay on every
// retention pass, and bounds it with relay-max-size rather than with the
// free space of a disk it does not see.
var purgeSpec = mapSpec(map[string]*field{
	"interval":     ignored(intSpec, "dmnode trims the relay continuously, a few seconds after no task needs a message"),
	"expires":      key(intSpec),
	"remain-space": ignored(intSpec, "the relay is a JetStream stream, not a local directory: relay-max-size bounds it"),
})

var checkerSpec = mapSpec(map[string]*field{
	"check-enable":     key(boolSpec),
	"backoff-rollback": key(stringSpec),
	"backoff-max":      key(stringSpec),
	"check-interval":   key(stringSpec),
	"backoff-min":      key(stringSpec),
	"backoff-jitter":   key(boolSpec),
	"backoff-factor":   key(stringSpec),
})

var sourceSpec = mapSpec(map[string]*field{
	"enable":            {spec: boolSpec, check: checkEnable, drop: true},
	"enable-gtid":       key(boolSpec),
	"auto-fix-gtid":     dropped(boolSpec, whyDeprecated),
	"relay-dir":         dropped(stringSpec, whyRelay),
	"meta-dir":          dropped(stringSpec, whyDeprecated),
	"flavor":            key(stringSpec),
	"charset":           dropped(stringSpec, whyDeprecated),
	"enable-relay":      ignored(boolSpec, "the source's binlog stream is always the relay, shared by its tasks"),
	"relay-binlog-name": key(stringSpec),
	"relay-binlog-gtid": key(stringSpec),
	"source-id":         key(stringSpec),
	"from":              key(dbSpec),
	"purge":             key(purgeSpec),
	"checker":           dropped(checkerSpec, "dmnode restarts failed actors with its own backoff"),
	"server-id":         key(uint32Spec),
	"tracer":            dropped(anySpec, whyDeprecated),
	"case-sensitive":    key(boolSpec),
	"filters":           key(listOf(filterRuleSpec)),

	// dmnode's own: the relay's cap and the purge guard's margin.
	"relay-max-size":      key(stringSpec),
	"binlog-purge-margin": key(stringSpec),
})
