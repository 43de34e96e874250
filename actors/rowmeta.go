package actors

import (
	"fmt"
	"strings"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// binaryCollation is the collation id of the binary charset.
const binaryCollation = 63

// tableFromRowMetadata derives the schema of db.table from a TABLE_MAP
// event that carries full row metadata (binlog_row_metadata=FULL): column
// names, types with their lengths, signedness, charsets, nullability and
// the primary key. Defaults, comments and secondary indexes are not in the
// binlog and are left out: the result decodes rows exactly and creates a
// target table that holds them.
func tableFromRowMetadata(db, table string, e *replication.TableMapEvent) (*schema.Table, error) {
	names := e.ColumnNameString()
	if len(names) != int(e.ColumnCount) {
		return nil, fmt.Errorf("%s.%s: the binlog has no column names (binlog_row_metadata is not FULL)", db, table)
	}
	unsigned, colls, enumColls := e.UnsignedMap(), e.CollationMap(), e.EnumSetCollationMap()
	enums, sets := e.EnumStrValueMap(), e.SetStrValueMap()
	defs := make([]string, 0, len(names)+1)
	for i, name := range names {
		typ, err := rowMetadataType(e.ColumnType[i], e.ColumnMeta[i], colls[i], enumColls[i], enums[i], sets[i])
		if err != nil {
			return nil, fmt.Errorf("%s.%s column %s: %w", db, table, name, err)
		}
		if unsigned[i] {
			typ += " UNSIGNED"
		}
		if ok, null := e.Nullable(i); ok && !null {
			typ += " NOT NULL"
		}
		defs = append(defs, sqlgen.QuoteIdent(name)+" "+typ)
	}
	if len(e.PrimaryKey) > 0 {
		pk := make([]string, len(e.PrimaryKey))
		for i, c := range e.PrimaryKey {
			if int(c) >= len(names) {
				return nil, fmt.Errorf("%s.%s: primary key column %d of %d", db, table, c, len(names))
			}
			pk[i] = sqlgen.QuoteIdent(names[c])
		}
		defs = append(defs, "PRIMARY KEY ("+strings.Join(pk, ", ")+")")
	}
	return schema.ParseCreateTable(db, "CREATE TABLE "+sqlgen.QuoteIdent(table)+" ("+strings.Join(defs, ", ")+")")
}

// rowMetadataType writes the SQL type of one column of a TABLE_MAP event.
func rowMetadataType(tp byte, meta uint16, coll, enumColl uint64, enum, set []string) (string, error) {
	switch tp {
	case gmysql.MYSQL_TYPE_TINY:
		return "tinyint", nil
	case gmysql.MYSQL_TYPE_SHORT:
		return "smallint", nil
	case gmysql.MYSQL_TYPE_INT24:
		return "mediumint", nil
	case gmysql.MYSQL_TYPE_LONG:
		return "int", nil
	case gmysql.MYSQL_TYPE_LONGLONG:
		return "bigint", nil
	case gmysql.MYSQL_TYPE_FLOAT:
		return "float", nil
	case gmysql.MYSQL_TYPE_DOUBLE:
		return "double", nil
	case gmysql.MYSQL_TYPE_NEWDECIMAL:
		return fmt.Sprintf("decimal(%d,%d)", meta>>8, meta&0xff), nil
	case gmysql.MYSQL_TYPE_YEAR:
		return "year", nil
	case gmysql.MYSQL_TYPE_DATE, gmysql.MYSQL_TYPE_NEWDATE:
		return "date", nil
	case gmysql.MYSQL_TYPE_TIMESTAMP:
		return "timestamp", nil
	case gmysql.MYSQL_TYPE_TIMESTAMP2:
		return fmt.Sprintf("timestamp(%d)", meta), nil
	case gmysql.MYSQL_TYPE_DATETIME:
		return "datetime", nil
	case gmysql.MYSQL_TYPE_DATETIME2:
		return fmt.Sprintf("datetime(%d)", meta), nil
	case gmysql.MYSQL_TYPE_TIME:
		return "time", nil
	case gmysql.MYSQL_TYPE_TIME2:
		return fmt.Sprintf("time(%d)", meta), nil
	case gmysql.MYSQL_TYPE_BIT:
		return fmt.Sprintf("bit(%d)", int(meta>>8)*8+int(meta&0xff)), nil
	case gmysql.MYSQL_TYPE_JSON:
		return "json", nil
	case gmysql.MYSQL_TYPE_GEOMETRY:
		return "geometry", nil
	case gmysql.MYSQL_TYPE_VARCHAR, gmysql.MYSQL_TYPE_VAR_STRING:
		return stringType("varchar", "varbinary", int(meta), coll)
	case gmysql.MYSQL_TYPE_BLOB:
		text := [...]string{1: "tinytext", 2: "text", 3: "mediumtext", 4: "longtext"}
		blob := [...]string{1: "tinyblob", 2: "blob", 3: "mediumblob", 4: "longblob"}
		if meta < 1 || meta > 4 {
			return "", fmt.Errorf("blob with %d length bytes", meta)
		}
		if coll == binaryCollation || coll == 0 {
			return blob[meta], nil
		}
		cs, co, err := collationNames(coll)
		return text[meta] + " CHARACTER SET " + cs + " COLLATE " + co, err
	case gmysql.MYSQL_TYPE_STRING:
		// The real type is in the high byte; a length over 255 borrows
		// two of its bits (MySQL's Field_string::save_field_metadata).
		real, length := byte(meta>>8), int(meta&0xff)
		if real&0x30 != 0x30 {
			length |= int((real&0x30)^0x30) << 4
			real |= 0x30
		}
		switch real {
		case gmysql.MYSQL_TYPE_ENUM:
			return valueList("enum", enum, enumColl)
		case gmysql.MYSQL_TYPE_SET:
			return valueList("set", set, enumColl)
		}
		return stringType("char", "binary", length, coll)
	}
	return "", fmt.Errorf("binlog column type %d: %w", tp, schema.ErrUnsupported)
}

// stringType writes a character type of maxBytes bytes in collation coll,
// or the binary type of that length.
func stringType(text, binary string, maxBytes int, coll uint64) (string, error) {
	if coll == binaryCollation || coll == 0 {
		return fmt.Sprintf("%s(%d)", binary, maxBytes), nil
	}
	cs, co, err := collationNames(coll)
	if err != nil {
		return "", err
	}
	maxLen := schema.CharsetMaxLen(cs)
	if maxLen < 1 {
		return "", fmt.Errorf("charset %s: %w", cs, schema.ErrUnsupported)
	}
	return fmt.Sprintf("%s(%d) CHARACTER SET %s COLLATE %s", text, maxBytes/maxLen, cs, co), nil
}

func valueList(kind string, values []string, coll uint64) (string, error) {
	if len(values) == 0 {
		return "", fmt.Errorf("%s without its values in the row metadata", kind)
	}
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = "'" + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), "'", "''") + "'"
	}
	t := kind + "(" + strings.Join(quoted, ",") + ")"
	if coll != 0 && coll != binaryCollation {
		cs, co, err := collationNames(coll)
		if err != nil {
			return "", err
		}
		t += " CHARACTER SET " + cs + " COLLATE " + co
	}
	return t, nil
}

func collationNames(id uint64) (cs, co string, err error) {
	cs, co, ok := schema.CollationByID(int(id))
	if !ok {
		return "", "", fmt.Errorf("collation id %d: %w", id, schema.ErrUnsupported)
	}
	return cs, co, nil
}
