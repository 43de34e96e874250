package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestUpdateRefused(t *testing.T) {
	base := `name: t
task-mode: all
target-database: {host: 127.0.0.1, port: 3306, user: root, password: ""}
mysql-instances:
  - source-id: s1
    block-allow-list: ba
    filter-rules: [f1]
    syncer-config-name: global
block-allow-list:
  ba: {do-dbs: ["db"]}
filters:
  f1: {schema-pattern: "db", events: ["truncate table"], action: Ignore}
syncers:
  global: {worker-count: 16, batch: 100}
`
	old, err := DecodeTask("t.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, from, to string
		want           []string
	}{
		{"nothing changed", "", "", nil},
		{"a filter changed", `events: ["truncate table"]`, `events: ["truncate table", "drop table"]`, nil},
		{"an instance's expression filters changed", `filter-rules: [f1]`, `filter-rules: [f1]
    expression-filters: [big]`, nil},
		{"syncer settings changed", `worker-count: 16`, `worker-count: 32`, nil},
		{"the block/allow list changed", `do-dbs: ["db"]`, `do-dbs: ["db", "other"]`, []string{"block-allow-list"}},
		{"the target changed", `port: 3306`, `port: 4000`, []string{"target-database"}},
		{"an instance's source changed", `source-id: s1`, `source-id: s2`, []string{"mysql-instances[].source-id"}},
		{"the mode changed", `task-mode: all`, `task-mode: incremental`, []string{"task-mode"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(base, tc.from, tc.to, 1)
			if strings.Contains(tc.to, "expression-filters") {
				text += "expression-filter:\n  big: {schema: db, table: t, insert-value-expr: \"id > 10\"}\n"
			}
			nt, err := DecodeTask("t.yaml", []byte(text))
			if err != nil {
				t.Fatal(err)
			}
			if got := UpdateRefused(old, nt); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("refused %v, want %v", got, tc.want)
			}
		})
	}
}
