package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Client calls the control API of any node.
type Client struct {
	nc  *nats.Conn
	url string // redacted
	// denied receives the server's permission violations.
	denied chan error
}

// Dial connects to a node's NATS URL without credentials.
func Dial(url string) (*Client, error) { return DialWith(url, ConnOptions{}) }

// DialWith connects to a node's NATS URL with the given credentials and
// TLS settings.
func DialWith(url string, o ConnOptions) (*Client, error) {
	extra, err := o.natsOptions()
	if err != nil {
		return nil, err
	}
	c := &Client{url: RedactURL(url), denied: make(chan error, 16)}
	opts := append([]nats.Option{nats.Name("dmnode-cli"), nats.Timeout(5 * time.Second), nats.MaxReconnects(0),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				select {
				case c.denied <- err:
				default:
				}
			}
		})}, extra...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		err = connectError(err)
		if errors.Is(err, nats.ErrAuthorization) || strings.Contains(err.Error(), "TLS") {
			return nil, fmt.Errorf("connect to %s: %w", c.url, err)
		}
		return nil, &UnreachableError{URL: c.url, Err: err}
	}
	c.nc = nc
	return c, nil
}

// PermissionError says that the server refused a request because the
// client's credentials may not publish to its subject.
type PermissionError struct {
	Method, Subject string
	Err             error
}

func (e *PermissionError) Error() string {
	need := RoleAdmin
	if ReadOnly(e.Method) {
		need = RoleViewer + " or " + RoleAdmin
	}
	return fmt.Sprintf("%s: permission denied: these credentials may not publish to %s (%v); %s needs the %s role", e.Method, e.Subject, e.Err, e.Method, need)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// CallNode sends a request to one node's own subject: the node named, or,
// when name is empty, the node whose embedded NATS server the client is
// connected to. Behind an external NATS (--nats-url) the server is no
// node, and any node may answer: the node must be named then.
func (c *Client) CallNode(ctx context.Context, name, method string, req *Request) (*Response, error) {
	if name == "" {
		server := c.nc.ConnectedServerName()
		resp, err := c.Call(ctx, "cluster.status", &Request{})
		if err != nil {
			return nil, err
		}
		var ids []string
		for _, m := range resp.Members {
			if m.ID == server {
				name = server
			}
			ids = append(ids, m.ID)
		}
		if name == "" {
			return nil, fmt.Errorf("%s: the NATS server at %s (%q) is not a dmnode node: the nodes use an external NATS, so name the node (one of %v)",
				method, c.nc.ConnectedUrlRedacted(), server, ids)
		}
	}
	return c.call(ctx, nodeSubject(name)+method, req)
}

// Close closes the connection.
func (c *Client) Close() { c.nc.Close() }

// Call sends a request and returns the response; a failure the server
// reports comes back as an error, with the response (for warnings).
func (c *Client) Call(ctx context.Context, method string, req *Request) (*Response, error) {
	return c.call(ctx, apiPrefix()+method, req)
}

func (c *Client) call(ctx context.Context, subject string, req *Request) (*Response, error) {
	method := subject[strings.LastIndex(subject, ".api.")+len(".api."):]
	data, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	// A node that stops (cluster leave) may take its server, and so the
	// connection, away before its answer arrives: give up then, too.
	closed := c.nc.StatusChanged(nats.CLOSED)
	defer c.nc.RemoveStatusListener(closed)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	refused := make(chan error, 1)
	go func() {
		for {
			select {
			case err := <-c.denied:
				if strings.Contains(err.Error(), `"`+subject+`"`) {
					refused <- err
					cancel()
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	reply, err := request(ctx, c.nc, subject, data)
	if err != nil {
		select {
		case denied := <-refused:
			return nil, &PermissionError{Method: method, Subject: subject, Err: denied}
		default:
		}
	}
	if err != nil && c.nc.IsClosed() {
		return nil, fmt.Errorf("%s: the connection to %s closed before an answer came", method, c.url)
	}
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, &noResponderError{method: method, url: c.nc.ConnectedUrlRedacted()}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	var resp Response
	if err := json.Unmarshal(reply, &resp); err != nil {
		return nil, fmt.Errorf("%s: decode response: %w", method, err)
	}
	if resp.Error != "" {
		return &resp, errors.New(resp.Error)
	}
	return &resp, nil
}

// UnreachableError says that nothing answered at the URL the client was
// pointed at: neither a dmnode node's embedded NATS server nor an external
// NATS server. (A NATS server that answers while no dmnode serves behind
// it is a noResponderError.)
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("no NATS server answers at %s (%v), so no dmnode either: start one with `dmnode dev`, or pass --server (or DMNODE_SERVER) with a node's NATS URL", e.URL, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// noResponderError says that no node serves the control API behind the
// server the client is connected to; it matches nats.ErrNoResponders, so
// callers can wait for the API to come up.
type noResponderError struct{ method, url string }

func (e *noResponderError) Error() string {
	return fmt.Sprintf("%s: no dmnode at %s: its NATS server answered, but no dmnode node serves the control API behind it (nodes starting, stopped, or connected to another NATS)", e.method, e.url)
}

func (e *noResponderError) Unwrap() error { return nats.ErrNoResponders }
