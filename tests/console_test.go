package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium; .ci/run installs it.
const chromiumPath = "/usr/bin/chromium"

// browser starts headless Chromium with the flags a machine without
// network needs, and a fresh profile. Without Chromium the test fails in
// CI and is skipped elsewhere.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath
	if _, err := os.Stat(path); err != nil {
		if p, lerr := exec.LookPath("chromium"); lerr == nil {
			path = p
		} else if os.Getenv("CI") != "" {
			t.Fatalf("chromium is required in CI (.ci/run installs it): %v", err)
		} else {
			t.Skipf("no chromium at %s: apt-get install -y chromium", chromiumPath)
		}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser, and lives as long as ctx: no
	// timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// runBrowser runs browser actions with a timeout and fails the test on
// error, printing the page.
func runBrowser(t *testing.T, ctx context.Context, what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		hctx, hcancel := context.WithTimeout(ctx, 10*time.Second)
		defer hcancel()
		html, _ := chromedp.Run(hctx, chromedp.OuterHTML(chromedp.CSS("main")))
		t.Fatalf("console: %s: %v\npage:\n%s", what, err, html)
	}
}

// textOf reads the text of the first element matching a CSS selector.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("console: read %s: %v", sel, err)
	}
	return s
}

// The web console in headless Chromium against a dev node with a running
// shard-merge task under writes: it shows the node and the task, pauses
// and resumes the task through the confirmation dialog, shows a shard DDL
// lock with its arrived and missing shards, and the lag graph; a
// screenshot is saved under tests/out; the rows are compared at the end.
func TestConsoleInBrowser(t *testing.T) {
	ctx := browser(t)
	c := newCluster(t, 2)
	c.seed(2000)
	c.addSources()
	c.dmnode("task", "submit", c.partitionIDTask("console", "    threads: 2\n    rows: 500\n"))
	c.dmnode("task", "wait", "console", "--stage", "sync", "--timeout", "3m")
	w := startWriters(t, c.sources, 51)
	waitForOps(t, w, 100)

	task := `.task[data-task="console"]`
	runBrowser(t, ctx, "open the console and see the task", 60*time.Second,
		chromedp.Navigate(fmt.Sprintf("http://127.0.0.1:%d/", c.httpPort)),
		chromedp.WaitVisible(chromedp.CSS(`#nodes tbody tr`)),
		chromedp.WaitVisible(chromedp.CSS(task+` tr[data-source="mysql-replica-02"] .badge.sync`)),
	)
	nodes, sources := textOf(t, ctx, `#nodes tbody`), textOf(t, ctx, task+` table.sources tbody`)
	if !strings.Contains(nodes, "leader") || !strings.Contains(nodes, "healthy") {
		t.Fatalf("cluster table: %q", nodes)
	}
	if !strings.Contains(sources, "mysql-replica-01") || !strings.Contains(sources, "sync") {
		t.Fatalf("task's sources: %q", sources)
	}

	// Pause, through the confirmation dialog; a cancel changes nothing.
	runBrowser(t, ctx, "cancel a pause", 20*time.Second,
		chromedp.Click(chromedp.CSS(task+` button[data-action="pause"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm[open] #confirm-cancel`)),
		chromedp.Click(chromedp.CSS(`#confirm-cancel`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#confirm[open]`)),
	)
	time.Sleep(4 * time.Second) // a refresh
	if st := c.taskState("console"); st.State != "running" {
		t.Fatalf("a cancelled pause paused the task: %s", st.State)
	}
	runBrowser(t, ctx, "pause", 60*time.Second,
		chromedp.Click(chromedp.CSS(task+` button[data-action="pause"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm[open] #confirm-ok`)),
		chromedp.Click(chromedp.CSS(`#confirm-ok`)),
		chromedp.WaitVisible(chromedp.CSS(task+` .badge.state.paused`)),
	)
	if st := c.taskState("console"); st.State != "paused" {
		t.Fatalf("after pause in the console the task is %s", st.State)
	}
	runBrowser(t, ctx, "resume", 60*time.Second,
		chromedp.Click(chromedp.CSS(task+` button[data-action="resume"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm[open] #confirm-ok`)),
		chromedp.Click(chromedp.CSS(`#confirm-ok`)),
		chromedp.WaitVisible(chromedp.CSS(task+` .badge.state.running`)),
	)

	// A shard DDL lock: the ALTER on the first shard only; the console
	// shows it arrived and the second missing.
	c.sources[0].Exec(t, "ALTER TABLE dmtest.t1 ADD COLUMN note varchar(20) NULL")
	runBrowser(t, ctx, "see the DDL lock", 90*time.Second, chromedp.WaitVisible(chromedp.CSS(task+` tr.lock`)))
	arrived, missing := textOf(t, ctx, task+` tr.lock td.arrived`), textOf(t, ctx, task+` tr.lock td.missing`)
	if !strings.Contains(arrived, "mysql-replica-01") || !strings.Contains(missing, "mysql-replica-02") {
		t.Fatalf("lock: arrived %q, missing %q", arrived, missing)
	}
	t.Logf("lock: arrived %q, missing %q", arrived, missing)

	// The lag graph needs two of the node's samples; then the screenshot.
	runBrowser(t, ctx, "see the lag graph", 60*time.Second,
		chromedp.WaitReady(chromedp.CSS(task+` .graph svg polyline`)))
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	scancel()
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join("out", "console.png")
	if err := os.MkdirAll("out", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: tests/%s (%d bytes)", shot, len(png))

	// The second shard's ALTER resolves the lock; the rows converge.
	c.sources[1].Exec(t, "ALTER TABLE dmtest.t1 ADD COLUMN note varchar(20) NULL")
	runBrowser(t, ctx, "see the lock resolved", 90*time.Second,
		chromedp.WaitNotPresent(chromedp.CSS(task+` tr.lock`)))
	waitForOps(t, w, w.count()+100)
	w.stop(t)

	// Verification from the console: confirmed, run by the node, its
	// report shown per table.
	runBrowser(t, ctx, "verify", 4*time.Minute,
		chromedp.Click(chromedp.CSS(task+` button[data-action="verify"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm[open] #confirm-ok`)),
		chromedp.Click(chromedp.CSS(`#confirm-ok`)),
		chromedp.WaitVisible(chromedp.CSS(task+` .verify .verify-result.ok`)),
	)
	t.Logf("verification in the console: %q", textOf(t, ctx, task+` .verify table tbody`))

	// A precheck of a pasted task file: the node's findings, each with
	// its fix, or a pass.
	check := readFile(t, c.partitionIDTask("console-check", "    threads: 2\n"))
	runBrowser(t, ctx, "precheck", 2*time.Minute,
		chromedp.SetValue(chromedp.CSS(`#check-yaml`), check),
		chromedp.Click(chromedp.CSS(`#check-run`)),
		chromedp.WaitVisible(chromedp.CSS(`#check-out p.ok, #check-out p.error`)),
	)
	out := textOf(t, ctx, `#check-out`)
	t.Logf("precheck in the console:\n%s", out)
	if !strings.Contains(out, "passes the precheck") && !strings.Contains(out, "fix") {
		t.Fatalf("precheck shows neither a pass nor findings with fixes:\n%s", out)
	}

	c.expectEqual("dmtest.t after the console's pause, resume and a shard DDL", partitionIDQuery, "SELECT id, c, port FROM dmtest.t")
}
