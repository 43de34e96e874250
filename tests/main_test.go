package tests

import (
	"errors"
	"testing"

	"github.com/dmnode/dmnode/core/tidb"
	"github.com/dmnode/dmnode/tests/harness"
)

func TestMain(m *testing.M) {
	// The dialect check judges a DDL statement as dmnode would send it to
	// the newest TiDB it knows.
	harness.AdaptDDLForTiDB = func(stmt string) ([]string, bool) {
		a, err := tidb.AdaptDDL(tidb.Version{Major: 8, Minor: 5}, stmt)
		if errors.Is(err, tidb.ErrRefused) {
			return nil, true
		}
		return a.Statements, false
	}
	harness.Main(m)
}
