package schema

import (
	"errors"
	"testing"
)

func TestProject(t *testing.T) {
	tbl, err := ParseCreateTable("db", "CREATE TABLE t (id int NOT NULL, a int, b varchar(10), c_source varchar(32) NOT NULL, PRIMARY KEY (id, c_source), KEY ab (a, b), KEY b (b))")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cols []string
		want string
		err  error
	}{
		{[]string{"id", "a", "b", "c_source"}, "CREATE TABLE `u` (`id` INT NOT NULL,`a` INT,`b` VARCHAR(10),`c_source` VARCHAR(32) NOT NULL,PRIMARY KEY(`id`, `c_source`),KEY `ab`(`a`, `b`),KEY `b`(`b`))", nil},
		// A column left out takes its keys with it; order follows cols.
		{[]string{"ID", "b", "a"}, "CREATE TABLE `u` (`id` INT NOT NULL,`b` VARCHAR(10),`a` INT,KEY `ab`(`a`, `b`),KEY `b`(`b`))", nil},
		{[]string{"id", "gone"}, "", ErrMismatch},
	}
	for _, c := range cases {
		got, err := tbl.Project("db2", "u", c.cols)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("Project(%v) err = %v, want %v", c.cols, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Project(%v): %v", c.cols, err)
		}
		if got.CreateSQL != c.want || got.Schema != "db2" || got.Name != "u" || !got.SameColumns(c.cols) {
			t.Errorf("Project(%v) = %s.%s %s\nwant %s", c.cols, got.Schema, got.Name, got.CreateSQL, c.want)
		}
	}
}
