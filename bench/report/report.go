package report

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report is one report: a title, a table of facts about the run (Meta:
// configuration, machine, versions), and sections in order.
type Report struct {
	Title string
	// Meta holds name and value pairs, shown in a table under the title.
	Meta [][2]string
	// Generated is printed under the title; zero prints nothing, so that
	// a test's output does not depend on the clock.
	Generated time.Time
	Sections  []Section
}

// Section is a heading with a paragraph of text, charts and tables, shown
// in that order.
type Section struct {
	Title, Text string
	Charts      []Chart
	Tables      []Table
}

// Table is an HTML table. Rows may be shorter than Header (the rest is
// blank), never longer.
type Table struct {
	Title  string
	Header []string
	Rows   [][]string
	// NumericFrom right-aligns the columns from this index on (numbers
	// read best aligned on their last digit); zero aligns all left.
	NumericFrom int
}

// Validate reports every problem of t, each wrapping ErrTable.
func (t Table) Validate() error {
	var errs []error
	if len(t.Rows) > rowsMax {
		errs = append(errs, fmt.Errorf("%w: %q: %d rows, at most %d", ErrTable, t.Title, len(t.Rows), rowsMax))
	}
	for i, row := range t.Rows {
		if len(t.Header) > 0 && len(row) > len(t.Header) {
			errs = append(errs, fmt.Errorf("%w: %q: row %d has %d cells for %d columns", ErrTable, t.Title, i, len(row), len(t.Header)))
		}
	}
	return errors.Join(errs...)
}

// IndexFile is the name of the report's HTML file.
const IndexFile = "index.html"

// Write draws every chart, writes each as NN-name.png into dir (created
// when missing) and writes dir/index.html with the charts embedded, and
// returns the path of index.html. It checks the whole report before it
// writes a file and reports every problem at once.
func (r *Report) Write(dir string) (indexPath string, err error) {
	if err := r.Validate(); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	page := pageData{Title: r.Title, Meta: r.Meta}
	if !r.Generated.IsZero() {
		page.Generated = r.Generated.Format(time.RFC1123)
	}
	n := 0
	for _, s := range r.Sections {
		ps := pageSection{Title: s.Title, Text: paragraphs(s.Text), Tables: tablesOf(s.Tables)}
		for _, c := range s.Charts {
			n++
			data, err := c.PNG()
			if err != nil {
				return "", err
			}
			name := fmt.Sprintf("%02d-%s.png", n, slug(c.Title))
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				return "", fmt.Errorf("report: %w", err)
			}
			ps.Charts = append(ps.Charts, pageChart{
				File:    name,
				Alt:     c.Title,
				Caption: c.Caption,
				// A typed URL: html/template would otherwise refuse a data: URI.
				Data: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(data)),
			})
		}
		page.Sections = append(page.Sections, ps)
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, page); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	indexPath = filepath.Join(dir, IndexFile)
	if err := os.WriteFile(indexPath, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	return indexPath, nil
}

// Validate reports every problem of r's charts and tables.
func (r *Report) Validate() error {
	var errs []error
	charts, tables := 0, 0
	for _, s := range r.Sections {
		charts += len(s.Charts)
		tables += len(s.Tables)
		for _, c := range s.Charts {
			errs = append(errs, c.Validate())
		}
		for _, t := range s.Tables {
			errs = append(errs, t.Validate())
		}
	}
	if charts > chartsMax {
		errs = append(errs, fmt.Errorf("%w: %d charts in one report, at most %d", ErrChart, charts, chartsMax))
	}
	if tables > tablesMax {
		errs = append(errs, fmt.Errorf("%w: %d tables in one report, at most %d", ErrTable, tables, tablesMax))
	}
	return errors.Join(errs...)
}

// slug makes a file name part of a title: lower-case letters and digits,
// other runs of characters as one dash, at most 48 characters.
func slug(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(title) {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
		if b.Len() >= 48 {
			break
		}
	}
	if b.Len() == 0 {
		return "chart"
	}
	return b.String()
}

// paragraphs splits text at blank lines.
func paragraphs(text string) []string {
	var out []string
	for _, p := range strings.Split(text, "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

type pageData struct {
	Title, Generated string
	Meta             [][2]string
	Sections         []pageSection
}

type pageSection struct {
	Title  string
	Text   []string
	Charts []pageChart
	Tables []pageTable
}

type pageChart struct {
	File, Alt, Caption string
	Data               template.URL
}

type pageTable struct {
	Title  string
	Header []string
	Rows   [][]pageCell
}

type pageCell struct {
	Text    string
	Numeric bool
}

func tablesOf(ts []Table) []pageTable {
	out := make([]pageTable, 0, len(ts))
	for _, t := range ts {
		pt := pageTable{Title: t.Title, Header: t.Header}
		width := len(t.Header)
		for _, row := range t.Rows {
			cells := make([]pageCell, max(width, len(row)))
			for i := range cells {
				if i < len(row) {
					cells[i].Text = row[i]
				}
				cells[i].Numeric = t.NumericFrom > 0 && i >= t.NumericFrom
			}
			pt.Rows = append(pt.Rows, cells)
		}
		out = append(out, pt)
	}
	return out
}

// pageTemplate is the whole page: no script, no external resource, so
// that index.html shows the same anywhere, also offline.
var pageTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: -apple-system, "Segoe UI", Roboto, "Liberation Sans", Arial, sans-serif; color: #222; margin: 0 auto; max-width: 1040px; padding: 1.5em; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
h3 { font-size: 1.05em; margin-bottom: 0.4em; }
.generated { color: #666; margin-top: 0; }
figure { margin: 1em 0 1.6em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
figcaption { color: #555; font-size: 0.92em; margin-top: 0.3em; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{if .Generated}}<p class="generated">Generated {{.Generated}}</p>{{end}}
{{if .Meta}}<table class="meta">
{{range .Meta}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>
{{end}}</table>{{end}}
{{range .Sections}}
<h2>{{.Title}}</h2>
{{range .Text}}<p>{{.}}</p>
{{end}}{{range .Charts}}<figure>
<a href="{{.File}}"><img src="{{.Data}}" alt="{{.Alt}}"></a>
{{if .Caption}}<figcaption>{{.Caption}}</figcaption>{{end}}
</figure>
{{end}}{{range .Tables}}{{if .Title}}<h3>{{.Title}}</h3>{{end}}
<table>
{{if .Header}}<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{end}}{{range .Rows}}<tr>{{range .}}<td{{if .Numeric}} class="num"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</table>
{{end}}{{end}}
</body>
</html>
`))
