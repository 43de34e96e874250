package verify

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/actors"
)

// Holder stops the appliers of the task at source positions while the
// target's snapshot is taken (actors.Holds; see actors/hold.go for the
// protocol). Its methods block until the applier answered or a timeout of
// a few seconds passed.
type Holder interface {
	// Stop makes the applier of source stop before its next transaction.
	Stop(ctx context.Context, source, id string) (dmnode.Position, error)
	// HoldAt lets it apply up to at and returns once it holds there;
	// since is when at was read on the source.
	HoldAt(ctx context.Context, source, id string, at dmnode.Position, since time.Time) error
	// Release lets the appliers of the sources held by id go on.
	Release(ctx context.Context, id string, sources ...string) error
}

// snapshots are the connections one step reads through: one per source
// and one to the target, each in a consistent-snapshot transaction, the
// target's taken while every applier held the position of its source's.
type snapshots struct {
	src map[string]*sql.Conn
	at  map[string]dmnode.Position
	tgt *sql.Conn
	// held is how long the appliers were asked to hold: from the
	// request to stop until they were let go, which bounds the pause
	// they saw.
	held time.Duration
}

func (s *snapshots) close() {
	for _, c := range s.src {
		c.Close()
	}
	if s.tgt != nil {
		s.tgt.Close()
	}
}

// takeSnapshots opens the step's snapshots:
//
//  1. every held applier stops before its next transaction;
//  2. each source's snapshot is taken with the binlog position it
//     reflects: on MariaDB lock-free (START TRANSACTION WITH CONSISTENT
//     SNAPSHOT, then binlog_snapshot_file/position, which the server
//     reports for that very snapshot); on MySQL under a FLUSH TABLES WITH
//     READ LOCK held for the two statements, as the dumper does;
//  3. each held applier applies up to its source's position and holds;
//  4. the target's snapshot is taken, and the appliers go on.
//
// A source whose applier does not run (a paused task) is not held: the
// target is then compared as it stands.
func takeSnapshots(ctx context.Context, in Input, dbs map[string]*sql.DB, tdb *sql.DB) (_ *snapshots, err error) {
	s := &snapshots{src: map[string]*sql.Conn{}, at: map[string]dmnode.Position{}}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	id := newHoldID()
	held := in.HoldSources
	if in.Hold == nil {
		held = nil
	}
	if len(held) > 0 {
		start := time.Now()
		defer func() {
			if rerr := in.Hold.Release(ctx, id, held...); rerr != nil && err == nil {
				err = fmt.Errorf("release the appliers: %w", rerr)
			}
			s.held = time.Since(start)
		}()
	}
	for _, src := range held {
		if _, err := in.Hold.Stop(ctx, src, id); err != nil {
			return nil, err
		}
	}
	since := time.Now()
	for src, db := range dbs {
		c, pos, err := sourceSnapshot(ctx, db, in.Sources[src].Config.Flavor)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", src, err)
		}
		s.src[src], s.at[src] = c, pos
	}
	for _, src := range held {
		if err := in.Hold.HoldAt(ctx, src, id, s.at[src], since); err != nil {
			return nil, err
		}
	}
	if s.tgt, err = openSnapshot(ctx, tdb); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	return s, nil
}

func newHoldID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// openSnapshot opens a connection in a consistent-snapshot transaction.
func openSnapshot(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	for _, q := range []string{"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION WITH CONSISTENT SNAPSHOT"} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			c.Close()
			return nil, fmt.Errorf("open consistent snapshot: %w", err)
		}
	}
	return c, nil
}

// sourceSnapshot opens a snapshot of a source and returns the binlog
// position it reflects.
func sourceSnapshot(ctx context.Context, db *sql.DB, flavor string) (*sql.Conn, dmnode.Position, error) {
	flavor, err := actors.DetectFlavor(ctx, db, flavor)
	if err != nil {
		return nil, dmnode.Position{}, err
	}
	if flavor == "mariadb" {
		c, err := openSnapshot(ctx, db)
		if err != nil {
			return nil, dmnode.Position{}, err
		}
		pos, err := snapshotPosition(ctx, c)
		if err != nil {
			c.Close()
			return nil, dmnode.Position{}, err
		}
		return c, pos, nil
	}
	lock, err := db.Conn(ctx)
	if err != nil {
		return nil, dmnode.Position{}, err
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
		return nil, dmnode.Position{}, fmt.Errorf("flush tables with read lock (needs the RELOAD privilege): %w", err)
	}
	defer lock.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES")
	c, err := openSnapshot(ctx, db)
	if err != nil {
		return nil, dmnode.Position{}, err
	}
	pos, err := actors.MasterPosition(ctx, lock, flavor)
	if err != nil {
		c.Close()
		return nil, dmnode.Position{}, err
	}
	return c, pos, nil
}

// snapshotPosition reads the binlog position of the consistent snapshot
// the connection's transaction started (MariaDB, Percona Server).
func snapshotPosition(ctx context.Context, c *sql.Conn) (dmnode.Position, error) {
	rows, err := c.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return dmnode.Position{}, fmt.Errorf("read the snapshot's binlog position: %w", err)
	}
	defer rows.Close()
	var p dmnode.Position
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return dmnode.Position{}, fmt.Errorf("read the snapshot's binlog position: %w", err)
		}
		switch strings.ToLower(name) {
		case "binlog_snapshot_file":
			p.File = value
		case "binlog_snapshot_position":
			n, err := strconv.ParseUint(value, 10, 32)
			if err != nil {
				return dmnode.Position{}, fmt.Errorf("binlog snapshot position %q: %w", value, err)
			}
			p.Pos = uint32(n)
		}
	}
	if err := rows.Err(); err != nil {
		return dmnode.Position{}, fmt.Errorf("read the snapshot's binlog position: %w", err)
	}
	if p.File == "" {
		return dmnode.Position{}, errors.New("the server reports no binlog snapshot position: binary logging is off")
	}
	return p, nil
}
