package actors

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// The GTID text and sets are go-mysql's, one domain or several.
func TestGTIDTextAsGoMySQL(t *testing.T) {
	gtid := func(d, s uint32, n uint64) mysql.MariadbGTID {
		return mysql.MariadbGTID{DomainID: d, ServerID: s, SequenceNumber: n}
	}
	for _, g := range []mysql.MariadbGTID{{}, gtid(0, 1, 1), gtid(0, 0, 7), gtid(4294967295, 4294967295, 18446744073709551615), gtid(12, 3, 400)} {
		if got, want := mariadbGTIDText(&g), g.String(); got != want {
			t.Errorf("%+v: %q, want %q", g, got, want)
		}
	}
	for _, start := range []string{"", "0-1-5", "0-1-5,1-2-9"} {
		fast, _ := mysql.ParseMariadbGTIDSet(start)
		slow, _ := mysql.ParseMariadbGTIDSet(start)
		for _, gtid := range []string{"0-1-6", "0-2-7", "1-2-10", "5-5-1", "0-1-8,1-2-11", "x-1-1", "0-1"} {
			errF, errS := updateGTIDSet(fast, gtid), slow.Update(gtid)
			if (errF == nil) != (errS == nil) {
				t.Errorf("%q + %q: error %v, want %v", start, gtid, errF, errS)
			}
			if got, want := gtidSetText(fast), slow.String(); got != want {
				t.Errorf("%q + %q: %q, want %q", start, gtid, got, want)
			}
		}
	}
	my, _ := mysql.ParseMysqlGTIDSet("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5")
	if got, want := gtidSetText(my), my.String(); got != want {
		t.Errorf("MySQL set: %q, want %q", got, want)
	}
}
