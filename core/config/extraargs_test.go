package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dmnode/dmnode/core/secret"
)

func TestParseExtraArgs(t *testing.T) {
	where := func(s string) *string { return &s }
	tests := []struct {
		args string
		want dumpArgs
		msgs []string // level:message prefixes of the findings
	}{
		{"", dumpArgs{}, nil},
		{"--statement-size=100", dumpArgs{statementSize: 100}, []string{"1:--statement-size: the loader sends"}},
		{"-s 100 -t4 -r=50", dumpArgs{statementSize: 100, threads: 4, rows: 50}, []string{"1:--statement-size"}},
		{`--where "id > 1 AND c = 'a b'"`, dumpArgs{where: where("id > 1 AND c = 'a b'")}, nil},
		{`--where='x'\ y`, dumpArgs{where: where("x y")}, nil},
		{"-B a,b --database c", dumpArgs{databases: []string{"a", "b", "c"}}, []string{"2:--database", "2:--database"}},
		{"-T a.t1,b.t2", dumpArgs{tables: []string{"a.t1", "b.t2"}}, []string{"2:--tables-list"}},
		{"-T t1", dumpArgs{}, []string{`1:--tables-list: ignored, as DM does: "t1"`}},
		{"--no-locks=false --no-views", dumpArgs{}, []string{"1:--no-views: ignored"}},
		{"--no-locks", dumpArgs{}, []string{"2:--no-locks: consistent snapshot taken anyway"}},
		{"--consistency bogus", dumpArgs{}, []string{`0:--consistency: invalid value "bogus"`}},
		{"--threads x", dumpArgs{}, []string{`0:--threads: invalid value "x"`}},
		{"--rows", dumpArgs{}, []string{"0:--rows: needs a value"}},
		{"--no-locks=maybe", dumpArgs{}, []string{`0:--no-locks: invalid value "maybe"`}},
		{"stray", dumpArgs{}, []string{`0:"stray": not a flag`}},
		{"-x 1", dumpArgs{}, []string{"0:-x: unknown or unsupported dumpling flag", `0:"1": not a flag`}},
		{`--where "open`, dumpArgs{}, []string{`0:unterminated " quote`}},
	}
	for _, tt := range tests {
		got, findings := parseExtraArgs(tt.args)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: %+v, want %+v", tt.args, got, tt.want)
		}
		if len(findings) != len(tt.msgs) {
			t.Errorf("%q: findings %+v, want %q", tt.args, findings, tt.msgs)
			continue
		}
		for i, f := range findings {
			level, msg, _ := strings.Cut(tt.msgs[i], ":")
			if f.level != int(level[0]-'0') || !strings.HasPrefix(f.msg, msg) {
				t.Errorf("%q: finding %d = %d %q, want %s", tt.args, i, f.level, f.msg, tt.msgs[i])
			}
		}
	}
}

func TestDumpSelects(t *testing.T) {
	d := DumpSettings{Databases: []string{"App"}, Tables: []string{"app.t1"}}
	for table, want := range map[string]bool{"app.t1": true, "APP.T1": true, "app.t2": false, "other.t1": false} {
		schema, name, _ := strings.Cut(table, ".")
		if got := d.Selects(schema, name); got != want {
			t.Errorf("Selects(%s) = %v", table, got)
		}
	}
	if !(DumpSettings{}).Selects("any", "table") {
		t.Error("no --database or --tables-list: every table is selected")
	}
}

func TestKeysFrom(t *testing.T) {
	keys, err := keysFrom("")
	if err != nil || len(keys) != 1 {
		t.Fatalf("no key file: %v, %v", keys, err)
	}
	path := filepath.Join(t.TempDir(), "key")
	own := strings.Repeat("1", 64)
	if err := os.WriteFile(path, []byte(own), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err = keysFrom(path)
	if err != nil || len(keys) != 2 {
		t.Fatalf("key file: %v, %v", keys, err)
	}
	// DM's test suite: a password encrypted with its key file 1111…, and
	// one of DM v7; both decrypt, with the file's key first.
	k, _ := secret.ParseKey(own)
	c, err := secret.Encrypt(k, "pw", strings.NewReader(strings.Repeat("\x07", 16)))
	if err != nil {
		t.Fatal(err)
	}
	if got, how, i := secret.Reveal(keys, c); got != "pw" || how != secret.Decrypted || i != 0 {
		t.Errorf("own key: %q %v %d", got, how, i)
	}
	if got, how, i := secret.Reveal(keys, "/Q7B9DizNLLTTfiZHv9WoEAKamfpIUs="); got != "123456" || how != secret.Decrypted || i != 1 {
		t.Errorf("DM v7 key: %q %v %d", got, how, i)
	}
	if _, err := keysFrom(path + ".missing"); err == nil {
		t.Error("a missing key file: no error")
	}
}
