package apply

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Key comparison by collation. The applier orders transactions by the key
// values they write (write sets) and compacts row changes by key, and keys
// must compare as the target compares them: two values a case-insensitive
// (_ci) collation holds equal are one row to the target. Column traits
// (rules.ColumnTraits) say which columns fold.
//
// FoldText over-approximates the equalities of _ci collations: it ignores
// case, combining accents and trailing spaces. Write sets may so order two
// transactions on distinct keys (harmless), and compaction refuses to fold
// a batch whose keys it renders alike but which differ (see compact).
// Equalities it does not model, such as utf8mb4_unicode_ci's "ß" = "ss" or
// general_ci's "ß" = "s", may let two transactions on such keys run on
// different connections at once; they still commit in the source's order.

// foldAt reports whether column c folds under fold; nil, the target's
// collations being unknown, folds every column.
func foldAt(fold []bool, c int) bool { return fold == nil || fold[c] }

// FoldText returns s as a case- and accent-insensitive PAD SPACE collation
// compares it.
func FoldText(s string) string {
	s = strings.TrimRight(s, " ")
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(unicode.ToUpper(r)))
	}
	return b.String()
}
