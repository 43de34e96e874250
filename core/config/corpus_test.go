package config

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the corpus' .golden files")

// corpus lists the DM-shaped files of testdata/corpus: one or more per
// feature of DM's task and source configuration, with the verdict DM gives
// (accepted or refused). What each file means to dmnode (the decoded task's
// effective settings, its warnings and notes, or its errors) is in the file
// of the same name ending in .golden; go test -update rewrites those, to be
// read before they are committed.
var corpus = []struct {
	file     string
	feature  string
	accepted bool
}{
	{"task-basic.yaml", "name, task-mode, target-database, mysql-instances; DM's defaults", true},
	{"task-incremental-meta.yaml", "meta: binlog-name/binlog-pos and binlog-gtid", true},
	{"task-shard-pessimistic.yaml", "is-sharding (deprecated) as shard-mode pessimistic; routes", true},
	{"task-shard-optimistic-strict.yaml", "shard-mode optimistic, strict-optimistic-shard-mode", true},
	{"task-shard-conflict.yaml", "is-sharding: true beside an empty shard-mode (dmctl refuses)", false},
	{"task-strict-without-optimistic.yaml", "strict-optimistic-shard-mode without optimistic (DM refuses)", false},
	{"task-deprecated.yaml", "meta-schema, heartbeat keys, timezone, clean-dump-file, ansi-quotes, remove-meta, online-ddl-scheme, max-allowed-packet", true},
	{"task-checking.yaml", "ignore-checking-items, case-sensitive, collation_compatible strict", true},
	{"task-target.yaml", "target session, empty security, dmctl-encrypted password", true},
	{"task-security-tls.yaml", "security with a CA (TLS)", true},
	{"task-security-client-cert.yaml", "security with a CA, a client certificate and key (DM's TLS tests)", true},
	{"task-routes.yaml", "routes with extract-table/schema/source", true},
	{"task-filters.yaml", "filters: events, sql-pattern, Do/Ignore/Error, the event name truncate", true},
	{"task-column-mapping.yaml", "column-mappings (partition id)", true},
	{"task-expression-filter.yaml", "expression-filter: insert, update old/new, delete; JSON paths and NOW()", true},
	{"task-balist.yaml", "block-allow-list, with an empty black-white-list beside it", true},
	{"task-bwlist-deprecated.yaml", "black-white-list alone (deprecated spelling)", true},
	{"task-bwlist-both.yaml", "both spellings non-empty: DM uses block-allow-list", true},
	{"task-mydumper.yaml", "every mydumper key; where; statement-size; extra-args mapped to dmnode's equals", true},
	{"task-extra-args-refused.yaml", "extra-args without an equal in dmnode", false},
	{"task-loader.yaml", "every loader key; import-mode physical and on-duplicate-logical ignore (nearest behaviour)", true},
	{"task-syncer.yaml", "every syncer key; batch, compact, safe-mode", true},
	{"task-validators.yaml", "validators (full, none) and validator-config-name", true},
	{"task-validators-fast.yaml", "validators at mode fast with DM's defaults, one for every instance", true},
	{"task-config-export.yaml", "DM's config export shape: experimental, empty sections, nulls", true},
	{"task-inline-units.yaml", "inline mydumper/loader/syncer and *-thread", true},
	{"task-online-ddl.yaml", "online-ddl, shadow-table-rules, trash-table-rules", true},
	{"source-basic.yaml", "source-id and from", true},
	{"source-full.yaml", "every source key: relay, purge, checker, tracer, filters, server-id, flavor", true},
	{"source-encrypted.yaml", "a dmctl-encrypted source password", true},
	{"source-wrong-key.yaml", "a ciphertext of another key (secret-key-path)", true},
	{"source-disabled.yaml", "enable: false", false},
	{"source-security-tls.yaml", "from.security with a CA, a client certificate and key (DM's TLS tests)", true},
	{"source-security-empty.yaml", "from.security with every field empty, as DM's config export writes it", true},
}

func TestCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/corpus/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, c := range corpus {
		listed[c.file] = true
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s is not in the corpus table", f)
		}
	}
	for _, c := range corpus {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join("testdata/corpus", c.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			var accepted bool
			if strings.HasPrefix(c.file, "source-") {
				s, err := DecodeSource(c.file, data)
				got, accepted = sourceMeaning(s, err), err == nil
			} else {
				task, err := DecodeTask(c.file, data)
				got, accepted = taskMeaning(task, err), err == nil
			}
			if accepted != c.accepted {
				t.Errorf("accepted %v, want %v (%s):\n%s", accepted, c.accepted, c.feature, got)
			}
			golden := strings.TrimSuffix(path, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("meaning of %s:\n got:\n%s\nwant:\n%s", c.file, got, want)
			}
		})
	}
}

// taskMeaning prints what a decoded task means to dmnode: the settings the
// actors run with, then the warnings and notes; or the errors.
func taskMeaning(t *Task, err error) string {
	if err != nil {
		return "refused:\n" + indent(err.Error())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "task %s: mode %s, shard-mode %q, case-sensitive %v, online-ddl %v",
		t.Name, t.TaskMode, t.ShardMode, t.CaseSensitive, t.OnlineDDL)
	if t.OnlineDDL {
		fmt.Fprintf(&b, " (shadow %q, trash %q)", t.ShadowTableRules, t.TrashTableRules)
	}
	b.WriteString("\n")
	db := t.TargetDatabase
	fmt.Fprintf(&b, "target %s:%d user %q password %q session %v\n", db.Host, db.Port, db.User, db.Password, sortedMap(db.Session))
	if s := db.Security; s.Enabled() {
		fmt.Fprintf(&b, "  tls: ca %q cert %q key %q cert-allowed-cn %v\n", s.SSLCA, s.SSLCert, s.SSLKey, s.CertAllowedCN)
	}
	if len(t.IgnoreCheckingItems) > 0 {
		fmt.Fprintf(&b, "prechecks skipped: %q\n", t.IgnoreCheckingItems)
	}
	for _, inst := range t.MySQLInstances {
		fmt.Fprintf(&b, "source %s:", inst.SourceID)
		if m := inst.Meta; m != nil {
			fmt.Fprintf(&b, " start %s:%d gtid %q;", m.BinlogName, m.BinlogPos, m.BinlogGTID)
		}
		if inst.BAListName != "" {
			fmt.Fprintf(&b, " block-allow-list %s %+v;", inst.BAListName, *t.BAList[inst.BAListName])
		}
		for _, r := range inst.RouteRules {
			rr := *t.Routes[r]
			fmt.Fprintf(&b, " route %s %s.%s -> %s.%s%s%s%s;", r, rr.SchemaPattern, rr.TablePattern,
				rr.TargetSchema, rr.TargetTable, extractor("table", rr.ExtractTable),
				extractor("schema", rr.ExtractSchema), extractor("source", rr.ExtractSource))
		}
		for _, r := range inst.FilterRules {
			fmt.Fprintf(&b, " filter %s %+v;", r, *t.Filters[r])
		}
		for _, r := range inst.ColumnMappingRules {
			fmt.Fprintf(&b, " column-mapping %s %+v;", r, *t.ColumnMappings[r])
		}
		for _, r := range inst.ExpressionFilters {
			fmt.Fprintf(&b, " expression-filter %s %+v;", r, *t.ExpressionFilters[r])
		}
		b.WriteString("\n")
		fmt.Fprintf(&b, "  dump %+v\n  load %+v\n  sync %+v\n", inst.Dump, inst.Load, inst.Sync)
		if inst.Validate.Mode != "" {
			fmt.Fprintf(&b, "  validate %+v\n", inst.Validate)
		}
	}
	for _, w := range t.Warnings {
		prefix := "warning"
		if slices.Contains(t.Notes, w) {
			prefix = "note"
		}
		fmt.Fprintf(&b, "%s: %s\n", prefix, w)
	}
	return b.String()
}

// sourceMeaning is taskMeaning for a source file.
func sourceMeaning(s *Source, err error) string {
	if err != nil {
		return "refused:\n" + indent(err.Error())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "source %s: flavor %q, gtid %v, server-id %d, case-sensitive %v\n",
		s.SourceID, s.Flavor, s.EnableGTID, s.ServerID, s.CaseSensitive)
	fmt.Fprintf(&b, "from %s:%d user %q password %q\n", s.From.Host, s.From.Port, s.From.User, s.From.Password)
	if sec := s.From.Security; sec.Enabled() {
		fmt.Fprintf(&b, "  tls: ca %q cert %q key %q cert-allowed-cn %v\n", sec.SSLCA, sec.SSLCert, sec.SSLKey, sec.CertAllowedCN)
	}
	for _, f := range s.Filters {
		fmt.Fprintf(&b, "filter %+v\n", *f)
	}
	for _, w := range s.Warnings {
		prefix := "warning"
		if slices.Contains(s.Notes, w) {
			prefix = "note"
		}
		fmt.Fprintf(&b, "%s: %s\n", prefix, w)
	}
	return b.String()
}

func extractor(what string, e *Extractor) string {
	if e == nil {
		return ""
	}
	return fmt.Sprintf(" (%s %+v)", what, *e)
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ") + "\n"
}

func sortedMap(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return "[" + strings.Join(parts, " ") + "]"
}
