package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/jetstream"
)

// KindValidate is the continuous validator's actor kind: one per task and
// source whose validator mode is fast or full, reading the source's binlog
// stream beside the applier.
const KindValidate = "validate"

// Validation error states, named as DM's validation show-error does.
const (
	ValidationUnprocessed = "unprocessed"
	ValidationIgnored     = "ignored"
	ValidationResolved    = "resolved"
)

// Kinds of a validation error: the row the source holds is not on the
// target, the target holds a row the source does not, or both hold it
// with other values.
const (
	ValidationMissing   = "missing"
	ValidationExtra     = "extra"
	ValidationDifferent = "different"
)

// ValidationErrorsKept bounds the errors kept per task and source; past
// it the oldest settled (ignored or resolved) errors, then the oldest, are
// dropped and counted.
const ValidationErrorsKept = 1000

// ValidatorState is a continuous validator's record in the KV: its
// position, its counts and the rows it found different. The validator and
// the control API (validation clear-error) both change it, each with a
// read, a change and a conditional write (UpdateValidatorState).
type ValidatorState struct {
	Mode string `json:"mode"`
	// Position is the checkpoint: every row changed up to it has been
	// compared (or reported); a new incarnation reads the stream after it.
	Position dmnode.Position `json:"position"`
	// Read is the end of the last transaction read from the stream.
	Read dmnode.Position `json:"read"`
	// Checked counts the row changes compared equal, Pending the rows
	// waiting for the applier or for their difference to last, and
	// Skipped the row changes not compared (tables without a key).
	Checked int64 `json:"rows_checked"`
	Pending int64 `json:"rows_pending"`
	Skipped int64 `json:"rows_skipped"`
	// Gaps counts the stretches of binlog purged from the relay before the
	// validator read them (the relay's retention follows the appliers, not
	// the validator): their row changes were not compared. GapEnd is where
	// the last one ended.
	Gaps   int64           `json:"relay_gaps,omitempty"`
	GapEnd dmnode.Position `json:"relay_gap_end,omitzero"`
	// ErrorsTotal counts every error ever found; Errors holds the last
	// ValidationErrorsKept, Dropped counts those dropped.
	ErrorsTotal int64             `json:"errors_total"`
	Dropped     int64             `json:"errors_dropped"`
	NextID      int64             `json:"next_id"`
	Errors      []ValidationError `json:"errors,omitempty"`
	// Stopped is set by validation stop and cleared by validation start:
	// the validator then neither reads nor compares, and keeps its place.
	Stopped bool      `json:"stopped,omitempty"`
	Updated time.Time `json:"updated"`
}

// ValidationError is one row the validator found different for longer
// than row-error-delay.
type ValidationError struct {
	ID     int64  `json:"id"`
	Kind   string `json:"kind"`   // missing | extra | different
	State  string `json:"state"`  // unprocessed | ignored | resolved
	Table  string `json:"table"`  // upstream `schema`.`table`
	Target string `json:"target"` // target `schema`.`table`
	// Key names the row: "column=value" per target key column.
	Key []string `json:"key"`
	// Position is the end of the last binlog transaction that changed
	// the row before it was found different.
	Position dmnode.Position `json:"position"`
	Time     time.Time       `json:"time"`
}

// Unresolved counts the errors neither ignored nor resolved.
func (s *ValidatorState) Unresolved() int64 {
	var n int64
	for _, e := range s.Errors {
		if e.State == ValidationUnprocessed {
			n++
		}
	}
	return n
}

// addErrors appends new errors, numbering them, and keeps the bound.
func (s *ValidatorState) addErrors(errs []ValidationError) {
	for _, e := range errs {
		s.NextID++
		e.ID, e.State = s.NextID, ValidationUnprocessed
		s.Errors = append(s.Errors, e)
		s.ErrorsTotal++
	}
	for len(s.Errors) > ValidationErrorsKept {
		drop := 0
		for i, e := range s.Errors {
			if e.State != ValidationUnprocessed {
				drop = i
				break
			}
		}
		s.Errors = append(s.Errors[:drop], s.Errors[drop+1:]...)
		s.Dropped++
	}
}

// ValidatorKey is the KV key of a task's validator state for a source.
func ValidatorKey(task, source string) string {
	return jetstream.ValidatorKey(task, source)
}

// UpdateValidatorState applies fn to the validator record of a task and
// source, read afresh, and writes it back unless another writer changed it
// meanwhile, in which case it reads and applies fn again.
func UpdateValidatorState(ctx context.Context, store jetstream.CheckpointStore, task, source string, fn func(*ValidatorState) error) (*ValidatorState, error) {
	key := ValidatorKey(task, source)
	for attempt := 0; ; attempt++ {
		var st ValidatorState
		rev, err := store.Load(ctx, key, &st)
		if err != nil {
			return nil, err
		}
		if err := fn(&st); err != nil {
			return nil, err
		}
		st.Updated = time.Now().UTC()
		if _, err := store.Save(ctx, key, &st, rev); err == nil {
			return &st, nil
		} else if !errors.Is(err, jetstream.ErrFenced) || attempt >= 20 {
			return nil, fmt.Errorf("validator state of task %s source %s: %w", task, source, err)
		}
	}
}
