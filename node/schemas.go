package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/plan"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
)

// SchemaRequest carries the arguments of the binlog-schema methods.
type SchemaRequest struct {
	// Name is a task or a source id; with a task of several sources,
	// Source says which.
	Name   string `json:"name"`
	Source string `json:"source,omitempty"`
	Schema string `json:"schema,omitempty"`
	Table  string `json:"table,omitempty"`
	// Pos is "file:offset"; empty means where the source's tailer resumes.
	Pos string `json:"pos,omitempty"`
	// CreateSQL is the new schema of binlog-schema update, unless From
	// says to read it from the "source" (now) or the task's "target".
	CreateSQL string `json:"create_sql,omitempty"`
	From      string `json:"from,omitempty"`
}

// SchemaVersion is one table version, as binlog-schema prints it.
type SchemaVersion struct {
	Source    string          `json:"source"`
	Schema    string          `json:"schema"`
	Table     string          `json:"table"`
	Pos       dmnode.Position `json:"pos"`
	Origin    string          `json:"origin"`
	Dropped   bool            `json:"dropped,omitempty"`
	Columns   []string        `json:"columns,omitempty"`
	CreateSQL string          `json:"create_sql,omitempty"`
	// InForce marks, in a table's history, the version in force at the
	// position asked about.
	InForce bool `json:"in_force,omitempty"`
}

// SchemaAnswer answers the binlog-schema methods.
type SchemaAnswer struct {
	Source   string          `json:"source"`
	Pos      dmnode.Position `json:"pos"`
	Versions []SchemaVersion `json:"versions"`
}

// startSchema returns a lookup of the schemas at a task's start position
// pos on source, when the source's schema history reaches back there;
// nil otherwise.
func (n *control) startSchema(ctx context.Context, source string, pos dmnode.Position) func(db, table string) *schema.Table {
	if !n.storeReady.Load() {
		return nil
	}
	hs := n.store.Schemas()
	if ok, err := hs.HasAny(ctx, source, pos); err != nil || !ok {
		return nil
	}
	set, err := hs.At(ctx, source, pos)
	if err != nil {
		return nil
	}
	return func(db, table string) *schema.Table {
		if v, ok := set.Version(db, table); ok {
			return v.Table
		}
		return nil
	}
}

// schemaTarget resolves the task or source a binlog-schema request names
// to a source, the task (when one was named) and the position asked about.
func (n *control) schemaTarget(ctx context.Context, req *SchemaRequest) (source, task string, pos dmnode.Position, err error) {
	if req == nil || req.Name == "" {
		return "", "", pos, errors.New("name a task or a source")
	}
	if !n.storeReady.Load() {
		return "", "", pos, errors.New("the node's JetStream store is not open yet")
	}
	st := n.fsm.State()
	switch t, ok := st.Tasks[req.Name]; {
	case ok:
		task = req.Name
		srcs := t.SortedSources()
		switch {
		case req.Source != "":
			if _, ok := t.Sources[req.Source]; !ok {
				return "", "", pos, fmt.Errorf("task %s has no source %s (it has %s)", task, req.Source, strings.Join(srcs, ", "))
			}
			source = req.Source
		case len(srcs) == 1:
			source = srcs[0]
		default:
			return "", "", pos, fmt.Errorf("task %s has sources %s: say which with --source", task, strings.Join(srcs, ", "))
		}
	default:
		if _, ok := st.Sources[req.Name]; !ok {
			return "", "", pos, fmt.Errorf("%q is neither a task nor a source", req.Name)
		}
		source = req.Name
	}
	if req.Pos != "" {
		pos, err = ParsePosition(req.Pos)
		return source, task, pos, err
	}
	pos, err = actors.TailPosition(ctx, n.store, source)
	if err == nil && pos.IsZero() {
		err = fmt.Errorf("source %s has no tailer checkpoint yet: give --pos", source)
	}
	return source, task, pos, err
}

// ParsePosition reads a binlog position written "file:offset".
func ParsePosition(s string) (dmnode.Position, error) {
	file, off, ok := strings.Cut(strings.TrimSpace(s), ":")
	n, err := strconv.ParseUint(off, 10, 32)
	if !ok || file == "" || err != nil {
		return dmnode.Position{}, fmt.Errorf("position %q: want binlog-file:offset, e.g. mysql-bin.000003:4", s)
	}
	return dmnode.Position{File: file, Pos: uint32(n)}, nil
}

func versionOf(source string, v jetstream.TableVersion, full bool) SchemaVersion {
	out := SchemaVersion{Source: source, Schema: v.Schema, Table: v.Name, Pos: v.Pos, Origin: v.Origin, Dropped: v.Table == nil}
	if v.Table != nil {
		out.Columns = v.Table.ColumnNames()
		if full {
			out.CreateSQL = v.Table.CreateSQL
		}
	}
	return out
}

// apiBinlogSchemaList lists the tables of a source at a position (by
// default where its tailer resumes) with the version in force for each.
func (n *control) apiBinlogSchemaList(ctx context.Context, req *Request) (*Response, error) {
	source, _, pos, err := n.schemaTarget(ctx, req.Schema)
	if err != nil {
		return nil, err
	}
	set, err := n.store.Schemas().At(ctx, source, pos)
	if err != nil {
		return nil, err
	}
	ans := &SchemaAnswer{Source: source, Pos: pos}
	for _, v := range set.Tables {
		if req.Schema.Schema != "" && v.Schema != req.Schema.Schema {
			continue
		}
		ans.Versions = append(ans.Versions, versionOf(source, v, false))
	}
	return &Response{Schemas: ans}, nil
}

// apiBinlogSchemaShow returns a table's history, marking the version in
// force at the position.
func (n *control) apiBinlogSchemaShow(ctx context.Context, req *Request) (*Response, error) {
	source, _, pos, err := n.schemaTarget(ctx, req.Schema)
	if err != nil {
		return nil, err
	}
	r := req.Schema
	if r.Schema == "" || r.Table == "" {
		return nil, errors.New("name the table: DATABASE TABLE")
	}
	h, err := n.store.Schemas().History(ctx, source, r.Schema, r.Table)
	if err != nil {
		return nil, err
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("source %s has no schema history of %s.%s", source, r.Schema, r.Table)
	}
	ans := &SchemaAnswer{Source: source, Pos: pos}
	inForce := -1
	for i, v := range h {
		ans.Versions = append(ans.Versions, versionOf(source, v, true))
		if v.Pos.Compare(pos) <= 0 {
			inForce = i
		}
	}
	if inForce >= 0 {
		ans.Versions[inForce].InForce = true
	}
	return &Response{Schemas: ans}, nil
}

// apiBinlogSchemaUpdate sets a table's schema from a position on (by
// default where the tailer resumes), from a CREATE TABLE statement, the
// source's table as it is now, or the task's target table, and restarts
// the source's tailer so that it decodes with it.
func (n *control) apiBinlogSchemaUpdate(ctx context.Context, req *Request) (*Response, error) {
	source, task, pos, err := n.schemaTarget(ctx, req.Schema)
	if err != nil {
		return nil, err
	}
	r := req.Schema
	if r.Schema == "" || r.Table == "" {
		return nil, errors.New("name the table: DATABASE TABLE")
	}
	tbl, err := n.schemaFrom(ctx, r, source, task)
	if err != nil {
		return nil, err
	}
	if tbl.Schema != r.Schema || tbl.Name != r.Table {
		if tbl, err = tbl.Project(r.Schema, r.Table, tbl.ColumnNames()); err != nil {
			return nil, err
		}
	}
	v := jetstream.TableVersion{Pos: pos, Schema: r.Schema, Name: r.Table, Table: tbl, Origin: jetstream.OriginOperator}
	if err := n.store.Schemas().PutTables(ctx, source, []jetstream.TableVersion{v}); err != nil {
		return nil, err
	}
	report := []string{fmt.Sprintf("schema of %s.%s on source %s set from %s on: (%s)", r.Schema, r.Table, source, pos, strings.Join(tbl.ColumnNames(), ", "))}
	// A new epoch restarts the tailer where it is: it reads the schemas
	// in force at its checkpoint again.
	tail := catalog.ActorSpec{Kind: catalog.KindTail, Source: source}.ID()
	if a, ok := n.fsm.State().Assign[tail]; ok {
		if err := n.propose(ctx, catalog.Command{Op: catalog.OpAssign, Assign: map[string]string{tail: a.Node}}); err != nil {
			return &Response{Report: report}, fmt.Errorf("restart the tailer of source %s: %w", source, err)
		}
		report = append(report, "the tailer of source "+source+" restarts with it")
	}
	return &Response{Report: report, Schemas: &SchemaAnswer{Source: source, Pos: pos, Versions: []SchemaVersion{versionOf(source, v, true)}}}, nil
}

// schemaFrom reads the schema binlog-schema update sets.
func (n *control) schemaFrom(ctx context.Context, r *SchemaRequest, source, task string) (*schema.Table, error) {
	switch r.From {
	case "":
		if strings.TrimSpace(r.CreateSQL) == "" {
			return nil, errors.New("give the table's CREATE TABLE in a file, or --from-source or --from-target")
		}
		tbl, err := schema.ParseCreateTable(r.Schema, r.CreateSQL)
		if err != nil {
			return nil, fmt.Errorf("the schema file: %w", err)
		}
		return tbl, nil
	case "source":
		s := n.fsm.State().Sources[source]
		if s == nil {
			return nil, fmt.Errorf("source %q is not in the catalog", source)
		}
		src, err := plan.SourceOf(s)
		if err != nil {
			return nil, err
		}
		db, err := n.dialDB(ctx, src.From, 1)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", source, err)
		}
		defer db.Close()
		return actors.ShowCreateTable(ctx, db, dmnode.TableID{Schema: r.Schema, Table: r.Table})
	case "target":
		if task == "" {
			return nil, errors.New("--from-target needs a task name, whose target database it reads")
		}
		env := actors.Env{Store: n.store, Catalog: n.fsm.State, Log: n.log}
		return actors.TableFromTarget(ctx, env, task, source, r.Schema, r.Table)
	}
	return nil, fmt.Errorf("unknown schema origin %q", r.From)
}
