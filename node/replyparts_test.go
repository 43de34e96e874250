package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dmnode/dmnode/tests/harness"
)

// A reply larger than the server's maximum payload arrives whole, in
// parts; one that fits is one plain message; no responders and a reply
// too large for the parts are errors, not a wait for the timeout.
func TestReplyInParts(t *testing.T) {
	_, nc := harness.StartNATS(t, "")
	max := int(nc.MaxPayload())
	bodies := map[string][]byte{
		"small": []byte(`{"report":["ok"]}`),
		"big":   bytes.Repeat([]byte("0123456789abcdef"), (3*max+12345)/16), // four parts
		"exact": bytes.Repeat([]byte("x"), partSize(nc)),
	}
	for name, body := range bodies {
		sub, err := nc.Subscribe("test.api."+name, func(m *nats.Msg) {
			if err := respond(nc, m, body); err != nil {
				t.Errorf("respond %s: %v", name, err)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for name, body := range bodies {
		got, err := request(ctx, nc, "test.api."+name, []byte("{}"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got, body) {
			t.Errorf("%s: got %d bytes, want %d, equal prefix %v", name, len(got), len(body), bytes.HasPrefix(body, got))
		}
	}
	if _, err := request(ctx, nc, "test.api.nobody", []byte("{}")); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("no responders: %v", err)
	}

	// More parts than a client accepts: the server says so in one reply.
	old := partSize
	partSize = func(*nats.Conn) int { return 10 }
	defer func() { partSize = old }()
	huge := bytes.Repeat([]byte("y"), 10*maxReplyParts+1)
	sub, err := nc.Subscribe("test.api.huge", func(m *nats.Msg) {
		if err := respond(nc, m, huge); err == nil {
			t.Error("respond with too many parts: no error")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	got, err := request(ctx, nc, "test.api.huge", []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	var resp Response
	if err := json.Unmarshal(got, &resp); err != nil || !strings.Contains(resp.Error, "larger than") {
		t.Errorf("too large: %q %v", got, err)
	}
}

// The parts' headers are checked: numbered from 1, in order, n fixed.
func TestParsePart(t *testing.T) {
	for _, c := range []struct {
		in   string
		i, n int
		ok   bool
	}{
		{"1/1", 1, 1, true},
		{"3/7", 3, 7, true},
		{"0/2", 0, 0, false},
		{"3/2", 0, 0, false},
		{"1", 0, 0, false},
		{"a/2", 0, 0, false},
		{"1/99999", 0, 0, false},
	} {
		i, n, err := parsePart(c.in)
		if (err == nil) != c.ok || i != c.i || n != c.n {
			t.Errorf("parsePart(%q) = %d, %d, %v", c.in, i, n, err)
		}
	}
}
