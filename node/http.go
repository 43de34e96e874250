package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpServer is the node's HTTP listener; close waits for it to stop.
type httpServer struct {
	srv     *http.Server
	done    chan struct{}
	stopAPI func()
}

func (h *httpServer) Close() error {
	err := h.srv.Close()
	<-h.done
	h.stopAPI()
	return err
}

// serveHTTP serves the node's HTTP port: /healthz (liveness) answers 200
// while the node runs, whatever its cluster's state, since restarting it
// cures neither a lost quorum nor a NATS outage; /readyz (readiness)
// answers 200 only while the node is a Raft member that knows a leader and
// JetStream answers it, 503 with the reason otherwise; /metrics serves the node's Prometheus
// metrics (see metrics.go); with Config.Pprof, /debug/pprof/ serves Go's
// profiler; the HTTP API, /api/v1/openapi.json and the web console at /
// are mounted by mountAPI.
func (n *Node) serveHTTP() (*httpServer, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
		// A scrape reads progress from JetStream; a couple at a time is plenty.
		MaxRequestsInFlight: 2,
		Timeout:             2 * scrapeTimeout,
	}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		_, leader := n.raft.LeaderWithID()
		fmt.Fprintf(w, "alive: node %s, leader %q\n", n.id, leader)
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if why := n.notReady(); why != "" {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		_, leader := n.raft.LeaderWithID()
		fmt.Fprintf(w, "ready: node %s, leader %s, jetstream ok\n", n.id, leader)
	})
	if n.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	stopAPI := n.mountAPI(mux) // the HTTP API, its OpenAPI document and the console (httpapi.go)
	ln, err := n.httpListener()
	if err != nil {
		stopAPI()
		return nil, err
	}
	h := &httpServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, done: make(chan struct{}), stopAPI: stopAPI}
	go func() {
		defer close(h.done)
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server", "err", err)
		}
	}()
	return h, nil
}

// httpListener listens on Config.HTTPHost (loopback unless told
// otherwise), with TLS when the node has a certificate (--tls-cert).
func (n *Node) httpListener() (net.Listener, error) {
	host := n.cfg.HTTPHost
	if host == "" {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, fmt.Sprint(n.cfg.HTTPPort))
	if n.cfg.TLS.Cert != "" {
		tc, err := n.cfg.TLS.serverConfig("HTTP TLS")
		if err != nil {
			return nil, err
		}
		ln, err := tls.Listen("tcp", addr, tc)
		if err != nil {
			return nil, fmt.Errorf("listen for https on %s: %w", addr, err)
		}
		return ln, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for http on %s: %w", addr, err)
	}
	return ln, nil
}
