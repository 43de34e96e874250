package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/dmnode/dmnode/node"
)

// validation status says when binlog was purged from the relay before the
// validator compared it, how often and up to where; task status too.
func TestPrintValidationGaps(t *testing.T) {
	v := node.ValidationStatus{Source: "s1", Mode: "full", Running: true, Checked: 5, Gaps: 2, GapEnd: "mysql-bin.000002:400"}
	var b bytes.Buffer
	printValidation(&b, []node.ValidationStatus{v})
	if want := "not compared: binlog purged from the relay before the validator read it (2 times, the last up to mysql-bin.000002:400)"; !strings.Contains(b.String(), want) {
		t.Errorf("validation status:\n%s\nwant a line saying %q", b.String(), want)
	}
	b.Reset()
	printValidatorLine(&b, node.SourceStatus{Source: "s1", Validator: &v})
	if want := "s1 validator: binlog purged from the relay before it read it, not compared (2 times, the last up to mysql-bin.000002:400)"; !strings.Contains(b.String(), want) {
		t.Errorf("task status:\n%s\nwant a line saying %q", b.String(), want)
	}
	b.Reset()
	v.Gaps = 0
	printValidation(&b, []node.ValidationStatus{v})
	if strings.Contains(b.String(), "not compared") {
		t.Errorf("no gap, yet:\n%s", b.String())
	}
}
