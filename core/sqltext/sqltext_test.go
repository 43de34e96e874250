package sqltext

import (
	"slices"
	"testing"
)

func TestSplitStatements(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"SELECT 1", []string{"SELECT 1"}},
		{"INSERT INTO t VALUES (1);UPDATE t SET a = 2;", []string{"INSERT INTO t VALUES (1)", "UPDATE t SET a = 2"}},
		{`INSERT INTO t VALUES ('a;b', "c;d", 'it''s;', 'back\';slash');DELETE FROM t`,
			[]string{`INSERT INTO t VALUES ('a;b', "c;d", 'it''s;', 'back\';slash')`, "DELETE FROM t"}},
		{"CREATE TABLE `we;ird` (`a``;` int); DROP TABLE x", []string{"CREATE TABLE `we;ird` (`a``;` int)", "DROP TABLE x"}},
		{"SELECT 1 /* a; b */; -- c; d\nSELECT 2 # e; f\n", []string{"SELECT 1 /* a; b */", "-- c; d\nSELECT 2 # e; f"}},
		{" ; ;", nil},
	} {
		if got := SplitStatements(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("SplitStatements(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSQLLogLineEscaping(t *testing.T) {
	for _, q := range []string{"SELECT 1", "SELECT 'a\nb'", `SELECT 'c:\\n' -- \n`, "x\r\ny\\"} {
		line := EscapeLine(q)
		if slices.Contains([]byte(line), '\n') {
			t.Errorf("EscapeLine(%q) = %q holds a newline", q, line)
		}
		if got := UnescapeLine(line); got != q {
			t.Errorf("UnescapeLine(EscapeLine(%q)) = %q", q, got)
		}
	}
}
