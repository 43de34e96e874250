package actors

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"

	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/jetstream"
)

// metaTables are the target tables where a task keeps state, each with a
// task column.
var metaTables = []string{"checkpoint", "fence", "online_ddl", "apply_window", "shard_resync"}

// purgeOpenTarget opens the target of TargetCheckpoints and PurgeTask:
// OpenTarget (a test gives a stand-in).
var purgeOpenTarget = OpenTarget

// TargetCheckpoints counts the rows a task named name left in the target's
// dmnode_meta tables: a task submitted under that name would resume from
// them, which is right only for the same task.
func TargetCheckpoints(ctx context.Context, target config.DBConfig, name string) (int, error) {
	db, err := purgeOpenTarget(ctx, target, 1)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+MetaSchema+`.checkpoint WHERE task = ?`, name).Scan(&n)
	if isMissingTable(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read checkpoints on the target: %w", err)
	}
	return n, nil
}

// PurgeTask removes everything a task keeps: its checkpoints (the dump's
// table keys included), the records its dumpers left for its loaders and
// progress in the KV bucket, its snapshot stream, and its rows in the target's
// dmnode_meta tables. The source binlog streams are shared by tasks and
// stay. The task must not run.
func PurgeTask(ctx context.Context, store interface {
	jetstream.CheckpointStore
	jetstream.SnapshotQueues
}, target config.DBConfig, name string, sources []string) error {
	var keys []string
	for _, src := range sources {
		keys = append(keys, dumpKey(name, src), jetstream.DumpSchemasKey(name, src), dumpProgKey(name, src), loadProgKey(name, src),
			applyProgKey(name, src), holdKey(name, src), heldKey(name, src))
		for _, kind := range []string{"dump", "load", "apply"} {
			keys = append(keys, jetstream.ErrorKey(kind, name, src))
		}
		// the continuous validator's state and last error
		keys = append(keys, ValidatorKey(name, src), jetstream.ErrorKey(KindValidate, name, src))
	}
	if err := store.Delete(ctx, keys...); err != nil {
		return err
	}
	for _, src := range sources {
		if err := store.DeletePrefix(ctx, dumpTablesPrefix(name, src)); err != nil {
			return err
		}
		if err := store.DeletePrefix(ctx, loadIndexPrefix(name, src)); err != nil {
			return err
		}
	}
	if err := store.DeleteSnapshotQueue(ctx, name); err != nil {
		return err
	}
	db, err := purgeOpenTarget(ctx, target, 1)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, tbl := range metaTables {
		_, err := db.ExecContext(ctx, `DELETE FROM `+MetaSchema+`.`+tbl+` WHERE task = ?`, name)
		if err != nil && !isMissingTable(err) {
			return fmt.Errorf("delete the task's rows from %s.%s on the target: %w", MetaSchema, tbl, err)
		}
	}
	return nil
}

// isMissingTable reports a query on a table (or schema) that does not
// exist: nothing to read or delete.
func isMissingTable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1146 || me.Number == 1049)
}
