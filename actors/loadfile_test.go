package actors

import (
	"bytes"
	"testing"

	"github.com/dmnode/dmnode"
	"github.com/dmnode/dmnode/core/config"
	"github.com/dmnode/dmnode/core/rules"
	"github.com/dmnode/dmnode/core/sqlgen"
	"github.com/dmnode/dmnode/jetstream"
)

// loadDataFile writes what decoding, Apply, WriteRow and AppendTSVRow
// write, for every kind of value, with extracted columns and with
// generated columns left out, and declines what they decline.
func TestLoadDataFile(t *testing.T) {
	task := &config.Task{Name: "t",
		MySQLInstances: []config.Instance{{SourceID: "mysql-replica-07", RouteRules: []string{"r"}}},
		Routes: map[string]*config.RouteRule{"r": {SchemaPattern: "db", TablePattern: "t", TargetSchema: "x", TargetTable: "t",
			ExtractSource: &config.Extractor{SourceRegexp: "mysql-replica-(.*)", TargetColumn: "c_source"},
			ExtractTable:  &config.Extractor{TableRegexp: "(.*)", TargetColumn: "c_table"}}},
	}
	r, err := rules.Compile(task, &task.MySQLInstances[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	cols := []string{"id", "g", "s", "u", "f", "f32", "n"}
	plan, err := r.Plan("db", "t", cols)
	if err != nil {
		t.Fatal(err)
	}
	rows := [][]any{
		{int64(-1), "gen", "a\tb\nc\\d\re\x00f", uint64(1 << 63), 1.5, float32(0.1), nil},
		{int64(1 << 40), "", "", uint64(0), -2e-300, float32(3), "utf8 ✓"},
	}
	rb := &jetstream.RowBatch{Source: "mysql-replica-07", Table: dmnode.TableID{Schema: "db", Table: "t"}, Columns: cols, Rows: rows}
	data, err := jetstream.EncodeRowBatch(nil, rb)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*rules.TablePlan{plan, plan.WithTarget(map[string]rules.ColumnTraits{"g": {Generated: true}, "c_table": {Generated: true}})} {
		var want []byte
		for _, row := range rows {
			out, err := p.Apply(row)
			if err != nil {
				t.Fatal(err)
			}
			var ok bool
			if want, ok = sqlgen.AppendTSVRow(want, p.WriteRow(out)); !ok {
				t.Fatal("AppendTSVRow declined")
			}
		}
		_, rr, err := jetstream.DecodeRowBatchHead(data)
		if err != nil {
			t.Fatal(err)
		}
		got, n, ok, err := loadDataFile([]byte{}, p, rr)
		if err != nil || !ok || n != len(rows) || !bytes.Equal(got, want) {
			t.Fatalf("loadDataFile = %q, %d, %v, %v; want %q", got, n, ok, err, want)
		}
	}

	// A []byte value has no LOAD DATA form; a row of the wrong length is
	// an error; so is a truncated message.
	rb.Rows = [][]any{{int64(1), "g", []byte("b"), uint64(1), 1.0, float32(1), nil}}
	data, _ = jetstream.EncodeRowBatch(nil, rb)
	_, rr, _ := jetstream.DecodeRowBatchHead(data)
	if _, _, ok, err := loadDataFile(nil, plan, rr); ok || err != nil {
		t.Fatalf("a []byte value: ok %v, err %v", ok, err)
	}
	rb.Rows = [][]any{{int64(1)}}
	data, _ = jetstream.EncodeRowBatch(nil, rb)
	_, rr, _ = jetstream.DecodeRowBatchHead(data)
	if _, _, ok, err := loadDataFile(nil, plan, rr); ok || err == nil {
		t.Fatalf("a short row: ok %v, err %v", ok, err)
	}
	rb.Rows = rows
	data, _ = jetstream.EncodeRowBatch(nil, rb)
	_, rr, _ = jetstream.DecodeRowBatchHead(data[:len(data)-3])
	if _, _, ok, err := loadDataFile(nil, plan, rr); ok || err == nil {
		t.Fatalf("a truncated message: ok %v, err %v", ok, err)
	}
}
