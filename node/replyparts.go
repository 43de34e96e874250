package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// Control API replies larger than one NATS message (a task check or a
// binlog-schema list over thousands of tables) go in parts. A reply that
// fits is one plain message, as before; a larger one is several messages
// to the request's reply subject, in order, each with the header
// replyPartHeader "i/n". The client reads them from its own inbox and
// joins them.

// replyPartHeader numbers the parts of a reply sent in parts: "i/n".
const replyPartHeader = "Dmnode-Reply-Part"

// maxReplyParts bounds what a client accepts: parts of about a megabyte.
const maxReplyParts = 4096

// replyRoom is what a part leaves of the server's maximum payload for the
// headers and the protocol line.
const replyRoom = 4 << 10

// partSize returns the bytes of each part on nc (a test may lower it).
var partSize = func(nc *nats.Conn) int { return int(nc.MaxPayload()) - replyRoom }

// respond answers m with data, in parts when it does not fit one message.
func respond(nc *nats.Conn, m *nats.Msg, data []byte) error {
	size := partSize(nc)
	if len(data) <= size || size <= 0 {
		return m.Respond(data)
	}
	n := (len(data) + size - 1) / size
	if n > maxReplyParts {
		err := fmt.Errorf("the reply of %d bytes is larger than %d parts of %d bytes", len(data), maxReplyParts, size)
		tooLarge, _ := json.Marshal(&Response{Error: err.Error()})
		_ = m.Respond(tooLarge)
		return err
	}
	for i := 0; i < n; i++ {
		part := &nats.Msg{Subject: m.Reply, Data: data[i*size : min(len(data), (i+1)*size)], Header: nats.Header{}}
		part.Header.Set(replyPartHeader, strconv.Itoa(i+1)+"/"+strconv.Itoa(n))
		if err := nc.PublishMsg(part); err != nil {
			return fmt.Errorf("reply part %d of %d: %w", i+1, n, err)
		}
	}
	return nil
}

// request sends data to subject and returns the reply's body, joined from
// its parts if it came in parts. No responders is nats.ErrNoResponders.
func request(ctx context.Context, nc *nats.Conn, subject string, data []byte) ([]byte, error) {
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := nc.PublishMsg(&nats.Msg{Subject: subject, Reply: inbox, Data: data}); err != nil {
		return nil, err
	}
	var body []byte
	for want, got := 0, 0; ; {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if got > 0 {
				return nil, fmt.Errorf("reply part %d of %d: %w", got+1, want, err)
			}
			return nil, err
		}
		if len(msg.Data) == 0 && msg.Header.Get("Status") == "503" {
			return nil, nats.ErrNoResponders
		}
		h := msg.Header.Get(replyPartHeader)
		if h == "" {
			if got > 0 {
				return nil, fmt.Errorf("reply part %d of %d: a reply not in parts came", got+1, want)
			}
			return msg.Data, nil
		}
		i, n, err := parsePart(h)
		if err != nil || i != got+1 || (want != 0 && n != want) {
			return nil, fmt.Errorf("reply part %q out of order after %d of %d", h, got, want)
		}
		want, got = n, i
		body = append(body, msg.Data...)
		if got == want {
			return body, nil
		}
	}
}

func parsePart(h string) (i, n int, err error) {
	a, b, ok := strings.Cut(h, "/")
	if !ok {
		return 0, 0, errors.New("no slash")
	}
	if i, err = strconv.Atoi(a); err != nil {
		return 0, 0, err
	}
	if n, err = strconv.Atoi(b); err != nil {
		return 0, 0, err
	}
	if i < 1 || n < i || n > maxReplyParts {
		return 0, 0, errors.New("out of range")
	}
	return i, n, nil
}
