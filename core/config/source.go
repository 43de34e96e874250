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
	checkRelay(r, s)
	for i, f := range s.Filters {
		if f != nil {
			checkFilterRule(r, indexPath("filters", i), f)
		}
	}
}
