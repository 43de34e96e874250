package harness_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmnode/dmnode/tests/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// recorder is a testing.TB that records failures instead of failing the real
// test, so the harness's own failure reports can be checked. Its Fatalf
// returns normally, so it suits only helpers that return right after calling
// Fatalf, such as CompareRows and Eventually.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...) }
func (r *recorder) Error(args ...any)                 { r.Errorf("%s", fmt.Sprint(args...)) }
func (r *recorder) Fatal(args ...any)                 { r.Errorf("%s", fmt.Sprint(args...)) }
func (r *recorder) Fail()                             { r.Errorf("Fail") }
func (r *recorder) FailNow()                          { r.Errorf("FailNow") }

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs) > 0
}

func (r *recorder) report() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}

func TestMariaDBCompareRows(t *testing.T) {
	src := harness.StartMariaDB(t, harness.Options{ServerID: 1})
	dst := harness.StartMariaDB(t, harness.Options{ServerID: 2, GTIDStrict: true})
	if src.Port == dst.Port {
		t.Fatalf("both servers on port %d", src.Port)
	}
	srcDB, dstDB := src.DB(t), dst.DB(t)

	got := harness.Rows(t, dstDB, "SELECT @@server_id, @@log_bin, @@binlog_format, @@binlog_row_image, @@gtid_strict_mode")
	want := [][]string{{"2", "1", "ROW", "FULL", "1"}}
	harness.CompareRows(t, "server variables", want, got)

	for _, s := range []*harness.Server{src, dst} {
		s.Exec(t,
			"CREATE DATABASE dmtest",
			"USE dmtest",
			"CREATE TABLE t1 (id bigint unsigned NOT NULL PRIMARY KEY, c varchar(32), n int NULL)",
		)
	}
	// The same rows, inserted in a different order on each side.
	src.Exec(t, "INSERT INTO dmtest.t1 VALUES (1, 'a', 10), (2, 'b', NULL), (3, '', 30), (4, 'ü', 40)")
	dst.Exec(t, "INSERT INTO dmtest.t1 VALUES (4, 'ü', 40), (3, '', 30), (2, 'b', NULL), (1, 'a', 10)")

	const query = "SELECT id, c, n FROM dmtest.t1"
	srcRows, dstRows := harness.Rows(t, srcDB, query), harness.Rows(t, dstDB, query)
	if _, err := harness.QueryRows(srcDB, "SELECT nope FROM dmtest.t1"); err == nil {
		t.Error("QueryRows returned no error for an unknown column")
	}
	if got := harness.Rows(t, srcDB, query+" WHERE id = ?", 2); len(got) != 1 || got[0][2] != harness.Null {
		t.Fatalf("row 2 = %q, want n as %q", got, harness.Null)
	}
	sum := harness.CompareRows(t, "dmtest.t1", srcRows, dstRows)
	t.Logf("dmtest.t1: %d rows, sha256 %s", len(srcRows), sum)

	// One changed row on the target: one row missing, one extra.
	dst.Exec(t, "UPDATE dmtest.t1 SET n = 0 WHERE id = 2")
	rec := &recorder{TB: t}
	harness.CompareRows(rec, "dmtest.t1", srcRows, harness.Rows(t, dstDB, query))
	report := rec.report()
	for _, want := range []string{"1 missing rows", `["2" "b" "\\N"]`, "1 extra rows", `["2" "b" "0"]`} {
		if !strings.Contains(report, want) {
			t.Errorf("mismatch report lacks %s:\n%s", want, report)
		}
	}

	// Killed and restarted, the server keeps its port and committed rows.
	src.Kill(t)
	if _, err := srcDB.Exec("SELECT 1"); err == nil {
		t.Fatal("query succeeded on a killed server")
	}
	src.Restart(t)
	harness.CompareRows(t, "dmtest.t1 after restart", srcRows, harness.Rows(t, srcDB, query))
}

func TestCompareRows(t *testing.T) {
	many := func(prefix string, n int) [][]string {
		var rows [][]string
		for i := range n {
			rows = append(rows, []string{fmt.Sprintf("%s%02d", prefix, i)})
		}
		return rows
	}
	for _, tc := range []struct {
		name      string
		want, got [][]string
		report    []string // empty when the sets are equal
	}{
		{name: "empty", want: nil, got: [][]string{}},
		{
			name: "order does not matter",
			want: [][]string{{"1", "a"}, {"2", "b"}},
			got:  [][]string{{"2", "b"}, {"1", "a"}},
		},
		{
			name:   "cell boundaries count",
			want:   [][]string{{"a", "bc"}},
			got:    [][]string{{"ab", "c"}},
			report: []string{`1 missing rows:`, `["a" "bc"]`, `1 extra rows:`, `["ab" "c"]`},
		},
		{
			name:   "NULL is not empty",
			want:   [][]string{{"1", harness.Null}},
			got:    [][]string{{"1", ""}},
			report: []string{`["1" "\\N"]`, `["1" ""]`},
		},
		{
			name:   "duplicates count",
			want:   [][]string{{"1"}, {"1"}},
			got:    [][]string{{"1"}},
			report: []string{"want 2 rows", "got 1", `1 missing rows:`},
		},
		{
			name:   "at most ten rows listed",
			want:   many("w", 12),
			got:    many("g", 3),
			report: []string{"12 missing rows, the first 10:", `["w09"]`, "3 extra rows:", `["g02"]`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			want0 := fmt.Sprint(tc.want)
			sum := harness.CompareRows(rec, "t", tc.want, tc.got)
			if len(sum) != 64 {
				t.Errorf("checksum %q is not hex sha256", sum)
			}
			if fmt.Sprint(tc.want) != want0 {
				t.Errorf("CompareRows reordered its argument")
			}
			report := rec.report()
			wantReport := ""
			if diff := harness.SameRows(tc.want, tc.got); diff != "" {
				wantReport = "t: " + diff
			}
			if report != wantReport {
				t.Errorf("CompareRows reported %q, SameRows says %q", report, wantReport)
			}
			if len(tc.report) == 0 && rec.Failed() {
				t.Errorf("equal sets reported as different:\n%s", report)
			}
			if len(tc.report) > 0 && !rec.Failed() {
				t.Errorf("different sets passed")
			}
			for _, want := range tc.report {
				if !strings.Contains(report, want) {
					t.Errorf("report lacks %s:\n%s", want, report)
				}
			}
			if strings.Contains(report, `["w10"]`) {
				t.Errorf("report lists more than ten rows:\n%s", report)
			}
		})
	}
}

func TestEventually(t *testing.T) {
	calls := 0
	harness.Eventually(t, 5*time.Second, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 {
		t.Errorf("fn called %d times, want 3", calls)
	}

	rec := &recorder{TB: t}
	n := 0
	harness.Eventually(rec, 300*time.Millisecond, func() error { n++; return fmt.Errorf("attempt %d", n) })
	if want := fmt.Sprintf("attempt %d", n); n < 2 || !strings.Contains(rec.report(), want) {
		t.Errorf("after %d calls the failure is %q, want the last error %q", n, rec.report(), want)
	}
}

func TestProcess(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	p := harness.StartProcess(t, sh, []string{"-c", `echo "started $HARNESS_TEST"; exec sleep 60`}, "HARNESS_TEST=yes")
	harness.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(p.Log(), "started yes") {
			return fmt.Errorf("log so far: %q", p.Log())
		}
		return nil
	})
	p.Stop(t)
	if exited, err := p.Exited(); !exited || err == nil {
		t.Errorf("after Stop: exited %v, err %v; want exited by SIGTERM", exited, err)
	}

	k := harness.StartProcess(t, sh, []string{"-c", "exec sleep 60"})
	k.Kill(t)
	if exited, _ := k.Exited(); !exited {
		t.Error("process still running after Kill")
	}

	out, err := harness.Run(t, sh, "-c", "echo out; echo err >&2; exit 3")
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
		t.Errorf("Run error %v, want exit status 3", err)
	}
	if out != "out\nerr\n" {
		t.Errorf("Run output %q, want stdout and stderr", out)
	}
}

func TestBuildDmnode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds dmnode")
	}
	if srcs, _ := filepath.Glob("../../cmd/dmnode/*.go"); len(srcs) == 0 {
		t.Skip("no cmd/dmnode yet")
	}
	bin := harness.BuildDmnode(t)
	if again := harness.BuildDmnode(t); again != bin {
		t.Errorf("second build at %s, want the first, %s", again, bin)
	}
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 || filepath.Base(bin) != "dmnode" {
		t.Errorf("built %s: %v %v", bin, fi, err)
	}
}
