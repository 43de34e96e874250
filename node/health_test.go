package node

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dmnode/dmnode/core/catalog"
)

// JetStream turns unavailable after probeFailures failed probes (at once
// when the connection is down), and its return wakes the waiting actors.
func TestHealthTransitions(t *testing.T) {
	n := &Node{id: "n1", log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	h := newHealth(n)
	h.natsUp = true
	if up, _, _ := h.available(); up {
		t.Fatal("available before any probe")
	}
	h.setJetStream(true, "")
	if up, _, _ := h.available(); !up {
		t.Fatal("not available after a good probe")
	}
	h.setJetStream(false, "slow")
	if up, _, _ := h.available(); !up {
		t.Fatal("one failed probe made it unavailable")
	}
	woken := h.woken()
	h.setJetStream(false, "no quorum")
	up, since, cause := h.available()
	if up || cause != "no quorum" || time.Since(since) > time.Second {
		t.Fatalf("after two failed probes: up %v, since %v, cause %q", up, since, cause)
	}
	select {
	case <-woken:
		t.Fatal("woken by an outage")
	default:
	}
	h.setJetStream(true, "")
	select {
	case <-woken:
	default:
		t.Fatal("the actors were not woken when jetstream returned")
	}
	// A lost connection makes it unavailable at once.
	h.natsUp = false
	h.setJetStream(false, "nats connection lost")
	if up, _, _ := h.available(); up {
		t.Fatal("still available with the connection down")
	}
}

func TestRelayUnavailable(t *testing.T) {
	st := &catalog.State{Assign: map[string]catalog.Assignment{
		"tail/s1":     {Node: "n2"},
		"apply/t1/s1": {Node: "n3"},
		"tail/s2":     {Node: "n4"},
		"apply/t2/s1": {Node: "n4"},
		"apply/t1/s2": {Node: "n4"},
	}}
	down := func(id string) NodeHealth {
		return NodeHealth{Node: id, JetStreamSince: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), JetStreamCause: "no quorum"}
	}
	ok := func(id string) NodeHealth { return NodeHealth{Node: id, JetStream: true} }
	cases := []struct {
		name string
		hs   map[string]NodeHealth
		want string
	}{
		{"all up", map[string]NodeHealth{"n1": ok("n1"), "n2": ok("n2"), "n3": ok("n3"), "n4": down("n4")}, ""},
		{"the answering node", map[string]NodeHealth{"n1": down("n1"), "n2": ok("n2")}, "seen by node n1"},
		{"the applier's node", map[string]NodeHealth{"n1": ok("n1"), "n2": ok("n2"), "n3": down("n3")}, "seen by node n3"},
		{"a node that did not answer says nothing", map[string]NodeHealth{"n1": ok("n1"), "n2": {Node: "n2", Error: "timeout"}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := relayUnavailable(st, "t1", "s1", "n1", tc.hs)
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("got %q, want one with %q", got, tc.want)
			}
			if tc.want != "" && !strings.HasPrefix(got, "relay unavailable since 2026-01-02T03:04:05Z: no quorum") {
				t.Fatalf("got %q", got)
			}
		})
	}
}

func TestUnrecordedError(t *testing.T) {
	t0 := time.Now()
	hs := map[string]NodeHealth{
		"n1": {Unrecorded: []ActorError{{Actor: "tail/s1", Error: "old", Time: t0}, {Actor: "apply/t2/s1", Error: "other task", Time: t0.Add(time.Hour)}}},
		"n2": {Unrecorded: []ActorError{{Actor: "apply/t1/s1", Error: "new", Time: t0.Add(time.Second)}, {Actor: "tail/s2", Error: "other source", Time: t0.Add(time.Hour)}}},
	}
	e, ok := unrecordedError("t1", "s1", hs)
	if !ok || e.Error != "new" {
		t.Fatalf("got %+v %v, want the newest error of t1's s1 actors", e, ok)
	}
	if _, ok := unrecordedError("t1", "s9", hs); ok {
		t.Fatal("an error for a source without one")
	}
}

func TestConfigReplicas(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want int
	}{{Config{}, 3}, {Config{Replicas: 5}, 5}, {Config{Dev: true, Replicas: 3}, 1}, {Config{Replicas: 1}, 1}} {
		if got := tc.cfg.replicas(); got != tc.want {
			t.Errorf("%+v: %d, want %d", tc.cfg, got, tc.want)
		}
	}
	// Embedded servers: one copy per live node, up to the setting.
	n := &Node{cfg: Config{Replicas: 3}}
	for live, want := range map[int]int{0: 1, 1: 1, 2: 2, 3: 3, 7: 3} {
		if got := n.replicas(live); got != want {
			t.Errorf("embedded, %d live: %d, want %d", live, got, want)
		}
	}
}
