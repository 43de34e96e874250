package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A step that ended because the freeze timeout expired says so, naming the
// timeout, and keeps its cause; one that failed for another reason says
// only its cause. A step's own deadline never runs past the freeze's.
func TestCutoverTimeout(t *testing.T) {
	c := &cutover{opt: Cutover{FreezeTimeout: 30 * time.Second}}
	cause := errors.New("wait applied: lag 3s")

	if err := c.timeout(context.Background(), cause); err != cause {
		t.Errorf("no deadline: %v", err)
	}
	live, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if err := c.timeout(live, cause); err != cause {
		t.Errorf("deadline ahead: %v", err)
	}
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	err := c.timeout(expired, cause)
	if !errors.Is(err, cause) || !strings.Contains(err.Error(), "did not finish within the freeze timeout of 30s") {
		t.Errorf("expired: %v", err)
	}

	far := time.Now().Add(2 * time.Hour)
	if got := deadlineOr(live, far); !got.Before(far) {
		t.Errorf("deadlineOr past the context's deadline: %v", got)
	}
	near := time.Now().Add(time.Minute)
	if got := deadlineOr(live, near); !got.Equal(near) {
		t.Errorf("deadlineOr: %v, want the nearer %v", got, near)
	}
	if got := deadlineOr(context.Background(), near); !got.Equal(near) {
		t.Errorf("deadlineOr without a deadline: %v", got)
	}
}
