package config

import (
	"strconv"
	"strings"
	"time"
)

// Relay retention settings of a source, with their defaults.
const (
	// DefaultRelayMaxSize bounds a source's relay stream when its file does
	// not say relay-max-size. The relay only holds the binlog that some
	// task has not applied yet, so it fills only while a task lags, loads
	// or is paused; then the tailer waits and the source keeps the binlog.
	DefaultRelayMaxSize = 10 << 30
	// DefaultBinlogPurgeMargin is how long before the source's binlog
	// retention would remove a binlog dmnode still needs that the purge
	// guard warns.
	DefaultBinlogPurgeMargin = time.Hour
)

// Purge is DM's relay purge block of source.yaml. dmnode trims a
// source's relay up to the oldest position a task on the source still
// needs, continuously; of DM's keys only Expires changes that.
type Purge struct {
	// Interval is DM's seconds between purge passes: accepted, without
	// effect (dmnode trims on every pass of a few seconds).
	Interval int `yaml:"interval"`
	// Expires is DM's hours that relay no task needs is kept before it is
	// purged. 0, DM's default, keeps it for no time in dmnode (DM: never
	// purge by age, only by free space): the relay is not a cache for tasks
	// that do not exist yet.
	Expires int `yaml:"expires"`
	// RemainSpace is DM's free-space trigger in GB: accepted, without
	// effect; RelayMaxSize bounds the relay instead.
	RemainSpace int `yaml:"remain-space"`
}

// checkRelay checks the relay retention settings and fills in the
// defaults.
func checkRelay(r *report, s *Source) {
	if s.Purge.Expires < 0 {
		r.errorf("purge.expires", "must be positive or 0 (hours)")
	}
	s.RelayMaxBytes = DefaultRelayMaxSize
	if s.RelayMaxSize != "" {
		n, err := ParseSize(s.RelayMaxSize)
		switch {
		case err != nil:
			r.errorf("relay-max-size", "invalid size %q: %v", s.RelayMaxSize, err)
		case n < 1<<20:
			r.errorf("relay-max-size", "%q is below the minimum of 1MiB (one message of the relay)", s.RelayMaxSize)
		default:
			s.RelayMaxBytes = n
		}
	}
	s.BinlogPurgeWarn = DefaultBinlogPurgeMargin
	if s.BinlogPurgeMargin != "" {
		d, err := time.ParseDuration(s.BinlogPurgeMargin)
		switch {
		case err != nil:
			r.errorf("binlog-purge-margin", "invalid duration %q: write it like 30m or 6h", s.BinlogPurgeMargin)
		case d <= 0:
			r.errorf("binlog-purge-margin", "must be positive, like 30m or 6h")
		default:
			s.BinlogPurgeWarn = d
		}
	}
}

// sizeUnits are the suffixes ParseSize accepts, longest first.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// ParseSize reads a byte size: a whole number with an optional unit, KiB,
// MiB, GiB, TiB (powers of 1024; K, M, G, T alike), KB, MB, GB, TB (powers
// of 1000) or B.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if len(t) > len(u.suffix) && strings.EqualFold(t[len(t)-len(u.suffix):], u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, errSize
	}
	if n > (1<<63-1)/mult {
		return 0, errSize
	}
	return n * mult, nil
}

type sizeError struct{}

func (sizeError) Error() string {
	return "want a whole number of bytes with an optional unit, like 512MiB or 20GB"
}

var errSize error = sizeError{}
