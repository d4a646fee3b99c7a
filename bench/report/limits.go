package report

import "gonum.org/v1/plot/vg"

// Limits of the package: they bound the work and the size of one report,
// so that a runaway caller gets an error rather than a gigabyte of HTML.
const (
	// seriesMax bounds the series (or histograms) of one chart: beyond a
	// dozen lines a chart is unreadable anyway.
	seriesMax = 16
	// pointsMax bounds the points of one series.
	pointsMax = 1_000_000
	// categoriesMax bounds the categories of a bar chart.
	categoriesMax = 64
	// markersMax bounds the markers of one chart.
	markersMax = 64
	// chartsMax bounds the charts of one report, tablesMax its tables and
	// rowsMax the rows of one table.
	chartsMax = 256
	tablesMax = 256
	rowsMax   = 100_000

	// widthDefault and heightDefault are a chart's size when the Chart
	// does not set one: 960 x 450 pixels at dpi, wide enough for a minute
	// of per-second points and small enough to sit in a page.
	widthDefault  = 10 * vg.Inch
	heightDefault = 4.7 * vg.Inch
	// sizeMax bounds a chart's sides.
	sizeMax = 40 * vg.Inch
	// dpi is the resolution of the PNG files.
	dpi = 96

	// latencyBucketsPerDecade is the resolution of LatencyChart's
	// log-spaced buckets.
	latencyBucketsPerDecade = 10
)
