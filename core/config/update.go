package config

import (
	"fmt"
	"reflect"
)

// Updatable names the settings `task update` may change while the task
// keeps its checkpoints: what is filtered (binlog event and expression
// filters, which the appliers apply from their next event on) and how fast
// the units work. Everything else (routes, mappings, block/allow lists,
// sources, target, modes) decides which target rows exist, so changing it
// under a running migration would leave rows copied under the old rules.
var Updatable = []string{
	"filters", "expression-filter", "syncers", "loaders", "mydumpers",
	"ignore-checking-items",
	"mysql-instances[].filter-rules", "mysql-instances[].expression-filters",
	"mysql-instances[].syncer-config-name", "mysql-instances[].syncer", "mysql-instances[].syncer-thread",
	"mysql-instances[].loader-config-name", "mysql-instances[].loader", "mysql-instances[].loader-thread",
	"mysql-instances[].mydumper-config-name", "mysql-instances[].mydumper", "mysql-instances[].mydumper-thread",
}

// UpdateRefused compares a task with its proposed new version and returns
// the keys that differ but may not change in place (see Updatable), in the
// order of the file format. Empty means the update may go ahead.
func UpdateRefused(old, new *Task) []string {
	allowed := map[string]bool{}
	for _, k := range Updatable {
		allowed[k] = true
	}
	var refused []string
	refused = append(refused, diffFields("", reflect.ValueOf(*old), reflect.ValueOf(*new), allowed)...)
	if len(old.MySQLInstances) != len(new.MySQLInstances) {
		return append(refused, "mysql-instances")
	}
	seen := map[string]bool{}
	for i := range old.MySQLInstances {
		for _, k := range diffFields("mysql-instances[].", reflect.ValueOf(old.MySQLInstances[i]), reflect.ValueOf(new.MySQLInstances[i]), allowed) {
			if !seen[k] {
				seen[k] = true
				refused = append(refused, k)
			}
		}
	}
	return refused
}

// diffFields returns prefix+key of the YAML fields of two structs that
// differ and are not allowed to; fields without a YAML key are derived and
// skipped (they follow from the keys), as are nested instances, compared
// one by one by the caller.
func diffFields(prefix string, a, b reflect.Value, allowed map[string]bool) []string {
	var out []string
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		key := t.Field(i).Tag.Get("yaml")
		if key == "" || key == "-" || prefix == "" && key == "mysql-instances" {
			continue
		}
		if name := prefix + key; !allowed[name] && !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			out = append(out, name)
		}
	}
	return out
}

// RefusedUpdateError names the keys an update may not change.
type RefusedUpdateError struct {
	Task string
	Keys []string
}

func (e *RefusedUpdateError) Error() string {
	return fmt.Sprintf("task %s: these keys cannot change while the task keeps its checkpoints: %v; "+
		"only %v can; to change the others, delete the task with --purge and start it again", e.Task, e.Keys, Updatable)
}
