package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dmnode/dmnode"
)

// The records that cross actors. An actor's checkpoint is its own: only
// it reads and writes it, and its form may change with the actor. What one
// actor hands to another, or publishes for the control layer, is one of
// the records below, stored in the CheckpointStore under a key of keys.go
// (or in the SchemaStore): their form is kept readable across versions.
//
//	start.<source>            SourceStart: where the source's relay starts (SourceStartKey)
//	progress.tail.<source>    TailProgress: how far the relay reaches (TailProgressKey)
//	relaystart.<source>       a dmnode.Position: the end of the last transaction purged
//	                          from the relay, zero or missing when nothing was (RelayStartKey)
//	dumpschemas.<task>.<source>  DumpSchemas: where the schemas of a dump's tables are, for
//	                          its loader (DumpSchemasKey)

// SourceStart is where a source's tailer reads its first binlog event: the
// consistent snapshot position of the first dump of the source, or, when
// the tailer started before any dump, the position it chose (the catalog's
// TailFrom, or the source's current position). A dumper hands its snapshot
// to the tailer with it; the tailer reads it when it has no checkpoint of
// its own yet, and never again after.
//
// The schemas in force at Pos are in the SchemaStore as versions at Pos
// (OriginSnapshot for a dump's snapshot), written before the record, so
// whoever reads the record finds them there.
type SourceStart struct {
	Pos    dmnode.Position `json:"pos"`
	Flavor string          `json:"flavor"` // mysql or mariadb, as the source reported it
	// Task names the task whose dump took the snapshot; empty when the
	// tailer chose the position itself.
	Task string `json:"task,omitempty"`
}

// ClaimSourceStart records s as where the relay of source starts, unless a
// start is recorded already: the first claim wins, so that the relay of a
// source starts at one position whoever (a dumper, the tailer) got there
// first. It returns the start in force: s, or the one recorded before.
func ClaimSourceStart(ctx context.Context, store CheckpointStore, source string, s SourceStart) (SourceStart, error) {
	for range 3 {
		_, err := store.Save(ctx, SourceStartKey(source), s, 0)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, ErrFenced) {
			return SourceStart{}, fmt.Errorf("record where the relay of source %s starts: %w", source, err)
		}
		in, ok, err := LoadSourceStart(ctx, store, source)
		if err != nil || ok {
			return in, err
		}
		// claimed, then removed (the source was removed meanwhile): again
	}
	return SourceStart{}, fmt.Errorf("record where the relay of source %s starts: the record keeps changing: %w", source, ErrFenced)
}

// LoadSourceStart returns the start recorded for source; ok is false when
// none is.
func LoadSourceStart(ctx context.Context, store CheckpointStore, source string) (s SourceStart, ok bool, err error) {
	rev, err := store.Load(ctx, SourceStartKey(source), &s)
	if err != nil {
		return SourceStart{}, false, err
	}
	return s, rev != 0, nil
}

// TailProgress is what a source's tailer publishes about its relay, for
// the appliers' holds (a verifier's, a cutover's), task status and
// metrics. It is written about once a second while the tailer runs, last
// writer wins; a tailer that stopped leaves its last one.
type TailProgress struct {
	// Published is the end of the last transaction in the relay.
	Published dmnode.Position `json:"published"`
	// Upstream is the latest position the source reported.
	Upstream dmnode.Position `json:"upstream"`
	// EventTime is the commit time (Unix seconds) of the last transaction
	// published.
	EventTime uint32 `json:"event_time"`
	// CaughtUp is when the source last said, by a heartbeat, that it had
	// nothing newer than what the tailer had published: the relay was
	// current then. An idle source keeps it fresh; a stuck tailer lets it
	// age.
	CaughtUp time.Time `json:"caught_up"`
	// Updated is when the record was written.
	Updated time.Time `json:"updated"`
}

// LoadTailProgress returns the progress the tailer of source last
// published; the zero TailProgress when it published none.
func LoadTailProgress(ctx context.Context, store CheckpointStore, source string) (TailProgress, error) {
	var p TailProgress
	if _, err := store.Load(ctx, TailProgressKey(source), &p); err != nil {
		return TailProgress{}, err
	}
	return p, nil
}

// LoadRelayStart returns the end of the last transaction purged from the
// relay of source: the relay holds every transaction that ends after it.
// The zero Position when nothing was purged.
func LoadRelayStart(ctx context.Context, store CheckpointStore, source string) (dmnode.Position, error) {
	var p dmnode.Position
	if _, err := store.Load(ctx, RelayStartKey(source), &p); err != nil {
		return dmnode.Position{}, err
	}
	return p, nil
}

// DumpSchemas says where the schemas of the tables of a task's dump of a
// source are: the SchemaStore's versions at Pos, the consistent snapshot
// the dump's plan was made from. A dumper writes every table's schema at
// its snapshot position into the SchemaStore first, then, when it makes a
// new plan, this record, before any chunk of the plan is published; the
// loader reads there the upstream schema of a target table it has to
// create. A dumper that resumes a plan leaves the record as it is: the
// plan's schemas are still those at Pos.
//
// Buckets written before the record existed lack it: their loader reads
// the schema from the dump's table keys instead (see the actors' loader).
type DumpSchemas struct {
	Pos dmnode.Position `json:"pos"`
	// Epoch is the assignment epoch of the dumper that wrote the record:
	// an older incarnation cannot replace a newer one's record.
	Epoch uint64 `json:"epoch"`
}

// RecordDumpSchemas records d as where the schemas of the dump of task's
// source are, replacing the record of an incarnation of the same or an
// older epoch; it fails with ErrFenced when a newer incarnation wrote the
// record.
func RecordDumpSchemas(ctx context.Context, store CheckpointStore, task, source string, d DumpSchemas) error {
	key := DumpSchemasKey(task, source)
	for range 3 {
		var cur DumpSchemas
		rev, err := store.Load(ctx, key, &cur)
		if err != nil {
			return fmt.Errorf("record the schemas of the dump of %s: %w", source, err)
		}
		if rev != 0 && cur.Epoch > d.Epoch {
			return fmt.Errorf("record the schemas of the dump of %s: written by epoch %d, this is %d: %w", source, cur.Epoch, d.Epoch, ErrFenced)
		}
		_, err = store.Save(ctx, key, d, rev)
		if !errors.Is(err, ErrFenced) {
			if err != nil {
				return fmt.Errorf("record the schemas of the dump of %s: %w", source, err)
			}
			return nil
		}
		// written meanwhile: read it again
	}
	return fmt.Errorf("record the schemas of the dump of %s: the record keeps changing: %w", source, ErrFenced)
}

// LoadDumpSchemas returns where the schemas of the dump of task's source
// are; ok is false when no dumper recorded it.
func LoadDumpSchemas(ctx context.Context, store CheckpointStore, task, source string) (d DumpSchemas, ok bool, err error) {
	rev, err := store.Load(ctx, DumpSchemasKey(task, source), &d)
	if err != nil {
		return DumpSchemas{}, false, err
	}
	return d, rev != 0, nil
}
