package tests

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dmnode/dmnode/tests/harness"
)

// Bad input gets a clear error naming the file, line and key, or the
// address and cause, and the CLI exits non-zero; nothing is added.
func TestBadInputThroughTheCLI(t *testing.T) {
	c := newCluster(t, 1)
	c.seed(10)
	run := func(args ...string) string {
		t.Helper()
		out, err := harness.Run(t, c.bin, append([]string{"--server", c.server()}, args...)...)
		if err == nil {
			t.Fatalf("dmnode %s succeeded, want a failure:\n%s", strings.Join(args, " "), out)
		}
		return out
	}
	free := harness.FreePort(t)
	unreachable := c.writeFile("down.yaml", fmt.Sprintf("source-id: down\nfrom:\n  host: 127.0.0.1\n  port: %d\n  user: root\n  password: secret-pw\n", free))
	out := run("source", "add", unreachable)
	if !strings.Contains(out, fmt.Sprintf("127.0.0.1:%d", free)) || !strings.Contains(out, "connection refused") {
		t.Errorf("unreachable source: error does not name the address and cause:\n%s", out)
	}
	if strings.Contains(out, "secret-pw") {
		t.Errorf("the password appears in the error:\n%s", out)
	}
	badKey := c.writeFile("badkey.yaml", "source-id: s\nfrom:\n  host: 127.0.0.1\n  port: 1\n  pasword: x\n")
	out = run("source", "add", badKey)
	if !strings.Contains(out, "badkey.yaml:5:3") || !strings.Contains(out, "from.pasword") {
		t.Errorf("unknown key: error does not name file, line and key:\n%s", out)
	}
	c.addSources()
	task := c.writeFile("task.yaml", fmt.Sprintf(`name: bad
task-mode: all
target-database: {host: 127.0.0.1, port: %d, user: root, password: ""}
mysql-instances:
  - source-id: %s
    route-rules: [missing]
routes:
  unused:
    schema-pattern: dmtest
    target-schema: x
`, c.target.Port, sourceID(0)))
	out = run("task", "check", task)
	for _, want := range []string{"task.yaml:6:", "missing", "task.yaml:8:", "unused"} {
		if !strings.Contains(out, want) {
			t.Errorf("task check output lacks %q:\n%s", want, out)
		}
	}
	out = run("task", "status", "nope")
	if !strings.Contains(out, "nope") {
		t.Errorf("status of a missing task: %s", out)
	}
	if list := c.dmnode("source", "list"); strings.Contains(list, "down") {
		t.Errorf("a failed source add left the source behind:\n%s", list)
	}

	// After the rejected input, a valid task still runs and moves every row.
	good := c.writeFile("good.yaml", fmt.Sprintf(`name: good
task-mode: all
target-database: {host: 127.0.0.1, port: %d, user: root, password: ""}
mysql-instances:
  - source-id: %s
`, c.target.Port, sourceID(0)))
	c.dmnode("task", "submit", good)
	c.dmnode("task", "wait", "good", "--stage", "sync", "--timeout", "1m")
	c.expectEqual("dmtest.t1", func(int) string { return "SELECT id, c, port FROM dmtest.t1" }, "SELECT id, c, port FROM dmtest.t1")
}
