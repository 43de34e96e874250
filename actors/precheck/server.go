package precheck

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/config"
)

// serverVars are the global variables the server checks read.
type serverVars struct {
	version  string
	logBin   string
	format   string
	rowImage string // "" on servers older than binlog_row_image, which log full rows
	serverID string
}

// readServerVars reads the variables with SHOW GLOBAL VARIABLES, which
// leaves out those the server does not have instead of failing.
func readServerVars(ctx context.Context, q actors.Queryer) (serverVars, error) {
	rows, err := q.QueryContext(ctx, `SHOW GLOBAL VARIABLES WHERE Variable_name IN
		('version', 'log_bin', 'binlog_format', 'binlog_row_image', 'server_id')`)
	if err != nil {
		return serverVars{}, fmt.Errorf("read server variables: %w", err)
	}
	defer rows.Close()
	var v serverVars
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return serverVars{}, fmt.Errorf("read server variables: %w", err)
		}
		switch strings.ToLower(name) {
		case "version":
			v.version = value
		case "log_bin":
			v.logBin = value
		case "binlog_format":
			v.format = value
		case "binlog_row_image":
			v.rowImage = value
		case "server_id":
			v.serverID = value
		}
	}
	if err := rows.Err(); err != nil {
		return serverVars{}, fmt.Errorf("read server variables: %w", err)
	}
	return v, nil
}

// serverVersion is a parsed VERSION().
type serverVersion struct {
	raw                 string
	flavor              string // mysql, mariadb or tidb
	major, minor, patch int
}

// parseVersion reads VERSION() of MySQL ("8.0.36", "5.7.44-log"), MariaDB
// ("10.11.6-MariaDB-0+deb12u1-log", with the "5.5.5-" prefix older
// clients see) and TiDB ("8.0.11-TiDB-v7.5.0").
func parseVersion(s string) serverVersion {
	v := serverVersion{raw: s, flavor: "mysql"}
	lower := strings.ToLower(s)
	switch {
	case strings.Contains(lower, "tidb"):
		v.flavor = "tidb"
	case strings.Contains(lower, "mariadb"):
		v.flavor = "mariadb"
		s = strings.TrimPrefix(s, "5.5.5-")
	}
	num := s
	if i := strings.IndexFunc(s, func(r rune) bool { return r != '.' && (r < '0' || r > '9') }); i >= 0 {
		num = s[:i]
	}
	parts := strings.Split(num, ".")
	for i, p := range parts {
		n, _ := strconv.Atoi(p)
		switch i {
		case 0:
			v.major = n
		case 1:
			v.minor = n
		case 2:
			v.patch = n
		}
	}
	return v
}

func (v serverVersion) atLeast(major, minor, patch int) bool {
	if v.major != major {
		return v.major > major
	}
	if v.minor != minor {
		return v.minor > minor
	}
	return v.patch >= patch
}

// binlogMonitor is the name of the privilege that allows SHOW MASTER
// STATUS and SHOW BINARY LOGS: MariaDB 10.5.2 renamed REPLICATION CLIENT.
func (v serverVersion) binlogMonitor() string {
	if v.flavor == "mariadb" && v.atLeast(10, 5, 2) {
		return "BINLOG MONITOR"
	}
	return "REPLICATION CLIENT"
}

// versionFindings checks the server version against what TiDB DM
// supports: MySQL 5.6 to 8.4 and MariaDB 10.1.2 or later. A TiDB source
// is an error: TiDB has no binlog of this kind.
func versionFindings(raw string) []Finding {
	v := parseVersion(raw)
	const fix = "migrate from MySQL 5.6–8.4 or MariaDB 10.1.2 or later (upgrade the source), " +
		"or add version to ignore-checking-items to go on untested"
	switch {
	case v.flavor == "tidb":
		return []Finding{{Item: config.CheckVersion, Severity: Error,
			Message: fmt.Sprintf("the source is TiDB (%s), which writes no MySQL binlog", raw),
			Fix:     "replicate from TiDB with TiCDC; dmnode reads MySQL and MariaDB sources"}}
	case v.flavor == "mariadb" && !v.atLeast(10, 1, 2):
		return []Finding{{Item: config.CheckVersion, Severity: Warning,
			Message: fmt.Sprintf("MariaDB %s is older than 10.1.2, the oldest MariaDB TiDB DM supports; dmnode is not tested with it", raw),
			Fix:     fix}}
	case v.flavor == "mysql" && (!v.atLeast(5, 6, 0) || v.atLeast(8, 5, 0)):
		return []Finding{{Item: config.CheckVersion, Severity: Warning,
			Message: fmt.Sprintf("MySQL %s is outside 5.6–8.4, the versions TiDB DM supports; dmnode is not tested with it", raw),
			Fix:     fix}}
	}
	return nil
}

// binlogFindings checks the binlog settings: binary logging on (needed in
// every task mode, as the dump records the binlog position of its
// snapshot) and, when sync is set, ROW format with full row images.
func binlogFindings(v serverVars, sync bool) []Finding {
	const persist = " and set it under [mysqld] in the server's configuration file so that a restart keeps it; " +
		"connections already open keep the old value until they reconnect"
	var out []Finding
	if v.logBin != "1" && !strings.EqualFold(v.logBin, "ON") {
		out = append(out, Finding{Item: config.CheckBinlogEnable, Severity: Error,
			Message: fmt.Sprintf("binary logging is off (log_bin = %s): dmnode reads the binlog position of its snapshot and replicates from the binlog", orNone(v.logBin)),
			Fix:     "add log_bin = mysql-bin and a server_id under [mysqld] in the server's configuration file and restart the server (log_bin cannot be set at runtime)"})
		return out // format and row image do not matter without a binlog
	}
	if !sync {
		return out
	}
	if !strings.EqualFold(v.format, "ROW") {
		out = append(out, Finding{Item: config.CheckBinlogFormat, Severity: Error,
			Message: fmt.Sprintf("binlog_format is %s: dmnode replicates row events only and needs ROW", orNone(v.format)),
			Fix:     "run SET GLOBAL binlog_format = 'ROW'" + persist})
	}
	if v.rowImage != "" && !strings.EqualFold(v.rowImage, "FULL") {
		out = append(out, Finding{Item: config.CheckBinlogRowImage, Severity: Error,
			Message: fmt.Sprintf("binlog_row_image is %s: dmnode needs FULL, so that updates and deletes carry every column", v.rowImage),
			Fix:     "run SET GLOBAL binlog_row_image = 'FULL'" + persist})
	}
	return out
}

// serverIDFindings checks that the source has a server_id: with 0 a
// server refuses replicas, and dmnode reads the binlog as one.
func serverIDFindings(v serverVars) []Finding {
	if v.serverID != "0" {
		return nil
	}
	return []Finding{{Item: config.CheckServerID, Severity: Error,
		Message: "server_id is 0: the server refuses replicas, and dmnode reads the binlog as a replica",
		Fix:     "run SET GLOBAL server_id = N with an id no other server of the replication topology has, and set server_id = N under [mysqld] in the server's configuration file"}}
}

func orNone(s string) string {
	if s == "" {
		return "unset"
	}
	return s
}
