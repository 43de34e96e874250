package rules

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/pattern"
)

// Bit widths of a partition id, as in TiDB DM. Parts are packed from bit 62
// down (bit 63, the sign, stays 0); an omitted part takes no bits. The
// original value must stay below 2^44 whatever the layout.
const (
	instanceBits = 4
	schemaBits   = 7
	tableBits    = 8
	originalBits = 44
	maxOriginal  = int64(1) << originalBits // first value out of range
)

// mappingExpr is a column mapping expression.
type mappingExpr uint8

const (
	exprPartitionID mappingExpr = iota
	exprAddPrefix
	exprAddSuffix
)

var exprNames = map[string]mappingExpr{
	"partition id": exprPartitionID,
	"add prefix":   exprAddPrefix,
	"add suffix":   exprAddSuffix,
}

// columnMapping is one compiled column mapping rule.
type columnMapping struct {
	name          string
	schema, table pattern.Pattern
	isTable       bool // has a table-pattern
	column        string
	expr          mappingExpr
	affix         string // add prefix / add suffix argument

	// partition id arguments; an empty prefix leaves that part out.
	useInstance               bool
	instanceID                int64
	schemaPrefix, tablePrefix string
	sep                       string
}

// compileColumnMapping validates and compiles the named column mapping rule.
func compileColumnMapping(name string, rule *config.ColumnMappingRule, caseSensitive bool) (*columnMapping, error) {
	if rule == nil {
		return nil, fmt.Errorf("column mapping rule %q is not defined", name)
	}
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("column mapping rule %q: "+format, append([]any{name}, args...)...))
	}
	m := &columnMapping{name: name, column: rule.TargetColumn, isTable: rule.TablePattern != ""}
	var err error
	if rule.SchemaPattern == "" {
		fail("schema-pattern is required")
	} else if m.schema, err = pattern.Compile(rule.SchemaPattern, caseSensitive); err != nil {
		fail("schema-pattern: %w", err)
	}
	if m.isTable {
		if m.table, err = pattern.Compile(rule.TablePattern, caseSensitive); err != nil {
			fail("table-pattern: %w", err)
		}
	}
	if rule.TargetColumn == "" {
		fail("target-column is required")
	}
	expr, ok := exprNames[strings.ToLower(strings.TrimSpace(rule.Expression))]
	if !ok {
		fail("expression %q is not one of \"partition id\", \"add prefix\", \"add suffix\"", rule.Expression)
	}
	m.expr = expr
	if ok {
		if err := m.setArguments(rule.Arguments); err != nil {
			fail("%w", err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// setArguments checks the arguments of the rule's expression.
func (m *columnMapping) setArguments(args []string) error {
	if m.expr != exprPartitionID {
		if len(args) != 1 {
			return fmt.Errorf("expression needs exactly 1 argument, got %d", len(args))
		}
		m.affix = args[0]
		return nil
	}
	if len(args) != 3 && len(args) != 4 {
		return fmt.Errorf("partition id needs 3 or 4 arguments (instance id, schema prefix, table prefix, optional separator), got %d", len(args))
	}
	if args[0] != "" {
		id, err := strconv.ParseUint(args[0], 10, instanceBits)
		if err != nil {
			return fmt.Errorf("instance id %q is not an integer in [0, %d]", args[0], 1<<instanceBits-1)
		}
		m.useInstance, m.instanceID = true, int64(id)
	}
	m.schemaPrefix, m.tablePrefix = args[1], args[2]
	if len(args) == 4 {
		m.sep = args[3]
	}
	return nil
}

// matches reports whether the rule's patterns match schema.table.
func (m *columnMapping) matches(schema, table string) bool {
	return m.schema.Match(schema) && (!m.isTable || m.table.Match(table))
}

// partitionIDs are the parts of a partition id prefix.
type partitionIDs struct {
	instance, schema, table          int64
	useInstance, useSchema, useTable bool
}

// prefix packs the used parts from bit 62 down and checks their ranges.
func (p partitionIDs) prefix() (int64, error) {
	parts := []struct {
		what string
		use  bool
		id   int64
		bits uint
	}{
		{"instance id", p.useInstance, p.instance, instanceBits},
		{"schema id", p.useSchema, p.schema, schemaBits},
		{"table id", p.useTable, p.table, tableBits},
	}
	shift := uint(63)
	var prefix int64
	for _, part := range parts {
		if !part.use {
			continue
		}
		if part.id < 0 || part.id >= 1<<part.bits {
			return 0, fmt.Errorf("%s %d out of range [0, %d]", part.what, part.id, int64(1)<<part.bits-1)
		}
		shift -= part.bits
		prefix |= part.id << shift
	}
	return prefix, nil
}

// PartitionID computes a TiDB DM partition id: the used parts (instance id
// in 4 bits, schema id in 7, table id in 8) packed from bit 62 down, an
// omitted part taking no bits, OR'ed with the original value, which must be
// in [0, 2^44) in every layout. Out-of-range parts or values are errors.
func PartitionID(instanceID, schemaID, tableID int64, useInstance, useSchema, useTable bool, original int64) (int64, error) {
	prefix, err := partitionIDs{
		instance: instanceID, schema: schemaID, table: tableID,
		useInstance: useInstance, useSchema: useSchema, useTable: useTable,
	}.prefix()
	if err != nil {
		return 0, err
	}
	if err := checkOriginal(original); err != nil {
		return 0, err
	}
	return prefix | original, nil
}

func checkOriginal(v int64) error {
	if v < 0 || v >= maxOriginal {
		return fmt.Errorf("value %d out of range for partition id: must be in [0, %d]", v, maxOriginal-1)
	}
	return nil
}

// nameID parses the id of a schema or table name under a partition id
// prefix: the name equal to the prefix is id 0, otherwise the name must be
// prefix+sep followed by an unsigned decimal that fits in bits ("t_01" is 1).
func nameID(name, prefix, sep string, bits int, fold bool) (int64, error) {
	equal := func(a, b string) bool {
		if fold {
			return strings.EqualFold(a, b)
		}
		return a == b
	}
	if equal(name, prefix) {
		return 0, nil
	}
	head := prefix + sep
	if len(name) <= len(head) || !equal(name[:len(head)], head) {
		return 0, fmt.Errorf("name %q does not start with %q followed by a number", name, head)
	}
	suffix := name[len(head):]
	id, err := strconv.ParseUint(suffix, 10, bits)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("name %q: id %s out of range [0, %d]", name, suffix, int64(1)<<bits-1)
	}
	if err != nil {
		return 0, fmt.Errorf("name %q: suffix %q after %q is not an unsigned decimal number", name, suffix, head)
	}
	return int64(id), nil
}
