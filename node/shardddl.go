package node

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/core/shardddl"
)

// ShardRequest carries the arguments of the shard DDL and rejected DDL
// methods (task.ddl-locks, task.ddl-unlock, task.skip, task.replace).
type ShardRequest struct {
	Lock   string   `json:"lock,omitempty"`
	Action string   `json:"action,omitempty"` // unlock: exec | skip
	Member string   `json:"member,omitempty"` // source:schema.table
	Source string   `json:"source,omitempty"`
	SQL    []string `json:"sql,omitempty"`
	// Table names the quarantined target table (schema.table) that
	// task.skip and task.replace act on.
	Table string `json:"table,omitempty"`
}

// ShardLocks is what task ddl-locks answers for one task.
type ShardLocks struct {
	Task string        `json:"task"`
	Mode shardddl.Mode `json:"mode"`
	// Registered lists the sources whose tables are known to the locks:
	// no DDL is coordinated before every source of the task is.
	Registered []string              `json:"registered"`
	Locks      []shardddl.LockStatus `json:"locks"`
	Rejected   []catalog.RejectedDDL `json:"rejected,omitempty"`
}

func (n *control) apiDDLLocks(ctx context.Context, req *Request) (*Response, error) {
	st := n.fsm.State()
	t, ok := st.Tasks[req.Name]
	if !ok {
		return nil, fmt.Errorf("task %s not found", req.Name)
	}
	out := ShardLocks{Task: t.Name, Locks: []shardddl.LockStatus{}, Registered: []string{}, Rejected: rejectedOf(st, t.Name)}
	if sd := st.ShardDDL[t.Name]; sd != nil {
		out.Mode, out.Locks = sd.Manager.Mode(), sd.Manager.Locks()
		if out.Locks == nil {
			out.Locks = []shardddl.LockStatus{}
		}
		out.Registered = sd.Registered
	}
	return &Response{ShardLocks: &out}, nil
}

func rejectedOf(st *catalog.State, task string) []catalog.RejectedDDL {
	rj := st.Rejections[task]
	if rj == nil {
		return nil
	}
	var out []catalog.RejectedDDL
	for _, r := range rj.Rejected {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b catalog.RejectedDDL) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Table, b.Table))
	})
	return out
}

func (n *control) apiDDLUnlock(ctx context.Context, req *Request) (*Response, error) {
	sr := req.Shard
	if sr == nil || sr.Lock == "" {
		return nil, errors.New("name the lock to unlock (see dmnode task ddl-locks)")
	}
	st := n.fsm.State()
	sd := st.ShardDDL[req.Name]
	if sd == nil {
		return nil, fmt.Errorf("task %s has no shard DDL locks", req.Name)
	}
	id := lockID(req.Name, sr.Lock)
	opts := shardddl.UnlockOptions{Action: shardddl.UnlockAction(sr.Action)}
	if sr.Member != "" {
		m, err := parseMember(sr.Member)
		if err != nil {
			return nil, err
		}
		if sd.Manager.Mode() == shardddl.Pessimistic {
			opts.Owner = &m
		} else {
			opts.Member = &m
		}
	}
	c := catalog.Command{Op: catalog.OpShardDDL, ID: requestID(), Shard: &catalog.ShardOp{
		Kind: catalog.ShardUnlock, Task: req.Name, Lock: id, Unlock: &opts}}
	if err := n.propose(ctx, c); err != nil {
		return nil, err
	}
	return &Response{Report: []string{fmt.Sprintf("lock %s unlocked (%s); the held shards go on", id, sr.Action)}}, nil
}

// lockID accepts a lock's id as ddl-locks prints it, or its target table
// as schema.table.
func lockID(task, s string) string {
	if strings.HasPrefix(s, task+"-") {
		return s
	}
	db, tbl, ok := cutQualified(s)
	if !ok {
		return s
	}
	return shardddl.LockID(task, schema.TableRef{Schema: unquote(db), Name: unquote(tbl)})
}

// parseMember reads source:schema.table (names may be backquoted).
func parseMember(s string) (shardddl.Member, error) {
	src, rest, ok := strings.Cut(s, ":")
	db, tbl, ok2 := cutQualified(rest)
	if !ok || !ok2 || src == "" || db == "" || tbl == "" {
		return shardddl.Member{}, fmt.Errorf("shard %q: write it as source:schema.table", s)
	}
	return shardddl.Member{Source: src, Schema: unquote(db), Table: unquote(tbl)}, nil
}

// cutQualified splits schema.table at the first dot outside backquotes,
// so a backquoted name may hold dots: `+"`a.b`.`c`"+` is schema a.b, table c.
func cutQualified(s string) (db, tbl string, ok bool) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '`':
			quoted = !quoted // a doubled backquote inside a name toggles twice
		case s[i] == '.' && !quoted:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '`' && s[len(s)-1] == '`' {
		return strings.ReplaceAll(s[1:len(s)-1], "``", "`")
	}
	return s
}

func requestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "api-" + hex.EncodeToString(b[:])
}

func (n *control) apiTaskSkip(ctx context.Context, req *Request) (*Response, error) {
	return n.decide(ctx, req, catalog.DecideSkip)
}

func (n *control) apiTaskReplace(ctx context.Context, req *Request) (*Response, error) {
	return n.decide(ctx, req, catalog.DecideReplace)
}

// decide records an operator's answer to the DDL the target rejected and
// restarts the source's applier, which uses it once.
func (n *control) decide(ctx context.Context, req *Request, action string) (*Response, error) {
	sr := req.Shard
	if sr == nil {
		sr = &ShardRequest{}
	}
	st := n.fsm.State()
	if _, ok := st.Tasks[req.Name]; !ok {
		return nil, fmt.Errorf("task %s not found", req.Name)
	}
	table := ""
	if sr.Table != "" {
		db, tbl, ok := cutQualified(sr.Table)
		if !ok {
			return nil, fmt.Errorf("table %q: write it as schema.table", sr.Table)
		}
		table = unquote(db) + "." + unquote(tbl)
	}
	// The rejected DDL acted on: the only one, or the one of the source
	// and table named.
	var match []catalog.RejectedDDL
	for _, r := range rejectedOf(st, req.Name) {
		if (sr.Source == "" || r.Source == sr.Source) && (table == "" || r.Table == table) {
			match = append(match, r)
		}
	}
	switch {
	case len(match) == 0 && table != "":
		return nil, fmt.Errorf("task %s: table %s is not quarantined (see dmnode task status %s)", req.Name, table, req.Name)
	case len(match) == 0:
		return nil, fmt.Errorf("task %s: no DDL was rejected by the target", req.Name)
	case len(match) > 1:
		var names []string
		for _, r := range match {
			if r.Table != "" {
				names = append(names, "table "+r.Table+" of source "+r.Source)
			} else {
				names = append(names, "source "+r.Source)
			}
		}
		return nil, fmt.Errorf("task %s: DDLs were rejected for %s; name one with --source and --table", req.Name, strings.Join(names, ", "))
	}
	rj := match[0]
	if action == catalog.DecideReplace && len(sr.SQL) == 0 {
		return nil, errors.New("give the statements to run instead with --sql")
	}
	c := catalog.Command{Op: catalog.OpShardDDL, Shard: &catalog.ShardOp{Kind: catalog.ShardDecide, Task: req.Name, Source: rj.Source,
		Decision: &catalog.Decision{Table: rj.Table, Action: action, SQL: sr.SQL}}}
	if err := n.propose(ctx, c); err != nil {
		return nil, err
	}
	src, pos := rj.Source, rj.Pos.String()
	what := "skipped"
	if action == catalog.DecideReplace {
		what = "replaced with " + strings.Join(sr.SQL, "; ")
	}
	if rj.Table != "" {
		return &Response{Report: []string{fmt.Sprintf("task %s, source %s: the DDL of quarantined table %s at %s will be %s; the applier restarts and applies the table's held changes after it",
			req.Name, src, rj.Table, pos, what)}}, nil
	}
	return &Response{Report: []string{fmt.Sprintf("task %s, source %s: the DDL at %s will be %s; the applier restarts", req.Name, src, pos, what)}}, nil
}
