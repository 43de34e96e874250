package tidb

import "testing"

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" when not TiDB
	}{
		{"5.7.25-TiDB-v3.0.0", "v3.0.0"},
		{"5.7.25-TiDB-v4.0.0-beta.2-dirty", "v4.0.0-beta.2"},
		{"5.7.25-TiDB-v5.4.3", "v5.4.3"},
		{"5.7.25-TiDB-v6.5.0", "v6.5.0"},
		{"5.7.25-TiDB-v7.1.0-serverless", "v7.1.0-serverless"},
		{"8.0.11-TiDB-v7.5.0", "v7.5.0"},
		{"8.0.11-TiDB-v8.5.0", "v8.5.0"},
		{"8.0.11-TiDB-v9.0.0-beta.1", "v9.0.0-beta.1"},
		{"5.7.25-TiDB-v5.0.0-nightly-20210101-abc", "v5.0.0-nightly"},
		{"10.11.6-MariaDB-0+deb12u1", ""},
		{"10.11.6-MariaDB-0+deb12u1-log", ""},
		{"8.0.36", ""},
		{"8.0.36-0ubuntu0.22.04.1", ""},
		{"5.7.25-TiDB-vX.Y", ""},
	} {
		v, ok := ParseVersion(tc.in)
		got := ""
		if ok {
			got = v.String()
		}
		if got != tc.want {
			t.Errorf("ParseVersion(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

func TestAtLeast(t *testing.T) {
	v := Version{Major: 6, Minor: 2, Patch: 0}
	for _, tc := range []struct {
		maj, min, patch int
		want            bool
	}{
		{6, 2, 0, true}, {6, 1, 9, true}, {5, 9, 9, true}, {6, 2, 1, false}, {7, 0, 0, false},
	} {
		if got := v.AtLeast(tc.maj, tc.min, tc.patch); got != tc.want {
			t.Errorf("%v.AtLeast(%d.%d.%d) = %v", v, tc.maj, tc.min, tc.patch, got)
		}
	}
}

func TestSessionDefaults(t *testing.T) {
	v8 := Version{Major: 8, Minor: 5}
	if got := SessionDefaults(v8, nil); got["tidb_txn_mode"] != "'optimistic'" {
		t.Errorf("SessionDefaults(v8.5) = %v, want tidb_txn_mode optimistic", got)
	}
	if got := SessionDefaults(v8, map[string]string{"TiDB_Txn_Mode": "pessimistic"}); len(got) != 0 {
		t.Errorf("a task's own tidb_txn_mode was overridden: %v", got)
	}
	if got := SessionDefaults(Version{Major: 2, Minor: 1}, nil); len(got) != 0 {
		t.Errorf("SessionDefaults(v2.1) = %v, want none", got)
	}
}
