// Package tidb knows what changes when a task's target is TiDB rather than
// MySQL or MariaDB: how to recognise it from its version string, the
// session settings TiDB DM applies to it, and the DDL it refuses or runs
// differently, by version (ddl.go). Pure: no database, no clock.
package tidb

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a TiDB release, from the server's version string.
type Version struct {
	Major, Minor, Patch int
	// Pre is what follows the release number ("beta.2", "serverless").
	Pre string
}

func (v Version) String() string {
	s := fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	return s
}

// AtLeast reports whether v is release major.minor.patch or later; a
// pre-release of a version counts as that version.
func (v Version) AtLeast(major, minor, patch int) bool {
	if v.Major != major {
		return v.Major > major
	}
	if v.Minor != minor {
		return v.Minor > minor
	}
	return v.Patch >= patch
}

// ParseVersion recognises TiDB by the version string it reports (SELECT
// VERSION()): the MySQL version it speaks for, "TiDB", then its own
// release, as in "5.7.25-TiDB-v6.5.0", "8.0.11-TiDB-v8.5.0" or
// "5.7.25-TiDB-v7.1.0-serverless". It returns false for any other server.
// A build suffix "-dirty" is ignored, and so are the two trailing fields
// of nightly builds' six-field strings, as TiDB DM does.
func ParseVersion(server string) (Version, bool) {
	fields := strings.Split(strings.TrimSuffix(server, "-dirty"), "-")
	if len(fields) < 3 || !strings.EqualFold(fields[1], "TiDB") {
		return Version{}, false
	}
	end := len(fields)
	switch end {
	case 3, 4:
	case 5, 6:
		end -= 2
	default:
		return Version{}, false
	}
	rel := strings.TrimPrefix(strings.Join(fields[2:end], "-"), "v")
	num, pre, _ := strings.Cut(rel, "-")
	parts := strings.Split(num, ".")
	if len(parts) != 3 {
		return Version{}, false
	}
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return Version{}, false
		}
		n[i] = x
	}
	return Version{Major: n[0], Minor: n[1], Patch: n[2], Pre: pre}, true
}

// SessionDefaults returns the session variables dmnode sets on its
// connections to a TiDB target, unless the task's target-database.session
// sets them itself: TiDB DM's defaults. tidb_txn_mode is optimistic from
// TiDB 3.0 on: dmnode's writes never conflict with each other's locks (a
// conflict is retried), and optimistic commits take one round trip fewer.
func SessionDefaults(v Version, userSet map[string]string) map[string]string {
	out := map[string]string{}
	set := map[string]bool{}
	for k := range userSet {
		set[strings.ToLower(k)] = true
	}
	if v.AtLeast(3, 0, 0) && !set["tidb_txn_mode"] {
		out["tidb_txn_mode"] = "'optimistic'"
	}
	return out
}
