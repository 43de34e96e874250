package node

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/actors"
	"github.com/dmnode/dmnode/actors/verify"
	"github.com/dmnode/dmnode/core/catalog"
	"github.com/dmnode/dmnode/core/sqlgen"
)

// Cutover (task.cutover) ends a migration: with the task in sync, it
// freezes the sources' writes, waits until every applier committed each
// source's final position, verifies source and target exactly (fast
// mode), raises the AUTO_INCREMENT of the target tables above their
// largest id, and stops the task. The sources stay read-only: the
// application moves to the target. Any failure before the end unfreezes
// the sources; the whole procedure, from the freeze on, must finish within
// FreezeTimeout or it is undone. A node that dies with the sources frozen
// leaves them read-only: `task cutover --abort` makes them writable.
type Cutover struct {
	// MaxLag is the largest replication lag at which the cutover starts.
	MaxLag time.Duration `json:"max_lag"`
	// Freeze is how writes stop: FreezeReadOnly (SET GLOBAL read_only,
	// and super_read_only on MySQL) or FreezeNone (the application is
	// stopped already).
	Freeze        string        `json:"freeze"`
	FreezeTimeout time.Duration `json:"freeze_timeout"`
	// DryRun does every check, the verification included, without
	// freezing, changing the target or stopping the task.
	DryRun bool `json:"dry_run,omitempty"`
	// Abort makes the sources writable again and does nothing else.
	Abort bool `json:"abort,omitempty"`
}

// Freeze modes.
const (
	FreezeReadOnly = "read-only"
	FreezeNone     = "none"
)

// CutoverReport is what a cutover did.
type CutoverReport struct {
	Task    string          `json:"task"`
	DryRun  bool            `json:"dry_run,omitempty"`
	Abort   bool            `json:"abort,omitempty"`
	Freeze  string          `json:"freeze"`
	Sources []CutoverSource `json:"sources"`
	Tables  []CutoverTable  `json:"tables,omitempty"`
	// Frozen is how long the sources' writes were frozen before the
	// cutover was done (or undone).
	Frozen time.Duration `json:"frozen_ns"`
	// Unfrozen: the sources were made writable again (a failure, an
	// abort or a dry run).
	Unfrozen bool           `json:"unfrozen,omitempty"`
	Verify   *verify.Report `json:"verify,omitempty"`
	Took     time.Duration  `json:"took_ns"`
	Next     string         `json:"next,omitempty"`
	// Failed says why the cutover was undone.
	Failed string `json:"failed,omitempty"`
}

// CutoverSource is one source's part.
type CutoverSource struct {
	Source string `json:"source"`
	// Final is the source's binlog position once its writes were frozen;
	// Applied the applier's checkpoint when it had committed it.
	Final   string `json:"final,omitempty"`
	Applied string `json:"applied,omitempty"`
	LagSecs int64  `json:"lag_seconds"`
}

// CutoverTable is one target table's part: the rows and checksum the
// verification found, and its AUTO_INCREMENT.
type CutoverTable struct {
	Target string `json:"target"`
	// Schema and Table name the target table exactly.
	Schema   string `json:"schema,omitempty"`
	Table    string `json:"table,omitempty"`
	Upstream int    `json:"upstream"`
	Rows     int64  `json:"rows"`
	Checksum uint64 `json:"checksum"`
	// AutoIncColumn is the AUTO_INCREMENT column, "" when none; MaxID
	// its largest value and AutoIncrement the table's next value after
	// the cutover (or, in a dry run, the value it would get).
	AutoIncColumn string `json:"auto_increment_column,omitempty"`
	MaxID         uint64 `json:"max_id,omitempty"`
	AutoIncrement uint64 `json:"auto_increment,omitempty"`
}

// Defaults and bounds of a cutover's settings: the whole request must end
// within the control API's two minutes.
const (
	defaultMaxLag        = 5 * time.Second
	defaultFreezeTimeout = 60 * time.Second
	maxFreezeTimeout     = 100 * time.Second
)

func (n *control) apiTaskCutover(ctx context.Context, req *Request) (*Response, error) {
	opt := Cutover{}
	if req.Cutover != nil {
		opt = *req.Cutover
	}
	if opt.MaxLag <= 0 {
		opt.MaxLag = defaultMaxLag
	}
	if opt.FreezeTimeout <= 0 {
		opt.FreezeTimeout = defaultFreezeTimeout
	}
	if opt.Freeze == "" {
		opt.Freeze = FreezeReadOnly
	}
	if opt.Freeze != FreezeReadOnly && opt.Freeze != FreezeNone {
		return nil, fmt.Errorf("freeze %q: want %s or %s", opt.Freeze, FreezeReadOnly, FreezeNone)
	}
	if opt.FreezeTimeout > maxFreezeTimeout {
		return nil, fmt.Errorf("freeze timeout %s: at most %s", opt.FreezeTimeout, maxFreezeTimeout)
	}
	c, err := n.newCutover(ctx, req.Name, opt)
	if err != nil {
		return nil, err
	}
	defer c.close()
	if opt.Abort {
		err = c.unfreeze(ctx)
		c.rep.Abort, c.rep.Unfrozen = true, err == nil
		if err == nil {
			c.rep.Next = "the sources are writable again"
		}
		return &Response{Cutover: c.rep}, err
	}
	err = c.run(ctx)
	return &Response{Cutover: c.rep}, err
}

// cutover is one run of task.cutover.
type cutover struct {
	n      *control
	opt    Cutover
	task   *catalog.Task
	in     verify.Input
	dbs    map[string]*sql.DB // sources, in the order of rep.Sources
	flavor map[string]string
	finals map[string]dmnode.Position // final source positions
	rep    *CutoverReport
	log    *slog.Logger
}

func (n *control) newCutover(ctx context.Context, name string, opt Cutover) (*cutover, error) {
	in, err := n.verifyInput(name)
	if err != nil {
		return nil, err
	}
	c := &cutover{n: n, opt: opt, task: n.fsm.State().Tasks[name], in: in, dbs: map[string]*sql.DB{}, flavor: map[string]string{}, finals: map[string]dmnode.Position{},
		rep: &CutoverReport{Task: name, DryRun: opt.DryRun, Freeze: opt.Freeze}, log: n.log.With("task", name, "component", "cutover")}
	for _, src := range c.task.SortedSources() {
		cfg := in.Sources[src].Config
		db, err := n.dialDB(ctx, cfg.From, 2)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("source %s: %w", src, err)
		}
		c.dbs[src] = db
		if c.flavor[src], err = actors.DetectFlavor(ctx, db, cfg.Flavor); err != nil {
			c.close()
			return nil, fmt.Errorf("source %s: %w", src, err)
		}
		c.rep.Sources = append(c.rep.Sources, CutoverSource{Source: src})
	}
	return c, nil
}

func (c *cutover) close() {
	for _, db := range c.dbs {
		db.Close()
	}
}

// run does the cutover; on an error after the freeze it unfreezes.
func (c *cutover) run(ctx context.Context) (err error) {
	start := time.Now()
	defer func() { c.rep.Took = time.Since(start) }()
	if err := c.checkInSync(ctx); err != nil {
		return err
	}
	if err := c.checkFreeze(ctx); err != nil {
		return err
	}
	frozen := c.opt.Freeze == FreezeReadOnly && !c.opt.DryRun
	fctx := ctx
	if !c.opt.DryRun {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(ctx, c.opt.FreezeTimeout)
		defer cancel()
	}
	var frozenAt time.Time
	if frozen {
		c.log.Info("freezing writes on the sources")
		frozenAt = time.Now()
		defer func() {
			c.rep.Frozen = time.Since(frozenAt)
			if err == nil {
				return
			}
			c.rep.Failed = err.Error()
			if uerr := c.unfreeze(ctx); uerr != nil {
				err = fmt.Errorf("%w; and unfreezing failed: %v (run dmnode task cutover %s --abort)", err, uerr, c.task.Name)
				return
			}
			c.rep.Unfrozen = true
			c.log.Info("writes unfrozen after a failed cutover", "frozen", c.rep.Frozen, "err", c.rep.Failed)
		}()
		if err := c.freeze(fctx); err != nil {
			return c.timeout(fctx, err)
		}
	}
	if !c.opt.DryRun {
		if err := c.waitApplied(fctx, frozenAt); err != nil {
			return c.timeout(fctx, err)
		}
	}
	if err := c.verify(fctx); err != nil {
		return c.timeout(fctx, err)
	}
	if err := c.raiseAutoIncrement(fctx); err != nil {
		return c.timeout(fctx, err)
	}
	if c.opt.DryRun {
		c.rep.Next = "every check passed: run the same command without --dry-run to cut over"
		return nil
	}
	if err := c.n.setDesired(fctx, c.task.Name, catalog.Stopped); err != nil {
		return c.timeout(fctx, fmt.Errorf("stop the task: %w", err))
	}
	if frozen {
		c.rep.Frozen = time.Since(frozenAt)
		c.rep.Next = "point the application at the target; the sources stay read-only (dmnode task cutover " + c.task.Name + " --abort makes them writable)"
	} else {
		c.rep.Next = "point the application at the target"
	}
	c.log.Info("cutover done", "frozen", c.rep.Frozen)
	return nil
}

// timeout names the freeze timeout when it is what ended a step.
func (c *cutover) timeout(ctx context.Context, err error) error {
	// A dial or read that used the deadline may fail a moment before the
	// context itself says it expired.
	deadline, ok := ctx.Deadline()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || ok && !time.Now().Before(deadline) {
		return fmt.Errorf("the cutover did not finish within the freeze timeout of %s: %w", c.opt.FreezeTimeout, err)
	}
	return err
}

// checkInSync checks that the task runs, every source is in sync (not
// parked on an error) and its lag is at most MaxLag. A retryable error an
// actor had lately (a deadlock on the target) does not count: the lag
// tells whether it recovered.
func (c *cutover) checkInSync(ctx context.Context) error {
	if c.task.Desired != catalog.Running {
		return fmt.Errorf("task %s is %s: a cutover needs it running and in sync (dmnode task resume %s)", c.task.Name, c.task.Desired, c.task.Name)
	}
	ts, err := c.n.taskStatus(ctx, c.task)
	if err != nil {
		return err
	}
	var errs []error
	for i, ss := range ts.Sources {
		c.rep.Sources[i].LagSecs = ss.LagSeconds
		switch {
		case ss.Stage != catalog.StageSync:
			errs = append(errs, fmt.Errorf("source %s is in stage %s, not sync", ss.Source, ss.Stage))
		case time.Duration(ss.LagSeconds)*time.Second > c.opt.MaxLag:
			errs = append(errs, fmt.Errorf("source %s lags %ds, more than --max-lag %s", ss.Source, ss.LagSeconds, c.opt.MaxLag))
		}
	}
	// A quarantined table's changes are held, so its source's position
	// stands still: a cutover would wait out its freeze for nothing.
	for _, q := range rejectedOf(c.n.fsm.State(), c.task.Name) {
		if q.Table == "" {
			continue // a source parked on its DDL is not in sync: said above
		}
		errs = append(errs, fmt.Errorf("table %s of source %s is quarantined at a DDL the target refused (%s): decide with dmnode task skip or task replace --table %s first",
			q.Table, q.Source, q.Error, q.Table))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("task %s is not ready for a cutover: %w", c.task.Name, err)
	}
	return nil
}

// checkFreeze checks that the sources can be frozen: the user may set
// read_only. A dry run learns it without freezing.
func (c *cutover) checkFreeze(ctx context.Context) error {
	if c.opt.Freeze != FreezeReadOnly {
		return nil
	}
	var errs []error
	for _, s := range c.rep.Sources {
		ok, err := canSetReadOnly(ctx, c.dbs[s.Source])
		if err != nil {
			errs = append(errs, fmt.Errorf("source %s: %w", s.Source, err))
		} else if !ok {
			errs = append(errs, fmt.Errorf("source %s: the user cannot SET GLOBAL read_only (needs SUPER, or READ_ONLY ADMIN on MariaDB 10.5.2+); grant it, or stop the application and use --freeze=none", s.Source))
		}
	}
	return errors.Join(errs...)
}

func canSetReadOnly(ctx context.Context, db *sql.DB) (bool, error) {
	rows, err := db.QueryContext(ctx, "SHOW GRANTS")
	if err != nil {
		return false, fmt.Errorf("show grants: %w", err)
	}
	defer rows.Close()
	var grants []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return false, fmt.Errorf("show grants: %w", err)
		}
		grants = append(grants, g)
	}
	return grantsReadOnly(grants), rows.Err()
}

// grantsReadOnly reports whether grants (SHOW GRANTS lines) allow SET
// GLOBAL read_only: a global ALL PRIVILEGES, SUPER or READ_ONLY ADMIN.
func grantsReadOnly(grants []string) bool {
	for _, g := range grants {
		up := strings.ToUpper(g)
		i := strings.Index(up, " ON *.* ")
		if !strings.HasPrefix(up, "GRANT ") || i < 0 {
			continue
		}
		for _, p := range strings.Split(up[len("GRANT "):i], ",") {
			switch strings.TrimSpace(p) {
			case "ALL", "ALL PRIVILEGES", "SUPER", "READ_ONLY ADMIN":
				return true
			}
		}
	}
	return false
}

// freeze makes every source read-only and records its final position.
func (c *cutover) freeze(ctx context.Context) error {
	for i, s := range c.rep.Sources {
		db := c.dbs[s.Source]
		stmts := []string{"SET GLOBAL read_only = ON"}
		if c.flavor[s.Source] != "mariadb" {
			stmts = append(stmts, "SET GLOBAL super_read_only = ON")
		}
		for _, q := range stmts {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("freeze source %s: %s: %w", s.Source, q, err)
			}
		}
		pos, err := actors.MasterPosition(ctx, db, c.flavor[s.Source])
		if err != nil {
			return fmt.Errorf("source %s: %w", s.Source, err)
		}
		c.rep.Sources[i].Final, c.finals[s.Source] = pos.String(), pos
	}
	return nil
}

// unfreeze makes every source writable again.
func (c *cutover) unfreeze(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var errs []error
	for _, s := range c.rep.Sources {
		stmts := []string{"SET GLOBAL read_only = OFF"}
		if c.flavor[s.Source] != "mariadb" {
			stmts = []string{"SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF"}
		}
		for _, q := range stmts {
			if _, err := c.dbs[s.Source].ExecContext(ctx, q); err != nil {
				errs = append(errs, fmt.Errorf("unfreeze source %s: %w", s.Source, err))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// waitApplied waits until every applier has committed its source's final
// position (with --freeze=none, the position read now).
func (c *cutover) waitApplied(ctx context.Context, frozenAt time.Time) error {
	if frozenAt.IsZero() {
		frozenAt = time.Now()
		for i, s := range c.rep.Sources {
			pos, err := actors.MasterPosition(ctx, c.dbs[s.Source], c.flavor[s.Source])
			if err != nil {
				return fmt.Errorf("source %s: %w", s.Source, err)
			}
			c.rep.Sources[i].Final, c.finals[s.Source] = pos.String(), pos
		}
	}
	tdb, err := c.n.dialDB(ctx, c.in.Task.TargetDatabase, 1)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer tdb.Close()
	for i, s := range c.rep.Sources {
		for {
			applied, err := targetCheckpoint(ctx, tdb, c.task.Name, s.Source)
			if err != nil {
				return err
			}
			ok, err := actors.HoldReached(ctx, c.n.store, s.Source, applied, c.finals[s.Source], false, frozenAt)
			if err != nil {
				return err
			}
			if ok {
				c.rep.Sources[i].Applied = applied.String()
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("the applier of source %s has committed %s, not yet the final position %s: %w", s.Source, applied, s.Final, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// targetCheckpoint reads the position an applier committed on the target.
func targetCheckpoint(ctx context.Context, db *sql.DB, task, source string) (dmnode.Position, error) {
	var p dmnode.Position
	err := db.QueryRowContext(ctx, "SELECT binlog_file, binlog_pos FROM "+actors.MetaSchema+".checkpoint WHERE task = ? AND source = ?", task, source).Scan(&p.File, &p.Pos)
	if errors.Is(err, sql.ErrNoRows) {
		return dmnode.Position{}, nil
	}
	if err != nil {
		return dmnode.Position{}, fmt.Errorf("read the checkpoint of source %s on the target: %w", source, err)
	}
	return p, nil
}

// verify runs the exact verification in fast mode to its end.
func (c *cutover) verify(ctx context.Context) error {
	var st *verify.State
	for st == nil || !st.Done() {
		left := time.Until(deadlineOr(ctx, time.Now().Add(verify.MaxStepTime)))
		next, err := verify.Step(ctx, c.in, st, verify.Options{Fast: true, StepTime: min(verify.MaxStepTime, max(time.Second, left))})
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		st = next
	}
	rep := st.Report()
	c.rep.Verify = rep
	for _, t := range rep.Tables {
		c.rep.Tables = append(c.rep.Tables, CutoverTable{Target: t.Target, Schema: t.Schema, Table: t.Table,
			Upstream: len(t.Upstream), Rows: t.RowsCompared, Checksum: t.Checksum})
	}
	if !rep.Equal {
		var bad []string
		for _, t := range rep.Tables {
			if t.Status != verify.StatusEqual {
				what := t.Status
				if t.Reason != "" {
					what += ": " + t.Reason
				}
				bad = append(bad, fmt.Sprintf("%s %s (%d missing, %d extra, %d different)", t.Target, what, t.Missing, t.Extra, t.Different))
			}
		}
		return fmt.Errorf("source and target are not equal: %s", strings.Join(bad, "; "))
	}
	return nil
}

func deadlineOr(ctx context.Context, d time.Time) time.Time {
	if dl, ok := ctx.Deadline(); ok && dl.Before(d) {
		return dl
	}
	return d
}

// raiseAutoIncrement sets the AUTO_INCREMENT of every target table with
// an AUTO_INCREMENT column above its largest value, so that the
// application's first insert does not collide with a migrated id; a dry
// run only computes it.
func (c *cutover) raiseAutoIncrement(ctx context.Context) error {
	tdb, err := c.n.dialDB(ctx, c.in.Task.TargetDatabase, 1)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer tdb.Close()
	for i := range c.rep.Tables {
		t := &c.rep.Tables[i]
		schemaName, table := t.Schema, t.Table
		if schemaName == "" {
			// A verification stored before reports named their table
			// exactly.
			schemaName, table, _ = strings.Cut(t.Target, ".")
		}
		var col string
		err := tdb.QueryRowContext(ctx, `SELECT COLUMN_NAME FROM information_schema.COLUMNS
			WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND EXTRA LIKE '%auto_increment%'`, schemaName, table).Scan(&col)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("find the AUTO_INCREMENT column of %s: %w", t.Target, err)
		}
		qt := sqlgen.QuoteTable(schemaName, table)
		var maxID sql.NullString // unsigned values may pass int64
		if err := tdb.QueryRowContext(ctx, "SELECT CAST(MAX("+sqlgen.QuoteIdent(col)+") AS CHAR) FROM "+qt).Scan(&maxID); err != nil {
			return fmt.Errorf("read the largest %s of %s: %w", col, t.Target, err)
		}
		if maxID.Valid && !strings.HasPrefix(maxID.String, "-") {
			v, err := strconv.ParseUint(maxID.String, 10, 64)
			if err != nil {
				return fmt.Errorf("the largest %s of %s, %q: %w", col, t.Target, maxID.String, err)
			}
			t.MaxID = v
		}
		t.AutoIncColumn, t.AutoIncrement = col, t.MaxID+1
		if c.opt.DryRun {
			continue
		}
		if _, err := tdb.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s AUTO_INCREMENT = %d", qt, t.AutoIncrement)); err != nil {
			return fmt.Errorf("raise the AUTO_INCREMENT of %s: %w", t.Target, err)
		}
		var next sql.NullInt64
		if err := tdb.QueryRowContext(ctx, `SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
			schemaName, table).Scan(&next); err == nil && next.Valid && uint64(next.Int64) > t.AutoIncrement {
			t.AutoIncrement = uint64(next.Int64)
		}
	}
	return nil
}
