package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/actors/verify"
)

func TestPrintVerify(t *testing.T) {
	start := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	equal := verify.TableReport{Target: "db.a", Upstream: []string{"s1:db.a"}, KeyColumns: []string{"id"},
		Status: verify.StatusEqual, RowsCompared: 100, TargetRowsScanned: 100, Checksum: 255}
	tests := []struct {
		name string
		r    verify.Report
		want string
	}{
		{"equal", verify.Report{Task: "t", Equal: true, Started: start, Finished: start.Add(1500 * time.Millisecond), Positions: map[string]string{"s1": "mysql-bin.000001:4"},
			Tables: []verify.TableReport{equal}}, `task t: 1 target table from 1 upstream table, verified in 1.5s
TARGET  UPSTREAM  COMPARED  FILTERED  MISSING  EXTRA  DIFFERENT  CHECKSUM          STATUS
db.a    1         100       0         0        0      0          00000000000000ff  equal
read at: s1 mysql-bin.000001:4 (source and target, last step)
summary: equal: 1 table, 100 rows compared
`},
		{"differs", verify.Report{Task: "t", Started: start, Finished: start.Add(time.Minute), Tables: []verify.TableReport{equal, {
			Target: "db.m", Upstream: []string{"s1:db.t1", "s2:db.t1"}, KeyColumns: []string{"id", "c_source"}, Status: verify.StatusDiffers,
			RowsCompared: 20, RowsFiltered: 2, Missing: 1, Extra: 12, Different: 1,
			MissingKeys: [][]string{{"5", "01"}}, DifferentKeys: [][]string{{"7", "02"}},
			ExtraKeys: [][]string{{"1", "x"}, {"2", "x"}},
			Notes:     []string{"s2:db.t1: the binlog event filter skips [deletes]: differences may be intended"},
		}, {
			Target: "db.u", Upstream: []string{"s1:db.u"}, Status: verify.StatusSkipped, Reason: "the target table does not exist",
		}}}, `task t: 3 target tables from 4 upstream tables, verified in 1m0s
TARGET  UPSTREAM  COMPARED  FILTERED  MISSING  EXTRA  DIFFERENT  CHECKSUM          STATUS
db.a    1         100       0         0        0      0          00000000000000ff  equal
db.m    2         20        2         1        12     1          0000000000000000  differs
db.u    1         0         0         0        0      0          0000000000000000  skipped
db.m (key id, c_source):
  missing:   (5, 01)
  extra:     (1, x) (2, x) … 10 more
  different: (7, 02)
  note: s2:db.t1: the binlog event filter skips [deletes]: differences may be intended
db.u:
  skipped: the target table does not exist
summary: NOT EQUAL: differences in 1 of 3 tables (1 missing, 12 extra, 1 different rows; 120 rows compared); 1 table skipped
`},
		{"nothing", verify.Report{Task: "t", Started: start, Finished: start}, `task t: 0 target tables from 0 upstream tables, verified in 0s
summary: no table to verify: the task's rules match no upstream table
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printVerify(&b, &tt.r)
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestVerifyStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if st, err := readVerifyState(path); st != nil || err != nil {
		t.Fatalf("missing file: %v, %v", st, err)
	}
	st := &verify.State{Version: 1, Task: "t", Tables: []*verify.TableState{{
		Report:   verify.TableReport{Target: "db.t"},
		Upstream: []*verify.Cursor{{Table: "s1:db.t", After: [][]byte{[]byte("42"), {}, {0xff}}}},
	}}}
	if err := writeVerifyState(path, st); err != nil {
		t.Fatal(err)
	}
	got, err := readVerifyState(path)
	if err != nil {
		t.Fatal(err)
	}
	after := got.Tables[0].Upstream[0].After
	if len(after) != 3 || string(after[0]) != "42" || after[1] == nil || len(after[1]) != 0 || after[2][0] != 0xff {
		t.Errorf("cursor after a round trip: %q", after)
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readVerifyState(path); err == nil || !strings.Contains(err.Error(), "remove it to start over") {
		t.Errorf("corrupt state: %v", err)
	}
}

// A verification that finds differences exits 3, distinct from failing to
// run (1), usage errors (2) and an unreachable cluster (4).
func TestNotEqualExitCode(t *testing.T) {
	var coded interface{ ExitCode() int }
	err := error(&notEqualError{"x"})
	if !errors.As(err, &coded) || coded.ExitCode() != 3 {
		t.Fatal("notEqualError does not carry exit status 3")
	}
	var out, errOut bytes.Buffer
	if code := Main([]string{"task", "verify", "x", "--server", "nats://127.0.0.1:1"}, &out, &errOut); code != exitUnreachable {
		t.Errorf("unreachable server: exit %d, want %d", code, exitUnreachable)
	}
}
