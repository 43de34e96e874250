package harness

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pingcap/tidb/pkg/parser"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // literal values

	"github.com/dmnode/dmnode/core/sqltext"
)

// The dialect check: every dmnode process a test starts (and every CLI
// command it runs) records each distinct shape of statement it sends to a
// target (sqltext.LogEnv), into one file per test. When the test
// ends, every recorded statement is parsed with TiDB's own parser, and one
// that TiDB would refuse fails the test. The tests' targets are MariaDB,
// which accepts more than TiDB; this keeps dmnode to what both run.
//
// It is off for the benchmarks (DMNODE_BENCH), whose figures it would
// change.

var dialect = struct {
	sync.Mutex
	logs   map[testing.TB]string // the test's statement log
	shapes map[string]bool       // digests checked, over all tests
	refuse map[testing.TB]string // the test's sqltext.RefuseEnv value
}{logs: map[testing.TB]string{}, shapes: map[string]bool{}, refuse: map[testing.TB]string{}}

// RefuseLikeTiDB makes the target seam of the dmnode processes (and CLI
// commands) t starts from now on answer like TiDB on a target that
// reports a TiDB version (a MariaDB started with
// --version=8.0.11-TiDB-v8.5.0, say): the recorder refuses, with TiDB's
// error codes and texts, the DDL core/tidb's table says TiDB refuses, and,
// when txnLimit > 0, every transaction whose statements exceed txnLimit
// bytes, with TiDB's 8004 "Transaction is too large". Statements the
// recorder refuses never reach MariaDB. See actors/sqllog.go.
func RefuseLikeTiDB(t testing.TB, txnLimit int64) {
	v := "ddl"
	if txnLimit > 0 {
		v = fmt.Sprintf("txn-limit=%d", txnLimit)
	}
	dialect.Lock()
	dialect.refuse[t] = v
	dialect.Unlock()
	t.Cleanup(func() {
		dialect.Lock()
		delete(dialect.refuse, t)
		dialect.Unlock()
	})
}

// dialectEnv returns the environment entry that points a child process at
// the test's statement log, creating the log on first use; empty when the
// check is off.
func dialectEnv(t testing.TB) string {
	if os.Getenv("DMNODE_BENCH") != "" {
		return ""
	}
	dialect.Lock()
	defer dialect.Unlock()
	path, ok := dialect.logs[t]
	if !ok && t.Context().Err() != nil {
		return "" // called from a cleanup: no process of the test sent anything
	}
	if !ok {
		path = filepath.Join(t.TempDir(), "target-statements.log")
		dialect.logs[t] = path
		// Registered before the processes' own cleanups, so it runs after
		// they have stopped.
		t.Cleanup(func() {
			dialect.Lock()
			delete(dialect.logs, t)
			dialect.Unlock()
			CheckDialect(t, path)
		})
	}
	return sqltext.LogEnv + "=" + path
}

// CheckDialect parses every statement recorded in path with TiDB's parser
// and fails t for each one it refuses. A missing file means no statement
// was sent.
func CheckDialect(t testing.TB, path string) {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Errorf("dialect check: %v", err)
		return
	}
	defer f.Close()
	p := parser.New()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	seen := map[string]bool{} // processes record on their own: one shape may come twice
	adapted := 0
	for sc.Scan() {
		stmt := sqltext.UnescapeLine(sc.Text())
		_, digest := parser.NormalizeDigest(stmt)
		if seen[digest.String()] {
			continue
		}
		seen[digest.String()] = true
		dialect.Lock()
		dialect.shapes[digest.String()] = true
		dialect.Unlock()
		if _, _, err := p.Parse(stmt, "", ""); err != nil {
			if why := adaptedForTiDB(p, stmt); why != "" {
				adapted++
				continue
			}
			t.Errorf("dialect check: TiDB's parser refuses a statement dmnode sent to the target: %v\n%s", err, abbreviate(stmt, 600))
		}
	}
	if err := sc.Err(); err != nil {
		t.Errorf("dialect check: read %s: %v", path, err)
	}
	if len(seen) > 0 {
		t.Logf("dialect check: %d distinct statement shapes sent to the target, each parsed by TiDB's parser (%d of them DDL that dmnode adapts or refuses when the target is TiDB)", len(seen), adapted)
	}
}

// AdaptDDLForTiDB, when set, says what dmnode would do with a DDL statement
// on a TiDB target: the statements it would send instead, or refused when
// it would pause the task at it. The tests' targets are MariaDB, where
// dmnode keeps what MariaDB has and TiDB lacks (a cp1251 column, a spatial
// type); such a statement passes the check when dmnode would not send it
// to TiDB as it is and what it would send parses. The end-to-end tests set
// it to core/tidb's table (tests/main_test.go); the harness cannot import
// it itself (core/schema's own tests import the harness).
var AdaptDDLForTiDB func(stmt string) (stmts []string, refused bool)

// adaptedForTiDB says why a statement TiDB's parser refuses passes the
// check, or "" when it does not.
func adaptedForTiDB(p *parser.Parser, stmt string) string {
	if AdaptDDLForTiDB == nil {
		return ""
	}
	stmts, refused := AdaptDDLForTiDB(stmt)
	if refused {
		return "refused on TiDB"
	}
	if len(stmts) == 1 && stmts[0] == stmt {
		return ""
	}
	for _, q := range stmts {
		if _, _, err := p.Parse(q, "", ""); err != nil {
			return ""
		}
	}
	return "adapted for TiDB"
}

// DialectSummary describes the statement shapes checked so far, over all
// tests of the process; "" when none was.
func DialectSummary() string {
	dialect.Lock()
	defer dialect.Unlock()
	if len(dialect.shapes) == 0 {
		return ""
	}
	return fmt.Sprintf("dialect check: %d distinct statement shapes sent to targets over all tests, checked with TiDB's parser", len(dialect.shapes))
}

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("... (%d bytes)", len(s))
}

func withDialectEnv(t testing.TB, env []string) []string {
	for _, e := range env {
		if strings.HasPrefix(e, sqltext.LogEnv+"=") {
			return env
		}
	}
	if e := dialectEnv(t); e != "" {
		env = append(env, e)
		dialect.Lock()
		v, ok := dialect.refuse[t]
		dialect.Unlock()
		if ok {
			env = append(env, sqltext.RefuseEnv+"="+v)
		}
	}
	return env
}
