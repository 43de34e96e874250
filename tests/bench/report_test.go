package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// higher says whether a bigger value of a metric is better; it decides the
// direction of the ratio to dmnode.
type higher bool

const (
	higherIsBetter higher = true
	lowerIsBetter  higher = false
)

// result is one figure of one contender in one workload over several runs.
type result struct {
	Workload  string    `json:"workload"`
	Contender string    `json:"contender"`
	Metric    string    `json:"metric"`
	Unit      string    `json:"unit"`
	Values    []float64 `json:"values"`
	Median    float64   `json:"median"`
	Min       float64   `json:"min"`
	Max       float64   `json:"max"`
	// Ratio is how many times better dmnode is than this contender on
	// this metric (dmnode's median over the contender's for rates, the
	// inverse for times); 0 when there is nothing to compare.
	Ratio  float64 `json:"ratio_dmnode,omitempty"`
	Better higher  `json:"higher_is_better"`
	Note   string  `json:"note,omitempty"`
}

// report collects results and writes them out.
type report struct {
	Started   time.Time         `json:"started"`
	Finished  time.Time         `json:"finished"`
	Config    config            `json:"config"`
	Host      map[string]string `json:"host"`
	Results   []*result         `json:"results"`
	Notes     []string          `json:"notes,omitempty"`
	Reproduce string            `json:"reproduce"`
}

// add records the values of one figure; it returns the result so callers
// can attach a note.
func (r *report) add(workload, contender, metric, unit string, better higher, values ...float64) *result {
	res := &result{Workload: workload, Contender: contender, Metric: metric, Unit: unit, Values: values, Better: better}
	if len(values) > 0 {
		s := slices.Clone(values)
		slices.Sort(s)
		res.Min, res.Max = s[0], s[len(s)-1]
		if len(s)%2 == 1 {
			res.Median = s[len(s)/2]
		} else {
			res.Median = (s[len(s)/2-1] + s[len(s)/2]) / 2
		}
	}
	r.Results = append(r.Results, res)
	return res
}

// find returns the result of a contender's metric in a workload, or nil.
func (r *report) find(workload, contender, metric string) *result {
	for _, res := range r.Results {
		if res.Workload == workload && res.Contender == contender && res.Metric == metric {
			return res
		}
	}
	return nil
}

// ratios fills in every result's ratio to dmnode's figure for the same
// workload and metric: a contender named "<peer> @<point>" is compared
// with "dmnode @<point>".
func (r *report) ratios() {
	for _, res := range r.Results {
		ref := "dmnode"
		if i := strings.Index(res.Contender, " @"); i >= 0 {
			ref += res.Contender[i:]
		}
		d := r.find(res.Workload, ref, res.Metric)
		if d == nil || d == res || res.Median == 0 || d.Median == 0 {
			continue
		}
		if res.Better == higherIsBetter {
			res.Ratio = d.Median / res.Median
		} else {
			res.Ratio = res.Median / d.Median
		}
	}
}

func (r *report) printTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tcontender\tmetric\tmedian\tmin–max\tspread\tunit\tdmnode ×\truns\t")
	last := ""
	for _, res := range r.Results {
		if last != "" && res.Workload != last {
			fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t")
		}
		last = res.Workload
		ratio := ""
		if res.Ratio != 0 && res.Contender != "dmnode" {
			ratio = fmt.Sprintf("%.2f", res.Ratio)
		}
		spread := ""
		if res.Median != 0 && len(res.Values) > 1 {
			spread = fmt.Sprintf("%.0f%%", 100*(res.Max-res.Min)/math.Abs(res.Median))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s–%s\t%s\t%s\t%s\t%d\t\n", res.Workload, res.Contender, res.Metric,
			num(res.Median), num(res.Min), num(res.Max), spread, res.Unit, ratio, len(res.Values))
	}
	tw.Flush()
	for _, res := range r.Results {
		if res.Note != "" {
			fmt.Fprintf(w, "  %s/%s %s: %s\n", res.Workload, res.Contender, res.Metric, res.Note)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

// num formats a figure with three significant digits and thousands
// separators for big ones.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1000:
		s := fmt.Sprintf("%.0f", v)
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		return b.String()
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

const reproduce = `How to reproduce (from a clone, on Debian 12 with Go; installs mariadb-server and mydumper when missing):
  make bench                                  # micro-benchmarks, then every workload at the default scale
  make bench BENCH=full,incr BENCH_RUNS=5     # some workloads, more runs
  make bench BENCH_SCALE=4                    # 400k rows/source, 1.2M-event backlog
  DMNODE_BENCH=1 go test -v -count=1 -timeout 60m -run TestBench ./tests/bench   # the pipeline part alone
The machine is shared (2 cores): absolute figures move by 15-50% between runs; compare ratios.`

// write saves the report as JSON in bench/results/ under the module root and
// returns the file's path.
func (r *report) write(root string) (string, error) {
	dir := filepath.Join(root, "bench", "results")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, r.Started.UTC().Format("20060102T150405Z")+".json")
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, append(b, '\n'), 0o644)
}

func hostInfo() map[string]string {
	h := map[string]string{"go": runtime.Version(), "cpus": fmt.Sprint(runtime.NumCPU())}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				_, v, _ := strings.Cut(line, ":")
				h["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	return h
}
