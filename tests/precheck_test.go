package tests

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dmnode/dmnode/tests/harness"
)

// Every precheck item that a MariaDB server can be configured to fail, each
// through task check (or source add, for binlog_enable) with its message
// and fix; ignore-checking-items silencing items; a clean setup passing;
// and submit refusing a task with an error. Two servers: the source, with
// several users and schemas, and the target, which runs without a binlog
// and so also serves as the source whose binlog is off. version and
// server_id cannot be made to fail on MariaDB 10.11 (server_id 0 is raised
// to 1): unit tests in actors/precheck cover them.
func TestPrecheck(t *testing.T) {
	src := harness.StartMariaDB(t, harness.Options{ServerID: 1})
	tgt := harness.StartMariaDB(t, harness.Options{ServerID: 100, ExtraArgs: []string{"--skip-log-bin"}})
	src.Exec(t,
		"CREATE DATABASE clean",
		"CREATE TABLE clean.t1 (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, v varchar(10))",
		"CREATE TABLE clean.t2 (id int NOT NULL PRIMARY KEY, v varchar(10))",
		"INSERT INTO clean.t1 (v) VALUES ('a'), ('b')",
		"CREATE DATABASE nokey",
		"CREATE TABLE nokey.events (at datetime, what varchar(20))",
		"CREATE DATABASE shard_a",
		"CREATE DATABASE shard_b",
		"CREATE TABLE shard_a.t (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, v varchar(10))",
		"CREATE TABLE shard_b.t (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, v varchar(20))",
		"CREATE DATABASE ext",
		"CREATE TABLE ext.t (id bigint NOT NULL PRIMARY KEY, v varchar(10))",
		// weak lacks RELOAD and REPLICATION SLAVE, and SELECT on clean.t2,
		// which it sees through INSERT.
		"CREATE USER weak@'%'",
		"GRANT BINLOG MONITOR ON *.* TO weak@'%'",
		"GRANT SELECT ON clean.t1 TO weak@'%'",
		"GRANT INSERT ON clean.t2 TO weak@'%'",
		// few may open two connections; the dump opens five.
		"CREATE USER few@'%' WITH MAX_USER_CONNECTIONS 2",
		"GRANT ALL PRIVILEGES ON *.* TO few@'%'",
	)
	tgt.Exec(t,
		"CREATE DATABASE ext",
		"CREATE TABLE ext.t (id bigint NOT NULL PRIMARY KEY, v varchar(10))",
		// tw may write rows but not create tables or run DDL.
		"CREATE USER tw@'%'",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON *.* TO tw@'%'",
	)
	c := newClusterOn(t, []*harness.Server{src}, tgt)
	source := func(id, user string, port int) string {
		return c.writeFile(id+".yaml", fmt.Sprintf("source-id: %s\nfrom: {host: 127.0.0.1, port: %d, user: %s, password: \"\"}\n", id, port, user))
	}
	c.dmnode("source", "add", source("root-src", "root", src.Port), source("weak-src", "weak", src.Port), source("few-src", "few", src.Port))
	srcDB := src.DB(t)

	// task writes a task file: one instance of source, migrating the
	// databases dbs, with extra instance lines and top-level lines.
	task := func(name, mode, source, targetUser, dbs, instance, top string) string {
		return c.writeFile(name+".yaml", fmt.Sprintf(`name: %s
task-mode: %s
target-database: {host: 127.0.0.1, port: %d, user: %s, password: ""}
mysql-instances:
  - source-id: %s
    block-allow-list: only
%sblock-allow-list:
  only:
    do-dbs: [%s]
%s`, name, mode, tgt.Port, targetUser, source, instance, dbs, top))
	}
	check := func(t *testing.T, file string) (string, error) {
		t.Helper()
		return harness.Run(t, c.bin, "--server", c.server(), "task", "check", file)
	}
	passes := func(t *testing.T, file, name string) string {
		t.Helper()
		out, err := check(t, file)
		if err != nil || !strings.Contains(out, "task "+name+": check passed") {
			t.Fatalf("task check %s: %v\n%s", name, err, out)
		}
		return out
	}
	fails := func(t *testing.T, file string) string {
		t.Helper()
		out, err := check(t, file)
		if err == nil {
			t.Fatalf("task check %s passed, want errors:\n%s", file, out)
		}
		if !strings.Contains(out, "the precheck found") {
			t.Errorf("no precheck summary in the error:\n%s", out)
		}
		return out
	}
	cleanTask := task("clean", "all", "root-src", "root", "clean", "", "")

	t.Run("clean setup passes", func(t *testing.T) {
		if out := passes(t, cleanTask, "clean"); strings.Contains(out, "fix:") {
			t.Errorf("findings on a clean setup:\n%s", out)
		}
	})

	t.Run("binlog_enable", func(t *testing.T) {
		out, err := harness.Run(t, c.bin, "--server", c.server(), "source", "add", source("nobinlog", "root", tgt.Port))
		if err == nil {
			t.Fatalf("source add of a server without binlog succeeded:\n%s", out)
		}
		expectLine(t, out, "binlog_enable: binary logging is off (log_bin = OFF)",
			"fix: add log_bin = mysql-bin and a server_id under [mysqld] in the server's configuration file and restart the server")
	})

	t.Run("binlog_format and binlog_row_image", func(t *testing.T) {
		src.Exec(t, "SET GLOBAL binlog_format = 'STATEMENT'", "SET GLOBAL binlog_row_image = 'MINIMAL'")
		defer src.Exec(t, "SET GLOBAL binlog_format = 'ROW'", "SET GLOBAL binlog_row_image = 'FULL'")
		out := fails(t, cleanTask)
		expectFinding(t, out, "source root-src", "error", "binlog_format",
			"binlog_format is STATEMENT: dmnode replicates row events only and needs ROW",
			"run SET GLOBAL binlog_format = 'ROW' and set it under [mysqld] in the server's configuration file")
		expectFinding(t, out, "source root-src", "error", "binlog_row_image",
			"binlog_row_image is MINIMAL: dmnode needs FULL",
			"run SET GLOBAL binlog_row_image = 'FULL' and set it under [mysqld]")
		// The same task with both items ignored passes; in mode full they do not apply.
		passes(t, task("clean-ignoring", "all", "root-src", "root", "clean", "",
			"ignore-checking-items: [binlog_format, binlog_row_image]\n"), "clean-ignoring")
		passes(t, task("clean-full", "full", "root-src", "root", "clean", "", ""), "clean-full")
	})

	t.Run("dump_privilege and replication_privilege", func(t *testing.T) {
		file := task("weak", "all", "weak-src", "root", "clean", "", "")
		out := fails(t, file)
		expectFinding(t, out, "source weak-src", "error", "dump_privilege",
			"'weak'@'%' lacks RELOAD: the dump takes its consistent snapshot under FLUSH TABLES WITH READ LOCK",
			"GRANT RELOAD ON *.* TO 'weak'@'%';")
		expectFinding(t, out, "source weak-src", "error", "dump_privilege",
			"'weak'@'%' lacks SELECT on clean (t2)", "GRANT SELECT ON `clean`.* TO 'weak'@'%';")
		expectFinding(t, out, "source weak-src", "error", "replication_privilege",
			"'weak'@'%' lacks REPLICATION SLAVE: dmnode reads the binlog as a replica",
			"GRANT REPLICATION SLAVE ON *.* TO 'weak'@'%';")
		// submit refuses it, and nothing is created.
		sub, err := harness.Run(t, c.bin, "--server", c.server(), "task", "submit", file)
		if err == nil || !strings.Contains(sub, "GRANT RELOAD ON *.* TO 'weak'@'%';") {
			t.Errorf("submit of a failing task: %v\n%s", err, sub)
		}
		if list := c.dmnode("task", "list"); strings.Contains(list, "weak") {
			t.Errorf("a refused submit created the task:\n%s", list)
		}
		// ignore-checking-items: all silences every item.
		passes(t, task("weak-all", "all", "weak-src", "root", "clean", "", "ignore-checking-items: [\"all\"]\n"), "weak-all")
	})

	t.Run("conn_number", func(t *testing.T) {
		out := fails(t, task("few", "full", "few-src", "root", "clean", "", ""))
		expectFinding(t, out, "source few-src", "error", "conn_number",
			"'few'@'%' may open 2 connections (max_user_connections) and 0 are open, but the task opens up to 5 (4 dump readers, the snapshot lock)",
			"run ALTER USER 'few'@'%' WITH MAX_USER_CONNECTIONS 5 (0 lifts the limit), or lower the task's threads")
	})

	t.Run("table_schema: a table without a key", func(t *testing.T) {
		out := passes(t, task("nokey", "all", "root-src", "root", "nokey", "", ""), "nokey")
		expectFinding(t, out, "source root-src", "warning", "table_schema",
			"nokey.events has no primary key and no unique key over NOT NULL columns",
			"ALTER TABLE `nokey`.`events` ADD PRIMARY KEY (columns that identify a row)")
		if !strings.Contains(out, "check passed with 1 precheck warning") {
			t.Errorf("the warning is not counted:\n%s", out)
		}
	})

	t.Run("schema_of_shard_tables and auto_increment_ID", func(t *testing.T) {
		out := fails(t, task("shards", "all", "root-src", "root", "shard_a, shard_b", "    route-rules: [merge]\n", `shard-mode: pessimistic
routes:
  merge: {schema-pattern: "shard_*", table-pattern: t, target-schema: merged, target-table: t}
`))
		expectFinding(t, out, "source root-src", "error", "schema_of_shard_tables",
			"shard_b.t differs from shard_a.t of source root-src, both merged into merged.t: column v is varchar(20) here and varchar(10) there",
			"ALTER TABLE `shard_b`.`t` MODIFY COLUMN `v` varchar(10) (or change the other tables); or set shard-mode: optimistic")
		expectFinding(t, out, "merged tables", "error", "auto_increment_ID",
			"merged.t merges 2 tables whose auto-increment keys nothing keeps apart: root-src shard_a.t (id), root-src shard_b.t (id)",
			`add a column-mapping rule with expression: "partition id" on id (source-column and target-column)`)
	})

	t.Run("table_schema: an extracted column missing from a pre-created target", func(t *testing.T) {
		out := fails(t, task("ext", "all", "root-src", "root", "ext", "    route-rules: [src]\n", `routes:
  src: {schema-pattern: ext, table-pattern: t, target-schema: ext, extract-source: {source-regexp: "(.*)", target-column: c_source}}
`))
		expectFinding(t, out, "target", "error", "table_schema",
			"the pre-created target table ext.t has no column c_source, which rows of ext.t (source root-src) carry",
			"ALTER TABLE `ext`.`t` ADD COLUMN `c_source` VARCHAR(255) NOT NULL DEFAULT '';")
	})

	t.Run("target_privilege", func(t *testing.T) {
		out := fails(t, task("tw", "all", "root-src", "tw", "clean", "", ""))
		expectFinding(t, out, "target", "error", "target_privilege",
			"'tw'@'%' lacks CREATE on clean: dmnode creates the target tables there and writes their rows",
			"GRANT CREATE ON `clean`.* TO 'tw'@'%';")
		expectFinding(t, out, "target", "error", "target_privilege",
			"'tw'@'%' lacks CREATE on dmnode_meta", "GRANT CREATE ON `dmnode_meta`.* TO 'tw'@'%';")
		expectFinding(t, out, "target", "warning", "target_privilege",
			"'tw'@'%' lacks ALTER, DROP, INDEX on clean: replicated DDL", "GRANT ALTER, DROP, INDEX ON `clean`.* TO 'tw'@'%';")
	})

	t.Run("meta_position", func(t *testing.T) {
		src.Exec(t, "FLUSH BINARY LOGS", "FLUSH BINARY LOGS")
		current := harness.Rows(t, srcDB, "SHOW MASTER STATUS")[0][0]
		src.Exec(t, "PURGE BINARY LOGS TO '"+current+"'")
		out := fails(t, task("purged", "incremental", "root-src", "root", "clean",
			"    meta: {binlog-name: mysql-bin.000001, binlog-pos: 4}\n", ""))
		expectFinding(t, out, "source root-src", "error", "meta_position",
			"meta.binlog-name mysql-bin.000001 has been purged from the source: its oldest binlog file is "+current,
			"or use task-mode: all to copy the data again")
		passes(t, task("purged-ignored", "incremental", "root-src", "root", "clean",
			"    meta: {binlog-name: mysql-bin.000001, binlog-pos: 4}\n", "ignore-checking-items: [meta_position]\n"), "purged-ignored")
	})
}

// expectFinding fails the test unless out has, under the heading group
// ("source ID", "merged tables" or "target"), a finding of severity and
// item whose message contains msg, followed by a fix line containing fix.
func expectFinding(t *testing.T, out, group, severity, item, msg, fix string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	current := ""
	for i, l := range lines {
		if !strings.HasPrefix(l, " ") && strings.HasSuffix(l, ":") {
			current = strings.TrimSuffix(l, ":")
			continue
		}
		f := strings.Fields(l)
		if current != group || len(f) < 2 || f[0] != severity || f[1] != item+":" || !strings.Contains(l, msg) {
			continue
		}
		if i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "fix: ") && strings.Contains(lines[i+1], fix) {
			return
		}
		t.Errorf("%s %s finding %q has not the fix %q:\n%s", severity, item, msg, fix, out)
		return
	}
	t.Errorf("no %s %s finding under %q with message %q:\n%s", severity, item, group, msg, out)
}

// expectLine fails the test unless out contains every part.
func expectLine(t *testing.T, out string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(out, p) {
			t.Errorf("output lacks %q:\n%s", p, out)
		}
	}
}
