package precheck

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// readGrants reads the current account and its privileges.
func readGrants(ctx context.Context, q actors.Queryer) (account, *Grants, error) {
	var user string
	if err := q.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&user); err != nil {
		return account{}, nil, fmt.Errorf("read current user: %w", err)
	}
	rows, err := q.QueryContext(ctx, "SHOW GRANTS")
	if err != nil {
		return account{}, nil, fmt.Errorf("show grants: %w", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return account{}, nil, fmt.Errorf("show grants: %w", err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		return account{}, nil, fmt.Errorf("show grants: %w", err)
	}
	g, err := ParseGrants(lines)
	if err != nil {
		return account{}, nil, err
	}
	return parseAccount(user), g, nil
}

// table is a schema and table name.
type table struct{ schema, name string }

// sourcePrivilegeFindings checks the privileges of the source account
// against what dmnode runs on the source, exactly:
//
//   - the dumper (task modes full and all): FLUSH TABLES WITH READ LOCK,
//     which needs RELOAD (dmnode never falls back to LOCK TABLES); SELECT
//     on every migrated table; SHOW MASTER STATUS for the snapshot's
//     position, which needs BINLOG MONITOR (REPLICATION CLIENT before
//     MariaDB 10.5.2) or SUPER;
//   - the tailer (modes incremental and all): the binlog dump, which needs
//     REPLICATION SLAVE, and SHOW MASTER STATUS and SHOW BINARY LOGS.
//
// SHOW MASTER STATUS is reported under replication_privilege when the task
// replicates, under dump_privilege in mode full.
func sourcePrivilegeFindings(g *Grants, acct account, v serverVersion, mode string, tables []table) []Finding {
	dump := mode != config.ModeIncremental
	sync := mode != config.ModeFull
	monitor := g.Global("BINLOG MONITOR") || g.Global("SUPER")
	var out []Finding
	if dump {
		var missing []string
		if !g.Global("RELOAD") {
			missing = append(missing, "RELOAD")
		}
		if !sync && !monitor {
			missing = append(missing, v.binlogMonitor())
		}
		if len(missing) > 0 {
			out = append(out, Finding{Item: config.CheckDumpPrivilege, Severity: Error,
				Message: fmt.Sprintf("%s lacks %s: the dump takes its consistent snapshot under FLUSH TABLES WITH READ LOCK (RELOAD) and reads the binlog position with SHOW MASTER STATUS",
					acct, strings.Join(missing, " and ")),
				Fix: grant(missing, "*.*", acct)})
		}
		out = append(out, selectFindings(g, acct, tables)...)
	}
	if sync {
		var missing []string
		if !g.Global("REPLICATION SLAVE") {
			missing = append(missing, "REPLICATION SLAVE")
		}
		if !monitor {
			missing = append(missing, v.binlogMonitor())
		}
		if len(missing) > 0 {
			out = append(out, Finding{Item: config.CheckReplicationPrivilege, Severity: Error,
				Message: fmt.Sprintf("%s lacks %s: dmnode reads the binlog as a replica (REPLICATION SLAVE) and reads binlog positions and files with SHOW MASTER STATUS and SHOW BINARY LOGS (%s)",
					acct, strings.Join(missing, " and "), v.binlogMonitor()),
				Fix: grant(missing, "*.*", acct)})
		}
	}
	return out
}

// selectFindings reports the migrated tables the account may not SELECT,
// one finding per schema.
func selectFindings(g *Grants, acct account, tables []table) []Finding {
	bySchema := map[string][]string{}
	var schemas []string
	for _, t := range tables {
		if g.Table("SELECT", t.schema, t.name) {
			continue
		}
		if bySchema[t.schema] == nil {
			schemas = append(schemas, t.schema)
		}
		bySchema[t.schema] = append(bySchema[t.schema], t.name)
	}
	slices.Sort(schemas)
	var out []Finding
	for _, s := range schemas {
		out = append(out, Finding{Item: config.CheckDumpPrivilege, Severity: Error, Table: s + ".*",
			Message: fmt.Sprintf("%s lacks SELECT on %s (%s): the dump reads every migrated table", acct, s, strings.Join(bySchema[s], ", ")),
			Fix:     grant([]string{"SELECT"}, sqlgen.QuoteIdent(s)+".*", acct)})
	}
	return out
}

// targetPrivileges are what the loader and applier run on the target:
// rows are read, inserted, replaced, updated and deleted; dmnode creates
// its dmnode_meta tables, the target databases and missing target tables.
// The DDL privileges are needed only when upstream DDL is replicated.
var (
	targetRowPrivileges = []string{"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE"}
	targetDDLPrivileges = []string{"ALTER", "DROP", "INDEX"}
)

// targetPrivilegeFindings checks the target account's privileges on every
// target schema and on dmnode's meta schema: missing row or CREATE
// privileges are errors, missing DDL privileges warnings.
func targetPrivilegeFindings(g *Grants, acct account, schemas []string, sync bool) []Finding {
	all := append(slices.Clone(schemas), actors.MetaSchema)
	slices.Sort(all)
	all = slices.Compact(all)
	var out []Finding
	for _, s := range all {
		var rowMissing, ddlMissing []string
		for _, p := range targetRowPrivileges {
			if !g.Schema(p, s) {
				rowMissing = append(rowMissing, p)
			}
		}
		if sync && s != actors.MetaSchema {
			for _, p := range targetDDLPrivileges {
				if !g.Schema(p, s) {
					ddlMissing = append(ddlMissing, p)
				}
			}
		}
		if len(rowMissing) > 0 {
			out = append(out, Finding{Item: config.CheckTargetPrivilege, Severity: Error, Target: true, Table: s + ".*",
				Message: fmt.Sprintf("%s lacks %s on %s: %s", acct, strings.Join(rowMissing, ", "), s, whatInSchema(s)),
				Fix:     grant(rowMissing, sqlgen.QuoteIdent(s)+".*", acct)})
		}
		if len(ddlMissing) > 0 {
			out = append(out, Finding{Item: config.CheckTargetPrivilege, Severity: Warning, Target: true, Table: s + ".*",
				Message: fmt.Sprintf("%s lacks %s on %s: replicated DDL (ALTER TABLE, CREATE/DROP INDEX, DROP TABLE) will fail there",
					acct, strings.Join(ddlMissing, ", "), s),
				Fix: grant(ddlMissing, sqlgen.QuoteIdent(s)+".*", acct)})
		}
	}
	return out
}

// whatInSchema says what dmnode does in a target schema.
func whatInSchema(s string) string {
	if s == actors.MetaSchema {
		return "dmnode creates its checkpoint tables there and writes to them"
	}
	return "dmnode creates the target tables there and writes their rows"
}

// grant renders GRANT privs ON object TO account;
func grant(privs []string, object string, acct account) string {
	return fmt.Sprintf("GRANT %s ON %s TO %s;", strings.Join(privs, ", "), object, acct)
}
