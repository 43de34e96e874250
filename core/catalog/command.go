package catalog

import (
	"fmt"
	"maps"
	"sort"

	"github.com/dmnode/dmnode"
)

// Command operations.
const (
	OpAddSource     = "add-source"
	OpRemoveSource  = "remove-source"
	OpSubmitTask    = "submit-task"
	OpSetDesired    = "set-desired"
	OpSnapshotTaken = "snapshot-taken"
	OpStageDone     = "stage-done"
	OpAssign        = "assign"
	OpAddMember     = "add-member"
	OpRemoveMember  = "remove-member"
	OpLeaveMember   = "leave-member"
	OpReplicated    = "replicated"
	OpDeleteTask    = "delete-task"
	OpUpdateTask    = "update-task"
)

// Command is one entry of the Raft log.
type Command struct {
	Op string `json:"op"`
	// ID is an idempotency key: a command whose ID was already applied is
	// a no-op. Empty means "always apply".
	ID string `json:"id,omitempty"`

	Source  *Source           `json:"source,omitempty"`
	Task    *Task             `json:"task,omitempty"`
	Member  *Member           `json:"member,omitempty"`
	Name    string            `json:"name,omitempty"`
	Src     string            `json:"src,omitempty"`
	Stage   string            `json:"stage,omitempty"`
	Desired string            `json:"desired,omitempty"`
	Pos     dmnode.Position   `json:"pos,omitempty"`
	Assign  map[string]string `json:"assign,omitempty"` // actor → node; "" removes
	// Term is, on an OpAssign the leader's placement decided, the Raft term
	// in which that leader won its election. Zero marks an assignment that
	// is not a placement decision (an operator's restart of an actor on its
	// node, or an entry written before terms were recorded): it is not
	// fenced.
	Term uint64 `json:"term,omitempty"`
	// LogTerm is the term of the Raft log entry that carries the command,
	// filled in by the FSM from the log as it applies the entry; it is not
	// part of the command's encoding.
	LogTerm uint64 `json:"-"`
	// Replicas is the replication factor every stream was verified at.
	Replicas int `json:"replicas,omitempty"`
	// Shard is the payload of OpShardDDL.
	Shard *ShardOp `json:"shard,omitempty"`
}

// Apply applies c to s. It is deterministic and either changes the state
// fully or returns an error and changes nothing.
func (s *State) Apply(c Command) error {
	if c.ID != "" && s.seen(c.ID) {
		return nil
	}
	var err error
	switch c.Op {
	case OpShardDDL:
		_, err = s.Exec(c)
		return err
	case OpAddSource:
		err = s.addSource(c.Source)
	case OpRemoveSource:
		err = s.removeSource(c.Name)
	case OpSubmitTask:
		err = s.submitTask(c.Task)
	case OpSetDesired:
		err = s.setDesired(c.Name, c.Desired)
	case OpDeleteTask:
		err = s.deleteTask(c.Name)
	case OpUpdateTask:
		err = s.updateTask(c.Task)
	case OpSnapshotTaken:
		err = s.snapshotTaken(c.Name, c.Src, c.Pos)
	case OpStageDone:
		err = s.stageDone(c.Name, c.Src, c.Stage)
	case OpAssign:
		if err = s.fence(c); err == nil {
			s.assign(c.Assign)
		}
	case OpAddMember:
		if c.Member == nil || c.Member.ID == "" {
			err = fmt.Errorf("add member: %w", ErrInvalid)
		} else {
			m := *c.Member
			s.Members[m.ID] = &m
		}
	case OpRemoveMember:
		s.removeMember(c.Name)
	case OpReplicated:
		// The factor only grows: streams are never scaled down when a
		// node is lost, only when one is removed by hand.
		s.Replicas = max(s.Replicas, c.Replicas)
	case OpLeaveMember:
		if m, ok := s.Members[c.Name]; ok {
			cp := *m
			cp.Leaving = true
			s.Members[c.Name] = &cp
		} else {
			err = notFound("member", c.Name)
		}
	default:
		err = fmt.Errorf("unknown operation %q: %w", c.Op, ErrInvalid)
	}
	if err == nil && c.ID != "" {
		s.remember(c.ID)
	}
	return err
}

func (s *State) remember(id string) {
	s.Seen = append(s.Seen, id)
	if len(s.Seen) > maxSeen {
		s.Seen = s.Seen[len(s.Seen)-maxSeen:]
	}
}

func (s *State) seen(id string) bool {
	for _, k := range s.Seen {
		if k == id {
			return true
		}
	}
	return false
}

func (s *State) addSource(src *Source) error {
	if src == nil || src.ID == "" {
		return fmt.Errorf("add source: %w", ErrInvalid)
	}
	if old, ok := s.Sources[src.ID]; ok {
		if old.YAML == src.YAML {
			return nil
		}
		if s.sourceInUse(src.ID) != "" {
			return fmt.Errorf("source %q is used by task %q; stop the task before changing the source: %w",
				src.ID, s.sourceInUse(src.ID), ErrInUse)
		}
		src.TailFrom = old.TailFrom
	}
	cp := *src
	s.Sources[src.ID] = &cp
	return nil
}

func (s *State) sourceInUse(id string) string {
	for _, name := range s.TaskNames() {
		if _, ok := s.Tasks[name].Sources[id]; ok {
			return name
		}
	}
	return ""
}

func (s *State) removeSource(id string) error {
	if _, ok := s.Sources[id]; !ok {
		return notFound("source", id)
	}
	if t := s.sourceInUse(id); t != "" {
		return fmt.Errorf("source %q is used by task %q: %w", id, t, ErrInUse)
	}
	delete(s.Sources, id)
	return nil
}

func (s *State) submitTask(t *Task) error {
	if t == nil || t.Name == "" || len(t.Sources) == 0 {
		return fmt.Errorf("submit task: %w", ErrInvalid)
	}
	if old, ok := s.Tasks[t.Name]; ok {
		if old.YAML != t.YAML {
			return fmt.Errorf("task %q exists with a different configuration: %w", t.Name, ErrExists)
		}
		s.ownTask(t.Name).Desired = Running
		return nil
	}
	for id := range t.Sources {
		if _, ok := s.Sources[id]; !ok {
			return notFound("source", id)
		}
	}
	cp := *t
	cp.Desired = Running
	cp.Sources = map[string]*TaskSource{}
	for id, ts := range t.Sources {
		c := *ts
		if c.Stage == "" {
			c.Stage = StageDump
			if t.Mode == ModeIncremental {
				c.Stage = StageSync
			}
		}
		cp.Sources[id] = &c
		if c.Stage == StageSync && !c.Start.IsZero() {
			s.requestTail(id, c.Start)
		}
	}
	s.Tasks[t.Name] = &cp
	return nil
}

// requestTail lowers a source's TailFrom to p when p is earlier.
func (s *State) requestTail(source string, p dmnode.Position) {
	src := s.Sources[source]
	if src == nil || p.IsZero() {
		return
	}
	if src.TailFrom.IsZero() || p.Compare(src.TailFrom) < 0 {
		cp := *src
		cp.TailFrom = p
		s.Sources[source] = &cp
	}
}

func (s *State) setDesired(name, desired string) error {
	if _, ok := s.Tasks[name]; !ok {
		return notFound("task", name)
	}
	if desired != Running && desired != Paused && desired != Stopped {
		return fmt.Errorf("desired state %q: %w", desired, ErrInvalid)
	}
	s.ownTask(name).Desired = desired
	return nil
}

// updateTask replaces a task's file (the caller checked that only settings
// that may change in place differ) and hands its placed actors new epochs
// on the same nodes, so they restart with the new file.
func (s *State) updateTask(t *Task) error {
	if t == nil {
		return fmt.Errorf("update task: %w", ErrInvalid)
	}
	if _, ok := s.Tasks[t.Name]; !ok {
		return notFound("task", t.Name)
	}
	old := s.ownTask(t.Name)
	old.File, old.YAML = t.File, t.YAML
	again := map[string]string{}
	for id, a := range s.Assign {
		if spec, ok := ParseActorID(id); ok && spec.Task == t.Name {
			again[id] = a.Node
		}
	}
	s.assign(again)
	return nil
}

// deleteTask removes a task that runs no longer (paused or stopped); its
// actors are unassigned by the next placement.
func (s *State) deleteTask(name string) error {
	t, ok := s.Tasks[name]
	if !ok {
		return notFound("task", name)
	}
	if t.Desired == Running {
		return fmt.Errorf("task %q is running; stop it first: %w", name, ErrInUse)
	}
	delete(s.Tasks, name)
	return nil
}

// taskSource returns a task and one of its sources, both the state's own
// (see ownTask) so the caller may change them.
func (s *State) taskSource(name, src string) (*Task, *TaskSource, error) {
	t, ok := s.Tasks[name]
	if !ok {
		return nil, nil, notFound("task", name)
	}
	if _, ok := t.Sources[src]; !ok {
		return nil, nil, notFound("source of task "+name, src)
	}
	t = s.ownTask(name)
	t.Sources = maps.Clone(t.Sources)
	ts := *t.Sources[src]
	t.Sources[src] = &ts
	return t, &ts, nil
}

// snapshotTaken records a consistent snapshot's position. The first one is
// where the binlog replay starts; later ones (after an interrupted dump)
// extend the idempotent window.
func (s *State) snapshotTaken(name, src string, p dmnode.Position) error {
	_, ts, err := s.taskSource(name, src)
	if err != nil {
		return err
	}
	if ts.Stage != StageDump {
		return fmt.Errorf("snapshot of %s/%s in stage %s: %w", name, src, ts.Stage, ErrInvalid)
	}
	if ts.Start.IsZero() || p.Compare(ts.Start) < 0 {
		ts.Start = p
	}
	if p.Compare(ts.SafeUntil) > 0 {
		ts.SafeUntil = p
	}
	ts.Snapshots++
	s.requestTail(src, ts.Start)
	return nil
}

// stageDone moves a task's source past the named stage.
func (s *State) stageDone(name, src, stage string) error {
	t, ts, err := s.taskSource(name, src)
	if err != nil {
		return err
	}
	if ts.Stage != stage {
		if stageOrder(ts.Stage) > stageOrder(stage) {
			return nil // already past it: a retried report
		}
		return fmt.Errorf("%s/%s is in stage %s, not %s: %w", name, src, ts.Stage, stage, ErrInvalid)
	}
	switch stage {
	case StageDump:
		if ts.Start.IsZero() {
			return fmt.Errorf("dump of %s/%s done without a snapshot position: %w", name, src, ErrInvalid)
		}
		ts.Stage = StageLoad
	case StageLoad:
		ts.Stage = StageSync
		if t.Mode == ModeFull {
			ts.Stage = StageDone
		}
	default:
		return fmt.Errorf("stage %q cannot be completed: %w", stage, ErrInvalid)
	}
	return nil
}

func stageOrder(stage string) int {
	switch stage {
	case StageDump:
		return 1
	case StageLoad:
		return 2
	case StageSync, StageDone:
		return 3
	}
	return 0
}

// fence refuses a placement decided by a leader that is no longer the
// newest: one older than a placement already applied, or one carried by a
// log entry of a later term than the leader's own, which means the leader
// lost its term before the entry was appended (it was forwarded to, or
// queued at, its successor). Both answers depend on the log alone, so every
// replica refuses the same entries. The newest term is recorded.
func (s *State) fence(c Command) error {
	if c.Term == 0 {
		return nil
	}
	if c.Term < s.AssignTerm {
		return fmt.Errorf("placement of term %d: a leader of term %d placed actors since: %w", c.Term, s.AssignTerm, ErrStale)
	}
	if c.LogTerm > c.Term {
		return fmt.Errorf("placement of term %d reached the log in term %d, after its leader was deposed: %w", c.Term, c.LogTerm, ErrStale)
	}
	s.AssignTerm = c.Term
	return nil
}

// assign applies placement changes in actor id order, so every replica and
// every replay hands out the same epochs.
func (s *State) assign(m map[string]string) {
	actors := make([]string, 0, len(m))
	for a := range m {
		actors = append(actors, a)
	}
	sort.Strings(actors)
	for _, actor := range actors {
		node := m[actor]
		if node == "" {
			delete(s.Assign, actor)
			continue
		}
		s.Epoch++
		s.Assign[actor] = Assignment{Node: node, Epoch: s.Epoch}
	}
}

// removeMember forgets a member and drops its assignments, so the next
// placement moves its actors.
func (s *State) removeMember(id string) {
	delete(s.Members, id)
	for actor, a := range s.Assign {
		if a.Node == id {
			delete(s.Assign, actor)
		}
	}
}
