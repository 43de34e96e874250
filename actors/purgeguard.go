package actors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/jetstream"
)

// The purge guard: what dmnode still has to read from a source is the
// binlog from its tailer's checkpoint on (a restarted tailer reads from
// there; everything before it is in the relay, kept as long as a task
// needs it). The source's own retention removes binlog files oldest
// first: by age (binlog_expire_logs_seconds, expire_logs_days), by total
// size (MariaDB's max_binlog_total_size), or by hand (PURGE BINARY LOGS).
// The guard estimates when the file holding the tailer's checkpoint goes
// and warns, in status, log and metrics, once that is less than the
// source's binlog-purge-margin away. A manual purge cannot be foreseen;
// one that removes the file is reported at once (Lost), and the tailer
// stops with a LostBinlogError that names the file and the way out.

// PurgeGuard is the guard's last finding for a source.
type PurgeGuard struct {
	// Need is the oldest binlog position dmnode still has to read from
	// the source; Oldest is the source's oldest binlog file.
	Need   dmnode.Position `json:"need"`
	Oldest string          `json:"oldest,omitempty"`
	// BytesAhead is the binlog the source holds before Need.
	BytesAhead int64 `json:"bytes_ahead"`
	// ExpireSeconds is the source's binlog expiry (0: none); SizeLimit its
	// total binlog size limit (0: none); Rate the bytes per second it
	// writes lately.
	ExpireSeconds int64   `json:"expire_seconds"`
	SizeLimit     int64   `json:"size_limit"`
	Rate          float64 `json:"rate"`
	// SecondsLeft estimates when the source's retention removes Need's
	// file; -1 when it cannot be told (no expiry, no size limit).
	SecondsLeft int64 `json:"seconds_left"`
	// Warn is set when SecondsLeft is below the margin, Lost when Need's
	// file is gone already; Message then says what and what to do.
	Warn    bool      `json:"warn"`
	Lost    bool      `json:"lost"`
	Message string    `json:"message,omitempty"`
	Checked time.Time `json:"checked,omitzero"`
}

// binlogFile is one line of SHOW BINARY LOGS.
type binlogFile struct {
	Name string
	Size int64
}

func hasLog(logs []binlogFile, name string) bool { return logIndex(logs, name) >= 0 }

func logIndex(logs []binlogFile, name string) int {
	for i, l := range logs {
		if l.Name == name {
			return i
		}
	}
	return -1
}

// guardInput is what the guard's arithmetic works from.
type guardInput struct {
	Logs []binlogFile // the source's binlogs, oldest first
	Need dmnode.Position
	// ClosedAt is when the source was seen to start the file after Need's
	// (at or after that file was closed); NeedTime the commit time of a
	// transaction in Need's file (before it was closed). Either may be
	// zero when unknown; ClosedAt is used first.
	ClosedAt  time.Time
	NeedTime  time.Time
	Expire    time.Duration
	SizeLimit int64
	Rate      float64 // bytes per second
	Margin    time.Duration
	Now       time.Time
}

// evalGuard estimates how long the source keeps Need's file, and whether
// that is within the margin.
func evalGuard(in guardInput) PurgeGuard {
	g := PurgeGuard{Need: in.Need, SecondsLeft: -1, ExpireSeconds: int64(in.Expire.Seconds()), SizeLimit: in.SizeLimit, Rate: in.Rate}
	if len(in.Logs) == 0 || in.Need.IsZero() {
		return g
	}
	g.Oldest = in.Logs[0].Name
	idx := logIndex(in.Logs, in.Need.File)
	if idx < 0 {
		g.Lost = true
		g.Message = fmt.Sprintf("binlog %s, which dmnode still has to read (from %s), is no longer on the source (its oldest binlog is %s): it was purged before it was relayed",
			in.Need.File, in.Need, g.Oldest)
		return g
	}
	var total int64
	for i, l := range in.Logs {
		if i < idx {
			g.BytesAhead += l.Size
		}
		total += l.Size
	}
	fromNeedFile := total - g.BytesAhead
	g.BytesAhead += int64(in.Need.Pos)
	var left time.Duration
	known, why := false, ""
	if in.Expire > 0 {
		closed := in.ClosedAt
		if closed.IsZero() {
			closed = in.NeedTime
		}
		switch {
		case idx == len(in.Logs)-1:
			// The active file: it expires no sooner than Expire after it
			// is closed, which is later than now.
			left, known, why = in.Expire, true, "binlog expiry"
		case !closed.IsZero():
			left, known, why = closed.Add(in.Expire).Sub(in.Now), true, "binlog expiry"
		}
	}
	if in.SizeLimit > 0 && in.Rate > 0 {
		// Files go oldest first while the binlog exceeds the limit: Need's
		// file goes once the binlog from its start exceeds it.
		l := time.Duration(float64(in.SizeLimit-fromNeedFile) / in.Rate * float64(time.Second))
		if !known || l < left {
			left, known, why = l, true, "binlog size limit"
		}
	}
	if !known {
		return g
	}
	left = max(0, left)
	g.SecondsLeft = int64(left.Seconds())
	if left < in.Margin {
		g.Warn = true
		g.Message = fmt.Sprintf("binlog %s, which dmnode still has to read (from %s), is due to be purged by the source's %s in about %s, within the margin of %s: "+
			"let the relay take it (a task that lags, loads or is paused holds the relay full) or keep the source's binlog longer",
			in.Need.File, in.Need, why, left.Round(time.Second), in.Margin)
	}
	return g
}

// guardSampler remembers what the guard saw of the source between checks:
// when each binlog file was first seen to be followed by another (its
// close time, give or take a check), and the source's write rate.
type guardSampler struct {
	prev     []binlogFile
	prevAt   time.Time
	rate     float64
	closedAt map[string]time.Time
}

// sample records a new SHOW BINARY LOGS.
func (s *guardSampler) sample(logs []binlogFile, now time.Time) {
	if s.closedAt == nil {
		s.closedAt = map[string]time.Time{}
	}
	if len(s.prev) > 0 {
		last := s.prev[len(s.prev)-1].Name
		if i := logIndex(logs, last); i >= 0 && i < len(logs)-1 {
			if _, ok := s.closedAt[last]; !ok {
				s.closedAt[last] = now
			}
		}
		if dt := now.Sub(s.prevAt).Seconds(); dt > 0 {
			r := float64(binlogWritten(s.prev, logs)) / dt
			if s.rate == 0 {
				s.rate = r
			} else {
				s.rate = 0.7*s.rate + 0.3*r
			}
		}
	}
	for name := range s.closedAt {
		if !hasLog(logs, name) {
			delete(s.closedAt, name)
		}
	}
	s.prev, s.prevAt = logs, now
}

// binlogWritten is how many bytes the source wrote between two SHOW BINARY
// LOGS: the growth of the file that was newest before, plus every file
// after it.
func binlogWritten(prev, cur []binlogFile) int64 {
	if len(prev) == 0 {
		return 0
	}
	last := prev[len(prev)-1]
	i := logIndex(cur, last.Name)
	if i < 0 {
		return 0 // the binlog was reset
	}
	n := max(0, cur[i].Size-last.Size)
	for _, l := range cur[i+1:] {
		n += l.Size
	}
	return n
}

// checkGuard runs the purge guard once.
func (k *retention) checkGuard(ctx context.Context) error {
	var cp TailCheckpoint
	if _, err := k.env.Store.Load(ctx, tailKey(k.source), &cp); err != nil {
		return err
	}
	k.tailPos = cp.Pos
	db, err := k.sourceDB(ctx)
	if err != nil {
		return err
	}
	logs, err := binaryLogs(ctx, db)
	if err != nil {
		return err
	}
	now := time.Now()
	k.guard.sample(logs, now)
	expire, limit := k.retentionSettings(ctx)
	in := guardInput{Logs: logs, Need: cp.Pos, ClosedAt: k.guard.closedAt[cp.Pos.File], Expire: expire, SizeLimit: limit,
		Rate: k.guard.rate, Margin: k.src.BinlogPurgeWarn, Now: now}
	if m, ok, err := k.relay.Last(ctx); err == nil && ok {
		if p, t, err := jetstream.HeaderPosition(m.Header); err == nil && p.File == cp.Pos.File && t > 0 {
			in.NeedTime = time.Unix(int64(t), 0)
		}
	}
	g := evalGuard(in)
	g.Checked = now.UTC()
	was := k.prog.Guard
	k.prog.Guard = g
	if (g.Warn || g.Lost) && (g.Warn != was.Warn || g.Lost != was.Lost || time.Since(k.lastLog) >= 5*time.Minute) {
		k.lastLog = time.Now()
		k.log.Warn("purge guard: "+g.Message, "need", g.Need.String(), "oldest", g.Oldest, "seconds_left", g.SecondsLeft)
	} else if was.Warn && !g.Warn && !g.Lost {
		k.log.Info("purge guard: the binlog dmnode still needs is out of the source's reach again", "need", g.Need.String())
	}
	return nil
}

// sourceDB opens the guard's connection to the source once.
func (k *retention) sourceDB(ctx context.Context) (*sql.DB, error) {
	if k.srcDB == nil {
		db, err := OpenDB(ctx, k.src.From, 1)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", k.source, err)
		}
		k.srcDB = db
	}
	return k.srcDB, nil
}

// binaryLogs runs SHOW BINARY LOGS on the source.
func binaryLogs(ctx context.Context, db *sql.DB) ([]binlogFile, error) {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rows, err := db.QueryContext(qctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("show binary logs: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("show binary logs: %w", err)
	}
	var logs []binlogFile
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		dest := make([]any, len(cols))
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("show binary logs: %w", err)
		}
		if len(vals) < 2 {
			return nil, errors.New("show binary logs: fewer than two columns")
		}
		size, _ := strconv.ParseInt(string(vals[1]), 10, 64)
		logs = append(logs, binlogFile{Name: string(vals[0]), Size: size})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("show binary logs: %w", err)
	}
	return logs, nil
}

// retentionSettings reads the source's binlog expiry and size limit; a
// variable the server does not have counts as unset.
func (k *retention) retentionSettings(ctx context.Context) (expire time.Duration, limit int64) {
	db, err := k.sourceDB(ctx)
	if err != nil {
		return 0, 0
	}
	var secs float64
	if db.QueryRowContext(ctx, "SELECT @@GLOBAL.binlog_expire_logs_seconds").Scan(&secs) == nil && secs > 0 {
		expire = time.Duration(secs * float64(time.Second))
	} else if db.QueryRowContext(ctx, "SELECT @@GLOBAL.expire_logs_days").Scan(&secs) == nil && secs > 0 {
		expire = time.Duration(secs * 24 * float64(time.Hour))
	}
	_ = db.QueryRowContext(ctx, "SELECT @@GLOBAL.max_binlog_total_size").Scan(&limit)
	return expire, limit
}
