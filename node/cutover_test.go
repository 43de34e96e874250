package node

import "testing"

func TestGrantsReadOnly(t *testing.T) {
	tests := []struct {
		grants []string
		want   bool
	}{
		{[]string{"GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"}, true},
		{[]string{"GRANT USAGE ON *.* TO `dm`@`%`", "GRANT SELECT, RELOAD, SUPER, REPLICATION SLAVE ON *.* TO `dm`@`%`"}, true},
		{[]string{"GRANT SELECT, READ_ONLY ADMIN ON *.* TO `dm`@`%`"}, true},
		{[]string{"GRANT SELECT, INSERT, UPDATE, DELETE ON `dmtest`.* TO `app`@`127.0.0.1`"}, false},
		{[]string{"GRANT ALL PRIVILEGES ON `dmtest`.* TO `app`@`%`"}, false},
		{[]string{"GRANT SELECT, RELOAD, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `dm`@`%`"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := grantsReadOnly(tt.grants); got != tt.want {
			t.Errorf("grantsReadOnly(%q) = %v, want %v", tt.grants, got, tt.want)
		}
	}
}
