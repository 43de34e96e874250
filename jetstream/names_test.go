package jetstream

import (
	"strings"
	"testing"
)

// A deployment name prefixes every subject, stream and the bucket, and
// none of one deployment's names is another's.
func TestDeploymentNames(t *testing.T) {
	t.Cleanup(func() { _ = SetDeployment("") })
	names := func() []string {
		return []string{BinlogStream("s1"), BinlogSubject("s1"), SnapshotStream("t1", "s1"), TaskSnapshotStream("t1"), SnapshotSubject("t1", "s1"), SnapshotSubjects("t1"), BucketName(), Subject("dmnode.api.")}
	}
	plain := names()
	want := []string{"BINLOG_s1", "dmnode.binlog.s1", "SNAPSHOT_t1__s1", "SNAPSHOT_t1", "dmnode.snapshot.t1.s1", "dmnode.snapshot.t1.*", "dmnode_checkpoints", "dmnode.api."}
	for i := range want {
		if plain[i] != want[i] {
			t.Errorf("without a deployment: %q, want %q", plain[i], want[i])
		}
	}
	if !isOurs("BINLOG_s1") || !isOurs("KV_dmnode_checkpoints") {
		t.Error("the unprefixed streams are not recognised")
	}
	if err := SetDeployment("prod-eu"); err != nil {
		t.Fatal(err)
	}
	prod := names()
	want = []string{"prod-eu_BINLOG_s1", "prod-eu.dmnode.binlog.s1", "prod-eu_SNAPSHOT_t1__s1", "prod-eu_SNAPSHOT_t1", "prod-eu.dmnode.snapshot.t1.s1", "prod-eu.dmnode.snapshot.t1.*", "prod-eu_dmnode_checkpoints", "prod-eu.dmnode.api."}
	for i := range want {
		if prod[i] != want[i] {
			t.Errorf("deployment prod-eu: %q, want %q", prod[i], want[i])
		}
	}
	if isOurs("BINLOG_s1") || isOurs("KV_dmnode_checkpoints") || !isOurs("prod-eu_BINLOG_s1") || !isOurs("KV_prod-eu_dmnode_checkpoints") {
		t.Error("prod-eu claims another deployment's streams or not its own")
	}
	for _, bad := range []string{"a.b", "a_b", "a b", "a>"} {
		if err := SetDeployment(bad); err == nil {
			t.Errorf("deployment name %q accepted", bad)
		}
	}
}

// A task and source whose names together are longer than a stream name
// get a stream name of a hash, still one per pair.
func TestSnapshotStreamOfLongNames(t *testing.T) {
	task, source := strings.Repeat("t.", 60), strings.Repeat("s", 100)
	a, b := SnapshotStream(task, source), SnapshotStream(task, source+"x")
	if len(a) > maxStreamName || len(b) > maxStreamName || a == b || !isOurs(a) {
		t.Fatalf("long names: %q (%d) and %q (%d)", a, len(a), b, len(b))
	}
	if short := SnapshotStream("t", "s"); short != "SNAPSHOT_t__s" {
		t.Fatalf("short names: %q", short)
	}
}
