package dmnode

import "testing"

func TestPositionCompare(t *testing.T) {
	cases := []struct {
		a, b Position
		want int
	}{
		{Position{File: "mysql-bin.000009", Pos: 900}, Position{File: "mysql-bin.000010", Pos: 4}, -1},
		{Position{File: "mysql-bin.000010", Pos: 4}, Position{File: "mysql-bin.000010", Pos: 4}, 0},
		{Position{File: "mysql-bin.000010", Pos: 5}, Position{File: "mysql-bin.000010", Pos: 4}, 1},
		{Position{File: "mysql-bin.999999", Pos: 5}, Position{File: "mysql-bin.1000000", Pos: 4}, -1},
		{Position{}, Position{File: "a.000001", Pos: 4}, -1},
	}
	for _, c := range cases {
		if got := c.a.Compare(c.b); got != c.want {
			t.Errorf("%v vs %v = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := c.b.Compare(c.a); got != -c.want {
			t.Errorf("%v vs %v = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}
