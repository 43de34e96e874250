package actors

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dmnode/dmnode/tests/harness"
)

// plainValue widens go-mysql's integers: the same numbers, as int64 or
// uint64, whatever the width and sign.
func TestPlainValueIntegers(t *testing.T) {
	for _, c := range []struct {
		tp       byte
		data     []byte
		unsigned bool
		want     any
	}{
		{mysql.MYSQL_TYPE_TINY, []byte{0xff}, false, int64(-1)},
		{mysql.MYSQL_TYPE_TINY, []byte{0xff}, true, uint64(255)},
		{mysql.MYSQL_TYPE_SHORT, []byte{0x00, 0x80}, false, int64(-32768)},
		{mysql.MYSQL_TYPE_SHORT, []byte{0x00, 0x80}, true, uint64(32768)},
		{mysql.MYSQL_TYPE_INT24, []byte{0xff, 0xff, 0xff}, false, int64(-1)},
		{mysql.MYSQL_TYPE_INT24, []byte{0xff, 0xff, 0xff}, true, uint64(1<<24 - 1)},
		{mysql.MYSQL_TYPE_INT24, []byte{0x01, 0x00, 0x00}, false, int64(1)},
		{mysql.MYSQL_TYPE_LONG, []byte{0x00, 0x00, 0x00, 0x80}, false, int64(-1 << 31)},
		{mysql.MYSQL_TYPE_LONG, []byte{0x00, 0x00, 0x00, 0x80}, true, uint64(1 << 31)},
		{mysql.MYSQL_TYPE_LONGLONG, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, false, int64(-1)},
		{mysql.MYSQL_TYPE_LONGLONG, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, true, uint64(1<<64 - 1)},
	} {
		v, n, err := plainValue(c.data, c.tp, 0, c.unsigned)
		if err != nil || n != len(c.data) || v != c.want {
			t.Errorf("type %d % x unsigned %v: %#v, %d, %v; want %#v", c.tp, c.data, c.unsigned, v, n, err, c.want)
		}
	}
	// CHAR(200) in a multi-byte charset: a two-byte length in the
	// metadata's high bits; ENUM and SET, logged as strings, are not read.
	if n, ok := stringLength(uint16(mysql.MYSQL_TYPE_STRING)<<8 | 200); !ok || n != 200 {
		t.Errorf("char(200): %d %v", n, ok)
	}
	if n, ok := stringLength(0xde<<8 | 0x58); !ok || n != 600 {
		t.Errorf("char of 600 bytes: %d %v", n, ok)
	}
	for _, tp := range []byte{mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET} {
		if _, ok := stringLength(uint16(tp)<<8 | 1); ok {
			t.Errorf("type %d read as a string", tp)
		}
	}
}

// decodeRows gives, after normalizeValue, exactly the values go-mysql's
// own decoding gives, for every column type, charset, NULL and extreme
// value, in inserts, updates and deletes of one and many rows, with and
// without the signedness the full row metadata logs.
func TestDecodeRowsAsGoMySQL(t *testing.T) {
	s := harness.StartMariaDB(t, harness.Options{})
	db := s.DB(t)
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	exec := func(q string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE DATABASE d")
	exec(`CREATE TABLE d.ints (id int PRIMARY KEY, ti tinyint, tu tinyint unsigned, si smallint, su smallint unsigned,
		mi mediumint, mu mediumint unsigned, i int, iu int unsigned, bi bigint, bu bigint unsigned, b bool)`)
	exec(`CREATE TABLE d.texts (id bigint unsigned PRIMARY KEY, c char(10), c8 char(200) CHARACTER SET utf8mb4,
		cl char(5) CHARACTER SET latin1, vl varchar(300) CHARACTER SET latin1, vg varchar(20) CHARACTER SET gbk,
		vb varbinary(10), bn binary(4), v varchar(1000), t text, tl tinytext CHARACTER SET latin1,
		bl blob, mb mediumblob, lb longblob, u8 varchar(10) CHARACTER SET utf8mb3, vbin varchar(10) CHARACTER SET binary)`)
	exec(`CREATE TABLE d.others (id int PRIMARY KEY, e enum('a','b'), st set('x','y'), y year, dc decimal(10,3),
		f float, db double, dt datetime(3), ts timestamp NULL, d date, tm time, bt bit(5), j json, u uuid, i4 inet4)`)
	exec("FLUSH BINARY LOGS")
	var file string
	var pos int64
	var x1, x2 any
	if err := db.QueryRowContext(ctx, "SHOW MASTER STATUS").Scan(&file, &pos, &x1, &x2); err != nil {
		t.Fatal(err)
	}
	tr, err := LoadSchemas(ctx, db, "mariadb")
	if err != nil {
		t.Fatal(err)
	}
	for _, meta := range []string{"NO_LOG", "FULL"} {
		exec("SET GLOBAL binlog_row_metadata=" + meta)
		exec("DELETE FROM d.ints")
		exec("DELETE FROM d.texts")
		exec("DELETE FROM d.others")
		exec(`INSERT INTO d.ints VALUES (1,-128,255,-32768,65535,-8388608,16777215,-2147483648,4294967295,-9223372036854775808,18446744073709551615,1),
			(2,127,0,32767,0,8388607,0,2147483647,0,9223372036854775807,0,0),
			(3,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL), (4,-1,1,-1,1,-1,1,-1,1,-1,1,NULL)`)
		exec("UPDATE d.ints SET tu=tu+0, iu=iu DIV 2, bu=bu DIV 3, mi=mi DIV 2 WHERE id IN (1,2,4)")
		exec("UPDATE d.ints SET ti=5 WHERE id=3")
		exec(`INSERT INTO d.texts VALUES (18446744073709551615,'abc',REPEAT('é',200),'äöü',REPEAT('x',300),'中文',x'00ff',x'01',
			REPEAT('ü',1000),REPEAT('t',60000),'ß',x'00',REPEAT('m',70000),REPEAT('l',300),'ok',x'ff00'),
			(1,'',' ','','','','','','','','','','','','',''),
			(2,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL),
			(3,'a ',REPEAT('😀',100),x'80',x'9f',x'd6d0',x'',x'00000000','😀','😀',x'ff','','','','€',x'80')`)
		exec("UPDATE d.texts SET c=CONCAT(c,'z'), vl=REVERSE(vl) WHERE id IN (1,3,18446744073709551615)")
		exec(`INSERT INTO d.others VALUES (1,'b','x,y',2024,-1234567.891,1.5,-2.25,'2024-01-02 03:04:05.678',NULL,'2024-02-29','-838:59:59',b'10101',
			'{"a":[1,2]}','6ccd780c-baba-1026-9564-5b8c656024db','10.0.0.1'),
			(2,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL)`)
		exec("UPDATE d.others SET y=1999 WHERE id=1")
		exec("DELETE FROM d.texts WHERE id < 3")
		exec("DELETE FROM d.ints WHERE id > 2")
		exec("INSERT INTO d.ints SELECT seq, seq % 100, seq % 200, seq, seq, seq, seq, seq, seq, seq, seq, 1 FROM d.seq_10_to_3000")
		exec("UPDATE d.ints SET bi = -bi WHERE id > 100")
		exec("DELETE FROM d.ints WHERE id > 100")
	}
	exec("SET GLOBAL binlog_row_metadata=NO_LOG")
	exec("FLUSH BINARY LOGS")
	path := filepath.Join(s.DataDir, file)
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}

	// Every rows event, decoded both ways, normalized as the tailer does.
	decodeAll := func(fn func(*replication.RowsEvent, []byte) error) (out []string, plain int) {
		p := replication.NewBinlogParser()
		p.SetFlavor("mariadb")
		p.SetUseDecimal(true)
		p.SetTimestampStringLocation(time.UTC)
		if fn != nil {
			p.SetRowsEventDecodeFunc(func(e *replication.RowsEvent, data []byte) error {
				if _, ok := plainRowsEvent(e); ok {
					if _, err := e.DecodeHeader(data); err == nil && plainColumns(e) {
						plain++
					}
					e.Rows, e.ColumnBitmap1, e.ColumnBitmap2 = nil, nil, nil
				}
				return fn(e, data)
			})
		}
		err := p.ParseFile(path, 4, func(ev *replication.BinlogEvent) error {
			e, ok := ev.Event.(*replication.RowsEvent)
			if !ok {
				return nil
			}
			tbl, ok := tr.Get(string(e.Table.Schema), string(e.Table.Table))
			if !ok {
				return fmt.Errorf("no schema for %s.%s", e.Table.Schema, e.Table.Table)
			}
			for _, row := range e.Rows {
				line := fmt.Sprintf("%s %s", ev.Header.EventType, e.Table.Table)
				for i, v := range row {
					v = normalizeValue(tbl.Columns[i], v)
					line += fmt.Sprintf(" %T(%#v)", v, v)
				}
				out = append(out, line)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out, plain
	}
	want, _ := decodeAll(nil)
	got, plain := decodeAll(decodeRows)
	if len(got) != len(want) {
		t.Fatalf("%d rows decoded, go-mysql %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("row %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	t.Logf("%d rows compared, %d events read by decodeRows", len(want), plain)
	if plain == 0 || len(want) < 6000 {
		t.Errorf("%d rows, %d events read by decodeRows: the test reads too little", len(want), plain)
	}
}
