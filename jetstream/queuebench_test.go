package jetstream

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/dmnode/dmnode/tests/harness"
)

// BenchmarkSnapshotQueue moves a full copy's messages through the
// snapshot queue as a node does: three sources (eight in-process too), two
// publishers and one acknowledging consumer each, 1 MiB messages, the
// server fsyncing every write, client and server in one process. It
// reports MB/s and the process's CPU per 100 MB (what the node spends on
// the queue alone), with the client connected over loopback TCP and
// in-process.
func BenchmarkSnapshotQueue(b *testing.B) {
	for _, bc := range []struct {
		inproc  bool
		sources int
	}{{false, 3}, {true, 3}, {true, 8}} {
		name := "tcp"
		if bc.inproc {
			name = "inproc"
		}
		b.Run(fmt.Sprintf("%s/sources=%d", name, bc.sources), func(b *testing.B) { benchQueue(b, bc.inproc, bc.sources) })
	}
}

func benchQueue(b *testing.B, inproc bool, sources int) {
	const publishers, size = 2, 1<<20 - 4096
	srv, _ := harness.StartNATS(b, "", func(o *server.Options) {
		o.MaxPayload = 1 << 20
		o.SyncAlways = true
	})
	var opts []nats.Option
	if inproc {
		opts = append(opts, nats.InProcessServer(srv))
	}
	nc, err := nats.Connect(srv.ClientURL(), opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	store, err := Open(ctx, nc, 1)
	if err != nil {
		b.Fatal(err)
	}
	q, err := store.SnapshotQueue(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte('0' + i%43)
	}
	per := max(b.N/sources, 1)
	cpu0 := processCPU()
	b.SetBytes(size)
	b.ResetTimer()
	began := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for s := range sources {
		src := fmt.Sprintf("s%d", s)
		var next sync.Mutex
		left := per
		for range publishers {
			g.Go(func() error {
				for {
					next.Lock()
					if left == 0 {
						next.Unlock()
						return nil
					}
					left--
					next.Unlock()
					if err := q.Publish(gctx, src, "", data); err != nil {
						return err
					}
				}
			})
		}
		g.Go(func() error {
			cons, err := q.Consume(gctx, src, 1, 16, 2)
			if err != nil {
				return err
			}
			defer cons.Stop()
			for got := 0; got < per; {
				m, ok, err := cons.Next(time.Second)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				if len(m.Data()) != size {
					return fmt.Errorf("message of %d bytes, want %d", len(m.Data()), size)
				}
				if err := m.Ack(gctx); err != nil {
					return err
				}
				got++
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	mb := float64(per*sources*size) / 1e6
	b.ReportMetric(mb/time.Since(began).Seconds(), "MB/s")
	b.ReportMetric((processCPU()-cpu0).Seconds()/mb*100, "CPU-s/100MB")
}

// processCPU is the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
