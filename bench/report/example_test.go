package report_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/payswitch/payswitch/bench/report"
)

func Example() {
	dir, err := os.MkdirTemp("", "report-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	seconds := []float64{0, 1, 2, 3, 4}
	offered := report.Series{Name: "offered", X: seconds, Y: []float64{100, 200, 300, 300, 300}}
	answered := report.Series{Name: "answered", X: seconds, Y: []float64{100, 200, 250, 300, 300}}
	chart := report.LineChart("Payments per second", "time (s)", "payments/s", offered, answered)
	chart.Markers = []report.Marker{{At: 2, Label: "node killed"}}
	r := report.Report{
		Title: "A small report",
		Meta:  [][2]string{{"duration", "5 s"}},
		Sections: []report.Section{{
			Title:  "Throughput",
			Charts: []report.Chart{chart},
			Tables: []report.Table{{Header: []string{"code", "payments"}, Rows: [][]string{{"00", "1,150"}}}},
		}},
	}
	index, err := r.Write(dir)
	if err != nil {
		panic(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	fmt.Println(filepath.Base(index))
	for _, f := range files {
		fmt.Println(filepath.Base(f))
	}
	// Output:
	// index.html
	// 01-payments-per-second.png
	// index.html
}
