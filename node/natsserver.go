package node

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startNATS starts the embedded NATS server with JetStream stored under
// dataDir. Every JetStream write is fsynced before it is acknowledged
// (SyncAlways): with the default two-minute sync interval acknowledged
// writes can be lost on power failure.
func startNATS(name, dataDir, host string, port int) (*server.Server, error) {
	opts := &server.Options{
		ServerName:         name,
		Host:               host,
		Port:               port,
		JetStream:          true,
		StoreDir:           filepath.Join(dataDir, "jetstream"),
		SyncAlways:         true,
		NoSigs:             true,
		NoLog:              true,
		MaxPayload:         1 << 20,
		JetStreamMaxMemory: 256 << 20,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configure nats server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats server on %s:%d did not become ready (is the port in use?)", host, port)
	}
	return ns, nil
}
