package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/nats-io/nats.go"
)

// The CLI's client against a stand-in NATS server that speaks just enough
// of the client protocol (INFO, CONNECT, PING, SUB, PUB and the replies):
// what the client makes of each answer, each refusal and each silence.

// fakeReply is how the stand-in answers a request.
type fakeReply struct {
	resp         *Response // a reply carrying this response
	raw          string    // or this payload
	noResponders bool      // or the server's "no responders" status
	denied       bool      // or a permissions violation of the publish
	hangUp       bool      // or it closes the connection
}

type fakeNATS struct {
	t    *testing.T
	ln   net.Listener
	info map[string]any
	// connectErr, when set, answers CONNECT with this -ERR.
	connectErr string
	answer     func(subject string, data []byte) fakeReply

	mu       sync.Mutex
	subjects []string
	wg       sync.WaitGroup
}

func startFakeNATS(t *testing.T, answer func(subject string, data []byte) fakeReply) *fakeNATS {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	f := &fakeNATS{t: t, ln: ln, answer: answer, info: map[string]any{
		"server_id": "FAKE", "server_name": "n1", "version": "2.11.0", "proto": 1, "go": "go1.26",
		"host": "127.0.0.1", "port": port, "headers": true, "max_payload": 1 << 20,
	}}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(func() {
		ln.Close()
		f.wg.Wait()
	})
	return f
}

func (f *fakeNATS) url() string { return "nats://" + f.ln.Addr().String() }

// asked lists the subjects requests were published to.
func (f *fakeNATS) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.subjects...)
}

func (f *fakeNATS) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer c.Close()
			f.conn(c)
		}()
	}
}

func (f *fakeNATS) conn(c net.Conn) {
	info, _ := json.Marshal(f.info)
	w := bufio.NewWriter(c)
	send := func(s string) bool {
		w.WriteString(s)
		return w.Flush() == nil
	}
	if !send("INFO " + string(info) + "\r\n") {
		return
	}
	r := bufio.NewReader(c)
	sids := map[string]string{} // subscription subject → sid
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "CONNECT":
			if f.connectErr != "" {
				send("-ERR '" + f.connectErr + "'\r\n")
				return
			}
		case "PING":
			if !send("PONG\r\n") {
				return
			}
		case "SUB":
			sids[fields[1]] = fields[len(fields)-1]
		case "PUB", "HPUB":
			subject, reply := fields[1], fields[2]
			size, _ := strconv.Atoi(fields[len(fields)-1])
			hdr := 0
			if strings.ToUpper(fields[0]) == "HPUB" {
				hdr, _ = strconv.Atoi(fields[len(fields)-2])
			}
			buf := make([]byte, size+2)
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
			f.mu.Lock()
			f.subjects = append(f.subjects, subject)
			f.mu.Unlock()
			a := f.answer(subject, buf[hdr:size])
			sid, ok := sids[reply] // the request's own inbox
			if !ok {
				sid = sids[reply[:strings.LastIndex(reply, ".")]+".*"] // a response multiplexer's
			}
			switch {
			case a.hangUp:
				return
			case a.denied:
				send(fmt.Sprintf("-ERR 'Permissions Violation for Publish to \"%s\"'\r\n", subject))
			case a.noResponders:
				h := "NATS/1.0 503\r\n\r\n"
				send(fmt.Sprintf("HMSG %s %s %d %d\r\n%s\r\n", reply, sid, len(h), len(h), h))
			default:
				data := []byte(a.raw)
				if a.resp != nil {
					data, _ = json.Marshal(a.resp)
				}
				send(fmt.Sprintf("MSG %s %s %d\r\n%s\r\n", reply, sid, len(data), data))
			}
		}
	}
}

// A call returns the node's response; an error the node reports is the
// call's error, with the response (its warnings); an answer that is not a
// response is named.
func TestClientCall(t *testing.T) {
	f := startFakeNATS(t, func(subject string, data []byte) fakeReply {
		var req Request
		if err := json.Unmarshal(data, &req); err != nil {
			return fakeReply{raw: "not json"}
		}
		switch subject {
		case apiPrefix() + "task.status":
			return fakeReply{resp: &Response{Report: []string{"status of " + req.Name}}}
		case apiPrefix() + "task.stop":
			return fakeReply{resp: &Response{Error: "task " + req.Name + " not found", Warnings: []string{"w"}}}
		}
		return fakeReply{raw: "{"}
	})
	c, err := Dial(f.url())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	resp, err := c.Call(ctx, "task.status", &Request{Name: "t"})
	if err != nil || len(resp.Report) != 1 || resp.Report[0] != "status of t" {
		t.Fatalf("status: %+v, %v", resp, err)
	}
	resp, err = c.Call(ctx, "task.stop", &Request{Name: "nope"})
	if err == nil || err.Error() != "task nope not found" || resp == nil || len(resp.Warnings) != 1 {
		t.Errorf("a refusal: %+v, %v", resp, err)
	}
	_, err = c.Call(ctx, "task.list", &Request{})
	wantErr(t, "an answer that is no response", err, "task.list: decode response:")
}

// A request nobody serves, one the credentials may not send, and one the
// server hangs up on, each come back as an error that says so.
func TestClientCallRefused(t *testing.T) {
	f := startFakeNATS(t, func(subject string, _ []byte) fakeReply {
		switch strings.TrimPrefix(subject, apiPrefix()) {
		case "task.stop":
			return fakeReply{denied: true}
		case "task.status":
			return fakeReply{denied: true}
		case "cluster.leave":
			return fakeReply{hangUp: true}
		}
		return fakeReply{noResponders: true}
	})
	c, err := Dial(f.url())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()

	_, err = c.Call(ctx, "task.list", &Request{})
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("no responders: %v, want one matching nats.ErrNoResponders", err)
	}
	wantErr(t, "no responders", err, "task.list: no dmnode at nats://"+f.ln.Addr().String())

	_, err = c.Call(ctx, "task.stop", &Request{Name: "t"})
	var pe *PermissionError
	if !errors.As(err, &pe) || pe.Method != "task.stop" || !errors.Is(err, nats.ErrPermissionViolation) {
		t.Fatalf("denied: %v", err)
	}
	wantErr(t, "a write denied", err, "task.stop needs the admin role")
	_, err = c.Call(ctx, "task.status", &Request{Name: "t"})
	wantErr(t, "a read denied", err, "task.status needs the viewer or admin role")

	_, err = c.Call(ctx, "cluster.leave", &Request{})
	wantErr(t, "a hang-up", err, "cluster.leave: the connection to "+f.url()+" closed before an answer came")
}

// CallNode without a name asks the node whose server the client is
// connected to, found among the members; behind a server that is no
// member (an external NATS) it asks for the node to be named.
func TestClientCallNode(t *testing.T) {
	members := []MemberStatus{{Member: catalog.Member{ID: "n1"}}, {Member: catalog.Member{ID: "n2"}}}
	f := startFakeNATS(t, func(subject string, _ []byte) fakeReply {
		if subject == apiPrefix()+"cluster.status" {
			return fakeReply{resp: &Response{Members: members}}
		}
		return fakeReply{resp: &Response{Report: []string{subject}}}
	})
	c, err := Dial(f.url())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	resp, err := c.CallNode(ctx, "", "node.health", &Request{})
	if err != nil || resp.Report[0] != nodeSubject("n1")+"node.health" {
		t.Errorf("the connected node: %+v, %v", resp, err)
	}
	resp, err = c.CallNode(ctx, "n2", "node.health", &Request{})
	if err != nil || resp.Report[0] != nodeSubject("n2")+"node.health" {
		t.Errorf("a named node: %+v, %v", resp, err)
	}
	members = []MemberStatus{{Member: catalog.Member{ID: "a"}}, {Member: catalog.Member{ID: "b"}}}
	_, err = c.CallNode(ctx, "", "node.health", &Request{})
	wantErr(t, "an external NATS", err, `node.health: the NATS server at `+f.url()+` ("n1") is not a dmnode node`)
	wantErr(t, "an external NATS", err, "one of [a b]")
}

// Dial says why it could not connect: nothing listening (with the way
// out, and no password shown), credentials refused, or a credentials file
// that cannot be read.
func TestClientDialErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Dial("nats://admin:s3cret@" + addr)
	var ue *UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("nothing listening: %v", err)
	}
	wantErr(t, "nothing listening", err, "no NATS server answers at nats://admin:xxxxx@"+addr)
	wantErr(t, "nothing listening", err, "dmnode dev")
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the password shows: %v", err)
	}

	f := startFakeNATS(t, nil)
	f.connectErr = "Authorization Violation"
	_, err = Dial(f.url())
	if errors.As(err, &ue) || !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("credentials refused: %v", err)
	}
	wantErr(t, "credentials refused", err, "connect to "+f.url()+": ")
	wantErr(t, "credentials refused", err, "give them with --creds FILE")

	missing := filepath.Join(t.TempDir(), "none.creds")
	_, err = DialWith(f.url(), ConnOptions{Creds: missing})
	wantErr(t, "a missing credentials file", err, "credentials: open "+missing)
	if _, statErr := os.Stat(missing); statErr == nil {
		t.Error("the credentials file exists")
	}
}

// The errors' messages and what they match.
func TestClientErrors(t *testing.T) {
	e := &noResponderError{method: "task.list", url: "nats://h:4222"}
	if !errors.Is(e, nats.ErrNoResponders) || !strings.Contains(e.Error(), "no dmnode node serves the control API") {
		t.Errorf("%v", e)
	}
	ue := &UnreachableError{URL: "nats://h:4222", Err: context.DeadlineExceeded}
	if !errors.Is(ue, context.DeadlineExceeded) {
		t.Errorf("%v does not match its cause", ue)
	}
}
