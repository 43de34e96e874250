package actors

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/dmnode/dmnode/core/filter"
	"github.com/dmnode/dmnode/core/schema"
)

// ddlKinds are the DDL kinds of the end-to-end DDL tests, in an order
// that applies on one database.
var ddlKinds = []string{
	"CREATE TABLE t (id int PRIMARY KEY, v varchar(10), KEY v (v))",
	"CREATE TABLE t2 LIKE t",
	"ALTER TABLE t ADD COLUMN c int",
	"ALTER TABLE t MODIFY COLUMN v varchar(20) NOT NULL DEFAULT 'x'",
	"ALTER TABLE t DROP COLUMN c",
	"ALTER TABLE t ADD COLUMN z int, DROP KEY v",
	"RENAME TABLE t2 TO t3",
	"ALTER TABLE t3 RENAME TO t4, ADD COLUMN q varchar(5) DEFAULT 'q'",
	"TRUNCATE TABLE t",
	"CREATE TABLE p (id int NOT NULL, v varchar(10), PRIMARY KEY (id)) PARTITION BY RANGE (id) " +
		"(PARTITION p0 VALUES LESS THAN (100), PARTITION p1 VALUES LESS THAN (200), PARTITION p2 VALUES LESS THAN (300))",
	"ALTER TABLE p ADD PARTITION (PARTITION p3 VALUES LESS THAN (400))",
	"ALTER TABLE p DROP PARTITION p0",
	"ALTER TABLE p TRUNCATE PARTITION p2",
	"ALTER TABLE p REORGANIZE PARTITION p1, p2 INTO (PARTITION p12a VALUES LESS THAN (150), PARTITION p12b VALUES LESS THAN (300))",
	"CREATE TABLE x (id int NOT NULL, v varchar(10), PRIMARY KEY (id))",
	"ALTER TABLE p EXCHANGE PARTITION p3 WITH TABLE x",
	"ALTER TABLE p REMOVE PARTITIONING",
	"CREATE TABLE h (id int NOT NULL PRIMARY KEY) PARTITION BY HASH (id) PARTITIONS 4",
	"ALTER TABLE h COALESCE PARTITION 2",
	"ALTER TABLE h ADD PARTITION PARTITIONS 1",
	"ALTER TABLE h PARTITION BY HASH (id) PARTITIONS 3",
	"DROP TABLE t4, h",
	"CREATE DATABASE k2",
	"CREATE TABLE k2.m (id int PRIMARY KEY)",
	"DROP DATABASE k2",
	"DROP TABLE IF EXISTS t",
}

// The tailer parses each DDL once: its typed form (kind, tables,
// partitions, the event filter's parts) comes from the parse its tracker
// applies. The tracker also reads the stored CREATE TABLE of a table an
// ALTER or RENAME changes (its own parses, measured apart on a copy); the
// DDL text itself is parsed once, where it was parsed three times for an
// ALTER (tracker, Describe, PartitioningOf).
func TestTailerParsesDDLOnce(t *testing.T) {
	r := &tailRun{tracker: schema.NewTracker()}
	for _, q := range ddlKinds {
		// The tracker's own parses of stored definitions, on a copy.
		cp := schema.NewTracker()
		j, _ := json.Marshal(r.tracker)
		if err := json.Unmarshal(j, cp); err != nil {
			t.Fatal(err)
		}
		st := schema.ParseDDL("k", q)
		mark := schema.Parses()
		cp.ApplyStmt(st)
		stored := schema.Parses() - mark

		mark = schema.Parses()
		d, info, err := r.readDDL("k", q)
		n := schema.Parses() - mark
		if err != nil && !errors.Is(err, schema.ErrUnknownTable) {
			t.Fatalf("%q: %v", q, err)
		}
		if n-stored != 1 {
			t.Errorf("%q: the tailer parsed the DDL %d times (%d parses, %d of stored definitions), want 1", q, n-stored, n, stored)
		}
		if d.Kind == schema.Skip || info == nil || !info.Classified {
			t.Fatalf("%q: %v %+v", q, d.Kind, info)
		}
		// The typed form is what the text-taking readers answer.
		want := schema.Info("k", q)
		got := *info
		got.Events, got.Classified = nil, false
		if !reflect.DeepEqual(&got, want) {
			t.Errorf("%q: DDLInfo %+v, want %+v", q, got, *want)
		}
		parts, _ := filter.ClassifyDDL("k", q)
		if relayed, _ := filter.RelayedEvents(info); !reflect.DeepEqual(filter.Relay(relayed), filter.Relay(parts)) {
			t.Errorf("%q: events %+v, want %+v", q, relayed, parts)
		}
		if d.Kind == schema.AlterTable && info.PartitionMaintenance != (d.Tables[0].Name == "p" || d.Tables[0].Name == "h") {
			t.Errorf("%q: partition maintenance %v", q, info.PartitionMaintenance)
		}
	}
}
