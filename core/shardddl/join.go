package shardddl

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// The optimistic join: the target table must take the rows of every shard,
// so its schema is the least schema at least as permissive as each shard's
// (TiDB DM's RFC 20191209, dm/pkg/shardddl/optimism). Two definitions of a
// column join as follows; anything else does not join.
//
//   - integers widen within one signedness: tinyint < smallint < mediumint
//     < int < bigint;
//   - decimal(p,s) joins to enough integer digits and scale for both;
//     float < double, and float/double precision widens;
//   - char(n) and varchar(m) join to the longer, char < varchar; the same
//     for binary/varbinary; bit(n) widens;
//   - tinytext < text < mediumtext < longtext, and the blob types likewise;
//   - enum and set join when one's members are a prefix of the other's;
//   - time, datetime and timestamp widen their fractional seconds;
//   - charset utf8 (utf8mb3) joins utf8mb4 to utf8mb4; an unknown charset
//     (the database default) takes the other's; collations must match;
//   - nullable joins NOT NULL to nullable; a default joins no default to
//     the default, two different defaults do not join;
//   - AUTO_INCREMENT, generated expressions and every other type must be
//     the same.
//
// A column some shards lack is in the join (DROP COLUMN waits for the last
// shard). If it is NOT NULL without a default the join makes it nullable,
// so that rows of the shards without it can be written.
//
// An index is in the join only when every shard has it (ADD INDEX waits for
// the last shard, DROP INDEX applies at once); two indexes of one name with
// different definitions do not join.

// clash is why two definitions do not join.
type clash struct {
	column string // or index
	index  bool
	reason string
}

func (c *clash) Error() string {
	what := "column"
	if c.index {
		what = "index"
	}
	return fmt.Sprintf("%s %s: %s", what, c.column, c.reason)
}

var intRank = map[string]int{"tinyint": 1, "smallint": 2, "mediumint": 3, "int": 4, "bigint": 5}

var textRank = map[string]int{"tinytext": 1, "text": 2, "mediumtext": 3, "longtext": 4}

var blobRank = map[string]int{"tinyblob": 1, "blob": 2, "mediumblob": 3, "longblob": 4}

// joinColumn joins two definitions of one column.
func joinColumn(a, b schema.ColumnDef) (schema.ColumnDef, *clash) {
	bad := func(format string, args ...any) (schema.ColumnDef, *clash) {
		return schema.ColumnDef{}, &clash{column: a.Name, reason: fmt.Sprintf(format, args...)}
	}
	j, err := joinType(a, b)
	if err != "" {
		return bad("%s and %s do not join: %s", typeSQL(a), typeSQL(b), err)
	}
	j.Name = a.Name
	j.Nullable = a.Nullable || b.Nullable
	switch {
	case a.Default == nil:
		j.Default = b.Default
	case b.Default == nil || *a.Default == *b.Default:
		j.Default = a.Default
	default:
		return bad("defaults %s and %s differ", *a.Default, *b.Default)
	}
	switch {
	case a.OnUpdate == "" || a.OnUpdate == b.OnUpdate:
		j.OnUpdate = b.OnUpdate
	case b.OnUpdate == "":
		j.OnUpdate = a.OnUpdate
	default:
		return bad("ON UPDATE %s and %s differ", a.OnUpdate, b.OnUpdate)
	}
	if a.AutoIncrement != b.AutoIncrement {
		return bad("AUTO_INCREMENT on one definition only")
	}
	j.AutoIncrement = a.AutoIncrement
	if a.Generated != b.Generated || a.Stored != b.Stored {
		return bad("generated expressions differ")
	}
	j.Generated, j.Stored = a.Generated, a.Stored
	return j, nil
}

// joinType joins the types of a and b; the reason is empty on success.
func joinType(a, b schema.ColumnDef) (schema.ColumnDef, string) {
	j := schema.ColumnDef{Type: a.Type, Unsigned: a.Unsigned, Zerofill: a.Zerofill}
	cs, co, why := joinCharset(a, b)
	if why != "" {
		return j, why
	}
	j.Charset, j.Collate = cs, co
	if (intRank[a.Type] > 0 || a.Type == "decimal" || a.Type == "float" || a.Type == "double") &&
		(a.Unsigned != b.Unsigned || a.Zerofill != b.Zerofill) {
		return j, "signedness differs"
	}
	switch {
	case intRank[a.Type] > 0 && intRank[b.Type] > 0:
		j.Type = maxRank(intRank, a.Type, b.Type)
	case a.Type == "decimal" && b.Type == "decimal":
		digits := max(a.Length-a.Decimals, b.Length-b.Decimals)
		j.Decimals = max(a.Decimals, b.Decimals)
		j.Length = digits + j.Decimals
		if j.Length > 65 {
			return j, "the joined precision exceeds 65"
		}
	case isFloat(a.Type) && isFloat(b.Type):
		j.Type = a.Type
		if b.Type == "double" {
			j.Type = "double"
		}
		if (a.Length == 0) != (b.Length == 0) {
			return j, "precision given on one side only"
		}
		j.Length, j.Decimals = max(a.Length, b.Length), max(a.Decimals, b.Decimals)
	case isChar(a.Type) && isChar(b.Type), isBinary(a.Type) && isBinary(b.Type):
		j.Type = a.Type
		if strings.HasPrefix(b.Type, "var") {
			j.Type = b.Type
		}
		j.Length = max(a.Length, b.Length)
	case textRank[a.Type] > 0 && textRank[b.Type] > 0:
		j.Type = maxRank(textRank, a.Type, b.Type)
	case blobRank[a.Type] > 0 && blobRank[b.Type] > 0:
		j.Type = maxRank(blobRank, a.Type, b.Type)
	case a.Type != b.Type:
		return j, "different types"
	case a.Type == "enum" || a.Type == "set":
		long, short := a.Elems, b.Elems
		if len(short) > len(long) {
			long, short = short, long
		}
		if !slices.Equal(long[:len(short)], short) {
			return j, "members are not a prefix of one another"
		}
		j.Elems = slices.Clone(long)
	case a.Type == "bit":
		j.Length = max(a.Length, b.Length)
	case a.Type == "time" || a.Type == "datetime" || a.Type == "timestamp":
		j.Decimals = max(a.Decimals, b.Decimals)
	default:
		if a.Length != b.Length || a.Decimals != b.Decimals {
			return j, "lengths differ"
		}
		j.Length, j.Decimals = a.Length, a.Decimals
	}
	return j, ""
}

func maxRank(rank map[string]int, a, b string) string {
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func isFloat(t string) bool  { return t == "float" || t == "double" }
func isChar(t string) bool   { return t == "char" || t == "varchar" }
func isBinary(t string) bool { return t == "binary" || t == "varbinary" }

func isUTF8(cs string) bool { return cs == "utf8" || cs == "utf8mb3" }

func joinCharset(a, b schema.ColumnDef) (cs, co, why string) {
	switch {
	case a.Charset == b.Charset:
		cs = a.Charset
	case a.Charset == "":
		return b.Charset, b.Collate, ""
	case b.Charset == "":
		return a.Charset, a.Collate, ""
	case isUTF8(a.Charset) && b.Charset == "utf8mb4":
		return b.Charset, b.Collate, ""
	case isUTF8(b.Charset) && a.Charset == "utf8mb4":
		return a.Charset, a.Collate, ""
	default:
		return "", "", fmt.Sprintf("charsets %s and %s differ", a.Charset, b.Charset)
	}
	switch {
	case a.Collate == b.Collate || b.Collate == "":
		co = a.Collate
	case a.Collate == "":
		co = b.Collate
	default:
		return "", "", fmt.Sprintf("collations %s and %s differ", a.Collate, b.Collate)
	}
	return cs, co, ""
}

// widens reports whether after accepts every value before does: the type
// of after is the join of both types. Nullability and defaults are left
// out: the join takes care of them.
func widens(before, after schema.ColumnDef) bool {
	j, why := joinType(before, after)
	j.Name, j.Nullable, j.Default, j.OnUpdate = after.Name, after.Nullable, after.Default, after.OnUpdate
	j.AutoIncrement, j.Generated, j.Stored = after.AutoIncrement, after.Generated, after.Stored
	return why == "" && before.AutoIncrement == after.AutoIncrement &&
		before.Generated == after.Generated && sameType(j, after)
}

// shard is one member's schema in a join.
type shard struct {
	key    string
	schema *schema.Definition
}

// joinError is a clash between members.
type joinError struct {
	clash   *clash
	member  string   // the member whose definition does not join
	against []string // members whose definitions it clashes with
}

func (e *joinError) Error() string {
	return fmt.Sprintf("%s on %s does not join the definition on %s", e.clash, e.member, strings.Join(e.against, ", "))
}

// joinTables joins the schemas of shards, in order. Columns keep the order
// of base (the previous join), then come new columns in order of first
// appearance. Index clashes are errors unless dropClashingIndexes, when the
// index is left out of the join.
func joinTables(base *schema.Definition, shards []shard, dropClashingIndexes bool) (*schema.Definition, *joinError) {
	type colState struct {
		col     schema.ColumnDef
		holders int
	}
	cols := map[string]*colState{}
	var order []string
	if base != nil {
		for _, c := range base.Columns {
			order = append(order, strings.ToLower(c.Name))
		}
	}
	for _, s := range shards {
		for _, c := range s.schema.Columns {
			k := strings.ToLower(c.Name)
			st, ok := cols[k]
			if !ok {
				cols[k] = &colState{col: c, holders: 1}
				if !slices.Contains(order, k) {
					order = append(order, k)
				}
				continue
			}
			j, cl := joinColumn(st.col, c)
			if cl != nil {
				return nil, clashWith(shards, s.key, c.Name, cl, false)
			}
			st.col, st.holders = j, st.holders+1
		}
	}
	out := &schema.Definition{}
	for _, k := range order {
		st, ok := cols[k]
		if !ok {
			continue
		}
		if st.holders < len(shards) && !st.col.Nullable && st.col.Default == nil {
			st.col.Nullable = true // rows of shards without it need a value
		}
		out.Columns = append(out.Columns, st.col)
	}
	idx, err := joinIndexes(shards, dropClashingIndexes)
	if err != nil {
		return nil, err
	}
	out.Indexes = idx
	return out, nil
}

// joinIndexes keeps the indexes every shard has, in the first shard's
// order. Two shards with an index of one name but different definitions
// clash, even when the index is not in the join.
func joinIndexes(shards []shard, dropClashing bool) ([]schema.Index, *joinError) {
	if len(shards) == 0 {
		return nil, nil
	}
	first := map[string]schema.Index{}
	clashing := map[string]bool{}
	for _, s := range shards {
		for _, ix := range s.schema.Indexes {
			ln := strings.ToLower(ix.Name)
			f, ok := first[ln]
			switch {
			case !ok:
				first[ln] = ix
			case !equalIndexes(f, ix) && !dropClashing:
				return nil, clashWith(shards, s.key, ix.Name, &clash{column: ix.Name, index: true,
					reason: fmt.Sprintf("%s differs from %s", indexSQL(ix, nil), indexSQL(f, nil))}, true)
			case !equalIndexes(f, ix):
				clashing[ln] = true
			}
		}
	}
	var out []schema.Index
next:
	for _, ix := range shards[0].schema.Indexes {
		if clashing[strings.ToLower(ix.Name)] {
			continue
		}
		for _, s := range shards[1:] {
			if _, ok := s.schema.Index(ix.Name); !ok {
				continue next
			}
		}
		out = append(out, ix)
	}
	return out, nil
}

// clashWith names the members whose definition of name differs from the
// one of member key.
func clashWith(shards []shard, key, name string, cl *clash, index bool) *joinError {
	e := &joinError{clash: cl, member: key}
	var mine any
	for _, s := range shards {
		if s.key == key {
			mine = definitionOf(s.schema, name, index)
		}
	}
	for _, s := range shards {
		if s.key == key {
			continue
		}
		if d := definitionOf(s.schema, name, index); d != nil && d != mine {
			e.against = append(e.against, s.key)
		}
	}
	return e
}

// definitionOf returns a comparable rendering of a column or index, nil
// when the table has none of that name.
func definitionOf(t *schema.Definition, name string, index bool) any {
	if index {
		if ix, ok := t.Index(name); ok {
			return indexSQL(ix, nil)
		}
		return nil
	}
	if c, ok := t.Column(name); ok {
		return columnSQL(c)
	}
	return nil
}

// diff returns the statements that turn the target table from old into
// new, one change per statement so that each can be replayed on its own
// (the applier takes "duplicate column", "duplicate key" and "can't drop"
// as already done): indexes are dropped first, then columns added and
// modified, then dropped, and indexes added last.
func diff(target string, old, new *schema.Definition, extra []string) []string {
	alter := "ALTER TABLE " + target + " "
	var out []string
	for _, ix := range old.Indexes {
		if n, ok := new.Index(ix.Name); !ok || !equalIndexes(ix, n) {
			if ix.Kind == "primary" {
				out = append(out, alter+"DROP PRIMARY KEY")
			} else {
				out = append(out, alter+"DROP INDEX "+sqlgen.QuoteIdent(ix.Name))
			}
		}
	}
	for _, c := range new.Columns {
		o, ok := old.Column(c.Name)
		switch {
		case !ok:
			out = append(out, alter+"ADD COLUMN "+columnSQL(c))
		case !equalColumns(o, c):
			out = append(out, alter+"MODIFY COLUMN "+columnSQL(c))
		}
	}
	for _, c := range old.Columns {
		if _, ok := new.Column(c.Name); !ok {
			out = append(out, alter+"DROP COLUMN "+sqlgen.QuoteIdent(c.Name))
		}
	}
	for _, ix := range new.Indexes {
		if o, ok := old.Index(ix.Name); !ok || !equalIndexes(ix, o) {
			out = append(out, alter+"ADD "+indexSQL(ix, extra))
		}
	}
	return out
}
