package filter_test

import (
	"os"
	"strings"
	"testing"

	"github.com/dmnode/dmnode/core/filter"
	"github.com/dmnode/dmnode/core/schema"
)

// TestBuiltInSkips documents DM's built-in skip list as dmnode implements
// it: the schema tracker reports these statements as schema.Skip, and the
// applier neither filters nor executes them. The filter is not consulted,
// so no rule can select them (DM skips them before its filter too).
func TestBuiltInSkips(t *testing.T) {
	skipped := []string{
		// transactions and session state
		"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT sp", "RELEASE SAVEPOINT sp", "XA START 'x'", "SET @a = 1",
		"USE db", "LOCK TABLES t WRITE", "UNLOCK TABLES",
		// server maintenance and table maintenance
		"FLUSH TABLES", "FLUSH PRIVILEGES", "OPTIMIZE TABLE t", "ANALYZE TABLE t", "REPAIR TABLE t",
		"CHECK TABLE t", "CHECKSUM TABLE t", "PURGE BINARY LOGS TO 'x'", "RESET MASTER",
		"INSTALL PLUGIN p SONAME 'p.so'", "UNINSTALL PLUGIN p",
		// accounts and privileges
		"GRANT ALL ON *.* TO u", "REVOKE ALL ON *.* FROM u", "CREATE USER u", "ALTER USER u IDENTIFIED BY 'x'",
		"RENAME USER u TO v", "DROP USER u", "CREATE ROLE r", "DROP ROLE r",
		// views, stored programs, events, tablespaces, servers
		"CREATE VIEW v AS SELECT 1", "CREATE OR REPLACE VIEW v AS SELECT 1", "ALTER VIEW v AS SELECT 2", "DROP VIEW v",
		"CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1", "DROP TRIGGER tr",
		"CREATE PROCEDURE p() BEGIN SELECT 1; END", "DROP PROCEDURE p",
		"CREATE FUNCTION f() RETURNS int RETURN 1", "DROP FUNCTION f",
		"CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t", "ALTER EVENT e DISABLE", "DROP EVENT e",
		"CREATE TABLESPACE ts ADD DATAFILE 'ts.ibd'", "DROP TABLESPACE ts",
		"CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (HOST 'h')", "DROP SERVER s",
		// temporary tables
		"CREATE TEMPORARY TABLE tmp (a int)", "DROP TEMPORARY TABLE tmp",
	}
	for _, stmt := range skipped {
		tr := schema.NewTracker()
		d, err := tr.Apply("db", stmt)
		if err != nil || d.Kind != schema.Skip {
			t.Errorf("%s: tracker gives %v, %v; want skip", stmt, d.Kind, err)
		}
	}
	// DDL the tracker applies, and so the filter decides about.
	for _, stmt := range []string{"CREATE DATABASE d", "CREATE TABLE t (a int)", "TRUNCATE TABLE t", "DROP TABLE t"} {
		tr := schema.NewTracker()
		d, _ := tr.Apply("db", stmt)
		if d.Kind == schema.Skip {
			t.Errorf("%s: skipped by the tracker", stmt)
		}
		if parts, err := filter.ClassifyDDL("db", stmt); err != nil || len(parts) == 0 {
			t.Errorf("%s: classified as %v, %v", stmt, parts, err)
		}
	}
}

// TestDocListsEvents checks that docs/rules.md names every event.
func TestDocListsEvents(t *testing.T) {
	doc, err := os.ReadFile("../../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range filter.Names() {
		if !strings.Contains(string(doc), "`"+string(e)+"`") {
			t.Errorf("docs/rules.md does not name event %q", e)
		}
	}
}
