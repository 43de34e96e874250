package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
)

func raftDir(dataDir string) string { return filepath.Join(dataDir, "raft") }

// hasRaftState reports whether the data dir holds a Raft log, i.e. the node
// was a member before.
func hasRaftState(dataDir string) (bool, error) {
	entries, err := os.ReadDir(filepath.Join(raftDir(dataDir), "wal"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect raft dir: %w", err)
	}
	return len(entries) > 0, nil
}

// openRaft starts the Raft member with its log in a write-ahead log under
// dataDir/raft. With bootstrap it founds a single-voter cluster of itself;
// otherwise it resumes its state, or waits to be added by a leader. Dev mode
// uses an in-memory transport: nothing else can reach it.
//
// Outside dev mode the transport is mutual TLS (peerTLS): a peer that
// presents no certificate of the cluster's CA cannot reach the Raft port.
func openRaft(id string, cfg *Config, f raft.FSM, bootstrap bool, peerTLS *tls.Config) (*raft.Raft, *raftwal.WAL, error) {
	dir := raftDir(cfg.DataDir)
	walDir := filepath.Join(dir, "wal")
	if err := os.MkdirAll(walDir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("create raft log dir: %w", err)
	}
	wal, err := raftwal.Open(walDir)
	if err != nil {
		return nil, nil, fmt.Errorf("open raft log: %w", err)
	}
	fail := func(err error) (*raft.Raft, *raftwal.WAL, error) {
		wal.Close()
		return nil, nil, err
	}
	snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		return fail(fmt.Errorf("open raft snapshots: %w", err))
	}
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(id)
	conf.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: os.Stderr})
	conf.SnapshotThreshold = 1024
	var trans raft.Transport
	var addr raft.ServerAddress
	if cfg.Dev {
		addr, trans = raft.NewInmemTransport(raft.ServerAddress(id))
	} else {
		bind := fmt.Sprintf("%s:%d", cfg.Host, cfg.RaftPort)
		adv, err := resolveTCP(fmt.Sprintf("%s:%d", cfg.advertise(), cfg.RaftPort))
		if err != nil {
			return fail(err)
		}
		if peerTLS == nil {
			tcp, err := raft.NewTCPTransportWithLogger(bind, adv, 3, 10*time.Second, conf.Logger)
			if err != nil {
				return fail(fmt.Errorf("listen for raft on %s: %w", bind, err))
			}
			addr, trans = tcp.LocalAddr(), tcp
		} else {
			ln, err := tls.Listen("tcp", bind, peerTLS)
			if err != nil {
				return fail(fmt.Errorf("listen for raft on %s: %w", bind, err))
			}
			nt := raft.NewNetworkTransportWithLogger(&tlsStreamLayer{Listener: ln, adv: adv, cfg: peerTLS}, 3, 10*time.Second, conf.Logger)
			addr, trans = raft.ServerAddress(adv.String()), nt
		}
	}
	r, err := raft.NewRaft(conf, f, wal, wal, snaps, trans)
	if err != nil {
		return fail(fmt.Errorf("start raft: %w", err))
	}
	if bootstrap {
		cfg := raft.Configuration{Servers: []raft.Server{{ID: conf.LocalID, Address: addr}}}
		if err := r.BootstrapCluster(cfg).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			r.Shutdown()
			return fail(fmt.Errorf("bootstrap raft: %w", err))
		}
	}
	return r, wal, nil
}

// whileLeading calls lead every time this member wins an election, with
// the term it won and a context that is cancelled the moment it loses
// leadership (or ctx ends). One lead runs at a time: after a loss, the next
// starts only once the previous one returned. whileLeading returns when ctx
// ends and the last lead has returned.
//
// It is the only reader of r.LeaderCh. That channel keeps only the latest
// transition, so a loss and a win in quick succession may arrive as a
// single win: a win in a term other than the one being led ends the old
// leadership and starts the new one.
func whileLeading(ctx context.Context, r *raft.Raft, lead func(ctx context.Context, term uint64)) {
	var (
		term   uint64
		cancel context.CancelFunc
		done   chan struct{}
	)
	stop := func() {
		if cancel != nil {
			cancel()
			<-done
			cancel, term = nil, 0
		}
	}
	start := func() {
		t := r.CurrentTerm()
		if cancel != nil && t == term {
			return // still the same leadership
		}
		stop()
		var lctx context.Context
		lctx, cancel = context.WithCancel(ctx)
		term, done = t, make(chan struct{})
		go func() {
			defer close(done)
			lead(lctx, t)
		}()
	}
	defer stop()
	ch := r.LeaderCh()
	if r.State() == raft.Leader {
		start()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case leading := <-ch:
			if leading && r.State() == raft.Leader {
				start()
			} else {
				stop()
			}
		}
	}
}

// tlsStreamLayer carries Raft over mutual TLS.
type tlsStreamLayer struct {
	net.Listener
	adv net.Addr
	cfg *tls.Config
}

func (s *tlsStreamLayer) Addr() net.Addr { return s.adv }

func (s *tlsStreamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	host, _, err := net.SplitHostPort(string(addr))
	if err != nil {
		return nil, err
	}
	cfg := s.cfg.Clone()
	cfg.ServerName = host
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: cfg}
	return d.Dial("tcp", string(addr))
}
