package node

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
)

// openRaft starts the Raft member with its log in a write-ahead log under
// dataDir/raft. A node with no state bootstraps a single-voter cluster of
// itself; a node with state resumes it.
func openRaft(id, dataDir string, f raft.FSM) (*raft.Raft, *raftwal.WAL, error) {
	dir := filepath.Join(dataDir, "raft")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("create raft dir: %w", err)
	}
	walDir := filepath.Join(dir, "wal")
	if err := os.MkdirAll(walDir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("create raft log dir: %w", err)
	}
	wal, err := raftwal.Open(walDir)
	if err != nil {
		return nil, nil, fmt.Errorf("open raft log: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		wal.Close()
		return nil, nil, fmt.Errorf("open raft snapshots: %w", err)
	}
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(id)
	conf.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: os.Stderr})
	conf.SnapshotThreshold = 1024
	addr, trans := raft.NewInmemTransport(raft.ServerAddress(id))
	existing, err := raft.HasExistingState(wal, wal, snaps)
	if err != nil {
		wal.Close()
		return nil, nil, fmt.Errorf("inspect raft state: %w", err)
	}
	r, err := raft.NewRaft(conf, f, wal, wal, snaps, trans)
	if err != nil {
		wal.Close()
		return nil, nil, fmt.Errorf("start raft: %w", err)
	}
	if !existing {
		cfg := raft.Configuration{Servers: []raft.Server{{ID: conf.LocalID, Address: addr}}}
		if err := r.BootstrapCluster(cfg).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			r.Shutdown()
			wal.Close()
			return nil, nil, fmt.Errorf("bootstrap raft: %w", err)
		}
	}
	return r, wal, nil
}
