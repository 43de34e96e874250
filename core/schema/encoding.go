package schema

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"
)

// Character set decoding. A binlog row event carries a character column's
// bytes in the column's own charset, while the dump reads the same column
// converted to utf8mb4 by the server. DecodeText turns the binlog's bytes
// into the same UTF-8 text, so that both paths send the target one
// representation, on a utf8mb4 connection, and the target converts it into
// whatever charset its column has (refusing, in strict mode, what that
// charset cannot hold instead of storing a wrong value).

// encodings maps MySQL/MariaDB charset names to their encoding in
// golang.org/x/text. MySQL's latin1 is cp1252 with the five bytes cp1252
// leaves undefined mapped to C1 controls: latin1Runes below. utf8 family
// and binary need no entry; they are handled by DecodeText directly.
var encodings = map[string]encoding.Encoding{
	"cp1251":   charmap.Windows1251,
	"cp1250":   charmap.Windows1250,
	"cp1256":   charmap.Windows1256,
	"cp1257":   charmap.Windows1257,
	"cp866":    charmap.CodePage866,
	"cp850":    charmap.CodePage850,
	"latin2":   charmap.ISO8859_2,
	"latin5":   charmap.ISO8859_9,
	"latin7":   charmap.ISO8859_13,
	"greek":    charmap.ISO8859_7,
	"hebrew":   charmap.ISO8859_8,
	"koi8r":    charmap.KOI8R,
	"koi8u":    charmap.KOI8U,
	"macroman": charmap.Macintosh,
	"gbk":      simplifiedchinese.GBK,
	"gb2312":   simplifiedchinese.GBK, // EUC-CN; GBK is a superset with the same bytes
	"gb18030":  simplifiedchinese.GB18030,
	"big5":     traditionalchinese.Big5,
	"sjis":     japanese.ShiftJIS,
	"cp932":    japanese.ShiftJIS,
	"ujis":     japanese.EUCJP,
	"eucjpms":  japanese.EUCJP,
	"euckr":    korean.EUCKR,
	"ucs2":     unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM),
	"utf16":    unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM),
	"utf16le":  unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM),
	"utf32":    utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM),
}

// TextCharset reports whether DecodeText converts values of charset cs to
// UTF-8 text: the utf8 family, ascii and every charset of the encodings
// table. Values of other charsets travel as their bytes.
func TextCharset(cs string) bool {
	switch strings.ToLower(cs) {
	case "", "utf8", "utf8mb3", "utf8mb4", "ascii":
		return true
	}
	_, ok := encodings[strings.ToLower(cs)]
	return ok
}

// DecodeText converts the bytes of a character column value in charset cs
// (as the tracker names it: "utf8" is utf8mb3, "" the server's utf8mb4)
// into UTF-8 text. It reports false, and the caller keeps the bytes, when
// cs is binary or a charset without a decoder here, or when the bytes do not
// decode and encode back to exactly themselves: such a value then reaches
// the target byte for byte, which is exact when the target column has the
// column's charset (the default: dmnode creates target tables with the
// upstream charsets).
func DecodeText(cs string, b []byte) (string, bool) {
	switch cs = strings.ToLower(cs); cs {
	case "", "utf8", "utf8mb3", "utf8mb4":
		return string(b), true // already UTF-8; the target validates it
	case "ascii":
		for _, c := range b {
			if c >= utf8.RuneSelf {
				return "", false
			}
		}
		return string(b), true
	case "binary":
		return "", false
	case "latin1":
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = latin1Runes[c]
		}
		return string(r), true
	}
	enc, ok := encodings[cs]
	if !ok {
		return "", false
	}
	s, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return "", false
	}
	back, err := enc.NewEncoder().Bytes(s)
	if err != nil || !bytes.Equal(back, b) {
		return "", false
	}
	return string(s), true
}

// EncodeText converts UTF-8 text into charset cs, the inverse of
// DecodeText; false when cs has no encoder here or the text has a
// character cs cannot hold.
func EncodeText(cs, s string) ([]byte, bool) {
	switch cs = strings.ToLower(cs); cs {
	case "", "utf8", "utf8mb3", "utf8mb4", "binary":
		return []byte(s), true
	case "ascii":
		for i := 0; i < len(s); i++ {
			if s[i] >= utf8.RuneSelf {
				return nil, false
			}
		}
		return []byte(s), true
	case "latin1":
		b := make([]byte, 0, len(s))
		for _, r := range s {
			c, ok := latin1Bytes[r]
			if !ok {
				return nil, false
			}
			b = append(b, c)
		}
		return b, true
	}
	enc, ok := encodings[cs]
	if !ok {
		return nil, false
	}
	b, err := enc.NewEncoder().Bytes([]byte(s))
	return b, err == nil
}

// latin1Runes is MySQL's latin1: cp1252, except that the bytes cp1252
// leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) are the C1 controls of
// the same code, so every byte is a character and converts back to itself.
var latin1Runes, latin1Bytes = latin1Tables()

func latin1Tables() ([256]rune, map[rune]byte) {
	var runes [256]rune
	back := make(map[rune]byte, 256)
	for i := range runes {
		r := charmap.Windows1252.DecodeByte(byte(i))
		if r == utf8.RuneError {
			r = rune(i)
		}
		runes[i] = r
		back[r] = byte(i)
	}
	return runes, back
}
