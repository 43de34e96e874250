package bench

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// mixer generates a source's share of the write workload on one table whose
// ids 1..base exist: rounds of five transactions of mixed shapes, each
// round exactly eventsPerRound row events:
//
//	INSERT one row                                  (autocommit)   1
//	UPDATE one row by primary key                   (autocommit)   1
//	DELETE one row                                  (autocommit)   1
//	BEGIN; INSERT 10 rows in one statement; UPDATE a range of 10;
//	       DELETE a range of 5; COMMIT                             25
//	BEGIN; 5 one-row UPDATEs; COMMIT                                5
//
// Updates hit the base rows (never deleted); deletes hit rows inserted
// earlier by the mixer, which are never updated, so every statement changes
// exactly the rows counted.
type mixer struct {
	table   string
	src     int
	base    int
	rng     *rand.Rand
	nextID  int // the next id to insert
	delNext int // the next id to delete, always < nextID
}

const eventsPerRound = 33

func newMixer(table string, src, base int, seed uint64) *mixer {
	return &mixer{table: table, src: src, base: base, rng: rand.New(rand.NewPCG(seed, uint64(src))),
		nextID: base + 1, delNext: base + 1}
}

func (m *mixer) values(b *strings.Builder, id int) {
	fmt.Fprintf(b, "(%d,%d,'%s','%s')", id, kOf(m.src, id), cOf(m.src, id), padOf(m.src, id))
}

// round appends one round's statements to b.
func (m *mixer) round(b *strings.Builder) {
	t := m.table
	fmt.Fprintf(b, "INSERT INTO %s (id,k,c,pad) VALUES ", t)
	m.values(b, m.nextID)
	m.nextID++
	fmt.Fprintf(b, ";UPDATE %s SET k=k+1, c=REVERSE(c) WHERE id=%d", t, 1+m.rng.IntN(m.base))
	fmt.Fprintf(b, ";DELETE FROM %s WHERE id=%d", t, m.delNext)
	m.delNext++
	fmt.Fprintf(b, ";BEGIN;INSERT INTO %s (id,k,c,pad) VALUES ", t)
	for i := range 10 {
		if i > 0 {
			b.WriteByte(',')
		}
		m.values(b, m.nextID)
		m.nextID++
	}
	lo := 1 + m.rng.IntN(m.base-9)
	fmt.Fprintf(b, ";UPDATE %s SET k=k+1 WHERE id BETWEEN %d AND %d", t, lo, lo+9)
	fmt.Fprintf(b, ";DELETE FROM %s WHERE id BETWEEN %d AND %d;COMMIT", t, m.delNext, m.delNext+4)
	m.delNext += 5
	b.WriteString(";BEGIN")
	for range 5 {
		fmt.Fprintf(b, ";UPDATE %s SET k=k+1, pad=REVERSE(pad) WHERE id=%d", t, 1+m.rng.IntN(m.base))
	}
	b.WriteString(";COMMIT;")
}

// write runs n rounds on db, several per round trip.
func (m *mixer) write(ctx context.Context, db *sql.DB, n int) error {
	const perExec = 20
	var b strings.Builder
	for done := 0; done < n; {
		k := min(perExec, n-done)
		b.Reset()
		for range k {
			m.round(&b)
		}
		if _, err := db.ExecContext(ctx, b.String()); err != nil {
			return fmt.Errorf("write to %s: %w", m.table, err)
		}
		done += k
	}
	return nil
}

// paced runs the mixer at eventsPerSec until ctx ends, and returns the row
// events it wrote. When the source cannot keep up it writes as fast as it
// can; the caller reports the rate achieved.
func (m *mixer) paced(ctx context.Context, db *sql.DB, eventsPerSec float64) (int, error) {
	roundsPerSec := eventsPerSec / eventsPerRound
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	done := 0
	for {
		select {
		case <-ctx.Done():
			return done * eventsPerRound, nil
		case <-tick.C:
		}
		owed := int(time.Since(start).Seconds()*roundsPerSec) - done
		if owed <= 0 {
			continue
		}
		owed = min(owed, 40) // at most two round trips before looking at ctx again
		if err := m.write(context.WithoutCancel(ctx), db, owed); err != nil {
			return done * eventsPerRound, err
		}
		done += owed
	}
}

// lagMeter measures replication lag with marker rows: every interval each
// source gets a row (id, time written) in its marker table, and a poller
// reads the newest marker id per source from the target. A marker's lag is
// the time from just before its INSERT upstream to the poll that first saw
// it on the target, so it includes up to one poll interval (20ms).
type lagMeter struct {
	mu     sync.Mutex
	sent   [][]time.Time // per source, the time marker id (index+1) was written
	seen   []int         // per source, the newest marker id seen on the target
	lags   []time.Duration
	series []lagPoint // the lag at every poll
}

// lagPoint is the replication lag at one poll: how long the oldest marker
// not yet on the target has been waiting (0 when every marker arrived).
type lagPoint struct {
	at  time.Time
	lag time.Duration
}

const (
	markerEvery = 50 * time.Millisecond
	pollEvery   = 20 * time.Millisecond
)

func newLagMeter(sources int) *lagMeter {
	return &lagMeter{sent: make([][]time.Time, sources), seen: make([]int, sources)}
}

// mark writes markers to source i's table until ctx ends.
func (l *lagMeter) mark(ctx context.Context, db *sql.DB, i int, table string) error {
	tick := time.NewTicker(markerEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		now := time.Now()
		l.mu.Lock()
		l.sent[i] = append(l.sent[i], now)
		id := len(l.sent[i])
		l.mu.Unlock()
		if _, err := db.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("INSERT INTO %s VALUES (%d, %d)", table, id, now.UnixMicro())); err != nil {
			return fmt.Errorf("write marker: %w", err)
		}
	}
}

// poll reads the target's marker table every pollEvery until ctx ends.
// tag maps c_source to the source index.
func (l *lagMeter) poll(ctx context.Context, db *sql.DB, table string, tag func(string) int) error {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	q := "SELECT c_source, MAX(id) FROM " + table + " GROUP BY c_source"
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := l.pollOnce(ctx, db, q, tag); err != nil {
			return err
		}
	}
}

func (l *lagMeter) pollOnce(ctx context.Context, db *sql.DB, q string, tag func(string) int) error {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("poll markers: %w", err)
	}
	defer rows.Close()
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for rows.Next() {
		var src string
		var id int
		if err := rows.Scan(&src, &id); err != nil {
			return err
		}
		i := tag(src)
		if i < 0 || i >= len(l.seen) || id > len(l.sent[i]) {
			return fmt.Errorf("marker %d of source %q was never written", id, src)
		}
		for k := l.seen[i] + 1; k <= id; k++ {
			l.lags = append(l.lags, now.Sub(l.sent[i][k-1]))
		}
		l.seen[i] = max(l.seen[i], id)
	}
	var lag time.Duration
	for i := range l.seen {
		if l.seen[i] < len(l.sent[i]) {
			lag = max(lag, now.Sub(l.sent[i][l.seen[i]]))
		}
	}
	l.series = append(l.series, lagPoint{at: now, lag: lag})
	if err := rows.Err(); err != nil && ctx.Err() == nil {
		return err
	}
	return nil // a poll stopped in the middle of its query is no error
}

// caughtUp reports whether every marker written has been seen.
func (l *lagMeter) caughtUp() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.seen {
		if l.seen[i] < len(l.sent[i]) {
			return false
		}
	}
	return true
}

// percentiles returns the p50, p99 and max of the markers' lags, in
// seconds.
func (l *lagMeter) percentiles() (p50, p99, pmax float64, n int) {
	l.mu.Lock()
	lags := slices.Clone(l.lags)
	l.mu.Unlock()
	if len(lags) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(lags)
	at := func(q float64) float64 { return lags[min(len(lags)-1, int(q*float64(len(lags))))].Seconds() }
	return at(0.50), at(0.99), lags[len(lags)-1].Seconds(), len(lags)
}

// tagIndex maps extract-source's "01".."03" to source indexes.
func tagIndex(s string) int {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		return -1
	}
	return n - 1
}
