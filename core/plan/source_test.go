package plan

import (
	"testing"

	"github.com/dmnode/dmnode/core/catalog"
)

// A source file is decoded once per version, by whoever asks first; a new
// version is decoded again, and a file that does not decode is not kept.
func TestSourceOfOncePerVersion(t *testing.T) {
	s := catSource("src-once", 3306)
	before := SourceDecodes()
	a, err := SourceOf(s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SourceOf(catSource("src-once", 3306))
	if err != nil || b != a {
		t.Fatalf("second call: %p %v, want the same %p", b, err, a)
	}
	p, err := Decode("t.yaml", []byte(taskYAML))
	if err != nil {
		t.Fatal(err)
	}
	// s1 at a port no other test uses: a version not decoded yet.
	if _, err := p.Source(catSource("s1", 3399)); err != nil {
		t.Fatal(err)
	}
	if got := SourceDecodes() - before; got != 2 {
		t.Errorf("decodes = %d, want 2 (src-once and s1)", got)
	}
	moved := catSource("src-once", 3307)
	c, err := SourceOf(moved)
	if err != nil || c == a || c.From.Port != 3307 {
		t.Fatalf("new version: %+v %v", c, err)
	}
	bad := &catalog.Source{ID: "src-bad", File: "bad.yaml", YAML: "source-id: [\n"}
	for i := 0; i < 2; i++ {
		if _, err := SourceOf(bad); err == nil {
			t.Fatalf("call %d: a file that does not decode gave no error", i+1)
		}
	}
}
