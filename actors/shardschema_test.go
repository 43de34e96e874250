package actors

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/shardddl"
)

// shardSchemaRun is an applier run of an optimistic task whose catalog
// records member's CREATE TABLE at pos 10.
func shardSchemaRun(t *testing.T, m shardddl.Member, create string) *applyRun {
	t.Helper()
	task := &config.Task{Name: "t", MySQLInstances: []config.Instance{{SourceID: "s"}}}
	rl, err := rules.Compile(task, &task.MySQLInstances[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	st := catalog.New()
	st.ShardDDL = map[string]*catalog.ShardTask{"t": {Schemas: map[string]catalog.MemberSchema{
		m.String(): {Pos: shardddl.Position{Binlog: dmnode.Position{File: "b.1", Pos: 10}}, CreateSQL: create}}}}
	return &applyRun{a: &Applier{env: Env{Catalog: func() *catalog.State { return st }}, task: "t", source: "s"},
		te: &taskEnv{task: task, rules: rl}, shard: &shardState{mode: shardddl.Optimistic}}
}

// On the shard path a table's definition comes from the parse that made
// the table: registering a table of the schema history, stored without
// its definition, parses its CREATE TABLE once (two parses before), and the member's table after a DDL carries its definition from the
// tracker (the recorded CREATE TABLE, the DDL, and the tracker's ALTER
// of the table's text: three parses, where reading the definition from
// the result's CreateSQL took two more).
func TestShardDefinitionParsedOnce(t *testing.T) {
	m := shardddl.Member{Source: "s", Schema: "db", Table: "t"}
	const create = "CREATE TABLE `t` (`id` int NOT NULL, `v` varchar(10) DEFAULT 'x', PRIMARY KEY (`id`)) DEFAULT CHARSET=utf8mb4"
	r := shardSchemaRun(t, m, create)

	// Registration, from a table as the schema history stores it.
	parsed, err := schema.ParseCreateTable("db", create)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(parsed)
	var stored schema.Table
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	before := schema.Parses()
	reg, err := r.registration(&stored)
	if n := schema.Parses() - before; err != nil || n != 1 {
		t.Fatalf("registration: %v, %d parses, want 1", err, n)
	}
	if !reflect.DeepEqual(reg.Schema, parsed.Def) {
		t.Errorf("registered definition %+v, want %+v", reg.Schema, parsed.Def)
	}

	// The member's table after its DDL.
	c := &dmnode.Change{DDLSchema: "db", DDL: "ALTER TABLE t ADD COLUMN e enum('a','b') NOT NULL DEFAULT 'a'"}
	at := shardddl.Position{Binlog: dmnode.Position{File: "b.1", Pos: 20}}
	before = schema.Parses()
	after, err := r.schemaAfter(m, c, at)
	if err != nil {
		t.Fatal(err)
	}
	def, err := after.Definition()
	if n := schema.Parses() - before; err != nil || n != 3 {
		t.Errorf("schema after the DDL: %v, %d parses, want 3", err, n)
	}
	if e, ok := def.Column("e"); !ok || e.Type != "enum" || e.Charset != "utf8mb4" || e.Default == nil || *e.Default != "'a'" {
		t.Errorf("column e: %+v", e)
	}
	again, err := schema.ParseCreateTable("db", after.CreateSQL)
	if err != nil || !reflect.DeepEqual(again.Def, def) {
		t.Errorf("definition %+v differs from its CreateSQL's %+v (%v)", def, again.Def, err)
	}

	// Asked again at the recorded position: one parse.
	before = schema.Parses()
	if tbl, err := r.schemaAfter(m, c, shardddl.Position{Binlog: dmnode.Position{File: "b.1", Pos: 10}}); err != nil || tbl.Def == nil {
		t.Fatalf("asked before: %+v, %v", tbl, err)
	}
	if n := schema.Parses() - before; n != 1 {
		t.Errorf("asked before: %d parses, want 1", n)
	}
}
