package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/charset"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/types"
)

func strp(s string) *string { return &s }

// TestParseFillsDefinition: one parse of a CREATE TABLE fills the full
// definition: declared types, lengths, signedness, charsets and
// collations (the column's or the table's), defaults, ON UPDATE,
// generated expressions, indexes.
func TestParseFillsDefinition(t *testing.T) {
	tests := []struct {
		name string
		sql  string
		want Definition
	}{{
		name: "numbers, keys, auto-increment",
		sql: "CREATE TABLE t (id bigint unsigned NOT NULL AUTO_INCREMENT, a int(11) DEFAULT 0, d decimal(10,2) unsigned zerofill, " +
			"e decimal, f float(7,3), g double, b bit(3) NOT NULL DEFAULT b'101', PRIMARY KEY (id), UNIQUE KEY ua (a), KEY (d, e))",
		want: Definition{Columns: []ColumnDef{
			{Name: "id", Type: "bigint", Unsigned: true, AutoIncrement: true},
			{Name: "a", Type: "int", Nullable: true, Default: strp("0")},
			{Name: "d", Type: "decimal", Length: 10, Decimals: 2, Unsigned: true, Zerofill: true, Nullable: true},
			{Name: "e", Type: "decimal", Length: 10, Nullable: true},
			{Name: "f", Type: "float", Length: 7, Decimals: 3, Nullable: true},
			{Name: "g", Type: "double", Nullable: true},
			{Name: "b", Type: "bit", Length: 3, Default: strp("b'101'")},
		}, Indexes: []Index{
			{Name: PrimaryKey, Kind: "primary", Columns: []IndexCol{{Column: "id"}}},
			{Name: "ua", Kind: "unique", Columns: []IndexCol{{Column: "a"}}},
			{Name: "d", Kind: "key", Columns: []IndexCol{{Column: "d"}, {Column: "e"}}},
		}},
	}, {
		name: "strings, charsets and collations",
		sql: "CREATE TABLE t (a varchar(20) NOT NULL DEFAULT 'it''s', b char(2) CHARACTER SET latin1, c text COLLATE utf8mb4_bin, " +
			"d enum('x','y') CHARACTER SET latin1 COLLATE latin1_bin DEFAULT 'x', e set('p','q'), f varbinary(8), g blob, h binary(4), " +
			"i varchar(5) CHARACTER SET cp1250 DEFAULT NULL, j varchar(9) COLLATE utf8mb4_uca1400_ai_ci, KEY ia (a(4)), FULLTEXT KEY fc (c)) " +
			"DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
		want: Definition{Columns: []ColumnDef{
			{Name: "a", Type: "varchar", Length: 20, Charset: "utf8mb4", Collate: "utf8mb4_general_ci", Default: strp("'it''s'")},
			{Name: "b", Type: "char", Length: 2, Charset: "latin1", Nullable: true},
			{Name: "c", Type: "text", Charset: "utf8mb4", Collate: "utf8mb4_bin", Nullable: true},
			{Name: "d", Type: "enum", Charset: "latin1", Collate: "latin1_bin", Elems: []string{"x", "y"}, Nullable: true, Default: strp("'x'")},
			{Name: "e", Type: "set", Charset: "utf8mb4", Collate: "utf8mb4_general_ci", Elems: []string{"p", "q"}, Nullable: true},
			{Name: "f", Type: "varbinary", Length: 8, Nullable: true},
			{Name: "g", Type: "blob", Nullable: true},
			{Name: "h", Type: "binary", Length: 4, Nullable: true},
			{Name: "i", Type: "varchar", Length: 5, Charset: "cp1250", Nullable: true},
			{Name: "j", Type: "varchar", Length: 9, Charset: "utf8mb4", Collate: "utf8mb4_uca1400_ai_ci", Nullable: true},
		}, Indexes: []Index{
			{Name: "ia", Kind: "key", Columns: []IndexCol{{Column: "a", Length: 4}}},
			{Name: "fc", Kind: "fulltext", Columns: []IndexCol{{Column: "c"}}},
		}},
	}, {
		name: "temporal, generated, expression index, stand-in types",
		sql: "CREATE TABLE t (id int PRIMARY KEY, ts timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3), " +
			"dt datetime(6), tm time, y year, v int AS (id + 1) VIRTUAL, s varchar(9) GENERATED ALWAYS AS (concat(id)) STORED, " +
			"p point NOT NULL, u uuid, j json, UNIQUE KEY (s), KEY f ((lower(s))))",
		want: Definition{Columns: []ColumnDef{
			{Name: "id", Type: "int"},
			{Name: "ts", Type: "timestamp", Decimals: 3, Default: strp("CURRENT_TIMESTAMP(3)"), OnUpdate: "CURRENT_TIMESTAMP(3)"},
			{Name: "dt", Type: "datetime", Decimals: 6, Nullable: true},
			{Name: "tm", Type: "time", Nullable: true},
			{Name: "y", Type: "year", Nullable: true},
			{Name: "v", Type: "int", Nullable: true, Generated: "`id`+1"},
			{Name: "s", Type: "varchar", Length: 9, Nullable: true, Generated: "CONCAT(`id`)", Stored: true},
			{Name: "p", Type: "point"},
			{Name: "u", Type: "uuid", Nullable: true},
			{Name: "j", Type: "json", Nullable: true},
		}, Indexes: []Index{
			{Name: PrimaryKey, Kind: "primary", Columns: []IndexCol{{Column: "id"}}},
			{Name: "s", Kind: "unique", Columns: []IndexCol{{Column: "s"}}},
			{Name: "f", Kind: "key", Columns: []IndexCol{{Expr: "LOWER(`s`)"}}},
		}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, err := ParseCreateTable("db", tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tbl.Def, &tt.want) {
				got, _ := json.MarshalIndent(tbl.Def, "", " ")
				t.Errorf("definition:\n%s", got)
			}
			if d, err := tbl.Definition(); err != nil || d != tbl.Def {
				t.Errorf("Definition() = %p, %v; want the parsed one", d, err)
			}
		})
	}
}

// definitionCorpus are CREATE TABLE statements of every shape the tests
// of this package know, as upstream servers print them. (Not cp1251:
// TestCompatRewrite needs the parser not to know it yet.)
var definitionCorpus = []string{
	"CREATE TABLE t1 (id bigint unsigned NOT NULL AUTO_INCREMENT, c char(32) DEFAULT NULL, port int(11) DEFAULT NULL, PRIMARY KEY (id)) ENGINE=InnoDB AUTO_INCREMENT=257 DEFAULT CHARSET=latin1",
	"CREATE TABLE t (a tinyint, b smallint unsigned, c mediumint, d int zerofill, e bigint, f bool, g decimal(10,2) unsigned, h float, i double, j real, k bit(3), l serial)",
	"CREATE TABLE t (a char(1), b varchar(2), c binary(3), d varbinary(4), e tinytext, f text, g mediumtext, h longtext, i tinyblob, j blob, k mediumblob, l longblob, m text charset binary, n varchar(3) binary, o enum('x','y'), p set('x','y'), q json)",
	"CREATE TABLE t (a date, b datetime(6), c timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, d time(3), e year)",
	"CREATE TABLE t (a int primary key, b int)",
	"CREATE TABLE t (a int NULL, b int, PRIMARY KEY (b, a))",
	"CREATE TABLE t (a int, b int NOT NULL, c int NOT NULL, UNIQUE KEY ua (a), UNIQUE KEY ub (b, c), UNIQUE KEY uc (c))",
	"CREATE TABLE t (a int NOT NULL UNIQUE, b int)",
	"CREATE TABLE t (a int, b int, UNIQUE KEY (a), KEY (b), KEY (b, a), INDEX (a))",
	"CREATE TABLE t (a varchar(3) NOT NULL, UNIQUE KEY f ((lower(a))))",
	"CREATE TABLE `orders` (\n" +
		"  `id` int(11) NOT NULL AUTO_INCREMENT,\n" +
		"  `ts` timestamp NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp(),\n" +
		"  `doc` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL CHECK (json_valid(`doc`)),\n" +
		"  `name` varchar(64) CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci NOT NULL DEFAULT 'it''s',\n" +
		"  `nick` varchar(64) COLLATE utf8mb4_uca1400_ai_ci DEFAULT NULL COMMENT 'a\\\\b',\n" +
		"  `state` enum('new','done') CHARACTER SET latin1 COLLATE latin1_bin NOT NULL DEFAULT 'new',\n" +
		"  `u` uuid NOT NULL,\n" +
		"  `ip` inet6 DEFAULT NULL,\n" +
		"  `hidden` int(11) DEFAULT NULL INVISIBLE,\n" +
		"  PRIMARY KEY (`id`),\n" +
		"  UNIQUE KEY `u` (`u`),\n" +
		"  KEY `name` (`name`) IGNORED\n" +
		") ENGINE=Aria AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_ai_ci PAGE_CHECKSUM=1 ROW_FORMAT=PAGE",
	"CREATE TABLE `geo` (\n" +
		"  `id` int unsigned NOT NULL,\n" +
		"  `g` point NOT NULL /*!80003 SRID 4326 */,\n" +
		"  `c` varchar(10) CHARACTER SET cp1250 DEFAULT NULL,\n" +
		"  `v` int DEFAULT NULL /*!80023 INVISIBLE */,\n" +
		"  `d` varchar(36) DEFAULT (uuid()),\n" +
		"  UNIQUE KEY `id` (`id`),\n" +
		"  SPATIAL KEY `g` (`g`),\n" +
		"  KEY `f` ((lower(`c`))) /*!80000 INVISIBLE */,\n" +
		"  CONSTRAINT `chk` CHECK ((`id` > 0))\n" +
		") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci\n" +
		"/*!50100 PARTITION BY HASH (`id`) PARTITIONS 4 */",
	"CREATE TABLE `t` (`e` enum('a','b') CHARACTER SET latin1 COLLATE latin1_bin DEFAULT 'a', `p` point NOT NULL, `s` varchar(3) DEFAULT 'x\\\\y''z', `c` int COMMENT 'héllo')",
	"CREATE TABLE t (a varchar(3), b int, c blob, d binary(2), e json) DEFAULT CHARSET=latin1",
	"CREATE TABLE t (a varchar(3) CHARACTER SET utf8mb3, b text COLLATE utf8mb4_bin, c enum('x') CHARACTER SET cp1250," +
		" d set('y') COLLATE latin1_bin, e char(1) CHARACTER SET latin2 COLLATE latin2_bin, f varchar(3) COLLATE utf8mb4_uca1400_ai_ci) COLLATE=koi8r_general_ci",
	"CREATE TABLE t (a int, b int AS (a + 1) VIRTUAL, c varchar(9) GENERATED ALWAYS AS (concat(a)) STORED) CHARSET utf8mb4",
	"CREATE TABLE t (a int, b int GENERATED ALWAYS AS (a * 2) PERSISTENT, c int AS (a) STORED NOT NULL)",
	"CREATE TABLE t (id int NOT NULL, a double(8,3) DEFAULT -1.5, b float DEFAULT 1e3, c decimal(5,0) DEFAULT '12', d varchar(5) DEFAULT _latin1'x', PRIMARY KEY (id))",
	"CREATE TABLE t (id int, d date DEFAULT '2020-01-01', dt datetime DEFAULT NOW(), b bit(1) DEFAULT 0x01, t text DEFAULT ('x'), PRIMARY KEY (id))",
	"CREATE TABLE t (id int NOT NULL, v varchar(10) COLLATE latin1_swedish_ci, w varchar(10) CHARACTER SET ascii, KEY kv (v(3), w)) DEFAULT COLLATE=latin1_bin",
	"CREATE TABLE t (id int NOT NULL, g geometry, l linestring NOT NULL, i4 inet4, PRIMARY KEY (id), SPATIAL KEY (l)) ENGINE=InnoDB",
	"CREATE TABLE t (a int, b int, c int, PRIMARY KEY (a, b), UNIQUE INDEX (c), KEY `named` (b, c)) WITH SYSTEM VERSIONING",
	"CREATE TABLE t (id int NOT NULL, v vector(3), PRIMARY KEY (id))",
	"CREATE TABLE t (id int unsigned zerofill NOT NULL DEFAULT '0007', s set('a','b','c') NOT NULL DEFAULT 'a,b', e enum('') DEFAULT '')",
	"CREATE TABLE t (id int NOT NULL, p int, FOREIGN KEY (p) REFERENCES q (id), CONSTRAINT c CHECK (p > 0), PRIMARY KEY (id)) STATS_PERSISTENT=0 PACK_KEYS=1",
	"CREATE TABLE t (`Mixed Case` int NOT NULL, `quote``d` varchar(3), PRIMARY KEY (`Mixed Case`)) DEFAULT CHARSET=utf8",
}

// TestDefinitionMatchesReparse: the definition filled at parse is the one
// core/shardddl read before, by parsing the table's CreateSQL twice more
// (refDefinition keeps that code): the shard DDL locks compare and render
// exactly what they did.
func TestDefinitionMatchesReparse(t *testing.T) {
	check := func(t *testing.T, tbl *Table) {
		t.Helper()
		want, err := refDefinition(tbl.CreateSQL)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(tbl.Def, want) {
			got, _ := json.Marshal(tbl.Def)
			w, _ := json.Marshal(want)
			t.Errorf("%s:\ngot  %s\nwant %s", tbl.CreateSQL, got, w)
		}
		// A record without the definition reads the same one back.
		old := *tbl
		old.Def = nil
		if d, err := old.Definition(); err != nil || !reflect.DeepEqual(d, want) {
			t.Errorf("Definition() from CreateSQL: %+v, %v", d, err)
		}
	}
	for i, sql := range definitionCorpus {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			tbl, err := ParseCreateTable("db", sql)
			if err != nil {
				t.Fatal(err)
			}
			check(t, tbl)
		})
	}
	// Tables the tracker derives: ALTER TABLE, CREATE TABLE in a
	// database with a default charset, on MariaDB.
	tr := NewTracker()
	tr.SetFlavor("mariadb")
	tr.SetDatabaseCharset("db", "latin1", "latin1_swedish_ci")
	steps := []string{
		"CREATE TABLE t (id int PRIMARY KEY, a varchar(10), j json)",
		"ALTER TABLE t ADD COLUMN b int NOT NULL DEFAULT 5 AFTER id, ADD UNIQUE KEY ua (a)",
		"ALTER TABLE t MODIFY a varchar(20) CHARACTER SET utf8mb4 NOT NULL, ALTER b SET DEFAULT 7",
		"ALTER TABLE t CHANGE b bb bigint unsigned, RENAME INDEX ua TO ub, ADD INDEX ix (bb, a(3))",
		"ALTER TABLE t ADD COLUMN e enum('x','y') CHARACTER SET latin2 DEFAULT 'y', DROP INDEX ix, ADD COLUMN g int AS (bb + 1)",
		"CREATE INDEX ie ON t (e)",
		"ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
		"ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (id, bb)",
		"CREATE TABLE u LIKE t",
		"RENAME TABLE u TO v",
	}
	for _, st := range steps {
		if _, err := tr.Apply("db", st); err != nil {
			t.Fatalf("%s: %v", st, err)
		}
		for _, tbl := range tr.Tables() {
			t.Run(st+" "+tbl.Name, func(t *testing.T) { check(t, tbl) })
		}
	}
}

// TestDefinitionJSON: the definition is not stored with the table (the
// schema history, dump plans); a table read back gets the same definition
// from its CreateSQL, and so does one of a record from any version.
func TestDefinitionJSON(t *testing.T) {
	tbl, err := ParseCreateTable("db", "CREATE TABLE t (id int NOT NULL, v varchar(8) DEFAULT 'x', PRIMARY KEY (id)) DEFAULT CHARSET=utf8mb4")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(tbl)
	if err != nil {
		t.Fatal(err)
	}
	var back Table
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("definition")) {
		t.Errorf("the definition is stored: %s", b)
	}
	want := *tbl
	want.Def = nil
	if !reflect.DeepEqual(back, want) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", back, want)
	}
	if d, err := back.Definition(); err != nil || !reflect.DeepEqual(d, tbl.Def) {
		t.Errorf("definition read back: %+v %v, want %+v", d, err, tbl.Def)
	}
	// A table as a version without definitions wrote it.
	const old = `{"schema":"db","name":"t","columns":[{"name":"id","type":"int","bits":32},` +
		`{"name":"v","type":"varchar","nullable":true,"charset":"utf8mb4"}],"key":[0],` +
		`"create_sql":"CREATE TABLE ` + "`t`" + ` (` + "`id`" + ` INT NOT NULL,` + "`v`" + ` VARCHAR(8) DEFAULT 'x',PRIMARY KEY(` + "`id`" + `)) DEFAULT CHARACTER SET = UTF8MB4"}`
	var was Table
	if err := json.Unmarshal([]byte(old), &was); err != nil {
		t.Fatal(err)
	}
	if was.Def != nil || !slices.Equal(was.ColumnNames(), []string{"id", "v"}) {
		t.Fatalf("old record: %+v", was)
	}
	before := Parses()
	d, err := was.Definition()
	if n := Parses() - before; err != nil || n != 1 {
		t.Errorf("Definition of an old record: %v, %d parses, want 1", err, n)
	}
	if !reflect.DeepEqual(d, tbl.Def) {
		t.Errorf("old record's definition %+v, want %+v", d, tbl.Def)
	}
}

// TestDefinitionParsedOnce: a CREATE TABLE is parsed once, and the
// definition is there without another parse, also after the tracker
// applies an ALTER TABLE (the statement, and the table's CreateSQL it
// alters: the tracker keeps text, not syntax trees).
func TestDefinitionParsedOnce(t *testing.T) {
	before := Parses()
	tbl, err := ParseCreateTable("db", "CREATE TABLE t (id int PRIMARY KEY, a varchar(3))")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Definition(); err != nil {
		t.Fatal(err)
	}
	if n := Parses() - before; n != 1 {
		t.Errorf("parse and definition: %d parses, want 1", n)
	}
	tr := NewTracker()
	tr.Put(tbl)
	before = Parses()
	if _, err := tr.Apply("db", "ALTER TABLE t ADD COLUMN b int"); err != nil {
		t.Fatal(err)
	}
	after, _ := tr.Get("db", "t")
	d, err := after.Definition()
	if n := Parses() - before; err != nil || n != 2 {
		t.Errorf("alter and definition: %d parses, want 2 (%v)", n, err)
	}
	if _, ok := d.Column("B"); !ok || len(d.Columns) != 3 {
		t.Errorf("definition after ALTER: %+v", d)
	}
}

func TestDefinitionClone(t *testing.T) {
	tbl, err := ParseCreateTable("db", "CREATE TABLE t (id int PRIMARY KEY, e enum('a','b') DEFAULT 'a')")
	if err != nil {
		t.Fatal(err)
	}
	c := tbl.Def.Clone()
	if !reflect.DeepEqual(c, tbl.Def) {
		t.Fatalf("clone %+v", c)
	}
	c.Columns[1].Elems[0] = "z"
	*c.Columns[1].Default = "'z'"
	c.Indexes[0].Columns[0].Column = "z"
	if e, _ := tbl.Def.Column("E"); e.Elems[0] != "a" || *e.Default != "'a'" || tbl.Def.Indexes[0].Columns[0].Column != "id" {
		t.Errorf("clone shares memory with the original")
	}
	if ix, ok := tbl.Def.Index("primary"); !ok || ix.Kind != "primary" {
		t.Errorf("Index(primary) = %+v, %v", ix, ok)
	}
	var nilDef *Definition
	if nilDef.Clone() != nil {
		t.Error("nil clone")
	}
	if _, ok := nilDef.Column("a"); ok {
		t.Error("column of nil")
	}
}

// refDefinition is how core/shardddl read a table's definition before
// core/schema filled it at parse (shardddl.FromCreateSQL): parse the
// statement, print it normalized, parse that again and read the syntax
// tree. Kept to show the two agree.
func refDefinition(createSQL string) (*Definition, error) {
	norm, err := ParseCreateTable("db", createSQL)
	if err != nil {
		return nil, err
	}
	stmts, err := Parse(norm.CreateSQL)
	if err != nil {
		return nil, err
	}
	if len(stmts) != 1 {
		return nil, fmt.Errorf("want one CREATE TABLE statement")
	}
	ct, ok := stmts[0].(*ast.CreateTableStmt)
	if !ok {
		return nil, fmt.Errorf("not a CREATE TABLE statement")
	}
	tcs, tco := refTableCharset(ct.Options)
	t := &Definition{Columns: make([]ColumnDef, 0, len(ct.Cols))}
	for _, cd := range ct.Cols {
		c, err := refColumnOf(cd, tcs, tco)
		if err != nil {
			return nil, err
		}
		t.Columns = append(t.Columns, c)
	}
	for _, c := range ct.Constraints {
		if ix, ok := indexOf(c); ok {
			t.Indexes = append(t.Indexes, ix)
		}
	}
	return t, nil
}

func refTableCharset(opts []*ast.TableOption) (cs, co string) {
	for _, o := range opts {
		switch o.Tp {
		case ast.TableOptionCharset:
			cs = strings.ToLower(o.StrValue)
		case ast.TableOptionCollate:
			co = strings.ToLower(o.StrValue)
		}
	}
	if cs == "" && co != "" {
		if c, err := charset.GetCollationByName(co); err == nil {
			cs = c.CharsetName
		}
	}
	return cs, co
}

func refColumnOf(cd *ast.ColumnDef, tableCS, tableCO string) (ColumnDef, error) {
	ft := cd.Tp
	c := ColumnDef{Name: cd.Name.Name.O, Nullable: true}
	binary := ft.GetCharset() == charset.CharsetBin
	c.Type = strings.ToLower(types.TypeToStr(ft.GetType(), ft.GetCharset()))
	if c.Type == "char" && binary {
		c.Type = "binary"
	}
	setLengths(&c, ft)
	switch ft.GetType() {
	case mysql.TypeTiny, mysql.TypeShort, mysql.TypeInt24, mysql.TypeLong, mysql.TypeLonglong,
		mysql.TypeNewDecimal, mysql.TypeFloat, mysql.TypeDouble:
		c.Unsigned = mysql.HasUnsignedFlag(ft.GetFlag())
		c.Zerofill = mysql.HasZerofillFlag(ft.GetFlag())
	case mysql.TypeEnum, mysql.TypeSet:
		c.Elems = slices.Clone(ft.GetElems())
	}
	textual := false
	switch c.Type {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set":
		textual = true
	}
	cs, co := strings.ToLower(ft.GetCharset()), strings.ToLower(ft.GetCollate())
	for _, o := range cd.Options {
		var err error
		switch o.Tp {
		case ast.ColumnOptionNotNull, ast.ColumnOptionPrimaryKey:
			c.Nullable = false
		case ast.ColumnOptionNull:
			c.Nullable = true
		case ast.ColumnOptionDefaultValue:
			var v string
			if v, err = restoreDefExpr(o.Expr); err == nil && !strings.EqualFold(v, "NULL") {
				c.Default = &v
			}
		case ast.ColumnOptionOnUpdate:
			c.OnUpdate, err = restoreDefExpr(o.Expr)
		case ast.ColumnOptionAutoIncrement:
			c.AutoIncrement = true
		case ast.ColumnOptionGenerated:
			c.Generated, err = restoreDefExpr(o.Expr)
			c.Stored = o.Stored
		case ast.ColumnOptionCollate:
			co = strings.ToLower(o.StrValue)
		case ast.ColumnOptionSecondaryEngineAttribute:
			if name, ok := strings.CutPrefix(o.StrValue, "dmnode:type:"); ok {
				c.Type = name
			}
		}
		if err != nil {
			return c, fmt.Errorf("column %s: %w", c.Name, err)
		}
	}
	if textual {
		if cs == "" && co != "" {
			if x, err := charset.GetCollationByName(co); err == nil {
				cs = x.CharsetName
			}
		}
		if cs == "" {
			cs, co = tableCS, tableCO
		}
		c.Charset, c.Collate = cs, co
	}
	return c, nil
}
