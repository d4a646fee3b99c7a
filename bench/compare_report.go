package bench

import (
	"fmt"
	"math"
	"runtime"
	"strconv"

	"github.com/payswitch/payswitch/bench/report"
)

// WriteCompareReport writes res as a self-contained HTML report with PNG
// plots to dir: throughput of every system side by side per workload (the
// ratios, and the tables the command prints.
func WriteCompareReport(dir, command string, res CompareResult) (string, error) {
	var names []string
	for _, w := range res.Workloads {
		names = append(names, w.Name)
	}
	var series []report.Series
	for i, system := range []string{"pebble", "ledger", "cluster", "postgres"} {
		s := report.Series{Name: system}
		for _, w := range res.Workloads {
			s.X = append(s.X, float64(len(s.X)))
			s.Y = append(s.Y, math.Round(w.Systems()[i].TPS))
		}
		series = append(series, s)
	}
	tps := report.BarChart("Throughput, side by side in one run", "workload", "transfers per second", names, series...)
	tps.Caption = "Each system ran the same transfers in the same batches; PostgreSQL ran the first part of the stream (see the tables). Its bars are two orders of magnitude lower: read the ratios."
	ratios := report.BarChart("Ratios", "workload", "ratio", names,
		ratioSeries("ledger / postgres", res, func(w WorkloadResult) float64 { return w.LedgerVsPostgres }),
		ratioSeries("ledger / pebble", res, func(w WorkloadResult) float64 { return w.LedgerVsPebble }),
		ratioSeries("cluster / ledger", res, func(w WorkloadResult) float64 { return w.ClusterVsLedger }))
	ratios.Caption = "ledger / postgres is the target of DESIGN section 7 (at least 50 on the skewed workload)."
	rep := &report.Report{
		Title: "payswitch bench compare",
		Meta:  [][2]string{{"command", command}, {"cores", strconv.Itoa(runtime.NumCPU())}, {"go", runtime.Version()}, {"line", res.Line()}},
	}
	rep.Sections = append(rep.Sections, report.Section{Title: "Throughput", Charts: []report.Chart{tps, ratios}})
	for _, w := range res.Workloads {
		t := report.Table{Title: w.Name, Header: []string{"system", "transfers", "tps", "p50 ms", "p99 ms", "latency of"}, NumericFrom: 1}
		for _, s := range w.Systems() {
			if s.Skipped {
				continue
			}
			t.Rows = append(t.Rows, []string{s.System, strconv.Itoa(s.Transfers), fmt.Sprintf("%.0f", s.TPS),
				fmt.Sprintf("%.2f", s.P50Ms), fmt.Sprintf("%.2f", s.P99Ms), s.LatencyOf})
		}
		text := fmt.Sprintf("balances identical between the ledger and PostgreSQL: %v; between the cluster and the ledger: %v",
			w.PostgresBalances.Identical, w.ClusterBalances.Identical)
		rep.Sections = append(rep.Sections, report.Section{Title: "Workload " + w.Name, Text: text, Tables: []report.Table{t}})
	}
	return rep.Write(dir)
}

func ratioSeries(name string, res CompareResult, f func(WorkloadResult) float64) report.Series {
	s := report.Series{Name: name}
	for i, w := range res.Workloads {
		s.X = append(s.X, float64(i))
		s.Y = append(s.Y, math.Round(f(w)*10)/10)
	}
	return s
}
