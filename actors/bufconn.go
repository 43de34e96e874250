package actors

import (
	"bufio"
	"context"
	"errors"
	"net"
	"syscall"
)

// connReadBuffer is how much of a server's output a connection reads at
// once. The driver reads into its own 4 KiB buffer unless a packet is
// larger, so a dump of small rows cost a system call per 4 KiB. Read 64
// KiB at a time, 100k sysbench rows cost the reader 0.062-0.076 CPU-s
// instead of 0.075-0.079 (BenchmarkSourceRead, 3 runs each).
const connReadBuffer = 64 << 10

// dialBuffered connects to addr as the driver would and buffers what the
// connection reads (connReadBuffer).
func dialBuffered(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer // keep-alive probes on, as the driver sets them
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, connReadBuffer)}, nil
}

// bufferedConn is a connection whose reads go through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// SyscallConn is the socket's, so that the driver can still check a
// pooled connection for a server that closed it while it was idle (it
// peeks at the socket; an idle connection has nothing buffered).
func (c *bufferedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}
