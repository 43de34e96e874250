package actors

import (
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// The tailer names every transaction's end by the source's GTID set. With
// MariaDB's one GTID per domain, and mostly one domain, go-mysql's
// formatting and parsing (fmt, strings.Split, a sort) were a cost per
// transaction of their own; these give the same text and sets without.

// mariadbGTIDText is g.String().
func mariadbGTIDText(g *mysql.MariadbGTID) string {
	if g.DomainID == 0 && g.ServerID == 0 && g.SequenceNumber == 0 {
		return ""
	}
	var b [64]byte
	out := strconv.AppendUint(b[:0], uint64(g.DomainID), 10)
	out = append(out, '-')
	out = strconv.AppendUint(out, uint64(g.ServerID), 10)
	out = append(out, '-')
	out = strconv.AppendUint(out, g.SequenceNumber, 10)
	return string(out)
}

// updateGTIDSet is set.Update(gtid).
func updateGTIDSet(set mysql.GTIDSet, gtid string) error {
	ms, ok := set.(*mysql.MariadbGTIDSet)
	if !ok {
		return set.Update(gtid)
	}
	g, ok := parseMariadbGTID(gtid)
	if !ok {
		return set.Update(gtid)
	}
	return ms.AddSet(&g)
}

// parseMariadbGTID reads one MariaDB GTID, domain-server-sequence, as
// mysql.ParseMariadbGTID does; false for anything else.
func parseMariadbGTID(s string) (mysql.MariadbGTID, bool) {
	d, rest, ok1 := strings.Cut(s, "-")
	sv, seq, ok2 := strings.Cut(rest, "-")
	if !ok1 || !ok2 {
		return mysql.MariadbGTID{}, false
	}
	domain, err1 := strconv.ParseUint(d, 10, 32)
	server, err2 := strconv.ParseUint(sv, 10, 32)
	n, err3 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return mysql.MariadbGTID{}, false
	}
	return mysql.MariadbGTID{DomainID: uint32(domain), ServerID: uint32(server), SequenceNumber: n}, true
}

// gtidSetText is set.String().
func gtidSetText(set mysql.GTIDSet) string {
	if ms, ok := set.(*mysql.MariadbGTIDSet); ok && len(ms.Sets) == 1 {
		for _, g := range ms.Sets {
			return mariadbGTIDText(g)
		}
	}
	return set.String()
}
