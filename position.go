package dmnode

import (
	"fmt"
	"strconv"
	"strings"
)

// Position is a point in a source's binary log: a file name and the offset of
// the next event to read, plus the GTID set executed up to that point when
// the source has GTIDs. The zero Position means "not known".
type Position struct {
	File string `json:"file"`
	Pos  uint32 `json:"pos"`
	GTID string `json:"gtid,omitempty"`
}

// IsZero reports whether p names no position.
func (p Position) IsZero() bool { return p.File == "" }

func (p Position) String() string {
	if p.IsZero() {
		return "-"
	}
	s := fmt.Sprintf("%s:%d", p.File, p.Pos)
	if p.GTID != "" {
		s += " (" + p.GTID + ")"
	}
	return s
}

// Compare orders positions by binlog file sequence number, then offset. File
// names are compared by their numeric suffix (mysql-bin.000010 after
// mysql-bin.000009), which is how servers number them. The zero Position sorts
// first.
func (p Position) Compare(q Position) int {
	if c := compareFiles(p.File, q.File); c != 0 {
		return c
	}
	switch {
	case p.Pos < q.Pos:
		return -1
	case p.Pos > q.Pos:
		return 1
	}
	return 0
}

func compareFiles(a, b string) int {
	if a == b {
		return 0
	}
	if a == "" {
		return -1
	}
	if b == "" {
		return 1
	}
	na, oka := fileSeq(a)
	nb, okb := fileSeq(b)
	if oka && okb && na != nb {
		if na < nb {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func fileSeq(name string) (uint64, bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(name[i+1:], 10, 64)
	return n, err == nil
}
