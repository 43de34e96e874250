package actors

import (
	"context"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// OpenDB opens a connection pool to a MySQL-protocol server. Sessions run in
// UTC so TIMESTAMP values read from one server and written to another keep
// their instant. The password never appears in errors.
func OpenDB(ctx context.Context, c config.DBConfig, maxConns int) (*sql.DB, error) {
	return openDB(ctx, c, maxConns, nil, nil)
}

// OpenTarget is OpenDB for a task's target. On TiDB its sessions also get
// the settings TiDB DM gives them (tidb.SessionDefaults) unless the task's
// target-database.session sets them. The statements sent on it are
// recorded when sqltext.LogEnv asks for it (see sqllog.go).
func OpenTarget(ctx context.Context, c config.DBConfig, maxConns int) (*sql.DB, error) {
	return openTarget(ctx, c, maxConns, false)
}

// openWriteTarget is OpenTarget for the writers of rows, appliers and
// loaders. On MySQL and MariaDB their sessions read committed: they find
// every row they change by a unique key and need none of REPEATABLE
// READ's gap locks, which made the appliers of several sources merging
// into one table deadlock each other (a DELETE of a row not there locks
// the gap another source's INSERT goes into), and cost the loaders of a
// merged table time. Not when the task's session sets the isolation, nor
// when the target logs statements (binlog_format STATEMENT refuses
// writes read committed), nor on TiDB, which has no gap locks.
func openWriteTarget(ctx context.Context, c config.DBConfig, maxConns int) (*sql.DB, error) {
	return openTarget(ctx, c, maxConns, true)
}

// openTarget opens the target, reads what kind of server it is, and opens
// it again with the session settings that kind gets, if any.
func openTarget(ctx context.Context, c config.DBConfig, maxConns int, writer bool) (*sql.DB, error) {
	db, err := openDB(ctx, c, maxConns, sqlLog, nil)
	if err != nil {
		return nil, err
	}
	v, isTiDB, err := TargetTiDB(ctx, db)
	var extra map[string]string
	switch {
	case err != nil:
	case isTiDB:
		extra, err = tidbSession(ctx, db, v, c.Session)
	case writer:
		extra = readCommitted(ctx, db, c.Session)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	if len(extra) == 0 {
		return db, nil
	}
	db.Close()
	return openDB(ctx, c, maxConns, sqlLog, extra)
}

// readCommitted returns the session setting that makes a MySQL or
// MariaDB target's sessions read committed, or nil when they are to stay
// as they are (see openWriteTarget).
func readCommitted(ctx context.Context, db *sql.DB, userSet map[string]string) map[string]string {
	for k := range userSet {
		if k := strings.ToLower(k); k == "transaction_isolation" || k == "tx_isolation" {
			return nil
		}
	}
	// A MySQL-protocol server that does not answer these the way MySQL
	// and MariaDB do keeps its own isolation.
	var logBin int
	var format string
	if err := db.QueryRowContext(ctx, "SELECT @@log_bin, @@binlog_format").Scan(&logBin, &format); err != nil ||
		logBin == 1 && strings.EqualFold(format, "STATEMENT") {
		return nil
	}
	// MySQL 8 knows transaction_isolation only, MariaDB before 11.1
	// tx_isolation only.
	for _, name := range []string{"transaction_isolation", "tx_isolation"} {
		var n, v string
		if err := db.QueryRowContext(ctx, "SHOW VARIABLES LIKE ?", name).Scan(&n, &v); err == nil {
			return map[string]string{name: "'READ-COMMITTED'"}
		}
	}
	return nil
}

func openDB(ctx context.Context, c config.DBConfig, maxConns int, log *statementLog, extra map[string]string) (*sql.DB, error) {
	var err error
	cfg := mysql.NewConfig()
	cfg.User = c.User
	cfg.Passwd = c.Password
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	cfg.DialFunc = dialBuffered
	cfg.InterpolateParams = true
	// Row changes are sent several statements to a query (groupStmts);
	// every parameter is interpolated by the driver with its escaping.
	cfg.MultiStatements = true
	cfg.Timeout = 10 * time.Second
	cfg.ReadTimeout = 5 * time.Minute
	cfg.WriteTimeout = 5 * time.Minute
	cfg.MaxAllowedPacket = 0 // read the server's value
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	for k, v := range extra {
		cfg.Params[k] = v
	}
	for k, v := range c.Session {
		cfg.Params[k] = v
	}
	if cfg.TLS, err = c.Security.TLSConfig(c.Host); err != nil {
		return nil, fmt.Errorf("configure TLS to %s: security.%w", cfg.Addr, err)
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("configure connection to %s: %w", cfg.Addr, err)
	}
	var conn driver.Connector = connector
	if log != nil {
		conn = recordingConnector{Connector: connector, log: log}
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxLifetime(time.Hour)
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s as %s%s: %w", cfg.Addr, c.User, TLSHint(c, err), err)
	}
	return db, nil
}

// TLSHint says, for an error of a connection, how TLS was part of it: the
// CA that did not verify the server, or the certificate the server refused.
func TLSHint(c config.DBConfig, err error) string {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	switch {
	case errors.As(err, &unknown):
		return " over TLS (the server's certificate is not signed by the CA of security.ssl-ca)"
	case errors.As(err, &invalid):
		return " over TLS (the server's certificate is not valid: " + invalid.Error() + ")"
	case errors.As(err, &host):
		return " over TLS (the server's certificate does not name host " + c.Host + ")"
	case c.Security.Enabled():
		return " over TLS"
	}
	return ""
}

// MasterPosition reads the server's current binlog position and GTID set.
func MasterPosition(ctx context.Context, q Queryer, flavor string) (dmnode.Position, error) {
	rows, err := q.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		return dmnode.Position{}, fmt.Errorf("show master status: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return dmnode.Position{}, fmt.Errorf("show master status: %w", err)
		}
		return dmnode.Position{}, Permanent(errors.New("show master status returned nothing: binary logging is off (set log_bin and restart the server)"))
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return dmnode.Position{}, fmt.Errorf("show master status: %w", err)
	}
	pos, err := strconv.ParseUint(vals[1].String, 10, 32)
	if err != nil {
		return dmnode.Position{}, fmt.Errorf("show master status: position %q: %w", vals[1].String, err)
	}
	p := dmnode.Position{File: vals[0].String, Pos: uint32(pos)}
	rows.Close()
	gtidVar := "@@GLOBAL.gtid_executed"
	if flavor == "mariadb" {
		gtidVar = "@@GLOBAL.gtid_binlog_pos"
	}
	var gtid sql.NullString
	if err := q.QueryRowContext(ctx, "SELECT "+gtidVar).Scan(&gtid); err == nil {
		p.GTID = strings.ReplaceAll(gtid.String, "\n", "")
	}
	return p, nil
}

// Queryer is what the schema and position readers need: a *sql.DB, *sql.Conn or *sql.Tx.
type Queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// DetectFlavor returns the configured flavor, or asks the server.
func DetectFlavor(ctx context.Context, q Queryer, configured string) (string, error) {
	if configured != "" {
		return strings.ToLower(configured), nil
	}
	var v string
	if err := q.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return "", fmt.Errorf("read server version: %w", err)
	}
	if strings.Contains(strings.ToLower(v), "mariadb") {
		return "mariadb", nil
	}
	return "mysql", nil
}

// LoadSchemas reads the CREATE TABLE of every base table outside the system
// schemas into a tracker, with the server's and every database's default
// character set (tables created later inherit them).
func LoadSchemas(ctx context.Context, q Queryer, flavor string) (*schema.Tracker, error) {
	tr := schema.NewTracker()
	tr.SetFlavor(flavor)
	if err := loadCharsets(ctx, q, tr); err != nil {
		return nil, err
	}
	ids, err := ListTables(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		t, err := ShowCreateTable(ctx, q, id)
		if err != nil {
			return nil, err
		}
		tr.Put(t)
	}
	return tr, nil
}

// ListTables lists the base tables outside the system schemas, ordered by
// schema and name.
func ListTables(ctx context.Context, q Queryer) ([]dmnode.TableID, error) {
	rows, err := q.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var ids []dmnode.TableID
	for rows.Next() {
		var id dmnode.TableID
		if err := rows.Scan(&id.Schema, &id.Table); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		if !rules.IsSystemSchema(id.Schema) {
			ids = append(ids, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	return ids, nil
}

func loadCharsets(ctx context.Context, q Queryer, tr *schema.Tracker) error {
	var cs, coll string
	if err := q.QueryRowContext(ctx, "SELECT @@character_set_server, @@collation_server").Scan(&cs, &coll); err != nil {
		return fmt.Errorf("read server character set: %w", err)
	}
	tr.SetDatabaseCharset("", cs, coll)
	rows, err := q.QueryContext(ctx, "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA")
	if err != nil {
		return fmt.Errorf("read database character sets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var db string
		if err := rows.Scan(&db, &cs, &coll); err != nil {
			return fmt.Errorf("read database character sets: %w", err)
		}
		if !rules.IsSystemSchema(db) {
			tr.SetDatabaseCharset(db, cs, coll)
		}
	}
	return rows.Err()
}

// ShowCreateTable reads and parses the schema of one table.
func ShowCreateTable(ctx context.Context, q Queryer, id dmnode.TableID) (*schema.Table, error) {
	var name, create string
	query := "SHOW CREATE TABLE " + sqlgen.QuoteIdent(id.Schema) + "." + sqlgen.QuoteIdent(id.Table)
	if err := q.QueryRowContext(ctx, query).Scan(&name, &create); err != nil {
		return nil, fmt.Errorf("show create table %s: %w", id, err)
	}
	t, err := schema.ParseCreateTable(id.Schema, create)
	if err != nil {
		return nil, Permanent(fmt.Errorf("parse schema of %s: %w", id, err))
	}
	return t, nil
}

// ScanValue converts a column read as text (nil for NULL) into the value
// representation of row events: integers as int64/uint64, floats as
// float64, binary types as []byte, everything else as string. YEAR stays
// its four-digit text: the number 0 is year 0000, but the text "0" that
// LOAD DATA would read is year 2000.
func ScanValue(c schema.Column, raw []byte) (any, error) {
	if raw == nil {
		return nil, nil
	}
	switch c.Type {
	case "year":
		y, err := strconv.ParseUint(string(raw), 10, 16)
		if err != nil {
			return nil, err
		}
		return fmt.Sprintf("%04d", y), nil
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		if c.Unsigned {
			return strconv.ParseUint(string(raw), 10, 64)
		}
		return strconv.ParseInt(string(raw), 10, 64)
	case "float", "double", "real":
		return strconv.ParseFloat(string(raw), 64)
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit", "geometry":
		return append([]byte(nil), raw...), nil
	}
	return string(raw), nil
}

// scansAsString reports whether ScanValue returns a column's text as a
// string, unchanged.
func scansAsString(c schema.Column) bool {
	switch c.Type {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year",
		"float", "double", "real",
		"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit", "geometry":
		return false
	}
	return true
}

// normalizeValue converts a value decoded from a binlog row event into the
// row event representation, using the tracked column type: all signed
// integers become int64, unsigned ones uint64 (the binlog carries them as
// signed when the server logs no signedness metadata), decimals strings,
// and character values UTF-8 text, decoded from the column's charset
// (textValue).
func normalizeValue(c schema.Column, v any) any {
	switch {
	case v == nil:
		return nil
	case c.Type == "year":
		return yearValue(v)
	case c.Type == "uuid" || c.Type == "inet4" || c.Type == "inet6":
		return mariadbTypeText(c.Type, v)
	}
	// A value that stays as it came is returned as v, not boxed again.
	switch x := v.(type) {
	case string:
		if isCharType(c.Type) {
			if utf8Charset(c.Charset) {
				return v // what DecodeText makes of its bytes
			}
			return textValue(c, []byte(x))
		}
		return v
	case []byte:
		if isCharType(c.Type) {
			return textValue(c, x)
		}
		return v
	case nil:
		return nil
	case int8:
		return fixUnsigned(c, int64(x))
	case int16:
		return fixUnsigned(c, int64(x))
	case int32:
		return fixUnsigned(c, int64(x))
	case int64:
		if !c.Unsigned {
			return v
		}
		return fixUnsigned(c, x)
	case int:
		return fixUnsigned(c, int64(x))
	case uint8:
		return uint64(x)
	case uint16:
		return uint64(x)
	case uint32:
		return uint64(x)
	case uint64:
		return v
	case float32, float64:
		return x
	case fmt.Stringer: // decimal.Decimal and friends
		return x.String()
	}
	return fmt.Sprint(v)
}

func fixUnsigned(c schema.Column, v int64) any {
	if !c.Unsigned {
		return v
	}
	if v < 0 && c.Bits > 0 && c.Bits < 64 {
		return uint64(v + 1<<c.Bits)
	}
	return uint64(v)
}

// yearValue renders a YEAR from a row event as the dump reads it: four
// digits, 0000 for the zero year (see ScanValue).
func yearValue(v any) any {
	switch x := v.(type) {
	case int, int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return fmt.Sprintf("%04d", x)
	}
	return normalizeValue(schema.Column{}, v)
}

// utf8Charset reports whether DecodeText takes a value of charset cs as
// it is: the utf8 family, and "" (the server's utf8mb4).
func utf8Charset(cs string) bool {
	switch cs {
	case "", "utf8", "utf8mb3", "utf8mb4":
		return true
	case "UTF8", "UTF8MB3", "UTF8MB4":
		return true
	}
	return false
}

// isCharType reports whether a column of base type typ holds text in a
// character set (enum and set travel as their index in row events).
func isCharType(typ string) bool {
	switch typ {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		return true
	}
	return false
}

// textValue converts the bytes of a character column in a row event into
// the value the dump reads for it: UTF-8 text, as a utf8mb4 connection
// receives it. Bytes that do not convert exactly (a charset without a
// decoder, a binary collation's odd bytes) stay bytes: the target then
// stores them as they are, which is exact in a column of the same charset.
func textValue(c schema.Column, b []byte) any {
	if s, ok := schema.DecodeText(c.Charset, b); ok {
		return s
	}
	return append([]byte(nil), b...)
}

// mariadbTypeText renders a value of MariaDB's UUID, INET4 or INET6 type,
// which a row event carries as its record bytes, as the text the server
// prints for it (and the dump reads): the target stores that text (see
// schema.TargetCreateTable). A value of another length stays as it came.
func mariadbTypeText(typ string, v any) any {
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return normalizeValue(schema.Column{}, v)
	}
	// The binlog stores fixed-length binary values without their trailing
	// zero bytes.
	if n := map[string]int{"inet4": 4, "inet6": 16, "uuid": 16}[typ]; len(b) < n {
		b = append(append(make([]byte, 0, n), b...), make([]byte, n-len(b))...)
	}
	switch {
	case typ == "inet4" && len(b) == 4:
		return netip.AddrFrom4([4]byte(b)).String()
	case typ == "inet6" && len(b) == 16:
		return inet6Text([16]byte(b))
	case typ == "uuid" && len(b) == 16:
		return uuidText([16]byte(b))
	}
	return append([]byte(nil), b...)
}

// inet6Text prints an IPv6 address as MariaDB does: RFC 5952, with the
// IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d, but :: and
// ::1) forms in dotted quads.
func inet6Text(a [16]byte) string {
	zero10 := a[0]|a[1]|a[2]|a[3]|a[4]|a[5]|a[6]|a[7]|a[8]|a[9] == 0
	v4 := netip.AddrFrom4([4]byte(a[12:])).String()
	switch {
	case zero10 && a[10] == 0xff && a[11] == 0xff:
		return "::ffff:" + v4
	case zero10 && a[10]|a[11] == 0 && !(a[12]|a[13]|a[14] == 0 && a[15] <= 1):
		return "::" + v4
	}
	return netip.AddrFrom16(a).String()
}

// uuidText prints a UUID from MariaDB's record format, which stores a
// time-based UUID (version 1, variant 1) with its segments in reverse order
// (nnnnnnnnnnnn-vsss-1hhh-mmmm-llllllll) for index locality, and any other
// as it is (MariaDB 10.11: a version 4 UUID is stored unswapped).
func uuidText(r [16]byte) string {
	m := r
	if r[6]&0x80 != 0 && r[8] > 0 && r[8] < 0x20 {
		copy(m[0:4], r[12:16])
		copy(m[4:6], r[10:12])
		copy(m[6:8], r[8:10])
		copy(m[8:10], r[6:8])
		copy(m[10:16], r[0:6])
	}
	const hexd = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range m {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexd[c>>4], hexd[c&15])
	}
	return string(out)
}
