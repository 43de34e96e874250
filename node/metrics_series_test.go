package node

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/dmnode/dmnode/core/catalog"
)

// collected runs a collect function and returns its series as
// "name{label=value,...} value", in the order emitted.
func collected(t *testing.T, collect func(ch chan<- prometheus.Metric)) []string {
	t.Helper()
	ch := make(chan prometheus.Metric, 100)
	collect(ch)
	close(ch)
	var out []string
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		var labels []string
		for _, l := range d.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		name := m.Desc().String()
		name = name[strings.Index(name, `fqName: "`)+9:]
		name = name[:strings.Index(name, `"`)]
		out = append(out, name+"{"+strings.Join(labels, ",")+"} "+strconv.FormatFloat(d.GetGauge().GetValue(), 'g', -1, 64))
	}
	return out
}

func has(series []string, want string) bool {
	for _, s := range series {
		if s == want || strings.HasPrefix(s, want+"{") {
			return true
		}
	}
	return false
}

// A source's series: its stage as one-hot gauges, the dump's chunks, and in
// sync the lag and the binlog files between upstream and applied; with its
// progress unavailable, only what the catalog knows.
func TestMetricsSourceSeries(t *testing.T) {
	c := newTaskCollector(nodeMetrics{&Node{}})
	task := &catalog.Task{Name: "t", Desired: catalog.Running, Sources: map[string]*catalog.TaskSource{"s1": {Stage: catalog.StageSync}}}
	now := time.Unix(1_000_000, 0)
	ss := SourceStatus{Source: "s1", Stage: catalog.StageSync, LagSeconds: 7, Connections: 4,
		Upstream: "mysql-bin.000012:400", Applied: "mysql-bin.000010:4", ChunksTotal: 10, ChunksDone: 10}
	series := collected(t, func(ch chan<- prometheus.Metric) { c.collectSource(ch, task, ss, now, map[etaKey]bool{}) })
	for _, want := range []string{
		"dmnode_task_stage{source=s1,stage=sync,task=t} 1",
		"dmnode_task_stage{source=s1,stage=dump,task=t} 0",
		"dmnode_target_connections{source=s1,stage=sync,task=t} 4",
		"dmnode_dump_chunks{source=s1,state=done,task=t} 10",
		"dmnode_replication_lag_seconds{source=s1,task=t} 7",
		"dmnode_binlog_file_gap{source=s1,task=t} 2",
	} {
		if !has(series, want) {
			t.Errorf("no series %s in\n%s", want, strings.Join(series, "\n"))
		}
	}
	ss.LastError = "progress unavailable: nats: timeout"
	series = collected(t, func(ch chan<- prometheus.Metric) { c.collectSource(ch, task, ss, now, map[etaKey]bool{}) })
	if has(series, "dmnode_replication_lag_seconds") || !has(series, "dmnode_task_stage{source=s1,stage=sync,task=t} 1") {
		t.Errorf("series without progress:\n%s", strings.Join(series, "\n"))
	}
}

// A source's relay series; the purge guard's time left only when known.
func TestMetricsRelaySeries(t *testing.T) {
	ss := SourceStatus{Source: "s1", RelayBytes: 10, RelayMaxBytes: 100, BinlogPurgeSecondsLeft: -1}
	series := collected(t, func(ch chan<- prometheus.Metric) { collectRelay(ch, ss) })
	if has(series, "dmnode_binlog_purge_seconds_left") {
		t.Errorf("purge time left exported while unknown:\n%s", strings.Join(series, "\n"))
	}
	ss.BinlogPurgeSecondsLeft = 3600
	series = collected(t, func(ch chan<- prometheus.Metric) { collectRelay(ch, ss) })
	if len(series) != 6 {
		t.Errorf("relay series:\n%s", strings.Join(series, "\n"))
	}
}
