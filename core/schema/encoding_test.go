package schema

import (
	"bytes"
	"testing"
)

func TestDecodeText(t *testing.T) {
	tests := []struct {
		cs   string
		in   []byte
		want string
		ok   bool
	}{
		{"latin1", []byte("caf\xe9"), "café", true},
		{"latin1", []byte{0x80, 0x81, 0x9f}, "€\u0081Ÿ", true},
		{"utf8", []byte("€"), "€", true},
		{"utf8mb4", []byte("😀"), "😀", true},
		{"", []byte("x"), "x", true},
		{"ascii", []byte("abc"), "abc", true},
		{"ascii", []byte{0xe9}, "", false},
		{"binary", []byte{0xe9}, "", false},
		{"gbk", []byte{0xd6, 0xd0, 0xce, 0xc4}, "中文", true},
		{"cp1251", []byte{0xcf, 0xf0, 0xe8}, "При", true},
		{"ucs2", []byte{0x00, 0x41, 0x04, 0x10}, "AА", true},
		{"utf16", []byte{0xd8, 0x3d, 0xde, 0x00}, "😀", true},
		{"utf16le", []byte{0x41, 0x00}, "A", true},
		{"utf32", []byte{0, 1, 0xf6, 0}, "😀", true},
		{"gbk", []byte{0xff, 0xff}, "", false}, // not GBK: kept as bytes
		{"armscii8", []byte("x"), "", false},   // no decoder: kept as bytes
	}
	for _, tt := range tests {
		got, ok := DecodeText(tt.cs, tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("DecodeText(%q, % x) = %q, %v; want %q, %v", tt.cs, tt.in, got, ok, tt.want, tt.ok)
		}
		if !ok {
			continue
		}
		back, ok := EncodeText(tt.cs, got)
		if !ok || !bytes.Equal(back, tt.in) {
			t.Errorf("EncodeText(%q, %q) = % x, %v; want % x", tt.cs, got, back, ok, tt.in)
		}
	}
}

// Every latin1 byte is a character that converts back to itself, as in
// MySQL, cp1252's holes included.
func TestLatin1RoundTrip(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	s, ok := DecodeText("latin1", all)
	if !ok {
		t.Fatal("latin1 does not decode every byte")
	}
	back, ok := EncodeText("latin1", s)
	if !ok || !bytes.Equal(back, all) {
		t.Fatalf("latin1 round trip: % x", back)
	}
}
