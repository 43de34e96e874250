package pattern

import "testing"

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern       string
		caseSensitive bool
		name          string
		want          bool
	}{
		{"shard", false, "shard", true},
		{"shard", false, "SHARD", true},
		{"shard", true, "SHARD", false},
		{"shard", false, "shard_1", false},
		{"*", false, "", true},
		{"*", false, "anything", true},
		{"shard_*", false, "shard_1", true},
		{"shard_*", false, "SHARD_1", true},
		{"shard_*", true, "SHARD_1", false},
		{"shard_*", false, "shard", false},
		{"shard_*", false, "shard_", true},
		{"t_?", false, "t_1", true},
		{"t_?", false, "t_12", false},
		{"t_??", false, "t_é1", true}, // ? is one character, not one byte
		{"*_log", false, "app_log", true},
		{"*_log", false, "app_log2", false},
		{"a*b*c", false, "aXXbYYc", true},
		{"t_[0-9]", false, "t_7", true},
		{"t_[0-9]", false, "t_x", false},
		{"t_[!0-9]", false, "t_x", true},
		{"t_[^0-9]", false, "t_7", false},
		{"t_[]x]", false, "t_]", true},
		{"t.1", false, "t.1", true},
		{"t.1", false, "tx1", false}, // dot is literal in wildcards
		{"t+", false, "t+", true},
		{"~^t_[0-9]+$", false, "t_12", true},
		{"~^t_[0-9]+$", false, "T_12", true},
		{"~^t_[0-9]+$", true, "T_12", false},
		{"~_bak", false, "orders_bak_2020", true}, // ~regexp is unanchored
		{"~^orders$", false, "orders_bak", false},
	}
	for _, tt := range tests {
		p, err := Compile(tt.pattern, tt.caseSensitive)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tt.pattern, err)
		}
		if got := p.Match(tt.name); got != tt.want {
			t.Errorf("pattern %q (case-sensitive %v) match %q = %v, want %v", tt.pattern, tt.caseSensitive, tt.name, got, tt.want)
		}
	}
}

func TestPatternErrors(t *testing.T) {
	for _, p := range []string{"t_[0-9", "t_[", "~t_(", "[z-a]"} {
		if _, err := Compile(p, false); err == nil {
			t.Errorf("Compile(%q): no error", p)
		}
	}
}
