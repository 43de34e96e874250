package precheck

import (
	"context"
	"fmt"
	"strings"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// mariadbTypes are MariaDB column types TiDB lacks, with the target type
// dmnode gives them: the text the server prints for a value, which keeps
// it exactly (schema.TargetCreateTable).
var mariadbTypes = map[string]string{
	"uuid":  "CHAR(36) CHARACTER SET ascii COLLATE ascii_bin",
	"inet4": "VARCHAR(15) CHARACTER SET ascii COLLATE ascii_bin",
	"inet6": "VARCHAR(39) CHARACTER SET ascii COLLATE ascii_bin",
}

// typeFindings names the columns of migrated tables whose MariaDB type
// TiDB lacks, and the type they get on the target.
func typeFindings(plans []*rules.TablePlan, infos map[table]*tableInfo) []Finding {
	var out []Finding
	for _, p := range plans {
		t := infos[table{p.Schema, p.Table}]
		if t == nil {
			continue
		}
		for _, c := range t.columns {
			base := strings.ToLower(strings.Fields(c.typ + " x")[0])
			to, ok := mariadbTypes[base]
			if !ok {
				continue
			}
			out = append(out, Finding{Item: config.CheckTableSchema, Severity: Warning, Table: p.Schema + "." + p.Table,
				Message: fmt.Sprintf("column %s of %s.%s is MariaDB's %s, which TiDB lacks: a target table dmnode creates holds its text form as %s, "+
					"which keeps every value exactly; the dump and the binlog both deliver that text", c.name, p.Schema, p.Table, strings.ToUpper(base), to),
				Fix: fmt.Sprintf("nothing for a target table dmnode creates; a target table created beforehand needs %s %s (a %s column where the target is MariaDB)",
					sqlgen.QuoteIdent(c.name), to, strings.ToUpper(base))})
		}
	}
	return out
}

// readSequences lists the SEQUENCE objects of the source outside its
// system schemas: the source's one binlog reader serves every task, so a
// sequence outside the migrated schemas stops it just the same.
func readSequences(ctx context.Context, q actors.Queryer) ([]table, error) {
	rows, err := q.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_TYPE = 'SEQUENCE' ORDER BY TABLE_SCHEMA, TABLE_NAME`)
	if err != nil {
		return nil, fmt.Errorf("read sequences: %w", err)
	}
	defer rows.Close()
	var out []table
	for rows.Next() {
		var t table
		if err := rows.Scan(&t.schema, &t.name); err != nil {
			return nil, fmt.Errorf("read sequences: %w", err)
		}
		if !rules.IsSystemSchema(t.schema) {
			out = append(out, t)
		}
	}
	return out, rows.Err()
}

// sequenceFindings refuses SEQUENCE objects: dmnode migrates base tables
// only, and the row changes NEXTVAL logs for a sequence stop the source's
// binlog reader, which tracks no schema for it.
func sequenceFindings(seqs []table) []Finding {
	var out []Finding
	for _, s := range seqs {
		name := s.schema + "." + s.name
		out = append(out, Finding{Item: config.CheckTableSchema, Severity: Error, Table: name,
			Message: fmt.Sprintf("%s is a SEQUENCE: dmnode migrates base tables only, and the row changes its NEXTVAL writes to the binlog "+
				"would stop the source's binlog reader, for every task of the source", name),
			Fix: fmt.Sprintf("replace the sequence by an AUTO_INCREMENT column, then DROP SEQUENCE %s on the source; where the target needs the sequence, "+
				"create it there with CREATE SEQUENCE ... START WITH the value SELECT NEXTVAL(%s) returns on the source",
				quoteTable(s.schema, s.name), quoteTable(s.schema, s.name))})
	}
	return out
}
