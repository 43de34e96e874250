package config

import "strings"

// Source flavors, as in DM.
const (
	FlavorMySQL   = "mysql"
	FlavorMariaDB = "mariadb"
)

// checkSource validates a decoded source.
func checkSource(r *report, s *Source) {
	checkSourceID(r, "source-id", s.SourceID)
	switch flavor := strings.ToLower(s.Flavor); flavor {
	case "", FlavorMySQL, FlavorMariaDB:
		s.Flavor = flavor
	default:
		r.errorf("flavor", "invalid value %q: must be mysql or mariadb, or empty to detect it", s.Flavor)
	}
	checkDB(r, &s.From, "from")
	revealPassword(r, &s.From, "from")
	for _, k := range []struct{ key, v string }{{"relay-binlog-name", s.RelayBinlogName}, {"relay-binlog-gtid", s.RelayBinlogGTID}} {
		if k.v != "" {
			r.notef(k.key, "%s: not used: the source's binlog stream starts where its tasks need it "+
				"(a task's meta, a dump's snapshot, or the checkpoint), never earlier", k.v)
		}
	}
	checkRelay(r, s)
	for i, f := range s.Filters {
		if f != nil {
			checkFilterRule(r, indexPath("filters", i), f)
		}
	}
}
