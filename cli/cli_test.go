package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmnode/dmnode/actors/precheck"
	"github.com/dmnode/dmnode/core/secret"
	"github.com/dmnode/dmnode/node"
)

// The global --server flag is accepted before or after the command words,
// and DMNODE_SERVER supplies it otherwise; a failure exits non-zero with
// the address in the message, the way to start a node and the exit status
// of an unreachable cluster.
func TestServerFlagAnywhere(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"before", []string{"--server", "nats://127.0.0.1:1", "task", "list"}, "", "127.0.0.1:1"},
		{"after", []string{"task", "status", "x", "--server=nats://127.0.0.1:2", "-o", "json"}, "", "127.0.0.1:2"},
		{"env", []string{"source", "list"}, "nats://127.0.0.1:3", "127.0.0.1:3"},
		{"flag beats env", []string{"task", "list", "--server", "nats://127.0.0.1:4"}, "nats://127.0.0.1:3", "127.0.0.1:4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DMNODE_SERVER", tc.env)
			var out, errOut bytes.Buffer
			code := Main(tc.args, &out, &errOut)
			if code != exitUnreachable {
				t.Fatalf("exit code %d, want %d; stderr: %s", code, exitUnreachable, errOut.String())
			}
			if !strings.Contains(errOut.String(), "no NATS server answers at nats://"+tc.want) || !strings.Contains(errOut.String(), "dmnode dev") {
				t.Fatalf("stderr %q does not name %s and how to start a node", errOut.String(), tc.want)
			}
		})
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{{"task", "bogus"}, {"task", "status", "-o", "yaml"}, {"nope"}} {
		var out, errOut bytes.Buffer
		if code := Main(args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit code %d, want 2", args, code)
		}
	}
}

func TestStageReached(t *testing.T) {
	if _, err := stageReached(nil, "sync"); err == nil {
		t.Fatal("missing task not reported")
	}
}

// --help prints the help and exits 0 without running the command.
func TestHelpDoesNotRun(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main([]string{"task", "list", "--help", "--server", "nats://127.0.0.1:1"}, &out, &errOut); code != 0 {
		t.Fatalf("exit code %d, stderr %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "Usage:") || strings.Contains(errOut.String(), "127.0.0.1:1") {
		t.Fatalf("help ran the command:\nstdout %s\nstderr %s", out.String(), errOut.String())
	}
}

func TestPrintFindings(t *testing.T) {
	var b strings.Builder
	printFindings(&b, []precheck.Finding{
		{Item: "target_privilege", Severity: precheck.Warning, Target: true, Message: "m1", Fix: "f1"},
		{Item: "auto_increment_ID", Severity: precheck.Error, Message: "m2", Fix: "f2"},
		{Item: "binlog_format", Severity: precheck.Error, Source: "s1", Message: "m3", Fix: "f3"},
		{Item: "version", Severity: precheck.Warning, Source: "s2", Message: "m4", Fix: "f4"},
		{Item: "binlog_row_image", Severity: precheck.Error, Source: "s1", Message: "m5", Fix: "f5"},
	})
	want := `source s1:
  error   binlog_format: m3
          fix: f3
  error   binlog_row_image: m5
          fix: f5
source s2:
  warning version: m4
          fix: f4
merged tables:
  error   auto_increment_ID: m2
          fix: f2
target:
  warning target_privilege: m1
          fix: f1
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// A command line that does not parse exits 2, apart from failures.
func TestUsageExitCode(t *testing.T) {
	for _, args := range [][]string{{"task", "nope"}, {"task", "status", "-o", "yaml"}, {"--no-such-flag"}} {
		var out, errOut bytes.Buffer
		if code := Main(args, &out, &errOut); code != exitUsage {
			t.Errorf("%v: exit code %d, want %d; stderr: %s", args, code, exitUsage, errOut.String())
		}
	}
}

func TestPrintStatus(t *testing.T) {
	tasks := []node.TaskStatus{{Name: "merge", Mode: "all", State: "paused", Sources: []node.SourceStatus{
		{Source: "s1", Stage: "load", RowsLoaded: 6200, RowsEstimated: 20000, Percent: 31, RowsPerSecond: 4100, ETASeconds: 3, GapBytes: -1, Next: "dmnode task resume merge"},
		{Source: "s2", Stage: "sync", RowsInserted: 1200, RowsUpdated: 310, RowsDeleted: 42, Applied: "b.1:4", RowsPerSecond: 85, ETASeconds: -1, LagSeconds: 2, GapBytes: 1229, Next: "dmnode task resume merge"},
	}}}
	var b strings.Builder
	printStatus(&b, tasks)
	out := b.String()
	for _, want := range []string{
		"task merge (all, paused)",
		"[######--------------]  31%  6.2k/20k",
		"4.1k rows/s", "3s",
		"ins 1.2k  upd 310  del 42", "85 rows/s", "2s", "1.2 KiB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "next: dmnode task resume merge") != 1 {
		t.Errorf("the next step should be printed once:\n%s", out)
	}
}

// dmnode encrypt writes DM's format: the default key's ciphertext is what
// DM before v8.0 and dmnode's task decoding read; a key file's is what
// secret-key-path readers read.
func TestEncrypt(t *testing.T) {
	var out, errOut strings.Builder
	if code := Main([]string{"encrypt", "p@ss word"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if got, err := secret.Decrypt(secret.DefaultKey, strings.TrimSpace(out.String())); err != nil || got != "p@ss word" {
		t.Errorf("decrypt %q: %q, %v", out.String(), got, err)
	}
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	hexKey := strings.Repeat("ab", secret.KeySize)
	if err := os.WriteFile(keyFile, []byte(hexKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := Main([]string{"encrypt", "--secret-key-path", keyFile, "x"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	key, _ := secret.ParseKey(hexKey)
	if got, err := secret.Decrypt(key, strings.TrimSpace(out.String())); err != nil || got != "x" {
		t.Errorf("decrypt with the key file: %q, %v", got, err)
	}
	if code := Main([]string{"encrypt", "--secret-key-path", keyFile + ".missing", "x"}, &out, &errOut); code == 0 {
		t.Error("a missing key file: exit 0")
	}
}

// Flags of the embedded NATS server make no sense with --nats-url: a usage
// error, before anything starts.
func TestStartNATSURLFlags(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"start", "--data-dir", dir, "--nats-url", "nats://127.0.0.1:1", "--nats-port", "4300"},
		{"start", "--data-dir", dir, "--nats-url", "nats://127.0.0.1:1", "--cluster-port", "6300"},
		{"start", "--data-dir", dir, "--replicas", "7"},
		{"start", "--data-dir", dir, "--js-domain", "hub"},
		{"start", "--data-dir", dir, "--nats-url", "nats://127.0.0.1:1", "--js-domain", "a.b"},
		{"start", "--data-dir", dir, "--nats-url", "nats://127.0.0.1:1", "--join", "nats://127.0.0.1:1"},
	} {
		var out, errOut bytes.Buffer
		if code := Main(args, &out, &errOut); code != exitUsage {
			t.Errorf("%v: exit code %d, want %d; stderr: %s", args, code, exitUsage, errOut.String())
		}
	}
}

// A context saved once supplies the server and the credentials of later
// commands; a flag still wins over it.
func TestContextSaveAndUse(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("DMNODE_CONTEXT", "")
	t.Setenv("DMNODE_SERVER", "")
	t.Setenv("DMNODE_CREDS", "")
	t.Setenv("DMNODE_TLS_CA", "")
	creds := filepath.Join(dir, "missing-admin.nk")
	var out, errOut bytes.Buffer
	if code := Main([]string{"--server", "nats://127.0.0.1:5", "--creds", creds, "context", "save"}, &out, &errOut); code != 0 {
		t.Fatalf("context save: %d %s", code, errOut.String())
	}
	path := filepath.Join(dir, "dmnode", "context.json")
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("context file: %v %v", st, err)
	}
	errOut.Reset()
	Main([]string{"task", "list"}, &out, &errOut)
	if !strings.Contains(errOut.String(), creds) {
		t.Fatalf("task list did not use the context's credentials: %s", errOut.String())
	}
	errOut.Reset()
	Main([]string{"task", "list", "--creds", filepath.Join(dir, "other.nk")}, &out, &errOut)
	if !strings.Contains(errOut.String(), "other.nk") {
		t.Fatalf("the --creds flag did not win over the context: %s", errOut.String())
	}
	if code := Main([]string{"context", "save", "--server", "nats://u:pw@127.0.0.1:5"}, &out, &errOut); code == 0 {
		t.Fatal("a context with a password in its URL was saved")
	}
}

// dmnode dev has no authentication: it never listens beyond loopback.
func TestDevLoopbackOnly(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main([]string{"dev", "--host", "0.0.0.0", "--data-dir", t.TempDir()}, &out, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), "loopback only") || !strings.Contains(errOut.String(), "without authentication") {
		t.Fatalf("dev on 0.0.0.0: exit %d: %s", code, errOut.String())
	}
}
