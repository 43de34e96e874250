package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// baseTask is the smallest valid task; task() appends to it, so appended
// lines start at line 8 and lines indented by four spaces belong to the
// instance s1.
const baseTask = `name: t
task-mode: all
target-database:
  host: 127.0.0.1
  port: 4000
mysql-instances:
  - source-id: s1
`

func task(extra string) string { return baseTask + extra }

// findings returns the messages of a Decode error, one per finding.
func findings(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error is not joined: %v", err)
	}
	var out []string
	for _, e := range joined.Unwrap() {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("finding is not an *Error: %T %v", e, e)
		}
		out = append(out, ce.Error())
	}
	return out
}

// fileCase is a file and the exact findings (errors or warnings) it gives.
type fileCase struct {
	name string
	yaml string
	want []string
}

// taskErrorCases covers every error DecodeTask reports.
var taskErrorCases = []fileCase{
	{"syntax", "name: t\ntask-mode: [all\n", []string{
		"task.yaml:2:12: sequence end token ']' not found",
	}},
	{"duplicate key", task("name: u\n"), []string{
		`task.yaml:8:1: mapping key "name" already defined at [1:1]`,
	}},
	{"two documents", baseTask + "---\nname: u\n", []string{
		"task.yaml:9:1: only one YAML document is allowed",
	}},
	{"not a mapping", "- name: t\n", []string{
		"task.yaml: must be a mapping",
	}},
	{"empty file", "", []string{
		"task.yaml: mysql-instances: at least one instance is required",
		"task.yaml: name: required",
		"task.yaml: target-database: required",
		"task.yaml: task-mode: required: full, incremental or all",
	}},
	{"task-mode invalid", strings.Replace(baseTask, "task-mode: all", "task-mode: everything", 1), []string{
		`task.yaml:2:1: task-mode: invalid value "everything": must be full, incremental or all`,
	}},
	{"task-mode dump", strings.Replace(baseTask, "task-mode: all", "task-mode: dump", 1), []string{
		"task.yaml:2:1: task-mode: not supported yet: dump (supported: full, incremental, all)",
	}},
	{"task-mode load&sync", strings.Replace(baseTask, "task-mode: all", "task-mode: load&sync", 1), []string{
		"task.yaml:2:1: task-mode: not supported yet: load&sync (supported: full, incremental, all)",
	}},
	{"shard-mode invalid", task("shard-mode: eager\n"), []string{
		`task.yaml:8:1: shard-mode: invalid value "eager": must be pessimistic or optimistic, or empty for no shard DDL coordination`,
	}},
	{"is-sharding contradicts shard-mode", task("is-sharding: false\nshard-mode: optimistic\n"), []string{
		"task.yaml:8:1: is-sharding: false contradicts shard-mode: optimistic (line 9): remove is-sharding",
	}},
	{"target host and port missing", "name: t\ntask-mode: all\ntarget-database:\n  user: root\nmysql-instances:\n  - source-id: s1\n", []string{
		"task.yaml:3:1: target-database.host: required",
		"task.yaml:3:1: target-database.port: required",
	}},
	{"target port out of range", strings.Replace(baseTask, "4000", "70000", 1), []string{
		"task.yaml:5:3: target-database.port: must be from 1 to 65535",
	}},
	{"no instances", strings.Replace(baseTask, "  - source-id: s1\n", "", 1), []string{
		"task.yaml:6:1: mysql-instances: at least one instance is required",
	}},
	{"instance not a mapping", task("  - s2\n"), []string{
		"task.yaml:8:5: mysql-instances[1]: must be a mapping",
	}},
	{"unreadable instance hides unused rules", task("  - [a]\nroutes:\n  r1: {schema-pattern: a, target-schema: a}\n"), []string{
		"task.yaml:8:5: mysql-instances[1]: must be a mapping",
	}},
	{"source-id missing", task("  - route-rules: []\n"), []string{
		"task.yaml:8:5: mysql-instances[1].source-id: required",
	}},
	{"source-id too long", task("  - source-id: " + strings.Repeat("x", 33) + "\n"), []string{
		"task.yaml:8:5: mysql-instances[1].source-id: longer than 32 characters",
	}},
	{"name too long", strings.Replace(baseTask, "name: t", "name: "+strings.Repeat("é", 129), 1), []string{
		"task.yaml:1:1: name: 129 characters, longer than 128 (the target's dmnode_meta tables key their rows by it)",
	}},
	{"name of 128 characters", strings.Replace(baseTask, "name: t", "name: "+strings.Repeat("é", 128), 1), nil},
	{"name ends with a space", strings.Replace(baseTask, "name: t", `name: "t "`, 1), []string{
		`task.yaml:1:1: name: "t ": begins or ends with a space`,
	}},
	{"name with a control character", strings.Replace(baseTask, "name: t", `name: "a\tb"`, 1), []string{
		`task.yaml:1:1: name: "a\tb": contains a control character`,
	}},
	{"source-id begins with a space", task("  - source-id: \" s2\"\n"), []string{
		`task.yaml:8:5: mysql-instances[1].source-id: " s2": begins or ends with a space`,
	}},
	{"source-id duplicate", task("  - source-id: s2\n  - source-id: s1\n"), []string{
		`task.yaml:9:5: mysql-instances[2].source-id: duplicate source-id "s1": mysql-instances[0].source-id at line 7 has it too`,
	}},
	{"unknown keys", task("    route-rulez: [r1]\nroute:\n  r1: {}\nfoo: 1\n"), []string{
		"task.yaml:8:5: mysql-instances[0].route-rulez: unknown key (did you mean route-rules?)",
		"task.yaml:9:1: route: unknown key (did you mean routes?)",
		"task.yaml:11:1: foo: unknown key",
	}},
	{"unknown nested key", task("    meta:\n      binlog-nmae: x\n"), []string{
		"task.yaml:9:7: mysql-instances[0].meta.binlog-nmae: unknown key (did you mean binlog-name?)",
	}},
	{"undefined references", task(strings.Join([]string{
		"    block-allow-list: ba",
		"    route-rules: [r1]",
		"    column-mapping-rules: [c1]",
		"    mydumper-config-name: m1",
		"    loader-config-name: l1",
		"    syncer-config-name: s1",
		"",
	}, "\n")), []string{
		`task.yaml:8:5: mysql-instances[0].block-allow-list: "ba" is not defined in block-allow-list`,
		`task.yaml:9:19: mysql-instances[0].route-rules[0]: "r1" is not defined in routes`,
		`task.yaml:10:28: mysql-instances[0].column-mapping-rules[0]: "c1" is not defined in column-mappings`,
		`task.yaml:11:5: mysql-instances[0].mydumper-config-name: "m1" is not defined in mydumpers`,
		`task.yaml:12:5: mysql-instances[0].loader-config-name: "l1" is not defined in loaders`,
		`task.yaml:13:5: mysql-instances[0].syncer-config-name: "s1" is not defined in syncers`,
	}},
	{"undefined reference via deprecated spelling", task("    black-white-list: ba\nblack-white-list:\n  other: {do-dbs: [a]}\n"), []string{
		`task.yaml:8:5: mysql-instances[0].black-white-list: "ba" is not defined in black-white-list`,
	}},
	{"rule listed twice", task("    route-rules: [r1, r1]\n    column-mapping-rules:\n      - c1\n      - c1\n" +
		"routes:\n  r1: {schema-pattern: a, target-schema: a}\n" +
		"column-mappings:\n  c1: {schema-pattern: a, target-column: id, expression: add prefix, arguments: [x]}\n"), []string{
		`task.yaml:8:23: mysql-instances[0].route-rules[1]: "r1" is listed twice (first as mysql-instances[0].route-rules[0])`,
		`task.yaml:11:9: mysql-instances[0].column-mapping-rules[1]: "c1" is listed twice (first as mysql-instances[0].column-mapping-rules[0])`,
	}},
	{"empty rule name", task("    route-rules: [\"\"]\n"), []string{
		"task.yaml:8:19: mysql-instances[0].route-rules[0]: empty rule name",
	}},
	{"unused rules", task(strings.Join([]string{
		"block-allow-list:",
		"  ba: {do-dbs: [a]}",
		"routes:",
		"  r1: {schema-pattern: a, target-schema: a}",
		"column-mappings:",
		"  c1: {schema-pattern: a, target-column: id, expression: add prefix, arguments: [x]}",
		"mydumpers:",
		"  m1: {threads: 1}",
		"loaders:",
		"  l1: {pool-size: 1}",
		"syncers:",
		"  s1: {batch: 1}",
		"",
	}, "\n")), []string{
		"task.yaml:11:3: routes.r1: defined but never used: no mysql-instances entry refers to it",
		"task.yaml:13:3: column-mappings.c1: defined but never used: no mysql-instances entry refers to it",
		"task.yaml:15:3: mydumpers.m1: defined but never used: no mysql-instances entry refers to it",
		"task.yaml:17:3: loaders.l1: defined but never used: no mysql-instances entry refers to it",
		"task.yaml:19:3: syncers.s1: defined but never used: no mysql-instances entry refers to it",
	}},
	{"named and inline unit config", task(strings.Join([]string{
		"    mydumper-config-name: m",
		"    mydumper: {threads: 2}",
		"    loader-config-name: l",
		"    loader: {pool-size: 2}",
		"    syncer-config-name: s",
		"    syncer: {batch: 2}",
		"mydumpers: {m: {threads: 1}}",
		"loaders: {l: {pool-size: 1}}",
		"syncers: {s: {batch: 1}}",
		"",
	}, "\n")), []string{
		"task.yaml:9:5: mysql-instances[0].mydumper: conflicts with mysql-instances[0].mydumper-config-name (line 8): write either one",
		"task.yaml:11:5: mysql-instances[0].loader: conflicts with mysql-instances[0].loader-config-name (line 10): write either one",
		"task.yaml:13:5: mysql-instances[0].syncer: conflicts with mysql-instances[0].syncer-config-name (line 12): write either one",
	}},
	{"route required keys", task("    route-rules: [r1]\nroutes:\n  r1:\n    table-pattern: t*\n"), []string{
		"task.yaml:10:3: routes.r1.schema-pattern: required",
		"task.yaml:10:3: routes.r1.target-schema: required",
	}},
	{"route extractors", task(strings.Join([]string{
		"    route-rules: [r1]",
		"routes:",
		"  r1:",
		"    schema-pattern: db*",
		"    table-pattern: t*",
		"    target-schema: db",
		"    target-table: t",
		"    extract-table:",
		"      table-regexp: \"t_(.*\"",
		"      target-column: c_table",
		"    extract-schema:",
		"      table-regexp: \"db_(.*)\"",
		"    extract-source:",
		"      target-column: c_source",
		"",
	}, "\n")), []string{
		"task.yaml:16:7: routes.r1.extract-table.table-regexp: invalid regular expression: error parsing regexp: missing closing ): `t_(.*`",
		"task.yaml:18:5: routes.r1.extract-schema.schema-regexp: required",
		"task.yaml:18:5: routes.r1.extract-schema.target-column: required",
		"task.yaml:19:7: routes.r1.extract-schema.table-regexp: extract-schema takes schema-regexp, not table-regexp",
		"task.yaml:20:5: routes.r1.extract-source.source-regexp: required",
	}},
	{"route regexp pattern", task("    route-rules: [r1]\nroutes:\n  r1: {schema-pattern: \"~db[\", target-schema: db}\n"), []string{
		"task.yaml:10:8: routes.r1.schema-pattern: invalid regular expression: error parsing regexp: missing closing ]: `[`",
	}},
	{"column mappings", task(strings.Join([]string{
		"    column-mapping-rules: [c1, c2, c3, c4, c5, c6]",
		"column-mappings:",
		"  c1: {schema-pattern: a, target-column: id, expression: partition id, arguments: [\"1\", \"\"]}",
		"  c2: {schema-pattern: a, target-column: id, expression: partition id, arguments: [\"16\", \"\", t]}",
		"  c3: {schema-pattern: a, target-column: id, expression: partition id, arguments: [\"-1\", s, t, _]}",
		"  c4: {schema-pattern: a, target-column: id, expression: add prefix, arguments: [x, y]}",
		"  c5: {schema-pattern: a, expression: add suffix, arguments: [x]}",
		"  c6: {table-pattern: t, target-column: id, expression: clone}",
		"",
	}, "\n")), []string{
		"task.yaml:10:72: column-mappings.c1.arguments: partition id takes 3 or 4 arguments (instance id, schema prefix, table prefix, separator), not 2",
		`task.yaml:11:84: column-mappings.c2.arguments[0]: instance id "16" must be empty or a decimal number from 0 to 15`,
		`task.yaml:12:84: column-mappings.c3.arguments[0]: instance id "-1" must be empty or a decimal number from 0 to 15`,
		"task.yaml:13:70: column-mappings.c4.arguments: add prefix takes exactly 1 argument, not 2",
		"task.yaml:14:3: column-mappings.c5.target-column: required",
		"task.yaml:15:3: column-mappings.c6.schema-pattern: required",
		`task.yaml:15:45: column-mappings.c6.expression: invalid value "clone": must be "partition id", "add prefix" or "add suffix"`,
	}},
	{"column mapping without expression", task("    column-mapping-rules: [c1]\ncolumn-mappings:\n  c1: {schema-pattern: a, target-column: id}\n"), []string{
		`task.yaml:10:3: column-mappings.c1.expression: required: "partition id", "add prefix" or "add suffix"`,
	}},
	{"block-allow-list tables", task(strings.Join([]string{
		"    block-allow-list: ba",
		"block-allow-list:",
		"  ba:",
		"    do-dbs: [\"~(\"]",
		"    do-tables:",
		"      - db-name: a",
		"      - tbl-name: b",
		"    ignore-tables:",
		"      - {db-name: a}",
		"",
	}, "\n")), []string{
		"task.yaml:11:14: block-allow-list.ba.do-dbs[0]: invalid regular expression: error parsing regexp: missing closing ): `(`",
		"task.yaml:13:9: block-allow-list.ba.do-tables[0].tbl-name: required",
		"task.yaml:14:9: block-allow-list.ba.do-tables[1].db-name: required",
		"task.yaml:16:10: block-allow-list.ba.ignore-tables[0].tbl-name: required",
	}},
	{"meta of an incremental task", strings.Replace(baseTask, "task-mode: all", "task-mode: incremental", 1) + strings.Join([]string{
		"    meta: {binlog-gtid: \"\"}",
		"  - source-id: s2",
		"    meta:",
		"      binlog-name: mysql-bin.000001",
		"  - source-id: s3",
		"    meta:",
		"      binlog-pos: 4",
		"",
	}, "\n"), []string{
		"task.yaml:8:5: mysql-instances[0].meta: needs binlog-name and binlog-pos, or binlog-gtid",
		"task.yaml:10:5: mysql-instances[1].meta.binlog-pos: required with binlog-name, or write binlog-gtid",
		"task.yaml:13:5: mysql-instances[2].meta.binlog-name: required with binlog-pos, or write binlog-gtid",
	}},
	{"task keys DM refuses", task(strings.Join([]string{
		"validators:",
		"  v1: {mode: everything, row-error-delay: soon, max-pending-row-size: lots}",
		"experimental:",
		"  async-checkpoint-flush: true",
		"strict-optimistic-shard-mode: true",
		"mariadb2tidb: {mode: \"on\"}",
		"",
	}, "\n")), []string{
		"task.yaml:9:3: validators.v1: defined but never used: no mysql-instances entry refers to it",
		`task.yaml:9:8: validators.v1.mode: invalid value "everything": must be none, fast or full`,
		`task.yaml:9:26: validators.v1.row-error-delay: invalid duration "soon" (write 30s, 5m, 1h30m)`,
		`task.yaml:9:49: validators.v1.max-pending-row-size: invalid size "lots" (write 500m, 1g)`,
		"task.yaml:12:1: strict-optimistic-shard-mode: needs shard-mode: optimistic, as in DM",
		"task.yaml:13:1: mariadb2tidb: not supported yet: MariaDB-to-TiDB conversion settings",
	}},
	{"instance and unit keys DM refuses", task(strings.Join([]string{
		"    validator-config-name: v1",
		"    mydumper: {extra-args: \"--consistency none --snapshot 5 --bogus -f x\", statement-size: -1}",
		"",
	}, "\n")), []string{
		`task.yaml:8:5: mysql-instances[0].validator-config-name: "v1" is not defined in validators`,
		"task.yaml:9:16: mysql-instances[0].mydumper.extra-args: --bogus: unknown or unsupported dumpling flag",
		"task.yaml:9:16: mysql-instances[0].mydumper.extra-args: --filter: not supported: write the tables in block-allow-list (or --tables-list)",
		"task.yaml:9:16: mysql-instances[0].mydumper.extra-args: --snapshot: not supported: dmnode takes its own snapshot; remove the flag",
		"task.yaml:9:76: mysql-instances[0].mydumper.statement-size: must be positive",
	}},
	{"filters", task(strings.Join([]string{
		"    filter-rules: [f1, f2, f3, f1, nope, \"\"]",
		"filters:",
		"  f1:",
		"    table-pattern: \"~(\"",
		"    events: [\"drop colum\", insert, \"\", \"upsert\"]",
		"    sql-pattern: [\"(\", ok]",
		"    action: ignore",
		"  f2: {schema-pattern: \"s[\", action: Do}",
		"  f3: {schema-pattern: s}",
		"  f4: {schema-pattern: s, events: [insert], action: Error}",
		"",
	}, "\n")), []string{
		`task.yaml:8:32: mysql-instances[0].filter-rules[3]: "f1" is listed twice (first as mysql-instances[0].filter-rules[0])`,
		`task.yaml:8:36: mysql-instances[0].filter-rules[4]: "nope" is not defined in filters`,
		"task.yaml:8:42: mysql-instances[0].filter-rules[5]: empty rule name",
		"task.yaml:10:3: filters.f1.schema-pattern: required",
		"task.yaml:11:5: filters.f1.table-pattern: invalid regular expression: error parsing regexp: missing closing ): `(`",
		`task.yaml:12:14: filters.f1.events[0]: unknown event "drop colum" (did you mean "drop column"?)`,
		"task.yaml:12:36: filters.f1.events[2]: empty event name",
		`task.yaml:12:40: filters.f1.events[3]: unknown event "upsert" (did you mean "insert"?)`,
		"task.yaml:13:19: filters.f1.sql-pattern[0]: invalid regular expression: error parsing regexp: missing closing ): `(`",
		`task.yaml:14:5: filters.f1.action: invalid value "ignore": must be Do, Ignore or Error (capitalized, as in DM)`,
		"task.yaml:16:3: filters.f3.action: required: Do, Ignore or Error",
		"task.yaml:17:3: filters.f4: defined but never used: no mysql-instances entry refers to it",
	}},
	{"expression filters", task(strings.Join([]string{
		"    expression-filters: [e1, e2, e3, e4, e5, e6, nope]",
		"expression-filter:",
		"  e1: {schema: s, table: t, insert-value-expr: \"JSON_EXTRACT(a, '$.x') = 1\"}",
		"  e2: {schema: s, insert-value-expr: \"a > 1\", delete-value-expr: \"a < 1\"}",
		"  e3: {schema: s, table: t}",
		"  e4: {schema: s, table: t, update-old-value-expr: \"a = NOW()\", update-new-value-expr: \"a >\"}",
		"  e5: {table: t, insert-value-expr: \"b = 2\", update-new-value-expr: \"b = 1\"}",
		"  e6: {schema: s, table: t, delete-value-expr: \"t.a = 1 OR a & 2\"}",
		"  e7: {schema: s, table: t, delete-value-expr: \"a = 1\"}",
		"",
	}, "\n")), []string{
		`task.yaml:8:50: mysql-instances[0].expression-filters[6]: "nope" is not defined in expression-filter`,
		"task.yaml:11:3: expression-filter.e2.table: required",
		"task.yaml:11:47: expression-filter.e2.delete-value-expr: conflicts with expression-filter.e2.insert-value-expr (line 11): a rule filters one kind of row change; write another rule",
		"task.yaml:12:3: expression-filter.e3: needs insert-value-expr, update-old-value-expr and/or update-new-value-expr, or delete-value-expr",
		`task.yaml:13:65: expression-filter.e4.update-new-value-expr: syntax error: line 1 column 3 near ""`,
		"task.yaml:14:3: expression-filter.e5.schema: required",
		"task.yaml:14:46: expression-filter.e5.update-new-value-expr: conflicts with expression-filter.e5.insert-value-expr (line 14): a rule filters one kind of row change; write another rule",
		"task.yaml:15:29: expression-filter.e6.delete-value-expr: qualified column name `t`.`a`: write the column name alone",
		"task.yaml:16:3: expression-filter.e7: defined but never used: no mysql-instances entry refers to it",
	}},
	{"online ddl", task(strings.Join([]string{
		"online-ddl: false",
		"online-ddl-scheme: gh-ost",
		"shadow-table-rules: [\"^_(.+)_gho$\", \"_new$\", \"(\", \"_(.+)_(new|gho)\"]",
		"trash-table-rules: [\"^_(.+)_del$\"]",
		"",
	}, "\n")), []string{
		"task.yaml:8:1: online-ddl: false contradicts online-ddl-scheme: gh-ost (line 9): remove online-ddl-scheme",
		"task.yaml:10:37: shadow-table-rules[1]: must have exactly one capture group, for the real table name, as in ^_(.+)_(?:new|gho)$",
		"task.yaml:10:46: shadow-table-rules[2]: invalid regular expression: error parsing regexp: missing closing ): `^($`",
		"task.yaml:10:51: shadow-table-rules[3]: must have exactly one capture group, for the real table name, as in ^_(.+)_(?:new|gho)$",
	}},
	{"online-ddl-scheme invalid", task("online-ddl-scheme: lhm\n"), []string{
		`task.yaml:8:1: online-ddl-scheme: invalid value "lhm": must be gh-ost or pt (deprecated: write online-ddl: true)`,
	}},
	{"named unit configs and a bad target security", strings.Replace(baseTask, "  port: 4000\n",
		"  port: 4000\n  security:\n    ssl-ca-base64: \"not base64!\"\n", 1) + strings.Join([]string{
		"    loader-config-name: l",
		"    mydumper-config-name: m",
		"loaders:",
		"  l: {import-mode: import-into}",
		"mydumpers:",
		"  m: {extra-args: \"--no-locks\"}",
		"",
	}, "\n"), []string{
		"task.yaml:7:5: target-database.security.ssl-ca-base64: not base64: illegal base64 data at input byte 3",
	}},
	{"DM's other refusals", task(strings.Join([]string{
		"    loader: {import-mode: import-into}",
		"    syncer: {safe-mode: true, safe-mode-duration: 0s}",
		"  - source-id: s2",
		"    syncer: {safe-mode-duration: soon}",
		"",
	}, "\n")), []string{
		"task.yaml:8:14: mysql-instances[0].loader.import-mode: import-into: DM refuses it for a task of several sources",
		"task.yaml:9:31: mysql-instances[0].syncer.safe-mode-duration: 0s contradicts safe-mode: true, as DM says",
		`task.yaml:11:14: mysql-instances[1].syncer.safe-mode-duration: invalid duration "soon" (write 60s, 5m)`,
	}},
	{"invalid unit values", task("    loader: {import-mode: fast, on-duplicate: merge}\n"), []string{
		`task.yaml:8:14: mysql-instances[0].loader.import-mode: invalid value "fast": must be logical, physical or import-into`,
		`task.yaml:8:33: mysql-instances[0].loader.on-duplicate: invalid value "merge": must be replace, ignore or error`,
	}},
	{"collation_compatible invalid", task("collation_compatible: medium\n"), []string{
		`task.yaml:8:1: collation_compatible: invalid value "medium": must be "loose" or "strict"`,
	}},
	{"negative counts", task(strings.Join([]string{
		"    mydumper-thread: -1",
		"    loader-thread: -2",
		"    syncer-thread: -3",
		"    mydumper: {threads: -1, rows: -1}",
		"    loader: {pool-size: -1}",
		"    syncer: {worker-count: -1, batch: -1}",
		"",
	}, "\n")), []string{
		"task.yaml:8:5: mysql-instances[0].mydumper-thread: must be positive",
		"task.yaml:9:5: mysql-instances[0].loader-thread: must be positive",
		"task.yaml:10:5: mysql-instances[0].syncer-thread: must be positive",
		"task.yaml:11:16: mysql-instances[0].mydumper.threads: must be positive",
		"task.yaml:11:29: mysql-instances[0].mydumper.rows: must be positive",
		"task.yaml:12:14: mysql-instances[0].loader.pool-size: must be positive",
		"task.yaml:13:14: mysql-instances[0].syncer.worker-count: must be positive",
		"task.yaml:13:32: mysql-instances[0].syncer.batch: must be positive",
	}},
	{"wrong types", strings.Replace(baseTask, "port: 4000", "port: \"4000\"", 1) + strings.Join([]string{
		"    route-rules: r1",
		"    meta: {binlog-pos: -4}",
		"    mydumper: {threads: 1.5, where: [a]}",
		"is-sharding: maybe",
		"routes: [r1]",
		"",
	}, "\n"), []string{
		"task.yaml:5:3: target-database.port: must be an integer",
		"task.yaml:8:5: mysql-instances[0].route-rules: must be a list",
		"task.yaml:9:12: mysql-instances[0].meta.binlog-pos: must be an integer from 0 to 4294967295",
		"task.yaml:10:16: mysql-instances[0].mydumper.threads: must be an integer",
		"task.yaml:10:30: mysql-instances[0].mydumper.where: must be a string",
		"task.yaml:11:1: is-sharding: must be true or false",
		"task.yaml:12:1: routes: must be a mapping",
	}},
	{"rule that is not a mapping", task("    route-rules: [r1]\nroutes:\n  r1:\n"), []string{
		"task.yaml:10:3: routes.r1: must be a mapping",
	}},
}

func TestDecodeTaskErrors(t *testing.T) {
	for _, tt := range taskErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			task, err := DecodeTask("task.yaml", []byte(tt.yaml))
			got := findings(t, err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tt.want, "\n     "))
			}
			if err != nil && task != nil {
				t.Errorf("DecodeTask returned a task with an error")
			}
		})
	}
}
