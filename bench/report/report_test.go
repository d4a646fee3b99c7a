package report

import (
	"bytes"
	"errors"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// testReport has one chart of each kind, markers, gaps and a table.
func testReport() *Report {
	var x, sine, gappy []float64
	for i := range 60 {
		x = append(x, float64(i))
		sine = append(sine, 1000+500*math.Sin(float64(i)/8))
		v := float64(i * 10)
		if i > 20 && i < 25 {
			v = math.NaN()
		}
		gappy = append(gappy, v)
	}
	fast := hdrhistogram.New(1, 60_000_000, 3)
	slow := hdrhistogram.New(1, 60_000_000, 3)
	for i := range 10_000 {
		_ = fast.RecordValue(int64(800 + i%700))
		_ = slow.RecordValue(int64(2_000 + (i%100)*(i%100)*30))
	}
	line := LineChart("Throughput over time", "time (s)", "payments/s",
		Series{Name: "offered", X: x, Y: sine}, Series{Name: "with a gap", X: x, Y: gappy, Dashed: true})
	line.Markers = []Marker{{At: 10, Label: "bank silent"}, {At: 30, Until: 40, Label: "salary peak"}}
	line.Caption = "A sine & a <gap>."
	logLine := LineChart("Latency over time", "time (s)", "latency (ms)", Series{Name: "p99", X: x, Y: gappy})
	logLine.LogY = true
	bars := BarChart("Outcomes", "response code", "payments", []string{"00", "05", "68"},
		Series{Name: "one node", Y: []float64{12000, 140, 3}}, Series{Name: "three nodes", Y: []float64{9000, 100, 0}})
	hists := map[string]*hdrhistogram.Histogram{"fast": fast, "slow": slow}
	return &Report{
		Title: "Test report",
		Meta:  [][2]string{{"cores", "2"}, {"go", "go1.26"}},
		Sections: []Section{
			{Title: "Time series", Text: "First paragraph.\n\nSecond paragraph.", Charts: []Chart{line, logLine}},
			{Title: "Latency", Charts: []Chart{LatencyChart("Latency distribution", hists), PercentileChart("Latency by percentile", hists)}},
			{Title: "Outcomes", Charts: []Chart{bars}, Tables: []Table{{
				Title: "By code", Header: []string{"code", "meaning", "payments"}, NumericFrom: 2,
				Rows: [][]string{{"00", "approved", "12,000"}, {"68", "payee <timed> out", "3"}},
			}}},
		},
	}
}

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	index, err := testReport().Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	if index != filepath.Join(dir, IndexFile) {
		t.Fatalf("index at %s", index)
	}
	html, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	page := string(html)
	files, err := filepath.Glob(filepath.Join(dir, "*.png"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 5 {
		t.Fatalf("%d PNG files, want 5: %v", len(files), files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if b := img.Bounds(); b.Dx() != 960 || b.Dy() < 400 {
			t.Fatalf("%s is %v", f, b)
		}
		if !strings.Contains(page, `href="`+filepath.Base(f)+`"`) {
			t.Fatalf("index.html does not link %s", filepath.Base(f))
		}
	}
	for _, want := range []string{
		"01-throughput-over-time.png", "05-outcomes.png",
		`src="data:image/png;base64,`,
		"<th>cores</th><td>2</td>",
		"<h3>By code</h3>", `<td class="num">12,000</td>`,
		"payee &lt;timed&gt; out", // escaped
		"A sine &amp; a &lt;gap&gt;.",
		"<p>Second paragraph.</p>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	if n := strings.Count(page, "data:image/png;base64,"); n != 5 {
		t.Errorf("%d embedded images, want 5", n)
	}
	if strings.Contains(page, "ZgotmplZ") {
		t.Error("html/template refused a value")
	}
}

// TestWriteTwiceSame: the same report gives the same bytes.
func TestWriteTwiceSame(t *testing.T) {
	r := testReport()
	a, b := t.TempDir(), t.TempDir()
	if _, err := r.Write(a); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Write(b); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{IndexFile, "03-latency-distribution.png"} {
		x, _ := os.ReadFile(filepath.Join(a, name))
		y, _ := os.ReadFile(filepath.Join(b, name))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two writes", name)
		}
	}
}

func TestInvalid(t *testing.T) {
	empty := hdrhistogram.New(1, 1000, 3)
	cases := []struct {
		name  string
		chart Chart
	}{
		{"zero chart", Chart{Title: "zero"}},
		{"no series", LineChart("none", "x", "y")},
		{"lengths", LineChart("lengths", "x", "y", Series{Name: "a", X: []float64{1, 2}, Y: []float64{1}})},
		{"bar lengths", BarChart("bars", "x", "y", []string{"a", "b"}, Series{Name: "a", Y: []float64{1}})},
		{"nil histogram", LatencyChart("nil", map[string]*hdrhistogram.Histogram{"x": nil})},
		{"empty histograms", PercentileChart("empty", map[string]*hdrhistogram.Histogram{"x": empty})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &Report{Title: "bad", Sections: []Section{{Charts: []Chart{c.chart}}}}
			dir := t.TempDir()
			if _, err := r.Write(dir); !errors.Is(err, ErrChart) {
				t.Fatalf("Write: %v, want ErrChart", err)
			}
		})
	}
	long := Table{Header: []string{"a"}, Rows: [][]string{{"1", "2"}}}
	if err := long.Validate(); !errors.Is(err, ErrTable) {
		t.Fatalf("a row longer than the header: %v", err)
	}
}

func TestLogTicks(t *testing.T) {
	labels := func(lo, hi float64) []string {
		var out []string
		for _, tk := range (logTicks{}).Ticks(lo, hi) {
			if tk.Label != "" {
				out = append(out, tk.Label)
			}
		}
		return out
	}
	if got := strings.Join(labels(0.8, 30), " "); got != "1 2 5 10 20" {
		t.Errorf("0.8 to 30: %s", got)
	}
	if got := strings.Join(labels(0.01, 1e5), " "); got != "0.01 0.1 1 10 100 1000 10000 100000" {
		t.Errorf("0.01 to 1e5: %s", got)
	}
	var got []string
	for _, tk := range (percentileTicks{}).Ticks(1, 2000) {
		if tk.Label != "" {
			got = append(got, tk.Label)
		}
	}
	if strings.Join(got, " ") != "0% 50% 90% 99% 99.9%" {
		t.Errorf("percentile ticks: %v", got)
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Latency p50/p99/p99.9 over time": "latency-p50-p99-p99-9-over-time",
		"  ":                              "chart",
		"Outcomes (total)":                "outcomes-total",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLinearTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{
		{0, 59, "0 10 20 30 40 50"},
		{0, 3000, "0 500 1,000 1,500 2,000 2,500 3,000"},
		{0, 1.2, "0.0 0.2 0.4 0.6 0.8 1.0 1.2"},
		{-5, 5, "-4 -2 0 2 4"},
	} {
		var got []string
		for _, tk := range (linearTicks{}).Ticks(c.lo, c.hi) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%v to %v: %v, want %s", c.lo, c.hi, got, c.want)
		}
	}
}
