package catalog

import (
	"maps"
	"slices"
)

// Clone returns a copy of s for the next command: a new State whose maps
// are copies of s's, sharing their entries. Apply and Exec never change an
// entry in place: a command replaces the entries it changes (a task, a
// task's source, a member, a source, a task's shard DDL locks or
// rejections) with changed copies. So
//
//	next := s.Clone()
//	next.Exec(c)
//
// leaves s as it was, and s may be read by other goroutines meanwhile.
// That is how the node's FSM publishes one immutable catalog per applied
// command (copy on write): the cost of a command is that of copying the
// maps of s and the entries it changes, and readers share the published
// State without copying it.
//
// A State that was published this way is read-only: its maps, entries and
// slices belong to every reader and to later snapshots.
func (s *State) Clone() *State {
	n := *s
	n.Sources = maps.Clone(s.Sources)
	n.Tasks = maps.Clone(s.Tasks)
	n.Members = maps.Clone(s.Members)
	n.Assign = maps.Clone(s.Assign)
	n.ShardDDL = maps.Clone(s.ShardDDL)
	n.Rejections = maps.Clone(s.Rejections)
	// remember appends: without spare capacity it appends to a new array.
	n.Seen = slices.Clip(s.Seen)
	return &n
}

// ownTask replaces the task name (which must exist) with a copy that the
// caller may change, and returns it. The copy shares the task's Sources
// map: a caller that changes a source copies it too (taskSource).
func (s *State) ownTask(name string) *Task {
	cp := *s.Tasks[name]
	s.Tasks[name] = &cp
	return &cp
}
