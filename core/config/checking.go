package config

import (
	"maps"
	"slices"
	"strings"
)

// Precheck items, named as in TiDB DM (dm/config/checking_item.go) so that
// a DM task's ignore-checking-items works unchanged.
const (
	CheckAll                  = "all"
	CheckVersion              = "version"
	CheckServerID             = "server_id"
	CheckBinlogEnable         = "binlog_enable"
	CheckBinlogFormat         = "binlog_format"
	CheckBinlogRowImage       = "binlog_row_image"
	CheckDumpPrivilege        = "dump_privilege"
	CheckReplicationPrivilege = "replication_privilege"
	CheckConnNumber           = "conn_number"
	CheckTableSchema          = "table_schema"
	CheckShardSchema          = "schema_of_shard_tables"
	CheckAutoIncrementID      = "auto_increment_ID"
	CheckMetaPosition         = "meta_position"
	CheckTargetPrivilege      = "target_privilege"
)

// CheckingItems lists the precheck items dmnode runs, with what each
// checks.
var CheckingItems = map[string]string{
	CheckVersion:              "the source's MySQL/MariaDB version is one dmnode supports",
	CheckServerID:             "the source has a server_id, so it serves replicas",
	CheckBinlogEnable:         "the source writes a binlog",
	CheckBinlogFormat:         "binlog_format is ROW",
	CheckBinlogRowImage:       "binlog_row_image is FULL",
	CheckDumpPrivilege:        "the source user may take the consistent snapshot and read every migrated table",
	CheckReplicationPrivilege: "the source user may read the binlog and the binlog position",
	CheckConnNumber:           "the source and target accept the connections the task opens",
	CheckTableSchema:          "migrated tables have a primary or unique key; pre-created target tables have every column written",
	CheckShardSchema:          "the tables merged into one target table have the same columns and keys",
	CheckAutoIncrementID:      "auto-increment keys of merged tables are kept apart by a column mapping or an extracted key column",
	CheckMetaPosition:         "the start position of an incremental task is still on the source",
	CheckTargetPrivilege:      "the target user may create, write and alter the target tables and dmnode's own",
}

// dmOnlyCheckingItems are DM's items for checks dmnode does not run: the
// online DDL and binlog_do_db checks, and Lightning's physical import checks.
var dmOnlyCheckingItems = []string{
	"online_ddl", "binlog_db",
	"empty_region", "region_distribution", "downstream_version", "free_space", "downstream_mutex_features",
}

// IgnoresCheck reports whether the task's ignore-checking-items skips item.
func (t *Task) IgnoresCheck(item string) bool {
	return slices.Contains(t.IgnoreCheckingItems, CheckAll) || slices.Contains(t.IgnoreCheckingItems, item)
}

// checkIgnoredItems checks the names in ignore-checking-items: an unknown
// name is an error, as in DM, and the name of a check dmnode does not run
// is a warning.
func checkIgnoredItems(r *report, items []string) {
	p := "ignore-checking-items"
	if r.skipped(p) {
		return
	}
	for i, item := range items {
		switch _, ok := CheckingItems[item]; {
		case ok || item == CheckAll:
		case slices.Contains(dmOnlyCheckingItems, item):
			r.warnf(indexPath(p, i), "ignored: dmnode does not run DM's %s check", item)
		default:
			known := append([]string{CheckAll}, slices.Sorted(maps.Keys(CheckingItems))...)
			r.errorf(indexPath(p, i), "unknown checking item %q (known: %s)", item, strings.Join(known, ", "))
		}
	}
}
