package exprfilter

import (
	"testing"
	"time"
)

func TestJSONAndClock(t *testing.T) {
	cols := []string{"c_json", "ts"}
	doc := `{"id": 2, "name": "bob", "tags": ["a", "b"], "nested": {"k": 1.5}, "nothing": null, "ok": true, "big": 12345678901234567890}`
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	clock := func() time.Time { return at }
	tests := []struct {
		expr string
		row  []any
		want bool
	}{
		// The DM test suite's expression: c_json->"$.id" = 2.
		{`c_json->"$.id" = 2`, []any{doc, nil}, true},
		{`c_json->"$.id" = 3`, []any{doc, nil}, false},
		{`JSON_EXTRACT(c_json, '$.name') = 'bob'`, []any{doc, nil}, true},
		{`c_json->>'$.name' = 'bob'`, []any{doc, nil}, true},
		{`c_json->'$.tags[1]' = 'b'`, []any{doc, nil}, true},
		{`c_json->'$.tags' = '["a","b"]'`, []any{doc, nil}, true},
		{`c_json->'$.nested.k' > 1`, []any{doc, nil}, true},
		{`c_json->'$.nothing' IS NULL`, []any{doc, nil}, true},
		{`c_json->'$.missing' IS NULL`, []any{doc, nil}, true},
		{`c_json->'$.ok' = 1`, []any{doc, nil}, true},
		{`c_json->'$."name"' = 'bob'`, []any{doc, nil}, true},
		{`c_json->'$.id' = 2`, []any{[]byte(doc), nil}, true}, // a JSON column read as bytes
		{`c_json->'$.id' IS NULL`, []any{nil, nil}, true},
		// The DM test suite's clock expression: ts > NOW().
		{"ts > NOW()", []any{nil, "2024-05-06 07:08:10"}, true},
		{"ts > NOW()", []any{nil, "2024-05-06 07:08:09"}, false},
		{"ts = CURRENT_TIMESTAMP", []any{nil, "2024-05-06 07:08:09"}, true},
		{"ts = NOW(3)", []any{nil, "2024-05-06 07:08:09.123"}, true},
		{"ts = CURDATE()", []any{nil, "2024-05-06"}, true},
		{"ts = CURTIME()", []any{nil, "07:08:09"}, true},
		{"ts = UNIX_TIMESTAMP()", []any{nil, at.Unix()}, true},
	}
	for _, tt := range tests {
		e, err := Parse(tt.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.expr, err)
			continue
		}
		cond, err := e.BindClock(cols, clock)
		if err != nil {
			t.Errorf("Bind(%q): %v", tt.expr, err)
			continue
		}
		got, err := cond(tt.row)
		if err != nil || got != tt.want {
			t.Errorf("%q on %v = %v, %v; want %v", tt.expr, tt.row, got, err, tt.want)
		}
	}
}

func TestReadsClock(t *testing.T) {
	for expr, want := range map[string]bool{
		"ts > NOW()": true, "UNIX_TIMESTAMP() > 0": true, "a = 1": false, `a->'$.x' = 1`: false,
	} {
		e, err := Parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		if e.ReadsClock() != want {
			t.Errorf("ReadsClock(%q) = %v", expr, !want)
		}
	}
}

func TestJSONErrors(t *testing.T) {
	e, err := Parse(`JSON_EXTRACT(c_json, '$.*') = 1`)
	if err != nil {
		t.Fatal(err)
	}
	cond, err := e.Bind([]string{"c_json"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cond([]any{`{"a": 1}`}); err == nil {
		t.Error("a wildcard path: no error")
	}
	if _, err := cond([]any{`{not json`}); err == nil {
		t.Error("a document that is not JSON: no error")
	}
}
