package rules

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/pattern"
)

// systemSchemas are never migrated, whatever the block/allow list says.
var systemSchemas = []string{"mysql", "information_schema", "performance_schema", "sys"}

// IsSystemSchema reports whether schema is one of the server's own
// (mysql, information_schema, performance_schema, sys), in any case.
func IsSystemSchema(schema string) bool {
	for _, s := range systemSchemas {
		if strings.EqualFold(schema, s) {
			return true
		}
	}
	return false
}

// tablePattern is one do-tables or ignore-tables entry.
type tablePattern struct {
	schema, table pattern.Pattern
}

func (t *tablePattern) match(schema, table string) bool {
	return t.schema.Match(schema) && t.table.Match(table)
}

// baList is a compiled block/allow list.
type baList struct {
	doDBs, ignoreDBs       []pattern.Pattern
	doTables, ignoreTables []tablePattern
}

// compileBAList compiles the named block/allow list rule.
func compileBAList(name string, rule *config.BAListRule, caseSensitive bool) (*baList, error) {
	if rule == nil {
		return nil, fmt.Errorf("block-allow-list %q is not defined", name)
	}
	var errs []error
	ba := &baList{}
	compileList := func(key string, list []string) []pattern.Pattern {
		out := make([]pattern.Pattern, 0, len(list))
		for i, raw := range list {
			p, err := pattern.Compile(raw, caseSensitive)
			if err != nil {
				errs = append(errs, fmt.Errorf("block-allow-list %q %s[%d]: %w", name, key, i, err))
				continue
			}
			out = append(out, p)
		}
		return out
	}
	compileTables := func(key string, list []config.TableRef) []tablePattern {
		out := make([]tablePattern, 0, len(list))
		for i, ref := range list {
			if ref.DBName == "" || ref.TblName == "" {
				errs = append(errs, fmt.Errorf("block-allow-list %q %s[%d]: db-name and tbl-name are both required", name, key, i))
				continue
			}
			s, err1 := pattern.Compile(ref.DBName, caseSensitive)
			t, err2 := pattern.Compile(ref.TblName, caseSensitive)
			if err := errors.Join(err1, err2); err != nil {
				errs = append(errs, fmt.Errorf("block-allow-list %q %s[%d]: %w", name, key, i, err))
				continue
			}
			out = append(out, tablePattern{schema: s, table: t})
		}
		return out
	}
	ba.doDBs = compileList("do-dbs", rule.DoDBs)
	ba.ignoreDBs = compileList("ignore-dbs", rule.IgnoreDBs)
	ba.doTables = compileTables("do-tables", rule.DoTables)
	ba.ignoreTables = compileTables("ignore-tables", rule.IgnoreTables)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ba, nil
}

// schemaPasses is the schema level of MySQL's row-based filter: a non-empty
// do-dbs must match; otherwise a matching ignore-dbs entry filters.
func (ba *baList) schemaPasses(schema string) bool {
	if len(ba.doDBs) > 0 {
		return anyMatch(ba.doDBs, schema)
	}
	return !anyMatch(ba.ignoreDBs, schema)
}

// tablePasses is the table level: a non-empty do-tables must match;
// otherwise a matching ignore-tables entry filters.
func (ba *baList) tablePasses(schema, table string) bool {
	if len(ba.doTables) > 0 {
		for i := range ba.doTables {
			if ba.doTables[i].match(schema, table) {
				return true
			}
		}
		return false
	}
	for i := range ba.ignoreTables {
		if ba.ignoreTables[i].match(schema, table) {
			return false
		}
	}
	return true
}

// schemaReferenced reports whether a schema can hold a migrated table at
// all: with do-tables, some entry's db-name must match it.
func (ba *baList) schemaReferenced(schema string) bool {
	if len(ba.doTables) == 0 {
		return true
	}
	for i := range ba.doTables {
		if ba.doTables[i].schema.Match(schema) {
			return true
		}
	}
	return false
}

func anyMatch(list []pattern.Pattern, name string) bool {
	for i := range list {
		if list[i].Match(name) {
			return true
		}
	}
	return false
}
