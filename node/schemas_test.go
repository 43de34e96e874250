package node

import (
	"testing"

	"github.com/dmnode/dmnode"
)

func TestParsePosition(t *testing.T) {
	for _, c := range []struct {
		in   string
		want dmnode.Position
		ok   bool
	}{
		{"mysql-bin.000003:4", dmnode.Position{File: "mysql-bin.000003", Pos: 4}, true},
		{" binlog.000010:123456 ", dmnode.Position{File: "binlog.000010", Pos: 123456}, true},
		{"mysql-bin.000003", dmnode.Position{}, false},
		{":4", dmnode.Position{}, false},
		{"mysql-bin.000003:-1", dmnode.Position{}, false},
		{"mysql-bin.000003:99999999999", dmnode.Position{}, false},
	} {
		got, err := ParsePosition(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParsePosition(%q) = %v, %v", c.in, got, err)
		}
	}
}
