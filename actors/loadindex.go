package actors

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/schema"
	"github.com/dmnode/dmnode/jetstream"
)

// Secondary indexes after the load (loaders.*.add-index-after-load): a
// table the loader creates is created without its plain secondary indexes
// (schema.DeferIndexes), and they are added, one ALTER TABLE per table,
// once the task's loads are finished: building an index from the loaded
// rows costs one sort instead of a B-tree insert per row.
//
// Crash safety rests on a record per table, written before the table is
// created and deleted once its indexes exist:
//
//	loadindex.<task>.<source>.<schema>.<table>   loadIndexes
//
// A loader that finishes marks its source loaded (LoadProgress.Loaded)
// and then, if every source of the task is loaded, adds the indexes of
// every record of the task; otherwise it leaves them to the last loader to
// finish, so that a merged table gets its indexes after all its shards'
// rows. The stage is recorded done only after that, so a loader killed
// between its last rows and the ALTER runs again, finds nothing left to
// load, and adds them. Adding is idempotent: indexes already on the table
// (by name) are skipped.

// loadIndexes is the record of one target table's deferred indexes.
type loadIndexes struct {
	Schema  string                  `json:"schema"`
	Table   string                  `json:"table"`
	Indexes []schema.SecondaryIndex `json:"indexes"`
}

func loadIndexKey(task, source, schemaName, table string) string {
	return jetstream.LoadIndexKey(task, source, schemaName, table)
}

// loadIndexPrefix is the prefix of every record of a task, or of one of
// its sources.
func loadIndexPrefix(task, source string) string { return jetstream.LoadIndexPrefix(task, source) }

// deferIndexes is the targetTables hook of a loader with
// add-index-after-load: it records the secondary indexes of a table about
// to be created and returns the CREATE TABLE without them.
func (ld *loadRun) deferIndexes(ctx context.Context, schemaName, table, create string) (string, error) {
	bare, idx, err := schema.DeferIndexes(create)
	if err != nil {
		ld.l.env.Log.Warn("creating the table with its indexes: they could not be split off", "table", schemaName+"."+table, "err", err)
		return create, nil
	}
	if len(idx) == 0 {
		return create, nil
	}
	rec := loadIndexes{Schema: schemaName, Table: table, Indexes: idx}
	if err := ld.l.env.Store.Put(ctx, loadIndexKey(ld.l.task, ld.l.source, schemaName, table), rec); err != nil {
		return "", fmt.Errorf("record the secondary indexes of %s.%s: %w", schemaName, table, err)
	}
	return bare, nil
}

// finishIndexes runs once the loader's rows are all committed, before the
// stage is recorded done: it marks the source loaded and, when every
// source of the task is, adds the deferred indexes of the task's tables.
func (ld *loadRun) finishIndexes(ctx context.Context) error {
	ld.loaded.Store(true)
	if err := ld.putProgress(ctx); err != nil {
		return err
	}
	waiting, err := ld.sourcesLoading(ctx)
	if err != nil {
		return err
	}
	var recs []struct {
		key string
		rec loadIndexes
	}
	if err := ld.l.env.Store.LoadPrefix(ctx, loadIndexPrefix(ld.l.task, ""), func(key string, _ uint64, v []byte) error {
		var r loadIndexes
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("read %s: %w", key, err)
		}
		recs = append(recs, struct {
			key string
			rec loadIndexes
		}{key, r})
		return nil
	}); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	if len(waiting) > 0 {
		ld.l.env.Log.Info("secondary indexes left to the last loader of the task", "tables", len(recs), "still_loading", strings.Join(waiting, ", "))
		return nil
	}
	for _, r := range recs {
		start := time.Now()
		added, err := ld.addIndexes(ctx, r.rec)
		if err != nil {
			return err
		}
		if err := ld.l.env.Store.Delete(ctx, r.key); err != nil {
			return err
		}
		if added > 0 {
			ld.l.env.Log.Info("secondary indexes added after the load", "table", r.rec.Schema+"."+r.rec.Table, "indexes", added,
				"took", time.Since(start).Round(time.Millisecond))
		}
	}
	return nil
}

// sourcesLoading returns the task's other sources whose load is not
// finished: in stage dump or load, and not marked loaded.
func (ld *loadRun) sourcesLoading(ctx context.Context) ([]string, error) {
	t, ok := ld.l.env.Catalog().Tasks[ld.l.task]
	if !ok {
		return nil, nil
	}
	var out []string
	for src, st := range t.Sources {
		if src == ld.l.source || st == nil || st.Stage != catalog.StageDump && st.Stage != catalog.StageLoad {
			continue
		}
		var p LoadProgress
		if _, err := ld.l.env.Store.Load(ctx, loadProgKey(ld.l.task, src), &p); err != nil {
			return nil, err
		}
		if !p.Loaded {
			out = append(out, src)
		}
	}
	slices.Sort(out)
	return out, nil
}

// addIndexes adds the indexes of r not yet on its table, in one ALTER
// TABLE, and returns how many it added. A table that no longer exists has
// nothing to add (a warning says so).
func (ld *loadRun) addIndexes(ctx context.Context, r loadIndexes) (int, error) {
	db := ld.tables.db
	for attempt := 0; ; attempt++ {
		have, err := indexNames(ctx, db, r.Schema, r.Table)
		if err != nil {
			return 0, err
		}
		if have == nil {
			ld.l.env.Log.Warn("the table whose secondary indexes were left for after the load is gone; nothing to add", "table", r.Schema+"."+r.Table)
			return 0, nil
		}
		missing := schema.MissingIndexes(r.Indexes, have)
		if len(missing) == 0 {
			return 0, nil
		}
		run, err := ld.tables.dialect.adapt(ctx, db, ld.l.env.Log, schema.AddIndexes(r.Schema, r.Table, missing))
		if err != nil {
			return 0, err
		}
		for _, q := range run {
			_, err = db.ExecContext(ctx, q)
			if err != nil {
				break
			}
		}
		var me *mysql.MySQLError
		switch {
		case err == nil:
			return len(missing), nil
		case errors.As(err, &me) && me.Number == 1061 && attempt == 0:
			// Another loader of the task added one meanwhile: look again.
			continue
		default:
			return 0, classifyTargetError(fmt.Errorf("add the secondary indexes of %s.%s after the load: %w", r.Schema, r.Table, err))
		}
	}
}

// indexNames returns the names of a target table's indexes, nil when the
// table does not exist.
func indexNames(ctx context.Context, db *sql.DB, schemaName, table string) ([]string, error) {
	cols, err := targetColumns(ctx, db, schemaName, table)
	if err != nil || cols == nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, schemaName, table)
	if err != nil {
		return nil, fmt.Errorf("read indexes of target %s.%s: %w", schemaName, table, err)
	}
	defer rows.Close()
	names := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("read indexes of target %s.%s: %w", schemaName, table, err)
		}
		names = append(names, n)
	}
	return names, rows.Err()
}
