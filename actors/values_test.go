package actors

import (
	"bytes"
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
