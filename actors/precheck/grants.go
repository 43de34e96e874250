package precheck

import (
	"fmt"
	"strings"
)

// Grants are the privileges of one account as SHOW GRANTS prints them on
// MySQL 5.6–8.x and MariaDB 10.x: global, database-level (with the LIKE
// wildcards % and _ that database names in grants may hold) and table-level
// privileges, and the roles granted. SHOW GRANTS for the current user also
// prints the privileges of the roles active in the session (the default
// role, for a new connection), so those count too.
//
// Column-level privileges (SELECT (a, b) ON db.t) are not counted: dmnode
// reads and writes whole rows. MySQL 8's partial revokes are not applied, so
// a partially revoked database may be reported as granted.
type Grants struct {
	// Roles are the roles granted to the account, as SHOW GRANTS names them.
	Roles []string

	global  privileges
	schemas []schemaGrant
	tables  map[tableName]privileges
}

// privileges holds canonical privilege names (see canonical); "ALL"
// stands for ALL PRIVILEGES at its level.
type privileges map[string]bool

func (p privileges) has(name string) bool { return p["ALL"] || p[canonical(name)] }

type schemaGrant struct {
	pattern string // a LIKE pattern: % and _ are wildcards, \ escapes
	privs   privileges
}

type tableName struct{ schema, table string }

// privilegeAliases maps a privilege's other names to the one SHOW GRANTS
// prints on a current server. On MariaDB 10.5.2 and later REPLICATION
// CLIENT is BINLOG MONITOR; REPLICA is a synonym of SLAVE.
var privilegeAliases = map[string]string{
	"ALL PRIVILEGES":      "ALL",
	"REPLICATION CLIENT":  "BINLOG MONITOR",
	"REPLICATION REPLICA": "REPLICATION SLAVE",
	"REPLICA MONITOR":     "SLAVE MONITOR",
}

// canonical returns the canonical spelling of a privilege name: upper
// case, single spaces, aliases resolved.
func canonical(name string) string {
	n := strings.Join(strings.Fields(strings.ToUpper(name)), " ")
	if a, ok := privilegeAliases[n]; ok {
		return a
	}
	return n
}

// ParseGrants reads the lines of SHOW GRANTS. Lines that are not GRANT
// statements (SET DEFAULT ROLE, REVOKE) and grants of PROXY or on stored
// routines are skipped. A GRANT line it cannot read is an error naming it.
func ParseGrants(lines []string) (*Grants, error) {
	g := &Grants{global: privileges{}, tables: map[tableName]privileges{}}
	for _, line := range lines {
		if err := g.parseLine(strings.TrimSpace(line)); err != nil {
			return nil, fmt.Errorf("read grant %q: %w", line, err)
		}
	}
	return g, nil
}

func (g *Grants) parseLine(line string) error {
	const grant = "GRANT "
	if len(line) < len(grant) || !strings.EqualFold(line[:len(grant)], grant) {
		return nil
	}
	rest := line[len(grant):]
	on := indexKeyword(rest, "ON")
	to := indexKeyword(rest, "TO")
	if to < 0 {
		return fmt.Errorf("no TO")
	}
	if on < 0 || on > to { // GRANT role [, role] TO user
		for _, r := range splitTopLevel(rest[:to]) {
			g.Roles = append(g.Roles, unquoteAccount(r))
		}
		return nil
	}
	privs, err := parsePrivileges(rest[:on])
	if err != nil {
		return err
	}
	object := strings.TrimSpace(rest[on+len("ON") : to])
	if privs["PROXY"] {
		return nil // GRANT PROXY ON user: not a privilege on data
	}
	for _, kind := range []string{"PROCEDURE ", "FUNCTION ", "PACKAGE "} {
		if len(object) > len(kind) && strings.EqualFold(object[:len(kind)], kind) {
			return nil // privileges on stored routines
		}
	}
	if len(object) > len("TABLE ") && strings.EqualFold(object[:len("TABLE ")], "TABLE ") {
		object = strings.TrimSpace(object[len("TABLE "):])
	}
	schema, table, err := parseObject(object)
	if err != nil {
		return err
	}
	g.add(schema, table, privs)
	return nil
}

// add merges privileges granted on schema.table ("*" for every one).
func (g *Grants) add(schema, table string, privs privileges) {
	var into privileges
	switch {
	case schema == "*":
		into = g.global
	case table == "*":
		into = privileges{}
		g.schemas = append(g.schemas, schemaGrant{pattern: schema, privs: into})
	default:
		k := tableName{schema, table}
		if g.tables[k] == nil {
			g.tables[k] = privileges{}
		}
		into = g.tables[k]
	}
	for p := range privs {
		into[p] = true
	}
}

// Global reports whether the account holds priv on *.*.
func (g *Grants) Global(priv string) bool { return g.global.has(priv) }

// Schema reports whether the account holds priv on every table of schema:
// on *.* or on a database pattern that matches schema.
func (g *Grants) Schema(priv, schema string) bool {
	if g.global.has(priv) {
		return true
	}
	for _, s := range g.schemas {
		if s.privs.has(priv) && likeMatch(s.pattern, schema) {
			return true
		}
	}
	return false
}

// Table reports whether the account holds priv on schema.table, at any
// level.
func (g *Grants) Table(priv, schema, table string) bool {
	return g.Schema(priv, schema) || g.tables[tableName{schema, table}].has(priv)
}

// parsePrivileges reads "SELECT, INSERT (a, b), REPLICATION SLAVE".
// Column-level privileges are left out.
func parsePrivileges(s string) (privileges, error) {
	privs := privileges{}
	for _, item := range splitTopLevel(s) {
		if strings.Contains(item, "(") {
			continue // a column-level privilege
		}
		if item == "" {
			return nil, fmt.Errorf("empty privilege")
		}
		privs[canonical(item)] = true
	}
	return privs, nil
}

// parseObject reads *.*, db.*, db.table with names quoted in backquotes,
// or bare.
func parseObject(s string) (schema, table string, err error) {
	schema, rest, err := readIdent(s)
	if err != nil {
		return "", "", err
	}
	if !strings.HasPrefix(rest, ".") {
		return "", "", fmt.Errorf("object %q: want db.table", s)
	}
	table, rest, err = readIdent(rest[1:])
	if err != nil {
		return "", "", err
	}
	if strings.TrimSpace(rest) != "" {
		return "", "", fmt.Errorf("object %q: unexpected %q", s, rest)
	}
	return schema, table, nil
}

// readIdent reads one name: *, quoted in backquotes (a doubled backquote
// stands for one) or bare.
func readIdent(s string) (name, rest string, err error) {
	switch {
	case s == "":
		return "", "", fmt.Errorf("missing name")
	case s[0] == '*':
		return "*", s[1:], nil
	case s[0] == '`':
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] != '`' {
				b.WriteByte(s[i])
				continue
			}
			if i+1 < len(s) && s[i+1] == '`' {
				b.WriteByte('`')
				i++
				continue
			}
			return b.String(), s[i+1:], nil
		}
		return "", "", fmt.Errorf("unterminated name %q", s)
	}
	end := strings.IndexAny(s, ". ")
	if end < 0 {
		end = len(s)
	}
	return s[:end], s[end:], nil
}

// topLevel calls visit with the index of every byte of s outside quotes
// and parentheses, until visit returns false.
func topLevel(s string, visit func(i int) bool) {
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '`' || c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0:
			if !visit(i) {
				return
			}
		}
	}
}

// indexKeyword returns the index of the first " KW " of s outside quotes
// and parentheses, pointing at KW, or -1.
func indexKeyword(s, kw string) int {
	at := -1
	topLevel(s, func(i int) bool {
		if s[i] == ' ' && i+len(kw)+1 < len(s) && s[i+len(kw)+1] == ' ' && strings.EqualFold(s[i+1:i+1+len(kw)], kw) {
			at = i + 1
			return false
		}
		return true
	})
	return at
}

// splitTopLevel splits s at commas outside quotes and parentheses and
// trims the parts.
func splitTopLevel(s string) []string {
	var parts []string
	start := 0
	topLevel(s, func(i int) bool {
		if s[i] == ',' {
			parts = append(parts, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
		return true
	})
	return append(parts, strings.TrimSpace(s[start:]))
}

// unquoteAccount turns `r1` or `r1`@`%` into r1 or r1@%.
func unquoteAccount(s string) string {
	return strings.NewReplacer("`", "", "'", "").Replace(strings.TrimSpace(s))
}

// likeMatch matches name against a LIKE pattern: % is any run of
// characters, _ any one, \ makes the next one literal.
func likeMatch(pattern, name string) bool {
	if pattern == "" {
		return name == ""
	}
	switch c := pattern[0]; c {
	case '%':
		for i := 0; i <= len(name); i++ {
			if likeMatch(pattern[1:], name[i:]) {
				return true
			}
		}
		return false
	case '_':
		return name != "" && likeMatch(pattern[1:], name[1:])
	case '\\':
		if len(pattern) > 1 {
			return name != "" && name[0] == pattern[1] && likeMatch(pattern[2:], name[1:])
		}
	}
	return name != "" && name[0] == pattern[0] && likeMatch(pattern[1:], name[1:])
}
