package verify

import (
	"crypto/md5"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/core/schema"
)

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func chunkOf(rows ...*row) *chunk {
	c := newChunk()
	for _, r := range rows {
		c.put(r)
	}
	return c
}

func r(key any, digest string) *row { return &row{key: []any{key}, digest: digest} }

func TestDiff(t *testing.T) {
	a, b, c := md5hex("a"), md5hex("b"), md5hex("c")
	tests := []struct {
		name          string
		want, got     *chunk
		compareMapped bool
		findings      []finding
	}{
		{"equal", chunkOf(r(int64(1), a), r(int64(2), b)), chunkOf(r(uint64(2), b), r(uint64(1), a)), false, nil},
		{"empty", chunkOf(), chunkOf(), false, nil},
		{"missing", chunkOf(r(int64(1), a), r(int64(2), b)), chunkOf(r(int64(1), a)), false,
			[]finding{{keyString([]any{int64(2)}), missing}}},
		{"different", chunkOf(r(int64(1), a), r(int64(2), b)), chunkOf(r(int64(1), a), r(int64(2), c)), false,
			[]finding{{keyString([]any{int64(2)}), different}}},
		{"extra", chunkOf(r(int64(1), a)), chunkOf(r(int64(1), a), r(int64(9), c)), false,
			[]finding{{keyString([]any{int64(9)}), extra}}},
		{"all three in want order, extra last", chunkOf(r(int64(3), a), r(int64(1), b), r(int64(2), c)), chunkOf(r(int64(5), a), r(int64(2), a), r(int64(1), b)), false,
			[]finding{{keyString([]any{int64(3)}), missing}, {keyString([]any{int64(2)}), different}, {keyString([]any{int64(5)}), extra}}},
		{"case differs", chunkOf(r("abc", a)), chunkOf(r("ABC", a)), false,
			[]finding{{keyString([]any{"abc"}), missing}, {keyString([]any{"ABC"}), extra}}},
		{"string key equals bytes key", chunkOf(r("abc", a)), chunkOf(r([]byte("abc"), a)), false, nil},
		{"mapped value differs", chunkOf(&row{key: []any{int64(1)}, digest: a, mapped: "x-1"}), chunkOf(&row{key: []any{int64(1)}, digest: a, mapped: "x-2"}), true,
			[]finding{{keyString([]any{int64(1)}), different}}},
		{"mapped value ignored", chunkOf(&row{key: []any{int64(1)}, digest: a, mapped: "x-1"}), chunkOf(&row{key: []any{int64(1)}, digest: a, mapped: "x-2"}), false, nil},
		{"mapped NULL vs empty", chunkOf(&row{key: []any{int64(1)}, digest: a, mapped: nil}), chunkOf(&row{key: []any{int64(1)}, digest: a, mapped: ""}), true,
			[]finding{{keyString([]any{int64(1)}), different}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := diff(tt.want, tt.got, tt.compareMapped)
			if !reflect.DeepEqual(got, tt.findings) {
				t.Errorf("diff = %v\nwant %v", got, tt.findings)
			}
		})
	}
}

func TestChecksum(t *testing.T) {
	a, b := md5hex("a"), md5hex("b")
	wa, _ := digestWord(a)
	wb, _ := digestWord(b)
	tests := []struct {
		name  string
		c     *chunk
		count int64
		sum   uint64
		err   bool
	}{
		{"empty", chunkOf(), 0, 0, false},
		{"one", chunkOf(r(int64(1), a)), 1, wa, false},
		{"two", chunkOf(r(int64(1), a), r(int64(2), b)), 2, wa ^ wb, false},
		{"order does not matter", chunkOf(r(int64(2), b), r(int64(1), a)), 2, wa ^ wb, false},
		{"same digest twice", chunkOf(r(int64(1), a), r(int64(2), a)), 2, 0, false},
		{"not a digest", chunkOf(r(int64(1), "xyz")), 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			count, sum, err := tt.c.checksum()
			if (err != nil) != tt.err || count != tt.count || sum != tt.sum {
				t.Errorf("checksum = %d, %x, %v; want %d, %x, error %v", count, sum, err, tt.count, tt.sum, tt.err)
			}
		})
	}
	// The first 16 hex digits, as CONV(LEFT(digest, 16), 16, 10) reads them.
	if w, err := digestWord("0cc175b9c0f1b6a831c399e269772661"); err != nil || w != 0x0cc175b9c0f1b6a8 {
		t.Errorf("digestWord = %x, %v", w, err)
	}
}

func TestKeyString(t *testing.T) {
	same := [][2][]any{
		{{int64(5)}, {uint64(5)}},
		{{int64(5)}, {"5"}},
		{{"a", int64(1)}, {[]byte("a"), uint64(1)}},
		{{1.5}, {"1.5"}},
	}
	for _, p := range same {
		if keyString(p[0]) != keyString(p[1]) {
			t.Errorf("keys %v and %v differ", p[0], p[1])
		}
	}
	distinct := [][2][]any{
		{{nil}, {""}},
		{{"a,b", "c"}, {"a", "b,c"}},
		{{"ab", ""}, {"a", "b"}},
		{{"A"}, {"a"}},
		{{"a "}, {"a"}},
	}
	for _, p := range distinct {
		if keyString(p[0]) == keyString(p[1]) {
			t.Errorf("keys %v and %v are the same", p[0], p[1])
		}
	}
	if got, want := displayKey([]any{int64(-1), uint64(7), "x", []byte{0, 0xff}, nil}), []string{"-1", "7", "x", "0x00ff", "NULL"}; !reflect.DeepEqual(got, want) {
		t.Errorf("displayKey = %v, want %v", got, want)
	}
}

func TestQueries(t *testing.T) {
	cols := []schema.Column{
		{Name: "id", Type: "bigint"},
		{Name: "c", Type: "char", Charset: "latin1"},
		{Name: "b", Type: "varbinary", Charset: "binary"},
		{Name: "d", Type: "datetime"},
	}
	if got, want := digestExpr(cols), "MD5(CONCAT_WS(',', `id`, HEX(CONVERT(`c` USING utf8mb4)), HEX(`b`), `d`, CONCAT(ISNULL(`id`), ISNULL(`c`), ISNULL(`b`), ISNULL(`d`))))"; got != want {
		t.Errorf("digestExpr =\n%s\nwant\n%s", got, want)
	}
	if got := digestExpr(nil); got != "MD5('')" {
		t.Errorf("digestExpr(nil) = %s", got)
	}
	q := func(q string, args []any) query { return query{q, args} }
	tests := []struct {
		name string
		got  query
		want query
	}{
		{"first chunk", q(chunkQuery("`s`.`t`", []string{"`id`", "d"}, []string{"id"}, nil, 10)),
			query{"SELECT `id`, d FROM `s`.`t` ORDER BY `id` LIMIT 10", nil}},
		{"next chunk", q(chunkQuery("t", []string{"`id`"}, []string{"id"}, []any{int64(7)}, 5)),
			query{"SELECT `id` FROM t WHERE ((`id` > ?)) ORDER BY `id` LIMIT 5", []any{int64(7)}}},
		{"next chunk, composite key", q(chunkQuery("t", []string{"k"}, []string{"a", "b", "c"}, []any{1, "x", 3}, 2)),
			query{"SELECT k FROM t WHERE ((`a` > ?) OR (`a` = ? AND `b` > ?) OR (`a` = ? AND `b` = ? AND `c` > ?)) ORDER BY `a`, `b`, `c` LIMIT 2",
				[]any{1, 1, "x", 1, "x", 3}}},
		{"keys", q(keysQuery("t", []string{"k"}, []string{"id"}, [][]any{{1}, {2}, {3}})),
			query{"SELECT k FROM t WHERE `id` IN (?, ?, ?)", []any{1, 2, 3}}},
		{"composite keys", q(keysQuery("t", []string{"k"}, []string{"id", "src"}, [][]any{{1, "a"}, {2, "b"}})),
			query{"SELECT k FROM t WHERE ((`id` = ? AND `src` = ?) OR (`id` = ? AND `src` = ?))", []any{1, "a", 2, "b"}}},
		{"checksum", q(checksumQuery("t", "MD5(x)", []string{"id"}, [][]any{{1}})),
			query{"SELECT COUNT(*), COALESCE(BIT_XOR(CAST(CONV(LEFT(MD5(x), 16), 16, 10) AS UNSIGNED)), 0) FROM t WHERE `id` IN (?)", []any{1}}},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s:\n got %s %v\nwant %s %v", tt.name, tt.got.q, tt.got.args, tt.want.q, tt.want.args)
		}
	}
}

type query struct {
	q    string
	args []any
}

func TestTableReport(t *testing.T) {
	var tr TableReport
	for i := range MaxSampleKeys + 3 {
		tr.add(missing, []string{string(rune('a' + i))})
	}
	tr.add(extra, []string{"x"})
	tr.add(different, []string{"y"})
	if tr.Missing != MaxSampleKeys+3 || len(tr.MissingKeys) != MaxSampleKeys || tr.MissingKeys[0][0] != "a" {
		t.Errorf("missing = %d, keys %v", tr.Missing, tr.MissingKeys)
	}
	if tr.Extra != 1 || tr.Different != 1 || !reflect.DeepEqual(tr.ExtraKeys, [][]string{{"x"}}) || !reflect.DeepEqual(tr.DifferentKeys, [][]string{{"y"}}) {
		t.Errorf("extra %d %v, different %d %v", tr.Extra, tr.ExtraKeys, tr.Different, tr.DifferentKeys)
	}
	if tr.room(missing) || !tr.room(extra) {
		t.Errorf("room for missing %v, extra %v", tr.room(missing), tr.room(extra))
	}
	tr.add(missing, nil) // counted, no sample
	if tr.Missing != MaxSampleKeys+4 || len(tr.MissingKeys) != MaxSampleKeys {
		t.Errorf("missing = %d, %d keys", tr.Missing, len(tr.MissingKeys))
	}
}

func TestStateReport(t *testing.T) {
	eq := &TableState{Report: TableReport{Target: "a.t", Status: StatusEqual}}
	st := &State{Task: "x", Tables: []*TableState{eq}}
	if st.Report().Equal {
		t.Error("an unfinished verification is equal")
	}
	st.Finished = time.Now()
	if !st.Report().Equal {
		t.Error("a finished verification of equal tables is not equal")
	}
	for _, status := range []string{StatusDiffers, StatusSkipped, StatusPending} {
		st.Tables = []*TableState{eq, {Report: TableReport{Target: "a.u", Status: status}}}
		if st.Report().Equal {
			t.Errorf("a table %s, report equal", status)
		}
	}
	st.Tables = nil
	if st.Report().Equal {
		t.Error("no table to verify, report equal")
	}
	ts := &TableState{Report: TableReport{Status: StatusPending}}
	ts.finish()
	if ts.Report.Status != StatusEqual {
		t.Errorf("status %s", ts.Report.Status)
	}
	ts.Report.add(extra, []string{"1"})
	ts.finish()
	if ts.Report.Status != StatusDiffers {
		t.Errorf("status %s", ts.Report.Status)
	}
}

func TestOptions(t *testing.T) {
	o, err := Options{}.normalize()
	if err != nil || o.ChunkRows != 1000 || o.StepTime != 20*time.Second || o.Fast {
		t.Errorf("defaults = %+v, %v", o, err)
	}
	for _, bad := range []Options{
		{ChunkRows: maxChunkRows + 1},
		{StepTime: 2 * time.Minute},
	} {
		if _, err := bad.normalize(); err == nil {
			t.Errorf("%+v accepted", bad)
		} else if strings.Contains(err.Error(), "%!") {
			t.Errorf("bad message: %v", err)
		}
	}
}
