package catalog

import (
	"sort"
	"strings"
)

// Actor kinds.
const (
	KindDump  = "dump"
	KindLoad  = "load"
	KindTail  = "tail"
	KindApply = "apply"
)

// ActorSpec names one actor the catalog wants running.
type ActorSpec struct {
	Kind   string
	Task   string // empty for a tailer
	Source string
}

// ID is the actor's identity in assignments: kind/task/source or tail/source.
func (a ActorSpec) ID() string {
	if a.Kind == KindTail {
		return KindTail + "/" + a.Source
	}
	return a.Kind + "/" + a.Task + "/" + a.Source
}

// ParseActorID is the inverse of ActorSpec.ID.
func ParseActorID(id string) (ActorSpec, bool) {
	parts := strings.SplitN(id, "/", 3)
	switch {
	case len(parts) == 2 && parts[0] == KindTail:
		return ActorSpec{Kind: KindTail, Source: parts[1]}, true
	case len(parts) == 3:
		return ActorSpec{Kind: parts[0], Task: parts[1], Source: parts[2]}, true
	}
	return ActorSpec{}, false
}

// Desired returns the actors the catalog wants running, sorted by id: for
// a running task, in stage dump the dumper and the loader, in stage load
// the loader, in stage sync the applier; and one tailer per source that
// some running or paused task needs binlog from (a task in sync, or one
// whose snapshot position is known so the binlog since then is kept in the
// stream while it loads).
func (s *State) Desired() []ActorSpec {
	var out []ActorSpec
	tails := map[string]bool{}
	for _, name := range s.TaskNames() {
		t := s.Tasks[name]
		if t.Desired == Stopped {
			continue
		}
		for _, src := range t.SortedSources() {
			ts := t.Sources[src]
			if ts.Stage == StageSync || (t.Mode == ModeAll && !ts.Start.IsZero() && ts.Stage != StageDone) {
				tails[src] = true // the task needs binlog from here on
			}
			if t.Desired == Paused {
				continue
			}
			switch ts.Stage {
			case StageDump:
				out = append(out, ActorSpec{Kind: KindDump, Task: name, Source: src},
					ActorSpec{Kind: KindLoad, Task: name, Source: src})
			case StageLoad:
				out = append(out, ActorSpec{Kind: KindLoad, Task: name, Source: src})
			case StageSync:
				out = append(out, ActorSpec{Kind: KindApply, Task: name, Source: src})
			}
		}
	}
	for src := range tails {
		out = append(out, ActorSpec{Kind: KindTail, Source: src})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out
}

// Place decides where every desired actor runs: an actor keeps its node
// while that node is alive; otherwise it goes to the live node with the
// fewest actors (ties broken in favour of a node that runs another actor of
// the same source, then by name). When the live nodes' actor counts
// differ by more than one (a node joined), actors move from the busiest
// node to the idlest until they do not. Placement is deterministic. It
// returns only the changes: actor → node, with "" for actors to remove.
func Place(live []string, desired []ActorSpec, current map[string]Assignment) map[string]string {
	return PlaceWeighted(live, desired, current, nil)
}

// PlaceWeighted is Place that also spreads work: rates holds the recent
// rows per second of actors (as their progress last reported it, also for
// an actor whose node died), and among the nodes with the fewest actors an
// actor to place goes to the one with the least rows per second, then to
// one that runs another actor of its source, then by name.
func PlaceWeighted(live []string, desired []ActorSpec, current map[string]Assignment, rates map[string]float64) map[string]string {
	changes := map[string]string{}
	if len(live) == 0 {
		return changes
	}
	alive := map[string]bool{}
	load := map[string]int{}
	work := map[string]float64{}
	for _, n := range live {
		alive[n] = true
		load[n] = 0
	}
	want := map[string]bool{}
	for _, a := range desired {
		want[a.ID()] = true
		if as, ok := current[a.ID()]; ok && alive[as.Node] {
			load[as.Node]++
			work[as.Node] += rates[a.ID()]
		}
	}
	for id := range current {
		if !want[id] {
			changes[id] = ""
		}
	}
	nodes := append([]string(nil), live...)
	sort.Strings(nodes)
	// bySource records where each source's actors run, so that a tailer
	// and the appliers reading its stream share a node when load allows.
	bySource := map[string]map[string]bool{}
	near := func(src, node string) {
		if bySource[src] == nil {
			bySource[src] = map[string]bool{}
		}
		bySource[src][node] = true
	}
	for _, a := range desired {
		if as, ok := current[a.ID()]; ok && alive[as.Node] {
			near(a.Source, as.Node)
		}
	}
	for _, a := range desired {
		if as, ok := current[a.ID()]; ok && alive[as.Node] {
			continue
		}
		best := nodes[0]
		for _, n := range nodes[1:] {
			switch {
			case load[n] != load[best]:
				if load[n] < load[best] {
					best = n
				}
			case work[n] != work[best]:
				if work[n] < work[best] {
					best = n
				}
			case bySource[a.Source][n] && !bySource[a.Source][best]:
				best = n
			}
		}
		load[best]++
		work[best] += rates[a.ID()]
		changes[a.ID()] = best
		near(a.Source, best)
	}
	rebalance(nodes, desired, current, changes, load)
	return changes
}

// rebalance moves actors from the busiest to the idlest live node while
// their counts differ by more than one; it moves the actor with the highest
// id first, so the outcome does not depend on map order.
func rebalance(nodes []string, desired []ActorSpec, current map[string]Assignment, changes map[string]string, load map[string]int) {
	where := func(id string) string {
		if n, ok := changes[id]; ok {
			return n
		}
		return current[id].Node
	}
	for {
		busiest, idlest := nodes[0], nodes[0]
		for _, n := range nodes {
			if load[n] > load[busiest] {
				busiest = n
			}
			if load[n] < load[idlest] {
				idlest = n
			}
		}
		if load[busiest]-load[idlest] <= 1 {
			return
		}
		moved := false
		for i := len(desired) - 1; i >= 0; i-- {
			if id := desired[i].ID(); where(id) == busiest {
				changes[id] = idlest
				load[busiest]--
				load[idlest]++
				moved = true
				break
			}
		}
		if !moved {
			return
		}
	}
}
