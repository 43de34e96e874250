package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/dmnode/dmnode/node"
)

// DevCmd runs a single node: embedded NATS with JetStream, a single-voter
// Raft, the control API and every actor.
type DevCmd struct {
	DataDir  string `help:"Directory for JetStream, Raft and the node's identity." default:"./dmnode-data" type:"path"`
	NATSPort int    `name:"nats-port" help:"NATS client port (the control API and --server)." default:"4222"`
	Host     string `help:"Address the NATS server listens on." default:"127.0.0.1"`
	LogLevel string `help:"debug, info, warn or error." default:"info" enum:"debug,info,warn,error"`
}

func (d *DevCmd) Run(g *Globals) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(d.LogLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(g.Err, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := node.Open(ctx, node.Config{DataDir: d.DataDir, Host: d.Host, NATSPort: d.NATSPort, Log: log})
	if err != nil {
		return err
	}
	runErr := n.Run(ctx)
	log.Info("stopping node")
	if err := n.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close node: %w", err)
	}
	return runErr
}
