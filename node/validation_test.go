package node

import (
	"testing"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/catalog"
)

// A validator is placed beside each applier of a source whose validator
// mode is fast or full, and only there.
func TestWithValidators(t *testing.T) {
	yaml := `name: v
task-mode: all
target-database: {host: 127.0.0.1, port: 4000, user: root}
mysql-instances:
  - source-id: a
    validator-config-name: full
  - source-id: b
    validator-config-name: off
  - source-id: c
    validator-config-name: full
validators:
  full: {mode: full}
  off: {mode: none}
`
	st := &catalog.State{Tasks: map[string]*catalog.Task{"v": {Name: "v", File: "v.yaml", YAML: yaml}}}
	desired := []catalog.ActorSpec{
		{Kind: catalog.KindApply, Task: "v", Source: "a"},
		{Kind: catalog.KindApply, Task: "v", Source: "b"},
		{Kind: catalog.KindLoad, Task: "v", Source: "c"}, // still loading: no validator yet
		{Kind: catalog.KindTail, Source: "a"},
	}
	got := withValidators(st, desired)
	var validators []string
	for _, a := range got {
		if a.Kind == actors.KindValidate {
			validators = append(validators, a.ID())
		}
	}
	if len(got) != 5 || len(validators) != 1 || validators[0] != "validate/v/a" {
		t.Fatalf("desired %v, validators %v", got, validators)
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].ID() > got[i].ID() {
			t.Fatalf("not sorted: %v", got)
		}
	}
}
