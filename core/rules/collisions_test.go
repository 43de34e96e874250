package rules

import (
	"strings"
	"testing"

	"github.com/dmnode/dmnode/core/config"
)

// planAll plans the given upstream tables of every source of task.
func planAll(t *testing.T, task *config.Task, tables map[string][][2]string) []*TablePlan {
	t.Helper()
	var plans []*TablePlan
	for i := range task.MySQLInstances {
		inst := &task.MySQLInstances[i]
		r, err := Compile(task, inst, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range tables[inst.SourceID] {
			p, err := r.Plan(st[0], st[1], []string{"id", "v"})
			if err != nil {
				t.Fatal(err)
			}
			plans = append(plans, p)
		}
	}
	return plans
}

func TestCheckCollisionsLeadingZeros(t *testing.T) {
	task := shardTask()
	plans := planAll(t, task, map[string][][2]string{
		"mysql-replica-01": {{"shard_1", "t_01"}, {"shard_1", "t_1"}, {"shard_1", "t_2"}},
	})
	err := CheckCollisions(plans)
	want := "partition id collision in target `db`.`t` column `id`: source \"mysql-replica-01\" table `shard_1`.`t_01` and source \"mysql-replica-01\" table `shard_1`.`t_1` both map ids to [580981944116838400, 580999536302882815] (instance 1, schema id 1, table id 1)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

func TestCheckCollisionsSameInstanceTwoSources(t *testing.T) {
	task := shardTask()
	// A common mistake: both sources reference the same rule, hence the same instance id.
	task.MySQLInstances[1].ColumnMappingRules = []string{"pid1"}
	task.Routes["r"].ExtractSource = nil
	tables := map[string][][2]string{
		"mysql-replica-01": {{"shard_1", "t_1"}, {"shard_2", "t_1"}},
		"mysql-replica-02": {{"shard_1", "t_1"}, {"shard_3", "t_1"}},
	}
	err := CheckCollisions(planAll(t, task, tables))
	if err == nil || !strings.Contains(err.Error(),
		"source \"mysql-replica-01\" table `shard_1`.`t_1` and source \"mysql-replica-02\" table `shard_1`.`t_1` both map ids") {
		t.Fatalf("err = %v", err)
	}
	if n := strings.Count(err.Error(), "collision"); n != 1 {
		t.Errorf("%d collisions reported, want 1: %v", n, err)
	}

	// Distinct instance ids: no collision.
	task.MySQLInstances[1].ColumnMappingRules = []string{"pid2"}
	if err := CheckCollisions(planAll(t, task, tables)); err != nil {
		t.Fatalf("distinct instances: %v", err)
	}
}

func TestCheckCollisionsNotReported(t *testing.T) {
	// Same instance id on two sources, but extract-source tells the rows apart.
	task := shardTask()
	task.MySQLInstances[1].ColumnMappingRules = []string{"pid1"}
	tables := map[string][][2]string{
		"mysql-replica-01": {{"shard_1", "t_1"}},
		"mysql-replica-02": {{"shard_1", "t_1"}},
	}
	plans := planAll(t, task, tables)
	if err := CheckCollisions(plans); err != nil {
		t.Errorf("extracted source differs: %v", err)
	}
	// The same plan twice is one table.
	if err := CheckCollisions([]*TablePlan{plans[0], plans[0], nil}); err != nil {
		t.Errorf("duplicate plan: %v", err)
	}
	// Different target tables never collide.
	task = shardTask()
	task.Routes["r"].TargetTable = ""
	plans = planAll(t, task, map[string][][2]string{"mysql-replica-01": {{"shard_1", "t_1"}, {"shard_1", "t_01"}}})
	if err := CheckCollisions(plans); err != nil {
		t.Errorf("distinct targets: %v", err)
	}
	// Merging without partition id is not this check's business.
	task = shardTask()
	task.ColumnMappings = nil
	task.Routes["r"].ExtractSource = nil
	for i := range task.MySQLInstances {
		task.MySQLInstances[i].ColumnMappingRules = nil
	}
	plans = planAll(t, task, map[string][][2]string{
		"mysql-replica-01": {{"shard_1", "t_1"}}, "mysql-replica-02": {{"shard_1", "t_1"}},
	})
	if err := CheckCollisions(plans); err != nil {
		t.Errorf("no partition id: %v", err)
	}
}

func TestCheckCollisionsTargetCase(t *testing.T) {
	task := shardTask()
	task.MySQLInstances[1].ColumnMappingRules = []string{"pid1"}
	task.Routes["r"].ExtractSource = nil
	task.Routes["r2"] = &config.RouteRule{SchemaPattern: "shard_*", TablePattern: "t_*", TargetSchema: "DB", TargetTable: "T"}
	task.MySQLInstances[1].RouteRules = []string{"r2"}
	plans := planAll(t, task, map[string][][2]string{
		"mysql-replica-01": {{"shard_1", "t_1"}}, "mysql-replica-02": {{"shard_1", "t_1"}},
	})
	if err := CheckCollisions(plans); err == nil {
		t.Error("db.t and DB.T are one TiDB table: collision expected")
	}
}

func TestAutoIncrementClashes(t *testing.T) {
	tables := map[string][][2]string{
		"mysql-replica-01": {{"shard_1", "t_1"}, {"shard_1", "t_2"}},
		"mysql-replica-02": {{"shard_1", "t_1"}},
	}
	autoID := func(*TablePlan) string { return "id" }
	inKey := func(*TablePlan) bool { return true }
	names := func(cs []Clash) []string {
		var out []string
		for _, c := range cs {
			var ts []string
			for i, p := range c.Tables {
				ts = append(ts, p.Source+":"+p.Schema+"."+p.Table+"."+c.Columns[i])
			}
			out = append(out, c.TargetSchema+"."+c.TargetTable+" <- "+strings.Join(ts, ", "))
		}
		return out
	}
	bare := func() *config.Task {
		task := shardTask()
		task.ColumnMappings = nil
		task.Routes["r"].ExtractSource = nil
		for i := range task.MySQLInstances {
			task.MySQLInstances[i].ColumnMappingRules = nil
		}
		return task
	}

	// Partition id on the key column: no clash here (CheckCollisions' business).
	if got := AutoIncrementClashes(planAll(t, shardTask(), tables), autoID, inKey); got != nil {
		t.Errorf("partition id: %q", names(got))
	}
	// Nothing keeps the ids apart: all three clash.
	plans := planAll(t, bare(), tables)
	want := "db.t <- mysql-replica-01:shard_1.t_1.id, mysql-replica-01:shard_1.t_2.id, mysql-replica-02:shard_1.t_1.id"
	if got := names(AutoIncrementClashes(append(plans, plans[0]), autoID, inKey)); len(got) != 1 || got[0] != want {
		t.Errorf("no resolution:\n got %q\nwant %q", got, want)
	}
	// extract-source tells the sources apart, not the two tables of one source.
	task := bare()
	task.Routes["r"].ExtractSource = &config.Extractor{SourceRegexp: "mysql-(.*)", TargetColumn: "c_source"}
	plans = planAll(t, task, tables)
	want = "db.t <- mysql-replica-01:shard_1.t_1.id, mysql-replica-01:shard_1.t_2.id"
	if got := names(AutoIncrementClashes(plans, autoID, inKey)); len(got) != 1 || got[0] != want {
		t.Errorf("extract-source:\n got %q\nwant %q", got, want)
	}
	// A pre-created target whose key lacks the extracted column: all clash.
	if got := AutoIncrementClashes(plans, autoID, func(*TablePlan) bool { return false }); len(got) != 1 || len(got[0].Tables) != 3 {
		t.Errorf("extracted column outside the key: %q", names(got))
	}
	// No auto-increment key: nothing to report.
	if got := AutoIncrementClashes(planAll(t, bare(), tables), func(*TablePlan) string { return "" }, inKey); got != nil {
		t.Errorf("no auto-increment: %q", names(got))
	}
}
