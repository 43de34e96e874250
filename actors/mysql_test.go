package actors

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream/memstore"
	"github.com/dmnode/dmnode/tests/harness"
)

// freePort is a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// A server that cannot be reached is an error naming the address and the
// user, never the password, for sources and targets alike.
func TestOpenDBUnreachable(t *testing.T) {
	c := config.DBConfig{Host: "127.0.0.1", Port: freePort(t), User: "dm", Password: "s3cret"}
	for name, open := range map[string]func() error{
		"source": func() error { _, err := OpenDB(t.Context(), c, 1); return err },
		"target": func() error { _, err := OpenTarget(t.Context(), c, 1); return err },
		"recorded": func() error {
			_, err := openDB(t.Context(), c, 1, &statementLog{seen: map[string]bool{}}, map[string]string{"x": "1"})
			return err
		},
	} {
		err := open()
		if err == nil {
			t.Fatalf("%s: opened a server that is not there", name)
		}
		if !strings.Contains(err.Error(), "connect to 127.0.0.1:") || !strings.Contains(err.Error(), " as dm") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := c
	bad.Security = &config.Security{SSLCA: "/nonexistent/ca.pem"}
	if _, err := OpenDB(t.Context(), bad, 1); err == nil || !strings.Contains(err.Error(), "configure TLS") {
		t.Errorf("TLS with a CA file that is not there: %v", err)
	}
}

func TestDetectFlavor(t *testing.T) {
	db, mock := newSourceMock(t)
	mock.ExpectQuery(q("SELECT VERSION()")).WillReturnRows(sqlmock.NewRows([]string{"v"}).AddRow("10.11.6-MariaDB-log"))
	mock.ExpectQuery(q("SELECT VERSION()")).WillReturnRows(sqlmock.NewRows([]string{"v"}).AddRow("8.0.36"))
	mock.ExpectQuery(q("SELECT VERSION()")).WillReturnError(errors.New("gone"))
	for _, want := range []string{"mariadb", "mysql"} {
		if f, err := DetectFlavor(t.Context(), db, ""); err != nil || f != want {
			t.Errorf("flavor %q, %v; want %q", f, err, want)
		}
	}
	if _, err := DetectFlavor(t.Context(), db, ""); err == nil || !strings.Contains(err.Error(), "read server version") {
		t.Errorf("version unreadable: %v", err)
	}
	if f, err := DetectFlavor(t.Context(), db, "MariaDB"); err != nil || f != "mariadb" {
		t.Errorf("configured: %q, %v", f, err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Error(err)
	}
}

// LoadSchemas reads the character sets and every table outside the system
// schemas; a CREATE TABLE it cannot parse is a permanent error naming the
// table.
func TestLoadSchemas(t *testing.T) {
	db, mock := newSourceMock(t)
	expectSchemas(mock, dumpCreates)
	tr, err := LoadSchemas(t.Context(), db, "mysql")
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Tables()) != 2 || tr.Flavor() != "mysql" {
		t.Fatalf("%d tables, flavor %q", len(tr.Tables()), tr.Flavor())
	}
	if cs, _, _ := tr.DatabaseCharset(""); cs != "latin1" {
		t.Errorf("server charset %q", cs)
	}
	broken := map[string]string{"t": "CREATE TABLE `t` (oops", "u": dumpCreates["u"]}
	expectSchemas(mock, broken)
	if _, err := LoadSchemas(t.Context(), db, "mysql"); err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "db.t") {
		t.Errorf("unparsable schema: %v", err)
	}
	mock.ExpectQuery(q("SELECT @@character_set_server")).WillReturnError(errors.New("denied"))
	if _, err := LoadSchemas(t.Context(), db, "mysql"); err == nil || !strings.Contains(err.Error(), "read server character set") {
		t.Errorf("charset unreadable: %v", err)
	}
}

// normalizeValue turns what the binlog decoder gives into the dump's
// representation: integers by signedness (a negative value of an unsigned
// column wrapped by its width), decimals as text.
func TestNormalizeValueNumbers(t *testing.T) {
	signed := schema.Column{Type: "int"}
	u8 := schema.Column{Type: "tinyint", Unsigned: true, Bits: 8}
	u64 := schema.Column{Type: "bigint", Unsigned: true, Bits: 64}
	for _, c := range []struct {
		col  schema.Column
		in   any
		want any
	}{
		{signed, int8(-1), int64(-1)},
		{signed, int16(-2), int64(-2)},
		{signed, int32(7), int64(7)},
		{signed, int(9), int64(9)},
		{u8, int8(-1), uint64(255)},
		{u64, int64(-1), uint64(18446744073709551615)},
		{u8, uint8(200), uint64(200)},
		{signed, uint16(3), uint64(3)},
		{signed, uint32(4), uint64(4)},
		{signed, uint64(5), uint64(5)},
		{schema.Column{Type: "double"}, 1.5, 1.5},
		{schema.Column{Type: "decimal"}, stringer("12.5"), "12.5"},
		{schema.Column{Type: "year"}, int64(0), "0000"},
		{schema.Column{Type: "year"}, int16(2024), "2024"},
		{schema.Column{Type: "json"}, "{}", "{}"},
		{schema.Column{Type: "blob"}, []byte{1}, []byte{1}},
		{signed, nil, nil},
		{signed, struct{ A int }{1}, "{1}"},
	} {
		got := normalizeValue(c.col, c.in)
		if b, ok := c.want.([]byte); ok {
			if g, ok := got.([]byte); !ok || string(g) != string(b) {
				t.Errorf("%s %v: %#v", c.col.Type, c.in, got)
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s %#v: %#v, want %#v", c.col.Type, c.in, got, c.want)
		}
	}
}

// An actor of each kind, and the errors of a catalog that does not have
// what the actor's spec names.
func TestNewActorAndLoadTask(t *testing.T) {
	env := taskEnvAt(memstore.New(), 1, catalog.StageSync, new([]catalog.Command))
	for kind, want := range map[string]string{
		catalog.KindTail: "*actors.Tailer", catalog.KindDump: "*actors.Dumper", catalog.KindLoad: "*actors.Loader",
		catalog.KindApply: "*actors.Applier", KindValidate: "*actors.Validator",
	} {
		a, err := New(catalog.ActorSpec{Kind: kind, Task: "t", Source: "s"}, env)
		if err != nil || a == nil || typeName(a) != want {
			t.Errorf("kind %s: %T, %v", kind, a, err)
		}
	}
	if _, err := New(catalog.ActorSpec{Kind: "nope"}, env); err == nil || !IsPermanent(err) {
		t.Errorf("unknown kind: %v", err)
	}
	if te, err := loadTask(env, "t", "s"); err != nil || te.inst.Dump.ChunkRows != 10 || te.mode != "all" {
		t.Fatalf("loadTask: %+v, %v", te, err)
	}
	state := env.Catalog()
	for _, c := range []struct{ task, source, want string }{
		{"nope", "s", `task "nope" is not in the catalog`},
		{"t", "s9", `task "t" has no source "s9"`},
	} {
		if _, err := loadTask(env, c.task, c.source); err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("loadTask(%s, %s): %v", c.task, c.source, err)
		}
	}
	state.Tasks["t"].Sources["s9"] = &catalog.TaskSource{Stage: catalog.StageSync}
	if _, err := loadTask(env, "t", "s9"); err == nil || !IsPermanent(err) {
		t.Errorf("a source not in the catalog: %v", err)
	}
	if _, err := loadSource(state, "s9"); err == nil || !strings.Contains(err.Error(), `source "s9"`) {
		t.Errorf("loadSource of a source not there: %v", err)
	}
	state.Sources["bad"] = &catalog.Source{ID: "bad", File: "bad.yaml", YAML: "from: [not, a, map]\n"}
	if _, err := loadSource(state, "bad"); err == nil || !IsPermanent(err) {
		t.Errorf("loadSource of a broken file: %v", err)
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) is not nil")
	}
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }

// stringer stands for the decoder's decimal type.
type stringer string

func (s stringer) String() string { return string(s) }

// A writer's sessions on MariaDB read committed, unless the task's
// session sets the isolation or the target logs statements, where they
// keep the server's.
func TestWriteTargetReadCommitted(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a MariaDB server: skipped under -short")
	}
	ctx := t.Context()
	tgt := harness.StartMariaDB(t, harness.Options{ServerID: 100})
	cfg := config.DBConfig{Host: "127.0.0.1", Port: tgt.Port, User: "root"}
	isolation := func(c config.DBConfig) string {
		t.Helper()
		db, err := openWriteTarget(ctx, c, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var v string
		if err := db.QueryRowContext(ctx, "SELECT @@tx_isolation").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := isolation(cfg); got != "READ-COMMITTED" {
		t.Errorf("binlog in ROW format: %s, want READ-COMMITTED", got)
	}
	user := cfg
	user.Session = map[string]string{"tx_isolation": "'SERIALIZABLE'"}
	if got := isolation(user); got != "SERIALIZABLE" {
		t.Errorf("the task's session sets it: %s, want SERIALIZABLE", got)
	}
	tgt.Exec(t, "SET GLOBAL binlog_format = 'STATEMENT'")
	if got := isolation(cfg); got != "REPEATABLE-READ" {
		t.Errorf("binlog in STATEMENT format: %s, want the server's REPEATABLE-READ", got)
	}
}
