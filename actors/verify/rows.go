package verify

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
)

// row is one row as verification compares it: its target key, the digest
// of its columns other than a mapped one and, when the column mapping
// rewrites a column outside the key, that column's target value.
type row struct {
	key    []any
	digest string
	mapped any
	up     []any // the upstream key, for rows read from a source
}

// chunk is a set of rows indexed by their canonical key, in read order.
type chunk struct {
	order []string
	rows  map[string]*row
}

func newChunk() *chunk { return &chunk{rows: map[string]*row{}} }

// put adds a row; a row with the key of an earlier one replaces it.
func (c *chunk) put(r *row) {
	k := keyString(r.key)
	if _, ok := c.rows[k]; !ok {
		c.order = append(c.order, k)
	}
	c.rows[k] = r
}

func (c *chunk) len() int { return len(c.rows) }

// keys returns the target keys of the rows named by canonical keys.
func (c *chunk) keys(names []string) [][]any {
	out := make([][]any, 0, len(names))
	for _, k := range names {
		out = append(out, c.rows[k].key)
	}
	return out
}

// checksum is the chunk's checksum as the target computes it (see
// checksumQuery): the row count and the XOR of the first 64 bits of every
// row digest. It does not depend on the order of the rows.
func (c *chunk) checksum() (count int64, sum uint64, err error) {
	for _, r := range c.rows {
		w, err := digestWord(r.digest)
		if err != nil {
			return 0, 0, err
		}
		sum ^= w
	}
	return int64(len(c.rows)), sum, nil
}

// digestWord is the first 64 bits of a hex MD5 digest.
func digestWord(d string) (uint64, error) {
	if len(d) < 16 {
		return 0, fmt.Errorf("row digest %q is not an MD5 digest", d)
	}
	w, err := strconv.ParseUint(d[:16], 16, 64)
	if err != nil {
		return 0, fmt.Errorf("row digest %q is not an MD5 digest", d)
	}
	return w, nil
}

// finding is one differing key of a chunk.
type finding struct {
	key  string // canonical key
	kind kind
}

// diff compares the rows expected on the target with the rows found for
// the same keys. Keys of want with no row in got are missing; with another
// digest (or, when compareMapped, another mapped value) different; keys of
// got that want lacks are extra. Findings follow the order of want, then
// the extra keys in the order of got.
func diff(want, got *chunk, compareMapped bool) []finding {
	var out []finding
	for _, k := range want.order {
		w := want.rows[k]
		g, ok := got.rows[k]
		switch {
		case !ok:
			out = append(out, finding{k, missing})
		case g.digest != w.digest || (compareMapped && !sameValue(g.mapped, w.mapped)):
			out = append(out, finding{k, different})
		}
	}
	for _, k := range got.order {
		if _, ok := want.rows[k]; !ok {
			out = append(out, finding{k, extra})
		}
	}
	return out
}

func sameValue(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return text(a) == text(b)
}

// text is the text form of a value as ScanValue or Apply produce it; a
// value and the same value read from another server with another column
// type (signed or not, string or binary) have the same text.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// keyString is the canonical form of a key: the length-prefixed text of
// each value, NULL distinct from the empty string. Keys compare byte for
// byte.
func keyString(key []any) string {
	var b []byte
	for _, v := range key {
		if v == nil {
			b = append(b, 0)
			continue
		}
		s := text(v)
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return string(b)
}

// displayKey renders a key for a report: NULL as NULL, binary values as
// 0x… hex, others as their text.
func displayKey(key []any) []string {
	out := make([]string, len(key))
	for i, v := range key {
		switch x := v.(type) {
		case nil:
			out[i] = "NULL"
		case []byte:
			out[i] = "0x" + hex.EncodeToString(x)
		default:
			out[i] = text(v)
		}
	}
	return out
}
