// Package cli is dmnode's command tree: it parses the command line, calls
// the control API of a node and prints the answer. It holds no logic of its
// own beyond presentation.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/nats-io/nats.go"

	"github.com/dmnode/dmnode/jetstream"
	"github.com/dmnode/dmnode/node"
)

// CLI is the root of the command tree. Flags of the root are accepted before
// or after the command words.
type CLI struct {
	Server  string `help:"NATS URL of any dmnode node (default: the context's, else nats://127.0.0.1:4222)." env:"DMNODE_SERVER"`
	Creds   string `help:"Credentials: an nkey seed file such as DATA_DIR/secrets/admin.nk or viewer.nk, or a NATS .creds file." env:"DMNODE_CREDS"`
	TLSCA   string `name:"tls-ca" help:"CA certificate (PEM). Clients: the CA of the server's certificate. start: also the CA every peer's certificate must be signed by." env:"DMNODE_TLS_CA"`
	TLSCert string `name:"tls-cert" help:"Certificate (PEM). start: the node's, for the NATS client port, routes, Raft and HTTP. Clients: a client certificate." env:"DMNODE_TLS_CERT"`
	TLSKey  string `name:"tls-key" help:"Private key of --tls-cert (PEM)." env:"DMNODE_TLS_KEY"`
	Context string `help:"Context file with the server, credentials and TLS settings (default: $XDG_CONFIG_HOME/dmnode/context.json; none: no context)." env:"DMNODE_CONTEXT"`
	// Deployment prefixes every subject, stream and bucket: nodes and the
	// CLI of one deployment must give the same.
	Deployment string `help:"Deployment name, for several dmnode deployments on one NATS account: prefixes every subject, stream and bucket; give nodes and CLI the same (letters, digits, '-')." env:"DMNODE_DEPLOYMENT"`

	Dev      DevCmd     `cmd:"" help:"Run one node with everything embedded (development and demos)."`
	Start    StartCmd   `cmd:"" help:"Run a cluster node; the first one without --join founds the cluster."`
	Cluster  ClusterCmd `cmd:"" help:"Join, inspect and shrink the cluster."`
	Source   SourceCmd  `cmd:"" help:"Manage upstream MySQL/MariaDB sources."`
	Task     TaskCmd    `cmd:"" help:"Check, submit and follow migration tasks."`
	Encrypt  EncryptCmd `cmd:"" help:"Encrypt a password for a task or source file, as dmctl encrypt does."`
	Keys     KeysCmd    `cmd:"" help:"Rotate and list the cluster keys that seal stored passwords."`
	CredsGen CredsCmd   `cmd:"" name:"creds" help:"Generate a cluster's credentials (nkeys per role, route password, internal CA)."`
	Ctx      ContextCmd `cmd:"" name:"context" help:"Save or show the client context: server, credentials, TLS."`

	BinlogSchema BinlogSchemaCmd `cmd:"" name:"binlog-schema" help:"See and set the schema tracked for an upstream table, by binlog position."`
	Validation   ValidationCmd   `cmd:"" help:"Follow a task's continuous validator (DM's validators) and settle the rows it found different."`
}

// Globals is what every command receives.
type Globals struct {
	Server string
	// Conn is the client's credentials and TLS settings; for start, TLS
	// is the node's own certificate.
	Conn node.ConnOptions
	// ServerGiven is set when --server or DMNODE_SERVER named the server.
	ServerGiven bool
	ContextFile string
	Out         io.Writer
	Err         io.Writer
}

// dial connects to the server with the client's credentials.
func (g *Globals) dial() (*node.Client, error) { return node.DialWith(g.Server, g.Conn) }

// exitRequest carries an exit code out of kong's --help handling, which
// would otherwise go on to run the command.
type exitRequest struct{ code int }

// Main runs the command line and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			code = e.code
		}
	}()
	var c CLI
	parser, err := kong.New(&c,
		kong.Name("dmnode"),
		kong.Description("dmnode migrates MySQL/MariaDB estates into TiDB or any MySQL-protocol target."),
		kong.Writers(stdout, stderr),
		kong.UsageOnError(),
		kong.Exit(func(code int) { panic(exitRequest{code}) }),
	)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return exitUsage
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		if kctx == nil || !strings.Contains(err.Error(), "help") {
			fmt.Fprintln(stderr, "error:", err)
		}
		return exitUsage
	}
	if kctx.Command() == "" {
		return 0
	}
	if err := jetstream.SetDeployment(c.Deployment); err != nil {
		fmt.Fprintln(stderr, "error: --deployment:", err)
		return exitUsage
	}
	g := &Globals{Server: c.Server, ServerGiven: c.Server != "", Out: stdout, Err: stderr,
		Conn: node.ConnOptions{Creds: c.Creds, TLS: node.TLSFiles{CA: c.TLSCA, Cert: c.TLSCert, Key: c.TLSKey}}}
	if err := g.applyContext(c.Context, kctx.Command()); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return exitUsage
	}
	if err := kctx.Run(g); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return exitCode(err)
	}
	return 0
}

// Exit statuses: scripts tell a refused or failed request from a command
// line they got wrong and from a cluster they cannot reach.
const (
	exitFailed      = 1 // the node refused or failed the request
	exitUsage       = 2 // the command line is wrong
	exitUnreachable = 4 // no dmnode answers at --server
	// 3 is task verify's "verified, not equal" (exitNotEqual).
)

func exitCode(err error) int {
	// A command may give its own exit status (task verify: 3 when the
	// tables differ).
	var coded interface{ ExitCode() int }
	var unreachable *node.UnreachableError
	switch {
	case errors.As(err, &coded):
		return coded.ExitCode()
	case errors.As(err, &unreachable), errors.Is(err, nats.ErrNoResponders):
		return exitUnreachable
	}
	return exitFailed
}

// readAttempt bounds each attempt of a read (node.ReadOnly), which is sent
// again when no answer came.
const readAttempt = 5 * time.Second

// call dials the server, calls one method and prints the server's warnings.
func call(g *Globals, method string, req *node.Request, timeout time.Duration) (*node.Response, error) {
	c, err := g.dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var resp *node.Response
	if node.ReadOnly(method) {
		// A read may be handed to a node that stopped answering but still
		// has its routes; asked again, another node answers.
		for {
			actx, acancel := context.WithTimeout(ctx, readAttempt)
			resp, err = c.Call(actx, method, req)
			acancel()
			if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
				break
			}
		}
	} else {
		resp, err = c.Call(ctx, method, req)
	}
	if resp != nil {
		for _, w := range resp.Warnings {
			fmt.Fprintln(g.Err, "warning:", w)
		}
	}
	return resp, err
}

// callAndReport calls one method and prints the node's report, also when
// the call failed (the report then says what was done before the failure).
func callAndReport(g *Globals, method string, req *node.Request, timeout time.Duration) error {
	resp, err := call(g, method, req, timeout)
	if resp != nil {
		printLines(g.Out, resp.Report)
	}
	return err
}

// readFiles reads configuration files; "-" is standard input.
func readFiles(paths []string) ([]node.File, error) {
	files := make([]node.File, 0, len(paths))
	for _, p := range paths {
		var data []byte
		var err error
		if p == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(p)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		files = append(files, node.File{Name: p, Data: string(data)})
	}
	return files, nil
}

func printLines(w io.Writer, lines []string) {
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}
