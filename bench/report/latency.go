package report

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// LatencyChart makes a chart of how latencies are distributed: for each
// histogram (values in microseconds, as the simulator records them), the
// share of its values in each of 10 log-spaced buckets per decade, on a
// log-scaled x axis in milliseconds. Histograms are drawn in the order of
// their names; empty ones are left out of the plot but kept in the legend.
func LatencyChart(title string, hists map[string]*hdrhistogram.Histogram) Chart {
	return Chart{Title: title, XLabel: "latency (ms, log scale)", YLabel: "share of payments (%)",
		kind: kindLatency, hists: sortedHists(hists)}
}

// PercentileChart makes the percentile spectrum of each histogram (values
// in microseconds): latency in ms against the percentile, on an x axis
// that gives each "nine" (90%, 99%, 99.9% ...) the same width, up to the
// percentile the histogram's count can tell apart.
func PercentileChart(title string, hists map[string]*hdrhistogram.Histogram) Chart {
	return Chart{Title: title, XLabel: "percentile", YLabel: "latency (ms)",
		kind: kindPercentile, hists: sortedHists(hists)}
}

func sortedHists(hists map[string]*hdrhistogram.Histogram) []namedHist {
	out := make([]namedHist, 0, len(hists))
	for name, h := range hists {
		out = append(out, namedHist{name: name, h: h})
	}
	// Case-insensitive, so that "G2P" does not come before "all".
	slices.SortFunc(out, func(a, b namedHist) int {
		if c := strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name)); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	return out
}

// addLatency draws each histogram's bucket shares as a step line.
func addLatency(p *plot.Plot, legend *plot.Legend, c Chart) error {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, nh := range c.hists {
		if nh.h.TotalCount() > 0 {
			lo = min(lo, float64(max(nh.h.Min(), 1))/1e3)
			hi = max(hi, float64(max(nh.h.Max(), 1))/1e3)
		}
	}
	if math.IsInf(lo, 0) {
		return errors.New("every histogram is empty")
	}
	// Bucket edges at 10^(k/latencyBucketsPerDecade) ms, from the decade
	// below the smallest value to the one above the largest.
	first := math.Floor(math.Log10(lo) * latencyBucketsPerDecade)
	last := math.Ceil(math.Log10(hi)*latencyBucketsPerDecade) + 1
	edges := make([]float64, 0, int(last-first)+1)
	for k := first; k <= last; k++ {
		edges = append(edges, math.Pow(10, k/latencyBucketsPerDecade))
	}
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = logTicks{}
	p.Y.Min = 0
	for i, nh := range c.hists {
		style := draw.LineStyle{Color: seriesColor(Series{}, i), Width: vg.Points(1.8)}
		thumb := &plotter.Line{LineStyle: style}
		legend.Add(nh.name+" ("+formatCount(float64(nh.h.TotalCount()))+")", thumb)
		total := nh.h.TotalCount()
		if total == 0 {
			continue
		}
		counts := make([]float64, len(edges)-1)
		for _, bar := range nh.h.Distribution() {
			if bar.Count == 0 {
				continue
			}
			ms := float64(bar.From+bar.To) / 2 / 1e3
			j, _ := slices.BinarySearch(edges, ms)
			j = min(max(j-1, 0), len(counts)-1)
			counts[j] += float64(bar.Count)
		}
		// A step line: flat across each bucket, joined at the edges.
		pts := make(plotter.XYs, 0, 2*len(counts))
		for j, n := range counts {
			share := 100 * n / float64(total)
			pts = append(pts, plotter.XY{X: edges[j], Y: share}, plotter.XY{X: edges[j+1], Y: share})
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		line.LineStyle = style
		p.Add(line)
	}
	return nil
}

// percentileTicks label the x axis of a percentile spectrum, where x is
// 1/(1-q): 1 is 0%, 2 is 50%, 10 is 90%, 100 is 99% ...
type percentileTicks struct{}

func (percentileTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := []plot.Tick{{Value: 1, Label: "0%"}, {Value: 2, Label: "50%"}}
	v := 10.0
	for n := 1; v <= hi*1.001 && n <= 9; n++ {
		ticks = append(ticks, plot.Tick{Value: v, Label: ninesLabel(n)})
		for k := 2; k <= 9 && float64(k)*v <= hi; k++ {
			ticks = append(ticks, plot.Tick{Value: float64(k) * v})
		}
		v *= 10
	}
	out := ticks[:0]
	for _, t := range ticks {
		if t.Value >= lo*0.999 && t.Value <= hi*1.001 {
			out = append(out, t)
		}
	}
	return out
}

// ninesLabel is the percentile with n nines: 90%, 99%, 99.9% ...
func ninesLabel(n int) string {
	switch n {
	case 1:
		return "90%"
	case 2:
		return "99%"
	}
	return "99." + strings.Repeat("9", n-2) + "%"
}

// addPercentiles draws each histogram's latency at percentiles spaced
// evenly on the 1/(1-q) log axis, up to where its count runs out.
func addPercentiles(p *plot.Plot, legend *plot.Legend, c Chart) error {
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = percentileTicks{}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	hiX := 10.0
	drawn := false
	for i, nh := range c.hists {
		style := draw.LineStyle{Color: seriesColor(Series{}, i), Width: vg.Points(1.8)}
		total := nh.h.TotalCount()
		label := nh.name + " (p99 " + strconv.FormatFloat(float64(nh.h.ValueAtQuantile(99))/1e3, 'f', 1, 64) + " ms)"
		if total == 0 {
			label = nh.name + " (empty)"
		}
		legend.Add(label, &plotter.Line{LineStyle: style})
		if total == 0 {
			continue
		}
		// Twenty points per nine, up to 1/(1-q) = total: beyond it the
		// histogram cannot tell percentiles apart.
		var pts plotter.XYs
		for k := 0; k <= 20*9; k++ {
			x := math.Pow(10, float64(k)/20)
			if x > float64(total) && k > 0 {
				break
			}
			q := 100 * (1 - 1/x)
			ms := max(float64(nh.h.ValueAtQuantile(q))/1e3, 0.001)
			pts = append(pts, plotter.XY{X: x, Y: ms})
		}
		if len(pts) < 2 {
			pts = append(pts, plotter.XY{X: 2, Y: pts[0].Y})
		}
		hiX = max(hiX, pts[len(pts)-1].X)
		line, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		line.LineStyle = style
		p.Add(line)
		drawn = true
	}
	if !drawn {
		return errors.New("every histogram is empty")
	}
	p.X.Min, p.X.Max = 1, hiX
	return nil
}
