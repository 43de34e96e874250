package plan

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
)

// Plan is one version of a task, decoded. Its fields are set once and
// never change; Source compiles a source's part on first use.
type Plan struct {
	// Task is the decoded file. Read it, never modify it: it is shared.
	Task *config.Task

	mu      sync.Mutex
	sources map[string]*Source // by source id, the newest source version compiled

	validatorsOnce sync.Once
	validators     map[string]string
}

// Source is a task compiled for one of its sources at one version of the
// source's file. Read it, never modify it: it is shared.
type Source struct {
	ID       string
	Instance *config.Instance // the task's mysql-instance of the source
	Config   *config.Source   // the decoded source file
	Rules    *rules.Rules     // the task's rules for the source

	// the source file's version
	file, yaml string
}

// Source errors, the step of SourceError.Op that failed.
const (
	OpDecode   = "decode"   // the source file does not decode
	OpInstance = "instance" // the task has no mysql-instance of the source
	OpCompile  = "compile"  // the rules do not compile for the source
)

// SourceError is why a plan has no Source for a source id.
type SourceError struct {
	Task, Source string
	Op           string // OpDecode, OpInstance or OpCompile
	Err          error  // the cause; nil for OpInstance
}

func (e *SourceError) Error() string {
	switch e.Op {
	case OpDecode:
		return fmt.Sprintf("decode source %q: %v", e.Source, e.Err)
	case OpInstance:
		return fmt.Sprintf("task %q has no mysql-instance for source %q", e.Task, e.Source)
	}
	return fmt.Sprintf("compile rules of task %q for source %q: %v", e.Task, e.Source, e.Err)
}

func (e *SourceError) Unwrap() error { return e.Err }

// Cause returns the cause a SourceError wraps (the decoding or compiling
// error as config or rules gave it), or err itself.
func Cause(err error) error {
	var se *SourceError
	if errors.As(err, &se) && se.Err != nil {
		return se.Err
	}
	return err
}

var decodes atomic.Int64

// Decodes returns how many task files the package has decoded in this
// process.
func Decodes() int64 { return decodes.Load() }

// Decode decodes a task file that is not in the catalog (one a user
// submits) into a Plan, without the cache. Its errors are those of
// config.DecodeTask, naming file, line and key.
func Decode(file string, data []byte) (*Plan, error) {
	decodes.Add(1)
	t, err := config.DecodeTask(file, data)
	if err != nil {
		return nil, err
	}
	return &Plan{Task: t, sources: map[string]*Source{}}, nil
}

// Instance returns the task's mysql-instance of the source, or nil.
func (p *Plan) Instance(source string) *config.Instance {
	for i := range p.Task.MySQLInstances {
		if p.Task.MySQLInstances[i].SourceID == source {
			return &p.Task.MySQLInstances[i]
		}
	}
	return nil
}

// Validators returns the sources whose validator mode is fast or full,
// with the mode. The map is computed once and shared: do not modify it.
func (p *Plan) Validators() map[string]string {
	p.validatorsOnce.Do(func() {
		p.validators = map[string]string{}
		for _, inst := range p.Task.MySQLInstances {
			if m := inst.Validate.Mode; m == config.ValidateFast || m == config.ValidateFull {
				p.validators[inst.SourceID] = m
			}
		}
	})
	return p.validators
}

// Source returns the task compiled for the source whose catalog entry is
// src: its instance, decoded file and rules, built once per version of
// src's file and shared. An error is a *SourceError.
func (p *Plan) Source(src *catalog.Source) (*Source, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.sources[src.ID]; s != nil && s.file == src.File && s.yaml == src.YAML {
		return s, nil
	}
	cfg, err := SourceOf(src)
	if err != nil {
		return nil, &SourceError{Task: p.Task.Name, Source: src.ID, Op: OpDecode, Err: err}
	}
	inst := p.Instance(src.ID)
	if inst == nil {
		return nil, &SourceError{Task: p.Task.Name, Source: src.ID, Op: OpInstance}
	}
	r, err := rules.Compile(p.Task, inst, cfg)
	if err != nil {
		return nil, &SourceError{Task: p.Task.Name, Source: src.ID, Op: OpCompile, Err: err}
	}
	s := &Source{ID: src.ID, Instance: inst, Config: cfg, Rules: r, file: src.File, yaml: src.YAML}
	p.sources[src.ID] = s
	return s, nil
}

// Cache keeps the Plans of the catalog's tasks, by task name and version.
// The zero value is not usable; NewCache makes one.
type Cache struct {
	mu    sync.Mutex
	tasks map[string][]*entry // by task name, newest first, at most keepVersions
}

// entry is one version being decoded or decoded: ready is closed once
// plan or err is set.
type entry struct {
	file, yaml string
	ready      chan struct{}
	plan       *Plan
	err        error
}

const (
	// keepVersions is how many versions of a task the cache keeps.
	keepVersions = 2
	// maxTasks bounds the tasks the cache keeps; past it, the cache drops
	// other tasks (deleted ones, in practice) to make room.
	maxTasks = 1024
)

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{tasks: map[string][]*entry{}} }

var process = NewCache()

// Of returns the Plan of a catalog task from the process's cache.
func Of(t *catalog.Task) (*Plan, error) { return process.Get(t) }

// Get returns the Plan of t's version: decoded on the first call for the
// version, the same *Plan on the next ones. Concurrent calls for a new
// version wait for one decoding. An error is config.DecodeTask's, and is
// not kept.
func (c *Cache) Get(t *catalog.Task) (*Plan, error) {
	c.mu.Lock()
	vs := c.tasks[t.Name]
	for i, e := range vs {
		if e.file == t.File && e.yaml == t.YAML {
			if i > 0 { // the newest asked for comes first
				copy(vs[1:i+1], vs[:i])
				vs[0] = e
			}
			c.mu.Unlock()
			<-e.ready
			return e.plan, e.err
		}
	}
	e := &entry{file: t.File, yaml: t.YAML, ready: make(chan struct{})}
	if vs == nil && len(c.tasks) >= maxTasks {
		for name := range c.tasks {
			delete(c.tasks, name)
			if len(c.tasks) < maxTasks {
				break
			}
		}
	}
	vs = append([]*entry{e}, vs...)
	if len(vs) > keepVersions {
		vs = vs[:keepVersions]
	}
	c.tasks[t.Name] = vs
	c.mu.Unlock()

	e.plan, e.err = Decode(t.File, []byte(t.YAML))
	close(e.ready)
	if e.err != nil {
		c.forget(t.Name, e)
	}
	return e.plan, e.err
}

// forget drops entry e of task name.
func (c *Cache) forget(name string, e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	vs := c.tasks[name]
	for i, x := range vs {
		if x == e {
			vs = append(vs[:i:i], vs[i+1:]...)
			break
		}
	}
	if len(vs) == 0 {
		delete(c.tasks, name)
	} else {
		c.tasks[name] = vs
	}
}
