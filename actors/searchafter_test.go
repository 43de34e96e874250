package actors

import (
	"math/rand/v2"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/jetstream"
)

// searchAfter finds the first message ending after a position whatever
// hint it is given (an earlier answer, a wrong one, none), the same as a
// scan of every message; with the last answer as hint, a position a few
// messages further is found in a handful of reads, not log2(messages).
func TestSearchAfter(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	for round := range 200 {
		first := uint64(1 + rng.IntN(50))
		n := rng.IntN(300)
		ends := make([]dmnode.Position, n) // of seq first+i, never decreasing
		pos := uint32(4)
		for i := range ends {
			pos += uint32(rng.IntN(3)) * 100 // equal ends: the parts of one transaction
			ends[i] = dmnode.Position{File: "mysql-bin.000001", Pos: pos}
		}
		info := jetstream.RelayInfo{FirstSeq: first, LastSeq: first + uint64(n) - 1, Msgs: uint64(n)}
		if n == 0 {
			info.LastSeq = first - 1
		}
		reads := 0
		end := func(seq uint64) (dmnode.Position, error) {
			if seq < info.FirstSeq || seq > info.LastSeq {
				t.Fatalf("round %d: read of message %d outside %d..%d", round, seq, info.FirstSeq, info.LastSeq)
			}
			reads++
			return ends[seq-first], nil
		}
		scan := func(p dmnode.Position) uint64 {
			for i, e := range ends {
				if e.Compare(p) > 0 {
					return first + uint64(i)
				}
			}
			return max(info.LastSeq+1, 1)
		}
		p := dmnode.Position{File: "mysql-bin.000001", Pos: uint32(rng.IntN(int(pos) + 200))}
		for _, hint := range []uint64{0, first, first + uint64(rng.IntN(n+2)), scan(p), scan(p) + 1, info.LastSeq + 5} {
			got, err := searchAfter(info, p, hint, end)
			if err != nil {
				t.Fatal(err)
			}
			if want := scan(p); got != want {
				t.Fatalf("round %d: position %s, hint %d: %d, want %d", round, p, hint, got, want)
			}
		}
	}

	// The retention loop's case: the oldest need moves a few messages on
	// between passes over a relay of 100,000 messages.
	const n = 100_000
	info := jetstream.RelayInfo{FirstSeq: 1, LastSeq: n, Msgs: n}
	reads := 0
	end := func(seq uint64) (dmnode.Position, error) {
		reads++
		return dmnode.Position{File: "mysql-bin.000001", Pos: uint32(seq * 10)}, nil
	}
	need, err := searchAfter(info, dmnode.Position{File: "mysql-bin.000001", Pos: 500_000}, 0, end)
	if err != nil || need != 50_001 {
		t.Fatalf("first pass: %d, %v", need, err)
	}
	full := reads
	reads = 0
	next, err := searchAfter(info, dmnode.Position{File: "mysql-bin.000001", Pos: 500_030}, need, end)
	if err != nil || next != 50_004 {
		t.Fatalf("next pass: %d, %v", next, err)
	}
	if reads > 8 || full < 16 {
		t.Errorf("a pass from the hint read %d messages, the first %d", reads, full)
	}
}
