package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/node"
)

// DevCmd runs a single node: embedded NATS with JetStream, a single-voter
// Raft, the control API and every actor.
type DevCmd struct {
	DataDir   string `help:"Directory for JetStream, Raft and the node's identity." default:"./dmnode-data" type:"path"`
	NATSPort  int    `name:"nats-port" help:"NATS client port (the control API and --server)." default:"4222"`
	HTTPPort  int    `name:"http-port" help:"Port for /healthz and /metrics; 0 disables." default:"0"`
	Pprof     bool   `help:"Also serve Go's profiler at /debug/pprof/ on --http-port (for performance work; exposes internals)."`
	Host      string `help:"Loopback address the NATS server listens on (dev mode has no authentication: it never listens beyond this machine)." default:"127.0.0.1"`
	LogLevel  string `help:"debug, info, warn or error." default:"info" enum:"debug,info,warn,error"`
	LogFormat string `help:"json, text, or auto: text on a terminal, json otherwise." default:"auto" enum:"auto,json,text"`
}

func (d *DevCmd) Run(g *Globals) error {
	if ip := net.ParseIP(d.Host); d.Host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("dev mode runs without authentication and listens on loopback only, not on %s: run `dmnode start` for a node others can reach", d.Host)
	}
	return runNode(g, node.Config{Dev: true, DataDir: d.DataDir, Host: d.Host, NATSPort: d.NATSPort, HTTPPort: d.HTTPPort, Pprof: d.Pprof}, d.LogLevel, d.LogFormat)
}

// StartCmd runs a cluster node. The first node started without --join
// founds a cluster; a node restarted on its data dir rejoins by itself.
type StartCmd struct {
	Name             string        `help:"Node name, kept in the data dir (default: host name and a random suffix)."`
	DataDir          string        `help:"Directory for JetStream, Raft and the node's identity." default:"./dmnode-data" type:"path"`
	Host             string        `help:"Address every listener binds." default:"127.0.0.1"`
	Advertise        string        `help:"Address peers and clients reach this node at (default: --host)."`
	NATSPort         int           `name:"nats-port" help:"NATS client port of the embedded server (the control API and --server); default 4222. Not with --nats-url."`
	ClusterPort      int           `help:"NATS route port between the embedded servers; default 6222. Not with --nats-url."`
	RaftPort         int           `help:"Raft port." default:"7222"`
	HTTPPort         int           `name:"http-port" help:"Port for /healthz and /metrics; 0 disables." default:"8290"`
	Pprof            bool          `help:"Also serve Go's profiler at /debug/pprof/ on --http-port (for performance work; exposes internals)."`
	Join             string        `help:"Client URL of any member, to join its cluster on first start (e.g. nats://10.0.0.5:4222). Not with --nats-url, where nodes find their cluster on the NATS."`
	NATSURL          string        `name:"nats-url" help:"Use this existing NATS cluster instead of the embedded server: one URL, or several separated by commas (nats://a:4222,nats://b:4222), tried in turn; see docs/operations.md." env:"DMNODE_NATS_URL"`
	Replicas         int           `help:"Replicas of every JetStream stream and bucket dmnode creates (1 to 5): with the embedded servers one per node up to this; on an external cluster this many, which needs as many JetStream servers." default:"3"`
	NATSCreds        string        `name:"nats-creds" help:"With --nats-url: a NATS credentials file (user JWT and seed)." env:"DMNODE_NATS_CREDS"`
	NATSNKey         string        `name:"nats-nkey" help:"With --nats-url: an nkey seed file." env:"DMNODE_NATS_NKEY"`
	NATSUser         string        `name:"nats-user" help:"With --nats-url: user name." env:"DMNODE_NATS_USER"`
	NATSPasswordFile string        `name:"nats-password-file" help:"With --nats-url: file holding the user's password (or DMNODE_NATS_PASSWORD)." type:"path"`
	NATSTLSCA        string        `name:"nats-tls-ca" help:"With --nats-url: CA of the NATS servers' certificates." env:"DMNODE_NATS_TLS_CA"`
	NATSTLSCert      string        `name:"nats-tls-cert" help:"With --nats-url: client certificate." env:"DMNODE_NATS_TLS_CERT"`
	NATSTLSKey       string        `name:"nats-tls-key" help:"With --nats-url: key of --nats-tls-cert." env:"DMNODE_NATS_TLS_KEY"`
	JSDomain         string        `name:"js-domain" help:"With --nats-url: the JetStream domain dmnode's streams and bucket live in, where the NATS runs JetStream in domains (a hub and leaf nodes)." env:"DMNODE_JS_DOMAIN"`
	ClusterCreds     string        `name:"cluster-creds" help:"The cluster's credentials (DATA_DIR/secrets/cluster.auth of a member, or from dmnode creds generate); needed to join. Without it the founding node generates them." env:"DMNODE_CLUSTER_CREDS"`
	HTTPHost         string        `name:"http-host" help:"Address the HTTP port (/healthz, /metrics, pprof) binds." default:"127.0.0.1"`
	HeartbeatTimeout time.Duration `help:"How long a node may stay silent before its actors move." default:"5s"`
	LogLevel         string        `help:"debug, info, warn or error." default:"info" enum:"debug,info,warn,error"`
	LogFormat        string        `help:"json, text, or auto: text on a terminal, json otherwise." default:"auto" enum:"auto,json,text"`
}

func (s *StartCmd) Run(g *Globals) error {
	if s.NATSURL != "" && (s.NATSPort != 0 || s.ClusterPort != 0) {
		return usageError{fmt.Errorf("--nats-port and --cluster-port configure the embedded NATS server, which does not run with --nats-url: drop them")}
	}
	if s.NATSURL != "" && s.Join != "" {
		return usageError{fmt.Errorf("--join is for the embedded NATS servers: with --nats-url a node finds its cluster on that NATS by itself (the first founds it, the others join): drop --join")}
	}
	if s.JSDomain != "" && s.NATSURL == "" {
		return usageError{fmt.Errorf("--js-domain names a JetStream domain of an external NATS: it applies only with --nats-url")}
	}
	if err := jetstream.SetDomain(s.JSDomain); err != nil {
		return usageError{fmt.Errorf("--js-domain: %w", err)}
	}
	if s.Replicas < 1 || s.Replicas > 5 {
		return usageError{fmt.Errorf("--replicas %d: JetStream replicates a stream 1 to 5 times", s.Replicas)}
	}
	if s.NATSURL == "" {
		s.NATSPort, s.ClusterPort = cmp.Or(s.NATSPort, 4222), cmp.Or(s.ClusterPort, 6222)
	}
	cfg := node.Config{
		Name: s.Name, DataDir: s.DataDir, Host: s.Host, Advertise: s.Advertise,
		NATSPort: s.NATSPort, ClusterPort: s.ClusterPort, RaftPort: s.RaftPort, HTTPPort: s.HTTPPort, Pprof: s.Pprof,
		Join: s.Join, NATSURL: s.NATSURL, HeartbeatTimeout: s.HeartbeatTimeout, Replicas: s.Replicas,
		ClusterCreds: s.ClusterCreds, TLS: g.Conn.TLS, HTTPHost: s.HTTPHost,
	}
	nats := node.ConnOptions{Creds: s.NATSCreds, NKey: s.NATSNKey, User: s.NATSUser,
		TLS: node.TLSFiles{CA: s.NATSTLSCA, Cert: s.NATSTLSCert, Key: s.NATSTLSKey}}
	if s.NATSPasswordFile != "" {
		b, err := os.ReadFile(s.NATSPasswordFile)
		if err != nil {
			return fmt.Errorf("--nats-password-file: %w", err)
		}
		nats.Password = strings.TrimRight(string(b), "\r\n")
	} else {
		nats.Password = os.Getenv("DMNODE_NATS_PASSWORD")
	}
	if s.NATSURL == "" && (nats.Creds != "" || nats.NKey != "" || nats.User != "" || nats.TLS != node.TLSFiles{}) {
		return usageError{fmt.Errorf("--nats-creds, --nats-nkey, --nats-user and --nats-tls-* apply only with --nats-url")}
	}
	cfg.NATS = nats
	return runNode(g, cfg, s.LogLevel, s.LogFormat)
}

// usageError is a command line that does not make sense: exit status 2.
type usageError struct{ error }

func (usageError) ExitCode() int { return exitUsage }

// memoryLimit is the node's default soft memory limit (GOMEMLIMIT
// overrides it).
const memoryLimit = 256 << 20

func runNode(g *Globals, cfg node.Config, levelName, format string) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(levelName)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	cfg.Log = slog.New(logHandler(g.Err, format, level))
	if cfg.Dev {
		cfg.Log.Warn("dev mode: no authentication and no TLS; listening on " + cfg.Host + " only, for development and demos (use `dmnode start` for anything else)")
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit: the collector works harder before the heap (most
		// of it relayed batches cached by JetStream and waiting in
		// appliers) grows past it, and not at all below it.
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := node.Open(ctx, cfg)
	if err != nil {
		return err
	}
	runErr := n.Run(ctx)
	cfg.Log.Info("stopping node")
	if err := n.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close node: %w", err)
	}
	return runErr
}

func logHandler(w io.Writer, format string, level slog.Level) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}
