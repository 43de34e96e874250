package actors

import (
	"strings"

	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// RowDigestExpr is the SQL expression of a row digest over cols, sent
// unchanged to the source and to the target so that both servers compute
// it the same way: the MD5 of the columns' text joined by commas, followed
// by a bitmap of their NULLs. Text columns are converted to utf8mb4 and
// written in hex, binary ones in hex, so a comma inside a value cannot
// shift columns and a target table in another character set does not make
// equal rows differ; numbers and temporal values keep the server's text,
// which has no comma. (TiDB prints some floating-point values differently
// from MySQL; such columns may show as different against TiDB.) Task
// verify and the continuous validator both compare rows with it.
func RowDigestExpr(cols []schema.Column) string {
	if len(cols) == 0 {
		return "MD5('')"
	}
	parts := make([]string, 0, len(cols)+1)
	nulls := make([]string, 0, len(cols))
	for _, c := range cols {
		parts = append(parts, digestColumn(c))
		nulls = append(nulls, "ISNULL("+sqlgen.QuoteIdent(c.Name)+")")
	}
	parts = append(parts, "CONCAT("+strings.Join(nulls, ", ")+")")
	return "MD5(CONCAT_WS(',', " + strings.Join(parts, ", ") + "))"
}

func digestColumn(c schema.Column) string {
	q := sqlgen.QuoteIdent(c.Name)
	switch c.Type {
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit", "geometry":
		return "HEX(" + q + ")"
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "json":
		if c.Charset == "binary" {
			return "HEX(" + q + ")"
		}
		return "HEX(CONVERT(" + q + " USING utf8mb4))"
	}
	return q
}
