package bench

import (
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/payswitch/payswitch/bench/report"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// WriteE2EReport writes an end-to-end run as a self-contained HTML report
// with PNG plots to dir: the latency distribution and percentiles seen by
// the payers, the outcomes by response code, the switch's own timing of
// each leg and the ledger check.
func WriteE2EReport(dir, command string, cfg E2EConfig, res E2EResult) (string, error) {
	rep := &report.Report{
		Title: "payswitch bench e2e",
		Meta: [][2]string{{"command", command}, {"cores", strconv.Itoa(runtime.NumCPU())}, {"go", runtime.Version()},
			{"nodes", strconv.Itoa(cfg.Nodes)}, {"offered", fmt.Sprintf("%.0f payments/s for %v after a %v warm-up", cfg.Rate, cfg.Duration, cfg.Warmup)},
			{"line", res.Line()}},
	}
	var charts []report.Chart
	if res.Latency != nil && res.Latency.TotalCount() > 0 {
		hists := map[string]*hdrhistogram.Histogram{"all payments": res.Latency}
		dist := report.LatencyChart("Latency from the scheduled send time to the 0210", hists)
		dist.Caption = "Open loop: each payment's latency counts from when it was due, so time spent queueing behind slow ones counts (coordinated omission corrected)."
		charts = append(charts, dist, report.PercentileChart("Latency by percentile", hists))
	}
	if c, ok := windowChart(res); ok {
		charts = append(charts, c)
	}
	var codes []string
	var counts []float64
	for _, c := range iso8583.ResponseCodes() {
		if n := res.ByCode[c]; n > 0 {
			codes = append(codes, c.String()+" "+c.Meaning())
			counts = append(counts, float64(n))
		}
	}
	if res.TimedOut > 0 {
		codes, counts = append(codes, "no answer in time"), append(counts, float64(res.TimedOut))
	}
	if len(codes) > 0 {
		xs := make([]float64, len(counts))
		for i := range xs {
			xs[i] = float64(i)
		}
		charts = append(charts, report.BarChart("Outcomes by response code", "outcome", "payments", codes, report.Series{Name: "payments", X: xs, Y: counts}))
	}
	legs := report.Table{Title: "The switch's own timing of each leg", Header: []string{"leg", "payments", "mean ms", "p99 ms (bucket bound)"}, NumericFrom: 1}
	for _, l := range res.Legs {
		legs.Rows = append(legs.Rows, []string{l.Leg, strconv.FormatUint(l.Count, 10), fmt.Sprintf("%.2f", l.MeanMs), fmt.Sprintf("%.2f", l.P99Ms)})
	}
	check := fmt.Sprintf("Ledger check: %d approved payments not posted, %d minor units moved beyond the approved payments. Raft on the leader: %d entries, %.0f commands per entry, %.2f ms mean commit.",
		res.Lost, res.Extra, res.Raft.Entries, res.Raft.MeanCommands, res.Raft.MeanCommit)
	if d := res.CPU.Describe(runtime.NumCPU()); d != "" {
		check += " CPU in the measured run: the process (switch and simulated banks) " + d + "."
	}
	rep.Sections = append(rep.Sections, report.Section{Title: "Payments", Text: check, Charts: charts, Tables: []report.Table{legs}})
	return rep.Write(dir)
}

// windowChart plots the p50, p99 and longest latency of each window of
// due time, with the target; ok is false when no window has a payment.
func windowChart(res E2EResult) (c report.Chart, ok bool) {
	var x, p50, p99, most []float64
	for i, h := range res.Windows {
		if h == nil {
			continue
		}
		x = append(x, (time.Duration(i) * res.WindowWidth).Seconds())
		p50 = append(p50, float64(h.ValueAtQuantile(50))/1e3)
		p99 = append(p99, float64(h.ValueAtQuantile(99))/1e3)
		most = append(most, float64(h.Max())/1e3)
	}
	if len(x) == 0 {
		return c, false
	}
	target := float64(E2ETargetP99.Microseconds()) / 1e3
	c = report.LineChart(fmt.Sprintf("Latency by due time, in windows of %v", res.WindowWidth), "seconds into the measured run", "ms",
		report.Series{Name: "p50", X: x, Y: p50},
		report.Series{Name: "p99", X: x, Y: p99},
		report.Series{Name: "longest", X: x, Y: most},
		report.Series{Name: "p99 target", X: []float64{x[0], x[len(x)-1]}, Y: []float64{target, target}, Dashed: true})
	c.LogY = true
	c.Caption = "Each payment counts in the window it was due in. A run's p99 made by a few slow windows is a stall; made all through the run, the machine is short of time for every payment."
	return c, true
}
