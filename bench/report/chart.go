package report

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"strconv"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Series is one named line of a line chart, or one set of bars of a bar
// chart (then X is ignored and Y has one value per category).
type Series struct {
	Name string
	X, Y []float64
	// Color is the series' colour; nil takes the next of the palette.
	Color color.Color
	// Dashed draws a line series dashed.
	Dashed bool
}

// Marker marks an event on a line chart's x axis: a dashed vertical line
// at At, or, when Until is beyond At, a shaded span from At to Until.
// Label is written at the top of the plot, next to the line.
type Marker struct {
	At, Until float64
	Label     string
	// Color is a span's shade (drawn translucent) or a line's colour; nil
	// takes amber for spans and dark grey for lines.
	Color color.Color
}

// Chart is one chart of a report. Make it with LineChart, BarChart,
// LatencyChart or PercentileChart, then set the options below.
type Chart struct {
	Title, XLabel, YLabel string
	// Caption is a sentence printed under the chart in the HTML: what to
	// look at, how the figures were measured.
	Caption string
	// LogY draws a line chart's y axis on a log scale; values <= 0 become
	// gaps.
	LogY bool
	// Markers are events on a line chart's x axis.
	Markers []Marker
	// Width and Height are the chart's size; zero takes 10 x 4.7 inches
	// (960 x 450 pixels).
	Width, Height vg.Length

	kind       chartKind
	series     []Series
	categories []string
	hists      []namedHist
}

type chartKind uint8

const (
	kindNone chartKind = iota
	kindLine
	kindBar
	kindLatency
	kindPercentile
)

type namedHist struct {
	name string
	h    *hdrhistogram.Histogram
}

// LineChart makes a chart of series against a shared x axis.
func LineChart(title, xLabel, yLabel string, series ...Series) Chart {
	return Chart{Title: title, XLabel: xLabel, YLabel: yLabel, kind: kindLine, series: series}
}

// BarChart makes a chart of one bar per category and series, the series
// side by side within each category. Each series' Y holds one value per
// category.
func BarChart(title, xLabel, yLabel string, categories []string, series ...Series) Chart {
	return Chart{Title: title, XLabel: xLabel, YLabel: yLabel, kind: kindBar, series: series, categories: categories}
}

// Validate reports every problem of c, each wrapping ErrChart.
func (c Chart) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %q: "+format, append([]any{ErrChart, c.Title}, args...)...))
	}
	if c.kind == kindNone {
		bad("not made by a chart constructor")
	}
	n := len(c.series) + len(c.hists)
	if n == 0 {
		bad("no series")
	}
	if n > seriesMax {
		bad("%d series, at most %d", n, seriesMax)
	}
	for _, s := range c.series {
		switch {
		case c.kind == kindLine && len(s.X) != len(s.Y):
			bad("series %q has %d x and %d y values", s.Name, len(s.X), len(s.Y))
		case c.kind == kindBar && len(s.Y) != len(c.categories):
			bad("series %q has %d values for %d categories", s.Name, len(s.Y), len(c.categories))
		case len(s.Y) > pointsMax:
			bad("series %q has %d points, at most %d", s.Name, len(s.Y), pointsMax)
		}
	}
	for _, h := range c.hists {
		if h.h == nil {
			bad("histogram %q is nil", h.name)
		}
	}
	if c.kind == kindBar && (len(c.categories) == 0 || len(c.categories) > categoriesMax) {
		bad("%d categories, want 1 to %d", len(c.categories), categoriesMax)
	}
	if len(c.Markers) > markersMax {
		bad("%d markers, at most %d", len(c.Markers), markersMax)
	}
	if c.Width < 0 || c.Height < 0 || c.Width > sizeMax || c.Height > sizeMax {
		bad("size %v x %v outside 0 to %v", c.Width, c.Height, sizeMax)
	}
	return errors.Join(errs...)
}

// PNG draws the chart and returns it as a PNG image.
func (c Chart) PNG() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p, legend := newPlot(c)
	var err error
	switch c.kind {
	case kindLine:
		err = addLines(p, &legend, c)
	case kindBar:
		err = addBars(p, &legend, c)
	case kindLatency:
		err = addLatency(p, &legend, c)
	case kindPercentile:
		err = addPercentiles(p, &legend, c)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrChart, c.Title, err)
	}
	w, h := c.size()
	return render(p, legend, w, h)
}

func (c Chart) size() (w, h vg.Length) {
	w, h = c.Width, c.Height
	if w == 0 {
		w = widthDefault
	}
	if h == 0 {
		h = heightDefault
	}
	return w, h
}

// palette is Tableau 10: distinct hues that stay apart for the common
// kinds of colour blindness and in grey-scale print.
var palette = []color.Color{
	rgb(0x4e79a7), rgb(0xf28e2b), rgb(0xe15759), rgb(0x76b7b2), rgb(0x59a14f),
	rgb(0xedc948), rgb(0xb07aa1), rgb(0xff9da7), rgb(0x9c755f), rgb(0xbab0ac),
}

func rgb(v uint32) color.Color {
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}
}

// seriesColor returns s's colour or the i-th of the palette.
func seriesColor(s Series, i int) color.Color {
	if s.Color != nil {
		return s.Color
	}
	return palette[i%len(palette)]
}

// The fonts: Liberation Sans (metric-compatible with Arial), which
// reads better on screen than plot's default serif.
var (
	sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	boldFont = font.Font{Typeface: "Liberation", Variant: "Sans", Weight: xfont.WeightBold}
)

// Font sizes: large enough to read at 100% zoom on a laptop.
const (
	titleSize  = 15
	labelSize  = 12.5
	tickSize   = 11
	legendSize = 11.5
	markerSize = 10
)

// newPlot makes the plot with c's title, labels, fonts and grid, and an
// empty legend to be drawn beside it.
func newPlot(c Chart) (*plot.Plot, plot.Legend) {
	p := plot.New()
	p.Title.Text = c.Title
	p.Title.TextStyle.Font = font.From(boldFont, titleSize)
	p.Title.Padding = vg.Points(8)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sansFont, labelSize)
		a.Tick.Label.Font = font.From(sansFont, tickSize)
		a.Label.Padding = vg.Points(4)
		a.Tick.Marker = linearTicks{}
	}
	p.X.Label.Text, p.Y.Label.Text = c.XLabel, c.YLabel
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 0xe4}
	grid.Horizontal.Color = color.Gray{Y: 0xe4}
	if c.kind == kindBar {
		grid.Vertical.Color = nil // it would cross the bars' labels
	}
	grid.Vertical.Width, grid.Horizontal.Width = vg.Points(0.6), vg.Points(0.6)
	p.Add(grid)
	legend := plot.NewLegend()
	legend.TextStyle.Font = font.From(sansFont, legendSize)
	legend.Top, legend.Left = true, true
	legend.Padding = vg.Points(3)
	legend.ThumbnailWidth = vg.Points(22)
	return p, legend
}

// render draws p with the legend in a column on its right, outside the
// data, and encodes the PNG. It draws the y axis label itself: plot
// reserves room for it around the arithmetic middle of the axis, which on
// a log scale is near the top, and pushes the plot down.
func render(p *plot.Plot, legend plot.Legend, w, h vg.Length) ([]byte, error) {
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(img)
	dc = draw.Crop(dc, vg.Points(6), -vg.Points(10), vg.Points(4), -vg.Points(6))
	if width := legendWidth(legend); width > 0 {
		titleHeight := p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + p.Title.Padding
		legend.Draw(draw.Crop(dc, dc.Size().X-width+vg.Points(12), 0, 0, -titleHeight-vg.Points(6)))
		dc = draw.Crop(dc, 0, -width, 0, 0)
	}
	if label := p.Y.Label.Text; label != "" {
		p.Y.Label.Text = ""
		sty := p.Y.Label.TextStyle
		sty.Rotation += math.Pi / 2
		sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
		titleHeight := p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + p.Title.Padding
		// The x axis takes about its label and its tick labels below.
		xAxis := p.X.Label.TextStyle.Rectangle("Xg").Size().Y + p.X.Tick.Label.Rectangle("0").Size().Y + vg.Points(14)
		middle := (dc.Min.Y + xAxis + dc.Max.Y - titleHeight) / 2
		dc.FillText(sty, vg.Point{X: dc.Min.X, Y: middle}, label)
		dc = draw.Crop(dc, sty.Rectangle(label).Size().X+p.Y.Label.Padding, 0, 0, 0)
	}
	p.Draw(dc)
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// legendWidth is the width of the legend column: the longest entry plus
// its thumbnail and a margin; zero when the legend has no entry.
func legendWidth(l plot.Legend) vg.Length {
	var c draw.Canvas
	r := l.Rectangle(c)
	if r.Size().X == 0 {
		return 0
	}
	return r.Size().X + vg.Points(24)
}

// addLines adds c's series to p as lines broken at their gaps, and the
// markers beneath them.
func addLines(p *plot.Plot, legend *plot.Legend, c Chart) error {
	if c.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	if len(c.Markers) > 0 {
		p.Add(&markers{list: c.Markers, style: markerStyle()})
	}
	drawn := false
	for i, s := range c.series {
		style := draw.LineStyle{Color: seriesColor(s, i), Width: vg.Points(1.6)}
		if s.Dashed {
			style.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		var thumb plot.Thumbnailer
		for _, seg := range segments(s.X, s.Y, c.LogY) {
			if len(seg) == 1 {
				sc, err := plotter.NewScatter(seg)
				if err != nil {
					return err
				}
				sc.GlyphStyle = draw.GlyphStyle{Color: style.Color, Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
				p.Add(sc)
				continue
			}
			line, err := plotter.NewLine(seg)
			if err != nil {
				return err
			}
			line.LineStyle = style
			p.Add(line)
			thumb = line
			drawn = true
		}
		if thumb == nil {
			thumb = &plotter.Line{LineStyle: style}
		}
		legend.Add(s.Name, thumb)
	}
	if !drawn && c.LogY {
		// Nothing positive to draw: give the log axis a range it can take.
		p.Y.Min, p.Y.Max = 1, 10
	}
	if drawn && hasLabels(c.Markers) {
		// Headroom above the data for the markers' labels.
		if c.LogY {
			p.Y.Max *= math.Pow(p.Y.Max/p.Y.Min, 0.15)
		} else {
			p.Y.Max += 0.15 * (p.Y.Max - min(p.Y.Min, 0))
		}
	}
	return nil
}

func hasLabels(ms []Marker) bool {
	for _, m := range ms {
		if m.Label != "" {
			return true
		}
	}
	return false
}

// segments splits x, y into runs of finite points (and positive ones on a
// log scale): a gap in the data is a gap in the line.
func segments(x, y []float64, logY bool) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	for i := range y {
		ok := !math.IsNaN(y[i]) && !math.IsInf(y[i], 0) && !math.IsNaN(x[i]) && !math.IsInf(x[i], 0)
		if ok && logY && y[i] <= 0 {
			ok = false
		}
		if !ok {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, plotter.XY{X: x[i], Y: y[i]})
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// markerStyle is the look of event markers: dark grey dashes, a light
// band for spans.
func markerStyle() markerLook {
	return markerLook{
		line: draw.LineStyle{Color: color.Gray{Y: 0x55}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}},
		band: color.NRGBA{R: 0xf0, G: 0xb0, B: 0x40, A: 0x38},
		text: text.Style{Color: color.Gray{Y: 0x30}, Font: font.From(sansFont, markerSize), Handler: plot.DefaultTextHandler},
	}
}

type markerLook struct {
	line draw.LineStyle
	band color.Color
	text text.Style
}

// markers is a plotter of Chart.Markers. It has no data range: markers
// outside the data are left out rather than stretching the axis.
type markers struct {
	list  []Marker
	style markerLook
}

// Plot draws the spans, then the lines, then the labels, each label in
// one of three rows at the top so that neighbours do not overwrite each
// other.
func (m *markers) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	inside := func(v float64) bool { return v >= p.X.Min && v <= p.X.Max }
	for _, mk := range m.list {
		if mk.Until > mk.At && mk.Until >= p.X.Min && mk.At <= p.X.Max {
			x0, x1 := trX(max(mk.At, p.X.Min)), trX(min(mk.Until, p.X.Max))
			c.SetColor(m.style.band)
			if mk.Color != nil {
				r, g, b, _ := mk.Color.RGBA()
				c.SetColor(color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 0x38})
			}
			c.Fill(vg.Rectangle{Min: vg.Point{X: x0, Y: c.Min.Y}, Max: vg.Point{X: x1, Y: c.Max.Y}}.Path())
		}
	}
	for _, mk := range m.list {
		if !(mk.Until > mk.At) && inside(mk.At) {
			x := trX(mk.At)
			style := m.style.line
			if mk.Color != nil {
				style.Color = mk.Color
			}
			c.StrokeLine2(style, x, c.Min.Y, x, c.Max.Y)
		}
	}
	row := m.style.text.Rectangle("Xg").Size().Y + vg.Points(1)
	for i, mk := range m.list {
		if mk.Label == "" || !inside(mk.At) {
			continue
		}
		y := c.Max.Y - row*vg.Length(1+i%3)
		x := trX(mk.At) + vg.Points(3)
		if width := m.style.text.Rectangle(mk.Label).Size().X; x+width > c.Max.X {
			x = trX(mk.At) - vg.Points(3) - width // near the right edge: left of the line
		}
		c.FillText(m.style.text, vg.Point{X: x, Y: y}, mk.Label)
	}
}

// linearTicks puts 5 to 10 labelled ticks on a linear axis at 1, 2 or 5
// times a power of ten, with a minor tick between each two, and labels
// them with no more decimals than the step needs (plot's default ticker
// writes "25.00" for 25).
type linearTicks struct{}

func (linearTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return nil
	}
	raw := (hi - lo) / 6
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	decimals := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	var ticks []plot.Tick
	first := math.Ceil(lo/step-1e-9) * step
	for v := first - step/2; v <= hi+step*1e-9 && len(ticks) < 100; v += step / 2 {
		if v < lo-step*1e-9 {
			continue
		}
		t := plot.Tick{Value: v}
		if k := math.Round(v / step); math.Abs(v/step-k) < 1e-6 {
			if math.Abs(v) < step*1e-9 {
				v = 0
			}
			t.Label = strconv.FormatFloat(v, 'f', decimals, 64)
			if decimals == 0 {
				t.Label = formatCount(v)
			}
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// logTicks labels a log axis at 1, 2 and 5 times the powers of ten when
// it spans few decades, and at the powers of ten only when it spans many,
// so that a narrow axis still gets labels.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if lo <= 0 || hi <= 0 || lo >= hi {
		return nil
	}
	first, last := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	steps := []float64{1, 2, 5}
	if last-first > 4 {
		steps = []float64{1}
	}
	var ticks []plot.Tick
	for e := first; e <= last && len(ticks) < 200; e++ {
		base := math.Pow(10, e)
		for k := 1; k <= 9; k++ {
			v := base * float64(k)
			if v < lo*0.999 || v > hi*1.001 {
				continue
			}
			t := plot.Tick{Value: v}
			for _, s := range steps {
				if float64(k) == s {
					t.Label = strconv.FormatFloat(v, 'g', -1, 64)
				}
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// addBars adds c's series to p as bars side by side within each
// category, each labelled with its value.
func addBars(p *plot.Plot, legend *plot.Legend, c Chart) error {
	w, _ := c.size()
	// The plotting area is the chart less the y axis and the legend,
	// about a quarter of it at most; bars fill 80% of a category's slot.
	slot := (w * 0.7) / vg.Length(len(c.categories))
	barWidth := slot * 0.8 / vg.Length(len(c.series))
	top := 0.0
	for i, s := range c.series {
		bars, err := plotter.NewBarChart(plotter.Values(s.Y), barWidth)
		if err != nil {
			return err
		}
		col := seriesColor(s, i)
		bars.Color = col
		bars.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(0.5)}
		bars.Offset = barWidth * (vg.Length(i) - vg.Length(len(c.series)-1)/2)
		p.Add(bars, &barLabels{bars: bars, values: s.Y, style: text.Style{
			Color: color.Gray{Y: 0x20}, Font: font.From(sansFont, markerSize), XAlign: draw.XCenter, Handler: plot.DefaultTextHandler}})
		legend.Add(s.Name, bars)
		for _, v := range s.Y {
			top = max(top, v)
		}
	}
	p.NominalX(c.categories...)
	p.X.Tick.Label.Font = font.From(sansFont, tickSize)
	p.Y.Min = 0
	p.Y.Max = max(top*1.12, 1) // headroom for the value labels
	return nil
}

// barLabels writes each bar's value above it, where the bar chart itself
// draws the bar.
type barLabels struct {
	bars   *plotter.BarChart
	values []float64
	style  text.Style
}

func (l *barLabels) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for i, v := range l.values {
		x := trX(float64(i)) + l.bars.Offset
		y := trY(max(v, 0)) + vg.Points(2)
		c.FillText(l.style, vg.Point{X: x, Y: y}, formatCount(v))
	}
}

// formatCount writes v as a count with thousands separators, or with two
// decimals when it is not whole.
func formatCount(v float64) string {
	if v != math.Trunc(v) || math.Abs(v) >= 1e15 {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	s := strconv.FormatInt(int64(math.Abs(v)), 10)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if v < 0 {
		return "-" + string(out)
	}
	return string(out)
}
