package actors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/dmnode/dmnode/core/tidb"
)

// TargetTiDB reads the target's version and reports whether it is TiDB,
// and which release.
func TargetTiDB(ctx context.Context, q Queryer) (tidb.Version, bool, error) {
	var v string
	if err := q.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return tidb.Version{}, false, fmt.Errorf("read target version: %w", err)
	}
	tv, ok := tidb.ParseVersion(v)
	return tv, ok, nil
}

// tidbSession returns the session settings to add for a TiDB target
// (tidb.SessionDefaults) that the server knows: a server that calls itself
// TiDB but lacks a variable (a stand-in in tests) is not sent it.
func tidbSession(ctx context.Context, q Queryer, v tidb.Version, userSet map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for k, val := range tidb.SessionDefaults(v, userSet) {
		var name, cur string
		err := q.QueryRowContext(ctx, "SHOW VARIABLES LIKE ?", k).Scan(&name, &cur)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("read target variable %s: %w", k, err)
		}
		if err == nil {
			out[k] = val
		}
	}
	return out, nil
}

// targetDialect is what a writer knows of its target's SQL dialect, read
// once, before the first statement it adapts. Safe for concurrent use (the
// loader's workers create tables at once).
type targetDialect struct {
	mu      sync.Mutex
	checked bool
	tidb    bool
	version tidb.Version
}

// adapt returns the statements to run on the target for one DDL statement:
// on TiDB, adapted by tidb.AdaptDDL, or a permanent error naming the
// statement, the reason and the fix when TiDB cannot run it; on other
// targets the statement itself.
func (d *targetDialect) adapt(ctx context.Context, q Queryer, log *slog.Logger, stmt string) ([]string, error) {
	return d.adaptParsed(ctx, q, log, stmt, nil)
}

// adaptParsed is adapt for a statement the caller may have parsed: node,
// when not nil, is stmt parsed (tidb.AdaptParsed, which leaves it as it
// is).
func (d *targetDialect) adaptParsed(ctx context.Context, q Queryer, log *slog.Logger, stmt string, node ast.StmtNode) ([]string, error) {
	version, isTiDB, err := d.target(ctx, q, log)
	if err != nil {
		return nil, err
	}
	if !isTiDB {
		return []string{stmt}, nil
	}
	var a tidb.Adapted
	if node != nil {
		a, err = tidb.AdaptParsed(version, stmt, node)
	} else {
		a, err = tidb.AdaptDDL(version, stmt)
	}
	var ref *tidb.Refusal
	if errors.As(err, &ref) {
		return nil, Permanent(fmt.Errorf("the target, TiDB %s, cannot run DDL %q: %s; %s",
			version, abbreviate(stmt), ref.Reason, ref.Fix))
	}
	if err != nil {
		return nil, err
	}
	for _, n := range a.Notes {
		log.Warn("DDL adapted for TiDB", "ddl", abbreviate(stmt), "change", n)
	}
	return a.Statements, nil
}

// target reads, on first use, whether the target is TiDB and which
// release.
func (d *targetDialect) target(ctx context.Context, q Queryer, log *slog.Logger) (tidb.Version, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.checked {
		v, ok, err := TargetTiDB(ctx, q)
		if err != nil {
			return tidb.Version{}, false, err
		}
		d.checked, d.tidb, d.version = true, ok, v
		if ok {
			log.Info("the target is TiDB: DDL is adapted to what it runs", "tidb", v.String())
		}
	}
	return d.version, d.tidb, nil
}

// forTarget adapts one routed DDL of the applier to its target's dialect.
func (r *applyRun) forTarget(ctx context.Context, stmt string) ([]string, error) {
	run, err := r.adaptForTarget(ctx, stmt)
	if err != nil && IsPermanent(err) {
		return nil, Permanent(fmt.Errorf("at %s: %w", r.pending, err))
	}
	return run, err
}
