package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestIgnoreCheckingItems(t *testing.T) {
	tk, err := DecodeTask("task.yaml", []byte(task("ignore-checking-items: [auto_increment_ID, binlog_db]\n")))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tk.IgnoreCheckingItems, []string{"auto_increment_ID", "binlog_db"}) {
		t.Errorf("IgnoreCheckingItems = %q", tk.IgnoreCheckingItems)
	}
	if !tk.IgnoresCheck(CheckAutoIncrementID) || tk.IgnoresCheck(CheckBinlogFormat) {
		t.Errorf("IgnoresCheck: auto_increment_ID %v, binlog_format %v", tk.IgnoresCheck(CheckAutoIncrementID), tk.IgnoresCheck(CheckBinlogFormat))
	}
	want := []string{"task.yaml:8:44: ignore-checking-items[1]: ignored: dmnode does not run DM's binlog_db check"}
	if !reflect.DeepEqual(tk.Warnings, want) {
		t.Errorf("warnings:\n got %q\nwant %q", tk.Warnings, want)
	}

	all, err := DecodeTask("task.yaml", []byte(task("ignore-checking-items: [\"all\"]\n")))
	if err != nil {
		t.Fatal(err)
	}
	for item := range CheckingItems {
		if !all.IgnoresCheck(item) {
			t.Errorf("all does not ignore %s", item)
		}
	}

	_, err = DecodeTask("task.yaml", []byte(task("ignore-checking-items:\n  - version\n  - binlog_fromat\n")))
	got := findings(t, err)
	if len(got) != 1 || !strings.HasPrefix(got[0], `task.yaml:10:5: ignore-checking-items[1]: unknown checking item "binlog_fromat" (known: all, auto_increment_ID, binlog_enable, binlog_format,`) {
		t.Errorf("unknown item: %q", got)
	}
}
