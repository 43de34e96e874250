package tests

import (
	"testing"

	"github.com/dmnode/dmnode/tests/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
