package actors

import (
	"context"
	"fmt"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
)

// The schemas of a dump's tables cross from the dumper to the loader
// through the stores, not through the dumper's checkpoint: the dumper
// writes every table's schema at its snapshot position into the schema
// history (handOverSnapshot), then, with each new plan, a
// jetstream.DumpSchemas record naming that position (recordDumpSchemas);
// the loader reads a table's schema there (dumpSchema) when it creates
// the target table.

// recordDumpSchemas records that the plan a dumper has just made was made
// from the schemas at its snapshot position pos.
func recordDumpSchemas(ctx context.Context, env Env, task, source string, pos dmnode.Position) error {
	return jetstream.RecordDumpSchemas(ctx, env.Store, task, source, jetstream.DumpSchemas{Pos: pos, Epoch: env.Epoch})
}

// dumpSchema returns the upstream schema of a table as the dump of task's
// source planned it, nil when the dump does not know the table: its
// version in the schema history at the position the dumper recorded.
//
// A bucket written before the record existed has none: the schema is then
// read from the dump's table key as those versions wrote it (legacyDumpTable).
func dumpSchema(ctx context.Context, env Env, task, source string, id dmnode.TableID) (*schema.Table, error) {
	d, ok, err := jetstream.LoadDumpSchemas(ctx, env.Store, task, source)
	if err != nil {
		return nil, err
	}
	if !ok {
		var t legacyDumpTable
		if _, err := env.Store.Load(ctx, jetstream.DumpTableKey(task, source, id.Schema, id.Table), &t); err != nil {
			return nil, err
		}
		return t.Schema, nil
	}
	v, ok, err := env.Store.Schemas().Table(ctx, source, id.Schema, id.Table, d.Pos)
	if err != nil {
		return nil, fmt.Errorf("read the schema of %s at the dump's snapshot %s: %w", id, d.Pos, err)
	}
	if !ok {
		return nil, nil
	}
	return v.Table, nil
}

// legacyDumpTable is what a loader reads of a dump's table key
// (dumptable.<task>.<source>.<db>.<table>) written by a dumper of a
// version before jetstream.DumpSchemas: the table's schema, its only
// field the loader needs. The form is frozen here, whatever the dumper's
// own DumpTable becomes.
type legacyDumpTable struct {
	Schema *schema.Table `json:"schema"`
}
