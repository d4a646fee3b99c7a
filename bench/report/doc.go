// Package report writes a benchmark or simulation report to a directory:
// one self-contained index.html plus a PNG file for each chart. The HTML
// embeds every chart as a data: URI, so index.html can be mailed or
// attached on its own; the PNG files sit beside it for slides and issues,
// and each image in the page links to its file.
//
// # What it draws
//
// Charts are drawn with gonum.org/v1/plot, at a size and with fonts a
// person can read on a laptop screen, each with a title, axis labels
// (units belong in the labels: "latency (ms)") and a legend outside the
// plotting area so that it never hides data:
//
//   - [LineChart]: time series, several per chart; a NaN leaves a gap, and
//     Chart.LogY draws the y axis on a log scale (then values <= 0 are
//     gaps too). Chart.Markers draws events as dashed vertical lines and
//     periods as shaded spans, labelled at the top.
//   - [BarChart]: categories on the x axis, several series side by side,
//     each bar labelled with its value.
//   - [LatencyChart]: the distribution of latencies held in HdrHistograms
//     (microseconds), in log-spaced buckets on a log-scaled x axis in ms.
//   - [PercentileChart]: the percentile spectrum of the same histograms,
//     latency against 50%, 90%, 99%, 99.9% ... on a log-scaled x axis.
//
// Tables are plain HTML tables; every cell is escaped.
//
// # Usage
//
//	r := report.Report{Title: "payswitch sim", Meta: [][2]string{{"cores", "2"}}}
//	r.Sections = append(r.Sections, report.Section{
//		Title:  "Throughput",
//		Charts: []report.Chart{report.LineChart("Payments per second", "time (s)", "payments/s", offered, answered)},
//		Tables: []report.Table{{Header: []string{"code", "payments"}, Rows: rows}},
//	})
//	index, err := r.Write(dir)
//
// # Limits and caveats
//
// Write checks every chart before it writes anything and reports every
// problem (ErrChart): mismatched lengths, too many series or points
// (limits.go). It creates dir when needed and overwrites its own files
// (index.html and NN-name.png) but removes nothing else. Drawing is CPU
// work in the caller's goroutine: about 0.05 to 0.2 s per chart. A Report
// is a plain value; writing the same Report twice gives the same files.
// Nothing here is safe for concurrent mutation, and nothing needs to be.
package report
