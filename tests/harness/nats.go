package harness

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// StartNATS starts an embedded NATS server with JetStream on a free
// loopback port, storing in dir (a temp dir when empty), and connects to
// it; both end with the test. opts, when given, adjusts the server's
// options first (a JetStream domain, a message size limit). Under go test
// -short the test is skipped: the short run needs no server.
func StartNATS(t testing.TB, dir string, opts ...func(*server.Options)) (*server.Server, *nats.Conn) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a NATS server: skipped under -short")
	}
	if dir == "" {
		dir = t.TempDir()
	}
	o := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true}
	for _, f := range opts {
		f(o)
	}
	srv, err := server.NewServer(o)
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
	return srv, nc
}
