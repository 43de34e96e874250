package harness

import (
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Null stands for SQL NULL in the rows Rows returns, as in LOAD DATA files.
// A text value of exactly `\N` is therefore indistinguishable from NULL.
const Null = `\N`

// Rows runs query and returns every row with each column as a string (Null
// for NULL), in the order the query returns them. It fails the test on error.
func Rows(t testing.TB, db *sql.DB, query string, args ...any) [][]string {
	t.Helper()
	rows, err := QueryRows(db, query, args...)
	if err != nil {
		t.Fatalf("query %s: %v", query, err)
	}
	return rows
}

// QueryRows is Rows returning the error instead of failing the test, for use
// inside Eventually.
func QueryRows(db *sql.DB, query string, args ...any) ([][]string, error) {
	rs, err := db.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return nil, err
	}
	cells := make([]sql.NullString, len(cols))
	dest := make([]any, len(cols))
	for i := range cells {
		dest[i] = &cells[i]
	}
	var out [][]string
	for rs.Next() {
		if err := rs.Scan(dest...); err != nil {
			return nil, err
		}
		row := make([]string, len(cols))
		for i, c := range cells {
			row[i] = Null
			if c.Valid {
				row[i] = c.String
			}
		}
		out = append(out, row)
	}
	return out, rs.Err()
}

// maxDiffRows is how many missing and how many extra rows CompareRows lists.
const maxDiffRows = 10

// CompareRows compares want and got as multisets of rows, whatever their
// order. Both are sorted (copies; the arguments are not changed) and their
// row counts and sha256 checksums over a canonical encoding compared. On a
// mismatch it fails the test with t.Errorf, so a scenario reports every table
// that differs, listing up to 10 rows missing from got and 10 extra in it.
// It returns got's checksum, for logging.
func CompareRows(t testing.TB, name string, want, got [][]string) string {
	t.Helper()
	sum, diff := compareRows(want, got)
	if diff != "" {
		t.Errorf("%s: %s", name, diff)
	}
	return sum
}

// SameRows compares like CompareRows without a test: it returns "" when want
// and got hold the same rows, and otherwise what CompareRows would report.
// It suits Eventually, waiting for a target to catch up.
func SameRows(want, got [][]string) string {
	_, diff := compareRows(want, got)
	return diff
}

// compareRows returns got's checksum and, when the multisets differ, a
// description of the difference.
func compareRows(want, got [][]string) (sum, diff string) {
	want, got = sortedRows(want), sortedRows(got)
	wantSum, gotSum := checksum(want), checksum(got)
	if len(want) == len(got) && wantSum == gotSum {
		return gotSum, ""
	}
	missing, extra := diffRows(want, got)
	var b strings.Builder
	fmt.Fprintf(&b, "rows differ: want %d rows (sha256 %.12s), got %d (sha256 %.12s)",
		len(want), wantSum, len(got), gotSum)
	writeRows(&b, "missing", missing)
	writeRows(&b, "extra", extra)
	return gotSum, b.String()
}

func sortedRows(rows [][]string) [][]string {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, slices.Compare)
	return rows
}

// checksum hashes sorted rows so that no two different row lists encode
// alike: every row is its column count then each cell's length and bytes.
func checksum(rows [][]string) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	writeLen := func(l int) { h.Write(n[:binary.PutUvarint(n[:], uint64(l))]) }
	for _, row := range rows {
		writeLen(len(row))
		for _, cell := range row {
			writeLen(len(cell))
			h.Write([]byte(cell))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// diffRows merges two sorted row lists and returns the rows only in want and
// the rows only in got, counting duplicates.
func diffRows(want, got [][]string) (missing, extra [][]string) {
	i, j := 0, 0
	for i < len(want) && j < len(got) {
		switch c := slices.Compare(want[i], got[j]); {
		case c < 0:
			missing = append(missing, want[i])
			i++
		case c > 0:
			extra = append(extra, got[j])
			j++
		default:
			i++
			j++
		}
	}
	return append(missing, want[i:]...), append(extra, got[j:]...)
}

func writeRows(b *strings.Builder, what string, rows [][]string) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%d %s rows", len(rows), what)
	if len(rows) > maxDiffRows {
		fmt.Fprintf(b, ", the first %d", maxDiffRows)
	}
	b.WriteString(":")
	for _, row := range rows[:min(len(rows), maxDiffRows)] {
		fmt.Fprintf(b, "\n  %q", row)
	}
}
