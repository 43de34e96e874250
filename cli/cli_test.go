package cli

import (
	"bytes"
	"strings"
	"testing"
)

// The global --server flag is accepted before or after the command words,
// and DMNODE_SERVER supplies it otherwise; a failure exits non-zero with
// the address in the message.
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
			if code != 1 {
				t.Fatalf("exit code %d, want 1; stderr: %s", code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Fatalf("stderr %q does not name %s", errOut.String(), tc.want)
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
