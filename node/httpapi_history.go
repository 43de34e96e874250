package node

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// The console's graphs read the node's own history of each task: every
// historyInterval the node takes its tasks' status and keeps the figures
// of the last hour in a ring per task. It is memory only: a restarted
// node starts a new history, and no Prometheus is needed.
const (
	historyInterval = 10 * time.Second
	historyLen      = int(time.Hour / historyInterval)
)

// HistorySample is one sample of a task: the figures of each source.
type HistorySample struct {
	Time    time.Time             `json:"time"`
	State   string                `json:"state"`
	Sources []SourceHistoryFigure `json:"sources"`
}

// SourceHistoryFigure is one source's figures in a sample.
type SourceHistoryFigure struct {
	Source        string  `json:"source"`
	Stage         string  `json:"stage"`
	LagSeconds    int64   `json:"lag_seconds"`
	RowsPerSecond float64 `json:"rows_per_second"`
	Percent       float64 `json:"percent"`
}

// TaskHistory is a task's samples, oldest first.
type TaskHistory struct {
	Task            string          `json:"task"`
	IntervalSeconds int             `json:"interval_seconds"`
	Samples         []HistorySample `json:"samples"`
}

// history is a ring of samples per task.
type history struct {
	interval time.Duration
	size     int
	mu       sync.Mutex
	rings    map[string][]HistorySample
}

func newHistory(interval time.Duration, size int) *history {
	return &history{interval: interval, size: size, rings: map[string][]HistorySample{}}
}

// add appends a sample of task, dropping the oldest beyond the ring's size.
func (h *history) add(task string, s HistorySample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := append(h.rings[task], s)
	if len(r) > h.size {
		r = append(r[:0:0], r[len(r)-h.size:]...)
	}
	h.rings[task] = r
}

// keep forgets the tasks not in names (deleted tasks).
func (h *history) keep(names map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for t := range h.rings {
		if !names[t] {
			delete(h.rings, t)
		}
	}
}

// get returns the history of one task, or of every task when task is "".
func (h *history) get(task string) []TaskHistory {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []TaskHistory{}
	for name, r := range h.rings {
		if task != "" && name != task {
			continue
		}
		out = append(out, TaskHistory{Task: name, IntervalSeconds: int(h.interval / time.Second), Samples: append([]HistorySample(nil), r...)})
	}
	slices.SortFunc(out, func(x, y TaskHistory) int { return strings.Compare(x.Task, y.Task) })
	return out
}

// sample takes the tasks' status every interval until ctx ends.
func (a *httpAPI) sample(ctx context.Context) {
	t := time.NewTicker(a.hist.interval)
	defer t.Stop()
	for {
		a.sampleOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *httpAPI) sampleOnce(ctx context.Context) {
	if !a.n.ready.Load() || !a.n.storeReady.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, a.hist.interval)
	defer cancel()
	st := a.n.fsm.State()
	names := map[string]bool{}
	now := time.Now().UTC()
	for _, name := range st.TaskNames() {
		names[name] = true
		ts, err := a.n.taskStatus(ctx, st.Tasks[name])
		if err != nil {
			continue
		}
		a.hist.add(name, sampleOf(ts, now))
	}
	a.hist.keep(names)
}

func sampleOf(ts TaskStatus, now time.Time) HistorySample {
	s := HistorySample{Time: now, State: ts.State}
	for _, src := range ts.Sources {
		s.Sources = append(s.Sources, SourceHistoryFigure{
			Source: src.Source, Stage: src.Stage, LagSeconds: src.LagSeconds,
			RowsPerSecond: src.RowsPerSecond, Percent: src.Percent,
		})
	}
	return s
}
