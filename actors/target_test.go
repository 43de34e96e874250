package actors

import (
	"reflect"
	"testing"
)

func TestGroupStmts(t *testing.T) {
	a := stmt{"DELETE FROM t WHERE id = ?", []any{int64(1)}}
	b := stmt{"UPDATE t SET c = ? WHERE id = ?", []any{"x", int64(2)}}
	c := stmt{"INSERT INTO t VALUES (?)", []any{[]byte("yy")}}
	cases := []struct {
		name  string
		stmts []stmt
		limit int
		want  []stmt
	}{
		{"none", nil, 100, nil},
		{"one", []stmt{a}, 100, []stmt{a}},
		{"all in one query, parameters in order", []stmt{a, b, c}, 1000, []stmt{{
			"DELETE FROM t WHERE id = ?;\nUPDATE t SET c = ? WHERE id = ?;\nINSERT INTO t VALUES (?)",
			[]any{int64(1), "x", int64(2), []byte("yy")},
		}}},
		{"split at the limit", []stmt{a, b, c}, stmtSize(a) + stmtSize(b), []stmt{{
			"DELETE FROM t WHERE id = ?;\nUPDATE t SET c = ? WHERE id = ?",
			[]any{int64(1), "x", int64(2)},
		}, c}},
		{"a statement over the limit goes alone", []stmt{a, b}, 1, []stmt{a, b}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := groupStmts(tc.stmts, tc.limit); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("groupStmts =\n%#v\nwant\n%#v", got, tc.want)
			}
		})
	}
}
