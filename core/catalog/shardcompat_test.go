package catalog

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/shardddl"
)

// TestShardEntriesOfOlderVersion: Raft entries and a snapshot written
// before core/shardddl's table model became schema.Definition
// (testdata/shard-optimistic-v1.jsonl: two registrations and an arrival
// of an optimistic task, then the task's shard state as the snapshot held
// it) decode, apply to the same state, and encode to the same bytes; the
// definitions they carry are those core/schema fills when it parses the
// members' CREATE TABLE, which MemberSchema keeps as text.
func TestShardEntriesOfOlderVersion(t *testing.T) {
	data, err := os.ReadFile("testdata/shard-optimistic-v1.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	entries, snapshot := lines[:len(lines)-1], lines[len(lines)-1]

	s := newTaskState(t, ModeAll)
	before := schema.Parses()
	for _, e := range entries {
		var c Command
		if err := json.Unmarshal(e, &c); err != nil {
			t.Fatalf("decode entry: %v", err)
		}
		if again, _ := json.Marshal(c); !bytes.Equal(again, e) {
			t.Errorf("entry re-encoded:\n%s\nwas\n%s", again, e)
		}
		exec(t, s, c)
	}
	if n := schema.Parses() - before; n != 0 {
		t.Errorf("applying the entries parsed %d statements", n)
	}
	if got, _ := json.Marshal(s.ShardDDL["t"]); !bytes.Equal(got, snapshot) {
		t.Errorf("state after the entries:\n%s\nthe older version's:\n%s", got, snapshot)
	}

	var st ShardTask
	if err := json.Unmarshal(snapshot, &st); err != nil {
		t.Fatalf("decode snapshot: %v", err)
	}
	if again, _ := json.Marshal(&st); !bytes.Equal(again, snapshot) {
		t.Errorf("snapshot re-encoded:\n%s\nwas\n%s", again, snapshot)
	}
	m1 := shardddl.Member{Source: "s1", Schema: "db", Table: "t1"}
	ms, ok := st.Schemas[m1.String()]
	if !ok || ms.Pos.Binlog.Pos != 100 {
		t.Fatalf("member schema of %s: %+v", m1, ms)
	}
	tbl, err := schema.ParseCreateTable("db", ms.CreateSQL)
	if err != nil {
		t.Fatal(err)
	}
	joined := st.Manager.Joined(schema.TableRef{Schema: "tgt", Name: "t"})
	if !reflect.DeepEqual(joined, tbl.Def) {
		t.Errorf("joined definition %+v\nwant the parsed one %+v", joined, tbl.Def)
	}
	if c, ok := joined.Column("e"); !ok || c.Type != "enum" || c.Charset != "utf8mb4" || c.Default == nil || *c.Default != "'a'" {
		t.Errorf("column e: %+v", c)
	}
}
