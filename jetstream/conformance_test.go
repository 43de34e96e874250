package jetstream_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/jetstream/memstore"
	"github.com/dmnode/dmnode/jetstream/storetest"
)

// The conformance suite of the boundary (boundary.go), against JetStream
// on an embedded server and against the in-memory stores the actors'
// unit tests use: the fake is held to what the real thing does.
func TestConformance(t *testing.T) {
	t.Run("jetstream", func(t *testing.T) {
		srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
		if err != nil {
			t.Fatal(err)
		}
		go srv.Start()
		if !srv.ReadyForConnections(30 * time.Second) {
			t.Fatal("nats server did not start")
		}
		t.Cleanup(srv.Shutdown)
		nc, err := nats.Connect(srv.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		st, err := jetstream.Open(ctx, nc, 1)
		if err != nil {
			t.Fatal(err)
		}
		storetest.Run(t, st)
	})
	t.Run("memory", func(t *testing.T) {
		storetest.Run(t, memstore.New())
	})
}
