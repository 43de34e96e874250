package verify

import (
	"errors"
	"fmt"
	"time"
)

// Options tune a verification. The zero value of a field takes its
// default.
type Options struct {
	// ChunkRows is the number of upstream rows or target keys read and
	// compared at a time (default 1000).
	ChunkRows int `json:"chunk_rows,omitempty"`
	// Fast compares each chunk by one checksum per side and reads its
	// rows only when the checksums differ; otherwise every row's digest
	// is compared.
	Fast bool `json:"fast,omitempty"`
	// StepTime is how long one Step works before it returns its state
	// (default 20s, at most MaxStepTime).
	StepTime time.Duration `json:"step_time,omitempty"`
}

// Limits of Options: a node answers one control request within two
// minutes, so a step and its last chunk must fit.
const (
	MaxStepTime  = time.Minute
	maxChunkRows = 10000
)

// MaxSampleKeys is the number of keys a table report lists per kind of
// difference; beyond it, differences are counted. It bounds the state a
// verification of a badly broken target carries between steps.
const MaxSampleKeys = 1000

func (o Options) normalize() (Options, error) {
	if o.ChunkRows <= 0 {
		o.ChunkRows = 1000
	}
	if o.StepTime <= 0 {
		o.StepTime = 20 * time.Second
	}
	var errs []error
	if o.ChunkRows > maxChunkRows {
		errs = append(errs, fmt.Errorf("chunk rows %d: at most %d", o.ChunkRows, maxChunkRows))
	}
	if o.StepTime > MaxStepTime {
		errs = append(errs, fmt.Errorf("step time %s: at most %s", o.StepTime, MaxStepTime))
	}
	return o, errors.Join(errs...)
}

// Report is the outcome of a verification, as `task verify -o json`
// prints it. The field names are a stable interface for scripts.
type Report struct {
	Task string `json:"task"`
	// Equal is true when every table was verified and none differs, and
	// there was at least one table.
	Equal    bool          `json:"equal"`
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished,omitzero"`
	Tables   []TableReport `json:"tables"`
	// Positions are, per source, the binlog position at which the last
	// step read source and target.
	Positions map[string]string `json:"positions,omitempty"`
	// MaxHeld is the longest the appliers were held in one step, while
	// the snapshots were taken: the pause replication saw.
	MaxHeld time.Duration `json:"max_held_ns,omitempty"`
}

// Table statuses.
const (
	StatusPending = "pending" // not verified to the end yet
	StatusEqual   = "equal"
	StatusDiffers = "differs"
	StatusSkipped = "skipped" // could not be verified; Reason says why
)

// TableReport is the verification of one target table.
type TableReport struct {
	Target string `json:"target"` // schema.table
	// Schema and Table name the target table exactly (Target cannot
	// tell a dot in a name from the one between them).
	Schema string `json:"schema,omitempty"`
	Table  string `json:"table,omitempty"`
	// Upstream lists the upstream tables routed to it, as
	// source:schema.table.
	Upstream []string `json:"upstream"`
	// KeyColumns names the target key columns; sample keys list their
	// values in this order. For a table without a key (Keyless) they are
	// all the columns: rows are named by their values.
	KeyColumns []string `json:"key_columns"`
	Keyless    bool     `json:"keyless,omitempty"`
	Status     string   `json:"status"`
	Reason     string   `json:"reason,omitempty"`
	// RowsCompared counts the upstream rows compared with the target;
	// RowsFiltered those an insert expression filter drops, not compared.
	RowsCompared int64 `json:"rows_compared"`
	RowsFiltered int64 `json:"rows_filtered"`
	// TargetRowsScanned counts the target keys checked for extra rows.
	TargetRowsScanned int64 `json:"target_rows_scanned"`
	Missing           int64 `json:"missing"`
	Extra             int64 `json:"extra"`
	Different         int64 `json:"different"`
	// Sample keys, at most MaxSampleKeys per kind, in key order within
	// each upstream table; values are text, binary ones as 0x… hex.
	MissingKeys   [][]string `json:"missing_keys,omitempty"`
	ExtraKeys     [][]string `json:"extra_keys,omitempty"`
	DifferentKeys [][]string `json:"different_keys,omitempty"`
	// Checksum is the XOR of the first 64 bits of the digest of every
	// upstream row compared, each read at its step's position: two
	// verifications of unchanged tables give the same checksum.
	Checksum uint64   `json:"checksum"`
	Notes    []string `json:"notes,omitempty"`
}

// Differs reports whether any difference was found so far.
func (t *TableReport) Differs() bool { return t.Missing+t.Extra+t.Different > 0 }

// kind of a difference.
type kind uint8

const (
	missing kind = iota
	extra
	different
)

// add counts one difference and keeps its key as a sample while there is
// room.
func (t *TableReport) add(k kind, key []string) {
	count, keys := &t.Missing, &t.MissingKeys
	switch k {
	case extra:
		count, keys = &t.Extra, &t.ExtraKeys
	case different:
		count, keys = &t.Different, &t.DifferentKeys
	}
	*count++
	if key != nil && len(*keys) < MaxSampleKeys {
		*keys = append(*keys, key)
	}
}

// room reports whether a key of kind k would still be kept as a sample.
func (t *TableReport) room(k kind) bool {
	switch k {
	case extra:
		return len(t.ExtraKeys) < MaxSampleKeys
	case different:
		return len(t.DifferentKeys) < MaxSampleKeys
	}
	return len(t.MissingKeys) < MaxSampleKeys
}

// State is a verification in progress: the report so far and where each
// table's verification stands. It holds no password and no row values,
// only keys. Its JSON form is what the CLI keeps in its --state file.
type State struct {
	Version  int           `json:"version"`
	Task     string        `json:"task"`
	Spec     string        `json:"spec"` // digest of the task file verified
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished,omitzero"`
	Tables   []*TableState `json:"tables"`
	// Positions are the source positions the last step compared at.
	Positions map[string]string `json:"positions,omitempty"`
	// MaxHeld is the longest a step held the appliers.
	MaxHeld time.Duration `json:"max_held_ns,omitempty"`
}

const stateVersion = 1

// TableState is the progress of one target table.
type TableState struct {
	Report TableReport `json:"report"`
	// Upstream holds one cursor per upstream table (first pass: missing
	// and different rows), in the order of Report.Upstream.
	Upstream []*Cursor `json:"upstream"`
	// Target is the cursor of the second pass over the target's keys
	// (extra rows), which starts when every upstream cursor is done.
	Target Cursor `json:"target"`
}

// Cursor is the position of a pass over one table in key order.
type Cursor struct {
	Table string `json:"table,omitempty"` // source:schema.table; empty for the target
	// After is the key of the last row verified, each column as the
	// server printed it; nil before the first chunk.
	After [][]byte `json:"after,omitempty"`
	Done  bool     `json:"done,omitempty"`
}

// Done reports whether the verification is finished.
func (s *State) Done() bool { return !s.Finished.IsZero() }

// Report returns the report of the verification so far.
func (s *State) Report() *Report {
	// Nothing to verify is not "equal": it is a task whose rules match no
	// table, or a wrong task.
	r := &Report{Task: s.Task, Started: s.Started, Finished: s.Finished, Equal: s.Done() && len(s.Tables) > 0, Positions: s.Positions, MaxHeld: s.MaxHeld}
	for _, t := range s.Tables {
		r.Tables = append(r.Tables, t.Report)
		if t.Report.Status != StatusEqual {
			r.Equal = false
		}
	}
	return r
}

func (t *TableState) done() bool {
	return t.Report.Status != StatusPending
}

// skip marks a table as not verifiable.
func (t *TableState) skip(reason string) {
	t.Report.Status, t.Report.Reason = StatusSkipped, reason
}

// finish sets the final status once both passes are done.
func (t *TableState) finish() {
	t.Report.Status = StatusEqual
	if t.Report.Differs() {
		t.Report.Status = StatusDiffers
	}
}
