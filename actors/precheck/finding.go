package precheck

import (
	"fmt"
	"strings"

	"github.com/dmnode/dmnode/core/sqlgen"
)

// Severity says whether a finding blocks the task.
type Severity string

const (
	// Error blocks task check and submit, unless the item is ignored.
	Error Severity = "error"
	// Warning is reported; the task may run.
	Warning Severity = "warning"
)

// Finding is one result of a precheck item.
type Finding struct {
	// Item is DM's checking-item name (config.CheckingItems), the name
	// that ignore-checking-items takes.
	Item     string   `json:"item"`
	Severity Severity `json:"severity"`
	// Source is the source id the finding is about; empty for the target
	// and for tables merged from several sources.
	Source string `json:"source,omitempty"`
	// Target marks findings about the target database.
	Target bool `json:"target,omitempty"`
	// Table names the table (schema.table) or schema (schema.*) concerned,
	// if any.
	Table   string `json:"table,omitempty"`
	Message string `json:"message"`
	// Fix is what to do about it: the statement to run, the setting to
	// change and where.
	Fix string `json:"fix"`
}

// String renders the finding on one line: "binlog_format: MESSAGE; fix:
// FIX".
func (f Finding) String() string {
	return fmt.Sprintf("%s: %s; fix: %s", f.Item, f.Message, f.Fix)
}

// Count returns the number of errors and warnings among fs.
func Count(fs []Finding) (errors, warnings int) {
	for _, f := range fs {
		if f.Severity == Error {
			errors++
		} else {
			warnings++
		}
	}
	return errors, warnings
}

// account is a user account as GRANT statements name it.
type account struct{ user, host string }

// parseAccount reads CURRENT_USER()'s user@host.
func parseAccount(s string) account {
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return account{user: s, host: "%"}
	}
	return account{user: s[:i], host: s[i+1:]}
}

// String quotes the account for a statement: 'user'@'host'.
func (a account) String() string { return quoteString(a.user) + "@" + quoteString(a.host) }

func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

func quoteTable(schema, table string) string {
	return sqlgen.QuoteIdent(schema) + "." + sqlgen.QuoteIdent(table)
}
