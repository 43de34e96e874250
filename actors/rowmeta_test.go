package actors

import (
	"testing"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// A table's schema derived from full row metadata: every type the binlog
// names with its length, signedness, charset, nullability and primary key.
func TestTableFromRowMetadata(t *testing.T) {
	cols := []struct {
		name string
		tp   byte
		meta uint16
	}{
		{"id", gmysql.MYSQL_TYPE_LONG, 0},
		{"name", gmysql.MYSQL_TYPE_VARCHAR, 80},                                   // 80 bytes of utf8mb4
		{"code", gmysql.MYSQL_TYPE_STRING, 0xEE<<8 | 0x2C},                        // char(300) latin1: the length borrows type bits
		{"amount", gmysql.MYSQL_TYPE_NEWDECIMAL, 10<<8 | 2},                       //
		{"kind", gmysql.MYSQL_TYPE_STRING, uint16(gmysql.MYSQL_TYPE_ENUM)<<8 | 1}, //
		{"doc", gmysql.MYSQL_TYPE_BLOB, 2},                                        // blob
		{"body", gmysql.MYSQL_TYPE_BLOB, 4},                                       // longtext
		{"at", gmysql.MYSQL_TYPE_DATETIME2, 3},                                    //
		{"raw", gmysql.MYSQL_TYPE_VARCHAR, 16},                                    // varbinary(16)
	}
	e := &replication.TableMapEvent{
		ColumnCount:          uint64(len(cols)),
		SignednessBitmap:     []byte{0x80},                // id unsigned, amount signed
		ColumnCharset:        []uint64{45, 8, 63, 45, 63}, // name, code, doc, body, raw
		EnumSetColumnCharset: []uint64{45},
		EnumStrValue:         [][][]byte{{[]byte("a"), []byte("it's")}},
		NullBitmap:           []byte{0xfe, 0x01}, // id NOT NULL
		PrimaryKey:           []uint64{0},
	}
	for _, c := range cols {
		e.ColumnType = append(e.ColumnType, c.tp)
		e.ColumnMeta = append(e.ColumnMeta, c.meta)
		e.ColumnName = append(e.ColumnName, []byte(c.name))
	}
	tbl, err := tableFromRowMetadata("db", "t", e)
	if err != nil {
		t.Fatal(err)
	}
	want := "CREATE TABLE `t` (`id` INT UNSIGNED NOT NULL,`name` VARCHAR(20) CHARACTER SET UTF8MB4 COLLATE utf8mb4_general_ci," +
		"`code` CHAR(300) CHARACTER SET LATIN1 COLLATE latin1_swedish_ci,`amount` DECIMAL(10,2)," +
		"`kind` ENUM('a','it''s') CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci,`doc` BLOB," +
		"`body` LONGTEXT CHARACTER SET UTF8MB4 COLLATE utf8mb4_general_ci,`at` DATETIME(3),`raw` VARBINARY(16),PRIMARY KEY(`id`))"
	if tbl.CreateSQL != want {
		t.Errorf("got  %s\nwant %s", tbl.CreateSQL, want)
	}
	if len(tbl.Key) != 1 || tbl.Key[0] != 0 || !tbl.Columns[0].Unsigned || tbl.Columns[3].Unsigned || tbl.Columns[1].Charset != "utf8mb4" {
		t.Errorf("columns %+v key %v", tbl.Columns, tbl.Key)
	}

	bare := &replication.TableMapEvent{ColumnCount: 1, ColumnType: []byte{gmysql.MYSQL_TYPE_LONG}, ColumnMeta: []uint16{0}}
	if _, err := tableFromRowMetadata("db", "t", bare); err == nil {
		t.Error("no column names: no error")
	}
}
