package jetstream_test

import (
	"context"
	"testing"
	"time"

	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/jetstream/memstore"
	"github.com/dmnode/dmnode/jetstream/storetest"
	"github.com/dmnode/dmnode/tests/harness"
)

// The conformance suite of the boundary (boundary.go), against JetStream
// on an embedded server and against the in-memory stores the actors'
// unit tests use: the fake is held to what the real thing does.
func TestConformance(t *testing.T) {
	t.Run("jetstream", func(t *testing.T) {
		_, nc := harness.StartNATS(t, "")
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
