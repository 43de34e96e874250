package harness

import (
	"strings"
	"testing"
)

func TestOwnStacks(t *testing.T) {
	dump := `time=1 level=INFO msg="node running"
SIGQUIT: quit
PC=0x47d1e1 m=0 sigcode=0

goroutine 1 gp=0xc000002380 m=nil [select]:
runtime.gopark(0x0?, 0x0?, 0x0?, 0x0?, 0x0?)
	/usr/local/go/src/runtime/proc.go:435 +0xce
github.com/dmnode/dmnode/actors.(*Applier).Run(0xc0001)
	/work/actors/apply.go:140 +0x1a5

goroutine 7 gp=0xc000003180 m=nil [IO wait]:
github.com/nats-io/nats-server/v2/server.(*client).readLoop(0xc0002)
	/root/go/pkg/mod/github.com/nats-io/nats-server/v2@v2.15.3/server/client.go:1400 +0x1

goroutine 9 gp=0xc000003500 m=nil [chan receive]:
database/sql.(*DB).conn(0xc0003)
	/usr/local/go/src/database/sql/sql.go:1320 +0x2
github.com/dmnode/dmnode/actors.claimFence(0xc0004)
	/work/actors/target.go:79 +0x3
`
	got := ownStacks(dump)
	for _, want := range []string{`msg="node running"`, "SIGQUIT: quit", "(*Applier).Run", "actors.claimFence", "(1 goroutines without dmnode's code left out)"} {
		if !strings.Contains(got, want) {
			t.Errorf("ownStacks lost %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "readLoop") {
		t.Errorf("ownStacks kept the NATS server's goroutine:\n%s", got)
	}
	if plain := "no dump here\n"; ownStacks(plain) != plain {
		t.Errorf("ownStacks changed a log without a dump: %q", ownStacks(plain))
	}
}
