package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/payswitch/payswitch/bench"
	"github.com/payswitch/payswitch/switch/iso8583"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

func newSimCommand() *cobra.Command {
	var cfg bench.SimConfig
	faults := true
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "A day of a national switch compressed into minutes: realistic open-loop load, faults, and a report",
		Long: `Drives the switch with the load of a day compressed into --duration, open
loop over real ISO 8583 sessions: a morning ramp to --base-rate, a salary-day
peak of --peak-rate, and a treasury's G2P batch (--g2p-rate, paying
beneficiaries by national ID or phone number) on top of the peak. The
participants are generated: a few big banks carry most of the volume, many
small banks and a few wallets the rest, all onboarded with MAC keys and
funded positions from a generated participants file.

Faults land at fixed points: a big bank stops answering the payments the
switch forwards to it (the switch answers 68 at the payee deadline and
sends 0420 advices) and comes back; with --nodes 3 (the default, three
'payswitch serve' processes on 127.0.0.1) the leader is SIGKILLed, the banks
re-dial and sign on at the new leader, and the killed node restarts. With
--nodes 1 the switch runs in this process and the kill is left out.

Latency runs from each payment's intended send time (HdrHistogram,
coordinated omission corrected). A line a second shows the load; --report
DIR writes index.html (self-contained) with PNG charts of throughput,
latency percentiles, the latency distribution and the outcomes over time,
the event log, and the machine. The last line is:

  sim_payments=<n> sim_approved=<n> p99_ms=<n> errors=<n>

where errors counts the payments that got no answer (not sent for want of a
session, no answer in time, or lost with their session).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.NoFaults = !faults
			return runSim(cmd, cfg)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&cfg.Duration, "duration", 60*time.Second, "the compressed day")
	f.IntVar(&cfg.Nodes, "nodes", 3, "3: three serve processes with a leader kill; 1: one node in this process, no kill")
	f.Float64Var(&cfg.BaseRate, "base-rate", 500, "business-hours load, payments/s")
	f.Float64Var(&cfg.PeakRate, "peak-rate", 2000, "salary-day peak, payments/s")
	f.Float64Var(&cfg.G2PRate, "g2p-rate", 500, "the treasury's G2P batch on top of the peak, payments/s")
	f.IntVar(&cfg.BigBanks, "big-banks", 4, "big banks (most of the volume)")
	f.IntVar(&cfg.SmallBanks, "small-banks", 12, "small banks")
	f.IntVar(&cfg.Wallets, "wallets", 3, "mobile-money wallets")
	f.IntVar(&cfg.Beneficiaries, "beneficiaries", 2000, "G2P beneficiaries, each linked by national ID and phone number")
	f.DurationVar(&cfg.PaymentTimeout, "payment-timeout", 2*time.Second, "how long the switch waits for a payee before it answers 68")
	f.BoolVar(&faults, "faults", true, "inject the silent bank and (with --nodes 3) the leader kill")
	f.Uint64Var(&cfg.Seed, "seed", 1, "seed of the load's random choices")
	f.StringVar(&cfg.ReportDir, "report", "", "write the HTML report and its PNG charts into this directory")
	f.StringVar(&cfg.Dir, "dir", "", "where the participants file and a single node's state go (default a temporary directory)")
	return cmd
}

func runSim(cmd *cobra.Command, cfg bench.SimConfig) error {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "payswitch sim: %v compressed day, %d node(s); base %.0f, peak %.0f, G2P %.0f payments/s; %d big banks, %d small banks, %d wallets, a treasury; %d CPUs\n",
		cfg.Duration, cfg.Nodes, cfg.BaseRate, cfg.PeakRate, cfg.G2PRate, cfg.BigBanks, cfg.SmallBanks, cfg.Wallets, runtime.NumCPU())
	var mu sync.Mutex // the bar and the lines share the terminal
	var bar *progressbar.ProgressBar
	cfg.Progress = func(t bench.SimTick) {
		mu.Lock()
		defer mu.Unlock()
		if bar == nil {
			bar = newProgressBar(t.Planned, "payments")
		}
		_ = bar.Clear()
		fmt.Fprintln(out, simTickLine(t))
		_ = bar.Set(min(t.Total, t.Planned))
	}
	cfg.Event = func(e bench.SimEvent) {
		mu.Lock()
		defer mu.Unlock()
		if bar != nil {
			_ = bar.Clear()
		}
		fmt.Fprintf(out, "%6.1fs  >> %s\n", e.At.Seconds(), e.Text)
	}
	started := time.Now()
	res, err := bench.RunSim(cmd.Context(), cfg)
	mu.Lock()
	if bar != nil {
		_ = bar.Finish()
	}
	mu.Unlock()
	if err != nil {
		return err
	}
	printSimSummary(out, res, time.Since(started))
	if res.Unposted > 0 || !res.Converged {
		return fmt.Errorf("sim: the ledger disagrees with the answers: %d of %d sampled approved payments not posted, converged %v",
			res.Unposted, res.Checked, res.Converged)
	}
	return nil
}

// simTickLine is the live line of one second.
func simTickLine(t bench.SimTick) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%5ds  target %5.0f/s  offered %5d  answered %5d  approved %5d  p50 %s  p99 %s",
		t.Second+1, t.Target, t.Offered, t.Answered, t.Approved, fmtMsCell(t.P50ms), fmtMsCell(t.P99ms))
	if t.Declined > 0 {
		fmt.Fprintf(&b, "  other codes %d", t.Declined)
	}
	if n := t.TimedOut + t.Failed + t.NotSent; n > 0 {
		fmt.Fprintf(&b, "  no answer %d (timed out %d, lost %d, not sent %d)", n, t.TimedOut, t.Failed, t.NotSent)
	}
	if t.BanksDown > 0 {
		fmt.Fprintf(&b, "  banks down %d", t.BanksDown)
	}
	return b.String()
}

func fmtMsCell(ms float64) string {
	if ms != ms { // NaN: nothing answered
		return "      -"
	}
	return fmt.Sprintf("%6.1fms", ms)
}

func printSimSummary(out io.Writer, res *bench.SimResult, wall time.Duration) {
	fmt.Fprintf(out, "\noffered %d, sent %d, not sent %d; answered %d, no answer in time %d, lost with their session %d\n",
		res.Offered, res.Sent, res.NotSent, res.Answered, res.TimedOut, res.Failed)
	fmt.Fprint(out, "answers by code:")
	for _, code := range iso8583.ResponseCodes() {
		if n := res.ByCode[code]; n > 0 {
			fmt.Fprintf(out, " %s=%d", code, n)
		}
	}
	fmt.Fprintln(out)
	q := func(p float64) float64 { return float64(res.Latency.ValueAtQuantile(p)) / 1e3 }
	fmt.Fprintf(out, "latency from the intended send time: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.0f ms (G2P p99 %.2f ms)\n",
		q(50), q(99), q(99.9), float64(res.Latency.Max())/1e3, float64(res.G2P.ValueAtQuantile(99))/1e3)
	for _, c := range res.Classes {
		fmt.Fprintf(out, "  %-12s %3d  sent %8d  approved %8d  received %8d  advices %5d\n",
			c.Class, c.Participants, c.Sent, c.Approved, c.Received, c.Advices)
	}
	fmt.Fprintf(out, "participants re-dialled %d times; ledger check: %d of %d sampled approved payments posted", res.Redials, res.Checked-res.Unposted, res.Checked)
	if res.Config.Nodes == 3 {
		fmt.Fprintf(out, "; %d nodes running at the end, converged: %v", res.NodesRunning, res.Converged)
	}
	fmt.Fprintf(out, "\nwall time %v\n", wall.Round(time.Millisecond))
	if res.ReportPath != "" {
		fmt.Fprintf(out, "report: %s\n", res.ReportPath)
	}
	fmt.Fprintln(out, res.Line())
}
