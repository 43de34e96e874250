package shardddl

import "github.com/dmnode/dmnode/core/schema"

// fromCreateSQL reads the definition of a table from a CREATE TABLE
// statement, as the applier has it from its schema tracker.
func fromCreateSQL(sql string) (*schema.Definition, error) {
	tbl, err := schema.ParseCreateTable("db", sql)
	if err != nil {
		return nil, err
	}
	return tbl.Def, nil
}
