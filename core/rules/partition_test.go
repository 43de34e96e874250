package rules

import (
	"strings"
	"testing"
)

func TestPartitionID(t *testing.T) {
	const max = int64(1)<<44 - 1
	tests := []struct {
		name                string
		inst, schema, table int64
		useI, useS, useT    bool
		original            int64
		want                int64
		wantErr             string
	}{
		// layout [0][I:4][D:7][T:8][P:44]
		{"all parts", 1, 2, 3, true, true, true, 5, 1<<59 | 2<<52 | 3<<44 | 5, ""},
		{"all parts max", 15, 127, 255, true, true, true, max, 1<<63 - 1, ""},
		{"original 2^44-1", 0, 0, 0, true, true, true, max, max, ""},
		{"original 2^44", 0, 0, 0, true, true, true, 1 << 44, 0, "value 17592186044416 out of range"},
		{"original negative", 0, 0, 0, true, true, true, -1, 0, "value -1 out of range"},
		{"instance 15", 15, 0, 0, true, true, true, 0, 15 << 59, ""},
		{"instance 16", 16, 0, 0, true, true, true, 0, 0, "instance id 16 out of range [0, 15]"},
		{"instance -1", -1, 0, 0, true, false, false, 0, 0, "instance id -1 out of range"},
		{"schema 127", 0, 127, 0, true, true, true, 0, 127 << 52, ""},
		{"schema 128", 0, 128, 0, true, true, true, 0, 0, "schema id 128 out of range [0, 127]"},
		{"table 255", 0, 0, 255, true, true, true, 0, 255 << 44, ""},
		{"table 256", 0, 0, 256, true, true, true, 0, 0, "table id 256 out of range [0, 255]"},
		// omitted parts reserve no bits; the following parts move up
		{"no instance [D:7][T:8][P:48]", 9, 2, 3, false, true, true, 5, 2<<56 | 3<<48 | 5, ""},
		{"no schema [I:4][T:8][P:51]", 1, 9, 1, true, false, true, 5, 1<<59 | 1<<51 | 5, ""},
		{"no table [I:4][D:7][P:52]", 1, 2, 9, true, true, false, 5, 1<<59 | 2<<52 | 5, ""},
		{"instance only [I:4][P:59]", 3, 9, 9, true, false, false, 42, 3<<59 | 42, ""},
		{"schema only [D:7][P:56]", 0, 127, 0, false, true, false, 1, 127<<56 | 1, ""},
		{"table only [T:8][P:55]", 0, 0, 255, false, false, true, 1, 255<<55 | 1, ""},
		{"nothing", 0, 0, 0, false, false, false, 7, 7, ""},
		// the 2^44 limit holds in every layout, as in DM's code
		{"instance only, original 2^44", 3, 0, 0, true, false, false, 1 << 44, 0, "out of range"},
		{"nothing, original 2^44", 0, 0, 0, false, false, false, 1 << 44, 0, "out of range"},
		// unused parts are not range-checked
		{"unused out of range", 99, 999, 999, false, false, false, 1, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PartitionID(tt.inst, tt.schema, tt.table, tt.useI, tt.useS, tt.useT, tt.original)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
			if got < 0 {
				t.Fatalf("got negative id %d", got)
			}
		})
	}
}

func TestNameID(t *testing.T) {
	tests := []struct {
		name, prefix, sep string
		bits              int
		fold              bool
		want              int64
		wantErr           string
	}{
		{"t", "t", "_", tableBits, false, 0, ""},
		{"t_01", "t", "_", tableBits, false, 1, ""},
		{"t_1", "t", "_", tableBits, false, 1, ""},
		{"t1", "t", "", tableBits, false, 1, ""},
		{"t_255", "t", "_", tableBits, false, 255, ""},
		{"t_256", "t", "_", tableBits, false, 0, "id 256 out of range [0, 255]"},
		{"shard_127", "shard", "_", schemaBits, false, 127, ""},
		{"shard_128", "shard", "_", schemaBits, false, 0, "id 128 out of range [0, 127]"},
		{"tx", "t", "", tableBits, false, 0, `suffix "x" after "t" is not an unsigned decimal number`},
		{"t_1", "t", "", tableBits, false, 0, `suffix "_1"`}, // DM: the separator must be given
		{"t_", "t", "_", tableBits, false, 0, `does not start with "t_" followed by a number`},
		{"u_1", "t", "_", tableBits, false, 0, `does not start with "t_"`},
		{"t_-1", "t", "_", tableBits, false, 0, "not an unsigned decimal"},
		{"t_+1", "t", "_", tableBits, false, 0, "not an unsigned decimal"},
		{"T_3", "t", "_", tableBits, true, 3, ""},
		{"T_3", "t", "_", tableBits, false, 0, "does not start"},
		{"T", "t", "_", tableBits, true, 0, ""},
	}
	for _, tt := range tests {
		got, err := nameID(tt.name, tt.prefix, tt.sep, tt.bits, tt.fold)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("nameID(%q, %q, %q) err = %v, want containing %q", tt.name, tt.prefix, tt.sep, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("nameID(%q, %q, %q) = %d, %v; want %d", tt.name, tt.prefix, tt.sep, got, err, tt.want)
		}
	}
}

func TestPartitionValueTypes(t *testing.T) {
	step := &mappingStep{rule: "r", expr: exprPartitionID, prefix: 1 << 59}
	tests := []struct {
		in      any
		want    any
		wantErr string
	}{
		{int64(5), int64(1<<59 | 5), ""},
		{uint64(5), uint64(1<<59 | 5), ""},
		{"5", "576460752303423493", ""},
		{"+5", "576460752303423493", ""},
		{[]byte("5"), []byte("576460752303423493"), ""},
		{nil, nil, ""},
		{int64(1<<44 - 1), int64(1<<59 | (1<<44 - 1)), ""},
		{int64(1 << 44), nil, "value 17592186044416 out of range for partition id: must be in [0, 17592186044415]"},
		{uint64(1 << 44), nil, "value 17592186044416 out of range"},
		{uint64(1 << 63), nil, "value 9223372036854775808 out of range"},
		{int64(-1), nil, "value -1 out of range"},
		{"-1", nil, "value -1 out of range"},
		{"17592186044416", nil, "out of range"},
		{"99999999999999999999", nil, `value "99999999999999999999" out of range`},
		{"12a", nil, `value "12a" is not a decimal integer`},
		{"", nil, `value "" is not a decimal integer`},
		{float64(1), nil, "value 1 of type float64 is not an integer"},
	}
	for _, tt := range tests {
		got, err := step.apply(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("apply(%#v) err = %v, want containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("apply(%#v): %v", tt.in, err)
			continue
		}
		if b, ok := tt.want.([]byte); ok {
			if gb, ok := got.([]byte); !ok || string(gb) != string(b) {
				t.Errorf("apply(%#v) = %#v, want %#v", tt.in, got, tt.want)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("apply(%#v) = %#v (%T), want %#v (%T)", tt.in, got, got, tt.want, tt.want)
		}
	}
}

func TestAffixValueTypes(t *testing.T) {
	pre := &mappingStep{rule: "p", expr: exprAddPrefix, affix: "eu-"}
	suf := &mappingStep{rule: "s", expr: exprAddSuffix, affix: "-eu"}
	check := func(s *mappingStep, in, want any) {
		t.Helper()
		got, err := s.apply(in)
		if err != nil {
			t.Fatalf("apply(%#v): %v", in, err)
		}
		switch w := want.(type) {
		case []byte:
			if g, ok := got.([]byte); !ok || string(g) != string(w) {
				t.Fatalf("apply(%#v) = %#v, want %#v", in, got, want)
			}
		default:
			if got != want {
				t.Fatalf("apply(%#v) = %#v, want %#v", in, got, want)
			}
		}
	}
	check(pre, "x", "eu-x")
	check(suf, "x", "x-eu")
	check(pre, []byte("x"), []byte("eu-x"))
	check(suf, []byte("x"), []byte("x-eu"))
	check(pre, nil, nil)
	in := []byte("abc")
	check(suf, in, []byte("abc-eu"))
	if string(in) != "abc" {
		t.Fatalf("input modified: %q", in)
	}
	if _, err := pre.apply(int64(1)); err == nil || !strings.Contains(err.Error(), "not a string") {
		t.Fatalf("int64 with add prefix: err = %v", err)
	}
}
