package bench

import (
	"bufio"
	"fmt"
	"image/color"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/payswitch/payswitch/bench/report"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// Colours that keep one meaning across the sim's charts.
var (
	simGrey   = color.RGBA{R: 0x8c, G: 0x8c, B: 0x8c, A: 0xff}
	simBlue   = color.RGBA{R: 0x4e, G: 0x79, B: 0xa7, A: 0xff}
	simGreen  = color.RGBA{R: 0x59, G: 0xa1, B: 0x4f, A: 0xff}
	simOrange = color.RGBA{R: 0xf2, G: 0x8e, B: 0x2b, A: 0xff}
	simRed    = color.RGBA{R: 0xe1, G: 0x57, B: 0x59, A: 0xff}
	simPurple = color.RGBA{R: 0xb0, G: 0x7a, B: 0xa1, A: 0xff}
	simBlack  = color.RGBA{R: 0x30, G: 0x30, B: 0x30, A: 0xff}
)

// writeSimReport writes res as an HTML report with its charts into dir.
func writeSimReport(res *SimResult, dir string) (string, error) {
	markers := simMarkers(res.Events)
	x := make([]float64, len(res.Seconds))
	for i, s := range res.Seconds {
		x[i] = float64(s.Second) + 0.5 // the middle of the second
	}
	series := func(name string, c color.Color, dashed bool, f func(SimSecond) float64) report.Series {
		y := make([]float64, len(res.Seconds))
		for i, s := range res.Seconds {
			y[i] = f(s)
		}
		return report.Series{Name: name, X: x, Y: y, Color: c, Dashed: dashed}
	}

	throughput := report.LineChart("Payments per second", "time since the start (s)", "payments per second",
		series("target (profile)", simGrey, true, func(s SimSecond) float64 { return s.Target }),
		series("offered", simBlack, false, func(s SimSecond) float64 { return float64(s.Offered) }),
		series("answered", simBlue, false, func(s SimSecond) float64 { return float64(s.AnsweredAt) }),
		series("approved (00)", simGreen, false, func(s SimSecond) float64 { return float64(s.ApprovedAt) }),
		series("G2P offered", simPurple, false, func(s SimSecond) float64 { return float64(s.G2POffered) }),
	)
	throughput.Markers = markers
	throughput.Caption = "Offered counts the payments due in each second (open loop: they go out on time whatever the switch does); " +
		"answered and approved count the answers that came in during each second. Shaded: periods; dashed lines: moments (see the event log)."

	latency := report.LineChart("Latency per second (from the intended send time)", "time since the start (s)", "latency (ms, log scale)",
		series("p50", simBlue, false, func(s SimSecond) float64 { return s.P50ms }),
		series("p99", simOrange, false, func(s SimSecond) float64 { return s.P99ms }),
		series("p99.9", simRed, false, func(s SimSecond) float64 { return s.P999ms }),
		series("max", simGrey, true, func(s SimSecond) float64 { return s.Maxms }),
	)
	latency.LogY = true
	latency.Markers = markers
	latency.Caption = "Percentiles of the answered payments due in each second, measured from the time each was due to go out, " +
		"so that a stalled switch or sender shows as latency (coordinated omission corrected). Payments without an answer are in the outcomes."

	// Two classes, not "all" as well: all is almost the banks' and
	// wallets' line and would hide it; the totals table has it.
	hists := map[string]*hdrhistogram.Histogram{"bank and wallet payments": res.Regular, "G2P payments": res.G2P}
	dist := report.LatencyChart("Latency distribution", hists)
	dist.Caption = "Share of the answered payments in each latency bucket (10 per decade), from the intended send time. " +
		"Answers at the payee deadline are the silent bank's 68s."
	spectrum := report.PercentileChart("Latency by percentile", hists)
	spectrum.Caption = "Latency at each percentile over the whole run, from the intended send time; each step right is one more nine. " +
		"The totals table has the figures of all payments together."

	codes := simCodes(res)
	var outcomeSeries []report.Series
	for i, code := range codes {
		if code == iso8583.ResponseApproved {
			continue // in the throughput chart; here it would flatten the rest
		}
		c := simCodeColor(code, i)
		outcomeSeries = append(outcomeSeries, series(code.String()+" "+code.Meaning(), c, false,
			func(s SimSecond) float64 { return float64(s.ByCode[code]) }))
	}
	outcomeSeries = append(outcomeSeries,
		series("no answer in time", simBlack, true, func(s SimSecond) float64 { return float64(s.TimedOut) }),
		series("session lost", simRed, true, func(s SimSecond) float64 { return float64(s.Failed) }),
		series("not sent (bank down)", simGrey, true, func(s SimSecond) float64 { return float64(s.NotSent) }))
	outcomes := report.LineChart("Payments not approved, per second", "time since the start (s)", "payments per second", outcomeSeries...)
	outcomes.Markers = markers
	outcomes.Caption = "Payments due in each second that were not approved, by the answer they got (field 39) or by what happened instead; " +
		"the approved ones are in the throughput chart."

	categories, regular, g2p := simOutcomeTotals(res, codes)
	totals := report.BarChart("Outcomes of the whole run", "outcome", "payments", categories,
		report.Series{Name: "bank and wallet payments", Y: regular, Color: simBlue},
		report.Series{Name: "G2P payments", Y: g2p, Color: simPurple})

	var classNames []string
	var sent, received []float64
	for _, c := range res.Classes {
		classNames = append(classNames, fmt.Sprintf("%s (%d)", c.Class, c.Participants))
		sent = append(sent, float64(c.Sent))
		received = append(received, float64(c.Received))
	}
	classes := report.BarChart("Payments by participant class", "class (participants)", "payments", classNames,
		report.Series{Name: "sent as payer", Y: sent, Color: simBlue},
		report.Series{Name: "received as payee", Y: received, Color: simOrange})

	r := &report.Report{
		Title:     "payswitch sim: a day compressed into " + res.Config.Duration.String(),
		Meta:      simMeta(res),
		Generated: time.Now(),
		Sections: []report.Section{
			{Title: "Summary", Text: simSummaryText(res), Tables: []report.Table{simTotalsTable(res)}},
			{Title: "Throughput", Charts: []report.Chart{throughput}},
			{Title: "Latency", Charts: []report.Chart{latency, dist, spectrum}},
			{Title: "Outcomes", Charts: []report.Chart{outcomes, totals}, Tables: []report.Table{simCodesTable(res, codes)}},
			{Title: "Participants", Charts: []report.Chart{classes}, Tables: []report.Table{simClassTable(res)}},
			{Title: "Event log", Text: "Times are since the start of the load.", Tables: []report.Table{simEventTable(res)}},
			{Title: "Per second", Text: "Every figure but \"answered at\" counts the payments due in the second.", Tables: []report.Table{simSecondsTable(res, codes)}},
		},
	}
	return r.Write(dir)
}

// simMarkers turns the events into chart markers: periods shaded, the
// kill and the restart as lines; the rest is in the event log.
func simMarkers(events []SimEvent) []report.Marker {
	var out []report.Marker
	for _, e := range events {
		m := report.Marker{At: e.At.Seconds(), Until: e.Until.Seconds()}
		switch e.Kind {
		case "peak":
			m.Label, m.Color = "salary peak", simOrange
		case "g2p":
			m.Label, m.Color = "G2P batch", simPurple
		case "silent":
			m.Label, m.Color = "payee bank silent", simRed
		case "kill":
			m.Label, m.Color = "leader killed", simRed
		case "signed-on":
			m.Label, m.Color = "banks back", simGreen
		case "restart":
			m.Label, m.Color = "node restarted", simBlack
		case "restart-failed":
			m.Label, m.Color = "restart failed", simBlack
		default:
			continue
		}
		out = append(out, m)
	}
	return out
}

// simCodes lists the response codes answered in the run, in code order.
func simCodes(res *SimResult) []iso8583.ResponseCode {
	var codes []iso8583.ResponseCode
	for code := range res.ByCode {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	return codes
}

// simCodeColor keeps approved green and the payee timeout red.
func simCodeColor(code iso8583.ResponseCode, i int) color.Color {
	switch code {
	case iso8583.ResponseApproved:
		return simGreen
	case iso8583.ResponsePayeeTimedOut:
		return simRed
	case iso8583.ResponseDoNotHonour:
		return simOrange
	case iso8583.ResponseUnknownAccount:
		return simPurple
	case iso8583.ResponseUnavailable:
		return simBlue
	}
	others := []color.Color{
		color.RGBA{R: 0x76, G: 0xb7, B: 0xb2, A: 0xff}, color.RGBA{R: 0xed, G: 0xc9, B: 0x48, A: 0xff},
		color.RGBA{R: 0x9c, G: 0x75, B: 0x5f, A: 0xff}, color.RGBA{R: 0xff, G: 0x9d, B: 0xa7, A: 0xff},
	}
	return others[i%len(others)]
}

// simOutcomeTotals splits the outcomes into regular and G2P payments.
func simOutcomeTotals(res *SimResult, codes []iso8583.ResponseCode) (categories []string, regular, g2p []float64) {
	for _, code := range codes {
		categories = append(categories, code.String())
		regular = append(regular, float64(res.ByCode[code]-res.ByCodeG2P[code]))
		g2p = append(g2p, float64(res.ByCodeG2P[code]))
	}
	categories = append(categories, "no answer", "session lost", "not sent")
	regular = append(regular, float64(res.TimedOut-res.G2PTimedOut), float64(res.Failed-res.G2PFailed), float64(res.NotSent-res.G2PNotSent))
	g2p = append(g2p, float64(res.G2PTimedOut), float64(res.G2PFailed), float64(res.G2PNotSent))
	return categories, regular, g2p
}

func simMeta(res *SimResult) [][2]string {
	cfg := res.Config
	mode := "3 'payswitch serve' processes on 127.0.0.1 (Raft, Pebble, ISO 8583 on each; the leader serves)"
	if cfg.Nodes == 1 {
		mode = "1 node in the sim's process (replica, Pebble, ISO 8583 on 127.0.0.1)"
	}
	meta := [][2]string{
		{"result", res.Line()},
		{"switch", mode},
		{"compressed day", fmt.Sprintf("%v; base %.0f, peak %.0f payments/s; G2P batch %.0f payments/s on top", cfg.Duration, cfg.BaseRate, cfg.PeakRate, cfg.G2PRate)},
		{"participants", fmt.Sprintf("%d big banks, %d small banks, %d wallets, 1 treasury; %d beneficiaries linked by national ID and phone",
			cfg.BigBanks, cfg.SmallBanks, cfg.Wallets, cfg.Beneficiaries)},
		{"payee deadline", cfg.PaymentTimeout.String() + fmt.Sprintf(" (payers wait %v)", cfg.PaymentTimeout+simResponseGrace)},
		{"faults", map[bool]string{true: "none (--faults=false)", false: simFaultsText(cfg)}[cfg.NoFaults]},
		{"seed", strconv.FormatUint(cfg.Seed, 10)},
		{"load and drain time", res.Elapsed.Round(time.Millisecond).String()},
	}
	return append(meta, res.Machine...)
}

func simFaultsText(cfg SimConfig) string {
	at := func(f float64) string {
		return (time.Duration(f * float64(cfg.Duration))).Round(100 * time.Millisecond).String()
	}
	text := fmt.Sprintf("a big bank silent as payee from %s to %s", at(simSilentFrom), at(simSilentUntil))
	if cfg.Nodes == 3 {
		return text + fmt.Sprintf("; the leader SIGKILLed at %s and restarted at %s", at(simKillAt), at(simRestartAt))
	}
	return text + "; no node kill with one node"
}

func simSummaryText(res *SimResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s payments were offered over %v; %s were approved (%.2f%%). Latency of the answered ones, from the time each was due: "+
		"p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.0f ms.",
		fmtInt(res.Offered), res.Config.Duration, fmtInt(res.Approved), 100*float64(res.Approved)/math.Max(float64(res.Offered), 1),
		percentileMs(res.Latency, 50), percentileMs(res.Latency, 99), percentileMs(res.Latency, 99.9), float64(res.Latency.Max())/1e3)
	fmt.Fprintf(&b, "\n\nErrors (%d) are payments that got no answer: not sent because their bank had no session (%d), no answer within the payer's wait (%d), "+
		"or lost with their session when a node died (%d). Declines and other codes are answers; they are counted by code below.",
		res.Errors(), res.NotSent, res.TimedOut, res.Failed)
	fmt.Fprintf(&b, "\n\nLedger check: %d of %d sampled approved payments posted", res.Checked-res.Unposted, res.Checked)
	if res.Config.Nodes == 3 {
		fmt.Fprintf(&b, "; the %d running nodes %s on one state digest at the end.", res.NodesRunning,
			map[bool]string{true: "converged", false: "did NOT converge"}[res.Converged])
	} else {
		b.WriteString("; the ledger's own consistency check passed.")
	}
	return b.String()
}

func simTotalsTable(res *SimResult) report.Table {
	rows := [][]string{
		{"offered", fmtInt(res.Offered)},
		{"sent", fmtInt(res.Sent)},
		{"not sent (bank without a session)", fmtInt(res.NotSent)},
		{"answered", fmtInt(res.Answered)},
		{"approved (00)", fmtInt(res.Approved)},
		{"no answer in time", fmtInt(res.TimedOut)},
		{"lost with their session", fmtInt(res.Failed)},
		{"re-dials of participants", fmtInt(res.Redials)},
	}
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99.9", 99.9}, {"max", 100}} {
		rows = append(rows, []string{"latency " + q.name + " (ms, all payments)", fmtMs(percentileMs(res.Latency, q.q))})
	}
	return report.Table{Title: "Totals", Header: []string{"", "payments"}, Rows: rows, NumericFrom: 1}
}

func simCodesTable(res *SimResult, codes []iso8583.ResponseCode) report.Table {
	t := report.Table{Title: "Answers by response code", Header: []string{"code", "meaning", "payments", "of which G2P", "share of offered"}, NumericFrom: 2}
	add := func(code, meaning string, n, g int) {
		t.Rows = append(t.Rows, []string{code, meaning, fmtInt(n), fmtInt(g), fmt.Sprintf("%.3f%%", 100*float64(n)/math.Max(float64(res.Offered), 1))})
	}
	for _, code := range codes {
		add(code.String(), code.Meaning(), res.ByCode[code], res.ByCodeG2P[code])
	}
	add("-", "no answer within the payer's wait", res.TimedOut, res.G2PTimedOut)
	add("-", "lost with its session", res.Failed, res.G2PFailed)
	add("-", "not sent: the bank had no session", res.NotSent, res.G2PNotSent)
	return t
}

func simClassTable(res *SimResult) report.Table {
	t := report.Table{Title: "By class", NumericFrom: 1, Header: []string{"class", "participants", "offered", "sent", "approved", "p99 (ms)",
		"received as payee", "approved as payee", "declined as payee", "left unanswered", "0420 advices received"}}
	for _, c := range res.Classes {
		t.Rows = append(t.Rows, []string{c.Class, fmtInt(c.Participants), fmtInt(c.Offered), fmtInt(c.Sent), fmtInt(c.Approved),
			fmtMs(c.P99ms), fmtInt(c.Received), fmtInt(c.ReceivedApproved), fmtInt(c.ReceivedDeclined), fmtInt(c.ReceivedDropped), fmtInt(c.Advices)})
	}
	return t
}

func simEventTable(res *SimResult) report.Table {
	t := report.Table{Header: []string{"at", "until", "event"}}
	for _, e := range res.Events {
		until := ""
		if e.Until > 0 {
			until = e.Until.Round(10 * time.Millisecond).String()
		}
		t.Rows = append(t.Rows, []string{e.At.Round(10 * time.Millisecond).String(), until, e.Text})
	}
	return t
}

func simSecondsTable(res *SimResult, codes []iso8583.ResponseCode) report.Table {
	header := []string{"second", "target/s", "offered", "sent", "answered", "answered at", "approved", "p50 ms", "p99 ms", "p99.9 ms"}
	for _, c := range codes {
		header = append(header, c.String())
	}
	header = append(header, "no answer", "lost", "not sent")
	t := report.Table{Header: header, NumericFrom: 1}
	for _, s := range res.Seconds {
		row := []string{strconv.Itoa(s.Second), fmt.Sprintf("%.0f", s.Target), fmtInt(s.Offered), fmtInt(s.Sent), fmtInt(s.Answered),
			fmtInt(s.AnsweredAt), fmtInt(s.Approved), fmtMs(s.P50ms), fmtMs(s.P99ms), fmtMs(s.P999ms)}
		for _, c := range codes {
			row = append(row, fmtInt(s.ByCode[c]))
		}
		t.Rows = append(t.Rows, append(row, fmtInt(s.TimedOut), fmtInt(s.Failed), fmtInt(s.NotSent)))
	}
	return t
}

// fmtInt writes n with thousands separators.
func fmtInt(n int) string {
	s := strconv.Itoa(max(n, -n))
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	if n < 0 {
		return "-" + string(b)
	}
	return string(b)
}

func fmtMs(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// memTotal reads the machine's memory from /proc/meminfo (Linux).
func memTotal() string {
	if v := procField("/proc/meminfo", "MemTotal"); v != "" {
		if kb, err := strconv.ParseFloat(strings.TrimSuffix(v, " kB"), 64); err == nil {
			return fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	return "unknown"
}

// cpuModel reads the processor's name from /proc/cpuinfo (Linux).
func cpuModel() string {
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		return v
	}
	return "unknown"
}

// procField returns the value of the first "name: value" line of a /proc
// file, or "".
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for lines := 0; sc.Scan() && lines < 10_000; lines++ {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == name {
			return strings.TrimSpace(value)
		}
	}
	return ""
}
