package actors

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/dmnode/dmnode/core/schema"
)

// A character value from a row event becomes the UTF-8 text the dump reads
// for it, whatever the column's charset; binary values stay bytes.
func TestNormalizeValueCharsets(t *testing.T) {
	tests := []struct {
		col  schema.Column
		in   any
		want any
	}{
		{schema.Column{Type: "varchar", Charset: "latin1"}, "caf\xe9", "café"},
		{schema.Column{Type: "text", Charset: "latin1"}, []byte("caf\xe9"), "café"},
		{schema.Column{Type: "char", Charset: "cp1251"}, "\xcf", "П"},
		{schema.Column{Type: "varchar", Charset: "gbk"}, "\xd6\xd0", "中"},
		{schema.Column{Type: "varchar", Charset: "ucs2"}, "\x00A", "A"},
		{schema.Column{Type: "longtext", Charset: "utf8mb4"}, []byte("😀"), "😀"},
		{schema.Column{Type: "varbinary", Charset: "binary"}, []byte{0xe9, 0}, []byte{0xe9, 0}},
		{schema.Column{Type: "blob", Charset: "binary"}, []byte{0xe9}, []byte{0xe9}},
		{schema.Column{Type: "varchar", Charset: "armscii8"}, "\xe9", []byte{0xe9}},
		{schema.Column{Type: "enum", Charset: "latin1"}, int64(2), int64(2)},
		{schema.Column{Type: "json"}, "{\"a\":1}", "{\"a\":1}"},
		{schema.Column{Type: "year"}, int(0), "0000"},
		{schema.Column{Type: "year"}, int(1901), "1901"},
	}
	for _, tt := range tests {
		got := normalizeValue(tt.col, tt.in)
		switch w := tt.want.(type) {
		case []byte:
			if g, ok := got.([]byte); !ok || !bytes.Equal(g, w) {
				t.Errorf("normalizeValue(%+v, %q) = %#v, want %#v", tt.col, tt.in, got, w)
			}
		default:
			if got != tt.want {
				t.Errorf("normalizeValue(%+v, %q) = %#v, want %#v", tt.col, tt.in, got, tt.want)
			}
		}
	}
}

// MariaDB's UUID, INET4 and INET6 values travel as the text the server
// prints for them.
func TestMariaDBTypeText(t *testing.T) {
	hex := func(s string) []byte {
		var b []byte
		for i := 0; i+1 < len(s); i += 2 {
			var x byte
			fmt.Sscanf(s[i:i+2], "%02x", &x)
			b = append(b, x)
		}
		return b
	}
	for _, tt := range []struct {
		typ, rec, want string
	}{
		{"inet4", "01020304", "1.2.3.4"},
		{"inet6", "00000000000000000000FFFF01020304", "::ffff:1.2.3.4"},
		{"inet6", "00000000000000000000000001020304", "::1.2.3.4"},
		{"inet6", "00000000000000000000000000000001", "::1"},
		{"inet6", "20010DB8000000000001000000000001", "2001:db8::1:0:0:1"},
		// trailing zero bytes, which the binlog leaves out
		{"inet4", "", "0.0.0.0"},
		{"inet4", "0A", "10.0.0.0"},
		{"inet6", "", "::"},
		{"uuid", "123e4567e89b42d3a4564266141740", "123e4567-e89b-42d3-a456-426614174000"},
		{"uuid", "00000000000000000000000000000000", "00000000-0000-0000-0000-000000000000"},
	} {
		if tt.want == "" {
			continue
		}
		if got := normalizeValue(schema.Column{Type: tt.typ}, string(hex(tt.rec))); got != tt.want {
			t.Errorf("%s %s = %v, want %s", tt.typ, tt.rec, got, tt.want)
		}
	}
	// Record order of 6ccd780c-baba-1026-9564-5b8c656024db.
	rec := hex("5b8c656024db" + "9564" + "1026" + "baba" + "6ccd780c")
	if got := normalizeValue(schema.Column{Type: "uuid"}, rec); got != "6ccd780c-baba-1026-9564-5b8c656024db" {
		t.Errorf("uuid v1 = %v", got)
	}
	// Any other UUID is stored as it is.
	if got := normalizeValue(schema.Column{Type: "uuid"}, hex("123e4567e89b02d3a456426614174000")); got != "123e4567-e89b-02d3-a456-426614174000" {
		t.Errorf("uuid v0 = %v", got)
	}
}

// The dump reads YEAR as four digits: LOAD DATA takes the text "0" for
// 2000.
func TestScanYear(t *testing.T) {
	c := schema.Column{Type: "year"}
	if scansAsString(c) {
		t.Fatal("YEAR is scanned as its text")
	}
	for raw, want := range map[string]string{"0": "0000", "1901": "1901", "2155": "2155"} {
		if got, err := ScanValue(c, []byte(raw)); err != nil || got != want {
			t.Errorf("ScanValue(year, %q) = %v, %v; want %s", raw, got, err, want)
		}
	}
}
