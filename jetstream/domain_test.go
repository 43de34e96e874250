package jetstream

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/dmnode/dmnode/tests/harness"
)

// With a JetStream domain set, the store talks to $JS.<domain>.API: it
// opens and works on a server whose JetStream runs in that domain, and a
// domain no server serves is not answered.
func TestStoreInDomain(t *testing.T) {
	_, nc := harness.StartNATS(t, "", func(o *server.Options) { o.JetStreamDomain = "hub" })
	t.Cleanup(func() { _ = SetDomain("") })

	for _, bad := range []string{"a.b", "x*", "a b"} {
		if SetDomain(bad) == nil {
			t.Errorf("domain %q accepted", bad)
		}
	}
	if err := SetDomain("elsewhere"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err := Open(ctx, nc, 1)
	cancel()
	if err == nil {
		t.Fatal("opened a store in a domain no server serves")
	}

	if err := SetDomain("hub"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, nc, 1)
	if err != nil {
		t.Fatalf("open in domain hub: %v", err)
	}
	if _, err := s.Save(ctx, "probe.x", "v", 0); err != nil {
		t.Fatalf("save in domain hub: %v", err)
	}
	var got string
	if _, err := s.Load(ctx, "probe.x", &got); err != nil || got != "v" {
		t.Fatalf("load in domain hub: %q %v", got, err)
	}
	if info, err := s.JS.AccountInfo(ctx); err != nil || info.Domain != "hub" {
		t.Fatalf("account info: %+v %v", info, err)
	}
}
