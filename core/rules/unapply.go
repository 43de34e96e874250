package rules

import (
	"strconv"
	"strings"
)

// MappedColumn returns the index, in the upstream row, of the column the
// table's column mapping rewrites, or -1 when no column mapping applies.
func (p *TablePlan) MappedColumn() int {
	if p.mapping == nil {
		return -1
	}
	return p.mapping.index
}

// Unapply inverts Apply: given a target row (one value per Columns entry)
// it returns the upstream row that Apply maps onto it, and false when no
// row of this table can map onto it: an extracted column holds another
// value, or the mapped column holds a value outside the table's partition
// id range or without the rule's prefix or suffix. Values the caller does
// not know may be nil; NULL stays NULL. It tells which upstream table a row
// of a merged target table can have come from, and its upstream key. It
// allocates the result and never modifies row.
func (p *TablePlan) Unapply(row []any) ([]any, bool) {
	if len(row) != p.upstream+len(p.extra) {
		return nil, false
	}
	for i, want := range p.extra {
		if !sameText(row[p.upstream+i], want) {
			return nil, false
		}
	}
	up := append([]any(nil), row[:p.upstream]...)
	if m := p.mapping; m != nil && up[m.index] != nil {
		v, ok := m.unapply(up[m.index])
		if !ok {
			return nil, false
		}
		up[m.index] = v
	}
	return up, true
}

// sameText compares a value read from a target row with an extracted
// value; both are strings or bytes.
func sameText(v, want any) bool {
	w, ok := want.(string)
	if !ok {
		return false
	}
	switch x := v.(type) {
	case string:
		return x == w
	case []byte:
		return string(x) == w
	}
	return false
}

// unapply inverts apply for one non-NULL value of the mapped column.
func (m *mappingStep) unapply(v any) (any, bool) {
	if m.expr == exprAddPrefix || m.expr == exprAddSuffix {
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case []byte:
			s = string(x)
		default:
			return nil, false
		}
		cut := strings.CutPrefix
		if m.expr == exprAddSuffix {
			cut = strings.CutSuffix
		}
		orig, ok := cut(s, m.affix)
		if !ok {
			return nil, false
		}
		if _, isBytes := v.([]byte); isBytes {
			return []byte(orig), true
		}
		return orig, true
	}
	// prefix | x == prefix + x, since x < maxOriginal and the prefix has
	// no bits below originalBits.
	switch x := v.(type) {
	case int64:
		if x >= m.prefix && x-m.prefix < maxOriginal {
			return x - m.prefix, true
		}
	case uint64:
		if x >= uint64(m.prefix) && x-uint64(m.prefix) < uint64(maxOriginal) {
			return x - uint64(m.prefix), true
		}
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil && n >= m.prefix && n-m.prefix < maxOriginal {
			return strconv.FormatInt(n-m.prefix, 10), true
		}
	case []byte:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil && n >= m.prefix && n-m.prefix < maxOriginal {
			return strconv.AppendInt(nil, n-m.prefix, 10), true
		}
	}
	return nil, false
}
