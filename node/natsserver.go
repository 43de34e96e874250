package node

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startNATS starts the embedded NATS server with JetStream stored under the
// data dir. Every JetStream write is fsynced before it is acknowledged
// (SyncAlways): with the default two-minute sync interval acknowledged
// writes can be lost on power failure. Outside dev mode the server listens
// for routes from its peers and routes to the peers it knows.
// routePingInterval is how often a node pings the peers it routes to.
const routePingInterval = 2 * time.Second

// With creds every client must authenticate with one of the cluster's
// nkeys (and gets its role's permissions) and every route with the route
// password; routes use peerTLS (mutual TLS); the client port uses the
// operator's certificate when one is given and then refuses plaintext.
func startNATS(name string, cfg *Config, peers []string, creds *ClusterCreds, peerTLS *tls.Config) (*server.Server, error) {
	log := cfg.Log.With("component", "nats")
	opts := &server.Options{
		ServerName:         name,
		Host:               cfg.Host,
		Port:               cfg.NATSPort,
		JetStream:          true,
		StoreDir:           filepath.Join(cfg.DataDir, "jetstream"),
		SyncAlways:         true,
		NoSigs:             true,
		MaxPayload:         1 << 20,
		JetStreamMaxMemory: 256 << 20,
	}
	if !cfg.Dev {
		opts.Cluster = server.ClusterOpts{
			Name:      "dmnode",
			Host:      cfg.Host,
			Port:      cfg.ClusterPort,
			Advertise: fmt.Sprintf("%s:%d", cfg.advertise(), cfg.ClusterPort),
			// A peer that stops answering (frozen, cut off) loses its
			// routes within about four pings instead of the default
			// minute and a half: until then requests to the control
			// API's queue group may be handed to it and time out.
			PingInterval: routePingInterval,
			MaxPingsOut:  3,
			TLSConfig:    peerTLS,
			TLSTimeout:   5,
		}
		opts.ClientAdvertise = fmt.Sprintf("%s:%d", cfg.advertise(), cfg.NATSPort)
		// JetStream in cluster mode needs at least one route; a route to
		// itself, which the server recognises and drops, lets the first
		// node of a cluster start alone.
		self := fmt.Sprintf("nats-route://%s:%d", cfg.advertise(), cfg.ClusterPort)
		for _, p := range append(peers, self) {
			u, err := url.Parse(p)
			if err != nil {
				return nil, fmt.Errorf("peer route %q: %w", p, err)
			}
			if creds != nil {
				u.User = url.UserPassword(creds.RouteUser, creds.RoutePassword)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	if creds != nil {
		creds.serverAuth(opts)
	}
	if cfg.TLS.Cert != "" {
		tc, err := cfg.TLS.serverConfig("NATS client TLS")
		if err != nil {
			return nil, err
		}
		opts.TLS, opts.TLSConfig, opts.TLSTimeout = true, tc, 5
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configure nats server: %w", err)
	}
	ns.SetLoggerV2(natsLogger{log}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats server on %s:%d did not become ready (is the port in use?)", cfg.Host, cfg.NATSPort)
	}
	return ns, nil
}

// natsLogger passes the embedded server's warnings and errors to the node's
// log; its notices (a banner and routine events) are kept at debug level.
type natsLogger struct{ log *slog.Logger }

// Every line goes through RedactURL: a route URL carries the route password.
func (l natsLogger) Noticef(format string, v ...any) {
	l.log.Debug(RedactURL(fmt.Sprintf(format, v...)))
}
func (l natsLogger) Warnf(format string, v ...any) { l.log.Warn(RedactURL(fmt.Sprintf(format, v...))) }
func (l natsLogger) Fatalf(format string, v ...any) {
	l.log.Error(RedactURL(fmt.Sprintf(format, v...)))
}
func (l natsLogger) Errorf(format string, v ...any) {
	l.log.Error(RedactURL(fmt.Sprintf(format, v...)))
}
func (l natsLogger) Debugf(format string, v ...any) {
	l.log.Debug(RedactURL(fmt.Sprintf(format, v...)))
}
func (l natsLogger) Tracef(format string, v ...any) {}
