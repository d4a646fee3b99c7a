package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/payswitch/payswitch/bench"
	"github.com/payswitch/payswitch/bench/pgbaseline"
	"github.com/payswitch/payswitch/switch/iso8583"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

func newBenchCommand() *cobra.Command {
	cmd := newCommandGroup("bench", "Benchmarks that print figures and the ratios DESIGN.md section 7 sets")
	cmd.AddCommand(newBenchLedgerCommand(), newBenchClusterCommand(), newBenchFailoverCommand(), newBenchResolveCommand(), newBenchE2ECommand(), newBenchCompareCommand())
	return cmd
}

func newBenchLedgerCommand() *cobra.Command {
	var cfg bench.LedgerConfig
	var quick bool
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Standalone ledger apply against raw Pebble writing the same bytes, synced",
		Long: `Applies transfers in synced batches to a fresh ledger store and, batch by
batch in the same run, writes the very same Pebble keys and values to a raw
Pebble DB with the same options (the physical reference: no reads, no
logic), in the order the state machine produced them. The ledger sorts each
batch by key before it commits, which makes Pebble's inserts cheaper; the
same writes in sorted order go to a third DB and are reported too. Prints
the figures, then last one line (ratio against the produced order):

  ledger_tps=<n> pebble_tps=<n> ratio=<ledger/pebble> p99_batch_ms=<n> rss_mb=<n>`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if quick {
				if !cmd.Flags().Changed("transfers") {
					cfg.Transfers = 300_000
				}
				if !cmd.Flags().Changed("cold-accounts") {
					cfg.Workload.ColdAccounts = 20_000
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "ledger benchmark: %d transfers in batches of %d, %d hot + %d cold accounts, %d%% hot, %d%% two-phase; %d CPUs\n",
				cfg.Transfers, cfg.BatchSize, cfg.Workload.HotAccounts, cfg.Workload.ColdAccounts,
				cfg.Workload.HotPercent, cfg.Workload.PendingPercent, runtime.NumCPU())
			bar := newProgressBar(cfg.Transfers, "transfers")
			cfg.Progress = func(done int) { _ = bar.Set(done) }
			res, err := bench.RunLedger(cmd.Context(), cfg)
			_ = bar.Finish()
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "ledger: %.2f s in apply, %.0f transfers/s, batch p50 %.2f ms p99 %.2f ms, %d rejected\n",
				res.LedgerSeconds, res.LedgerTPS, res.BatchP50Ms, res.BatchP99Ms, res.Rejected)
			fmt.Fprintf(out, "pebble: %.2f s in synced batches of the same %.2f keys (%.0f bytes) per transfer, in the order the state machine produced them: %.0f transfers/s\n",
				res.PebbleSeconds, res.KeysPerTransfer, res.BytesPerTransfer, res.PebbleTPS)
			fmt.Fprintf(out, "pebble, the same writes sorted by key as the ledger commits them (sorting is the ledger's own work): %.0f transfers/s, ledger/that %.2f\n",
				res.PebbleSortedTPS, res.RatioSorted)
			fmt.Fprintf(out, "memory: rss %.0f MiB, peak %.0f MiB\n", res.RSSMB, res.PeakRSSMB)
			fmt.Fprintln(out, res.Line())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Transfers, "transfers", 1_000_000, "timed transfers")
	f.IntVar(&cfg.BatchSize, "batch", 4096, "transfers per synced batch")
	addWorkloadFlags(f, &cfg.Workload)
	f.IntVar(&cfg.Workload.PendingPercent, "pending-percent", 0, "share of transfers reserved then posted in the next batch")
	f.StringVar(&cfg.Dir, "dir", "", "where to put the temporary stores (default the system temp dir)")
	f.BoolVar(&quick, "quick", false, "a short run (300,000 transfers, 20,000 cold accounts) that finishes in seconds")
	return cmd
}

// addWorkloadFlags declares the flags of the switch-shaped workload that
// the ledger and cluster benchmarks share.
func addWorkloadFlags(f *pflag.FlagSet, w *bench.Workload) {
	f.IntVar(&w.HotAccounts, "hot-accounts", 8, "big participants' position accounts")
	f.IntVar(&w.ColdAccounts, "cold-accounts", 100_000, "small participants' position accounts")
	f.IntVar(&w.HotPercent, "hot-percent", 80, "share of debits and credits on hot accounts")
	f.Uint64Var(&w.Seed, "seed", 1, "workload seed")
}

// newProgressBar draws on stderr when it is a terminal and stays silent
// otherwise, so logs and CI output hold only the figures.
func newProgressBar(total int, unit string) *progressbar.ProgressBar {
	visible := term.IsTerminal(int(os.Stderr.Fd()))
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetVisibility(visible),
		progressbar.OptionSetDescription(unit),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
	)
}

func newBenchClusterCommand() *cobra.Command {
	var cfg bench.ClusterConfig
	var quick bool
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "A 3-node Raft cluster against a 1-node one, in one run: saturation, then latency at half load",
		Long: `Starts a 3-node cluster in this process (real TCP between the nodes on
127.0.0.1, real raft-wal logs and Pebble stores on disk), finds its
saturation throughput with many closed-loop submitters (one transfer per
submission, as the payment flow submits), then drives it open loop at half
that rate to measure latency without coordinated omission. Then it measures
a 1-node cluster's saturation the same way. All replicas share this
machine's cores. Prints the saturation latencies, then last one line:

  cluster_tps=<n> single_tps=<n> ratio=<cluster/single> p50_ms=<n> p99_ms=<n>`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if quick {
				if !cmd.Flags().Changed("saturation") {
					cfg.Saturation = 4 * time.Second
				}
				if !cmd.Flags().Changed("half-load") {
					cfg.HalfLoad = 4 * time.Second
				}
				if !cmd.Flags().Changed("cold-accounts") {
					cfg.Workload.ColdAccounts = 10_000
				}
			}
			hostCluster()
			out := cmd.OutOrStdout()
			cfg.Progress = func(line string) { fmt.Fprintln(out, line) }
			res, err := bench.RunCluster(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if !res.DigestsAgree {
				return fmt.Errorf("replicas disagree on the state digest after the run")
			}
			fmt.Fprintf(out, "saturation latency: %d-node p50 %.2f ms p99 %.2f ms; 1-node p50 %.2f ms p99 %.2f ms; errors %d/%d; replicas agree\n",
				res.Nodes, res.Cluster.P50Ms, res.Cluster.P99Ms, res.Single.P50Ms, res.Single.P99Ms, res.Cluster.Errors, res.Single.Errors)
			fmt.Fprintln(out, res.Line())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Nodes, "nodes", 3, "nodes of the replicated cluster")
	f.DurationVar(&cfg.Saturation, "saturation", 10*time.Second, "closed-loop phase per cluster")
	f.DurationVar(&cfg.HalfLoad, "half-load", 10*time.Second, "open-loop phase at half the saturation rate")
	f.IntVar(&cfg.Submitters, "submitters", 4096, "concurrent closed-loop submitters")
	f.Float64Var(&cfg.Rate, "rate", 0, "skip the saturation search: run the open-loop phase at this rate (transfers/s)")
	f.IntVar(&cfg.Tuning.EntriesInflightMax, "entries-inflight", 0, "full log entries a leader keeps in flight (default the replica's 8)")
	f.DurationVar(&cfg.Tuning.BatchLinger, "linger", 0, "proposer linger before sealing a partial entry (default the replica's 200µs)")
	addWorkloadFlags(f, &cfg.Workload)
	f.StringVar(&cfg.Dir, "dir", "", "where to put the temporary node directories")
	f.BoolVar(&quick, "quick", false, "4 s phases and 10,000 cold accounts: finishes in under 30 s")
	return cmd
}

func newBenchFailoverCommand() *cobra.Command {
	var cfg bench.FailoverConfig
	var quick bool
	cmd := &cobra.Command{
		Use:   "failover",
		Short: "SIGKILL a 3-node cluster's leader repeatedly; time until the new leader commits a transfer",
		Long: `Starts three 'payswitch serve' processes (this binary) on 127.0.0.1 with a
light load of transfers, then repeatedly SIGKILLs the leader. After each
kill a probe sends a fresh transfer to every surviving node every 5 ms; the
failover time runs from the kill to the first transfer a node commits. The
killed node is restarted and the cluster converges before the next kill.
Prints each kill, then last one line:

  failover_ms_p50=<n> failover_ms_max=<n>`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if quick && !cmd.Flags().Changed("kills") {
				cfg.Kills = 5
			}
			out := cmd.OutOrStdout()
			cfg.Progress = func(line string) { fmt.Fprintln(out, line) }
			res, err := bench.RunFailover(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			fmt.Fprintln(out, res.Line())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Kills, "kills", 7, "leader kills")
	f.DurationVar(&cfg.HeartbeatTimeout, "heartbeat-timeout", 0, "nodes' Raft heartbeat timeout (default serve's 250ms)")
	f.DurationVar(&cfg.ElectionTimeout, "election-timeout", 0, "nodes' Raft election timeout (default serve's 250ms)")
	f.BoolVar(&quick, "quick", false, "5 kills: finishes in well under 30 s")
	return cmd
}

func newBenchResolveCommand() *cobra.Command {
	var cfg bench.ResolveConfig
	var quick bool
	cmd := &cobra.Command{
		Use:   "resolve",
		Short: "Identifier resolves per second from memory-hot mapper state on one node",
		Long: `Links identifiers (E.164 phone numbers) through the routing state machine,
then resolves random ones from many goroutines for --duration: parse and
normalise, tokenise (HMAC-SHA256), rate-limit, look up, audit, mask.
Prints the figures, then last one line:

  resolve_ops=<resolves per second> p99_us=<microseconds>`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if quick {
				if !cmd.Flags().Changed("links") {
					cfg.Links = 200_000
				}
				if !cmd.Flags().Changed("duration") {
					cfg.Duration = 3 * time.Second
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "resolve benchmark: %d linked identifiers, %d workers as %d requesters, %d%% misses, %v; %d CPUs\n",
				cfg.Links, cfg.Workers, cfg.Requesters, cfg.MissPercent, cfg.Duration, runtime.NumCPU())
			bar := newProgressBar(cfg.Links, "links")
			cfg.Progress = func(done int) { _ = bar.Set(done) }
			res, err := bench.RunResolve(cmd.Context(), cfg)
			_ = bar.Finish()
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "setup: %d links through Apply in %.2f s\n", cfg.Links, res.SetupSeconds)
			fmt.Fprintf(out, "resolves: %d in %.2f s (%d hits, %d misses, %d rate-limited), %d audit records\n",
				res.Resolves, res.Seconds, res.Hits, res.Misses, res.Limited, res.AuditRecords)
			fmt.Fprintf(out, "latency: p50 %.1f us, p99 %.1f us, p99.9 %.1f us (closed loop, includes waiting for a core)\n", res.P50us, res.P99us, res.P999us)
			fmt.Fprintln(out, res.Line())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Links, "links", 1_000_000, "identifiers linked before the timed run")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "timed run")
	f.IntVar(&cfg.Workers, "workers", 4*runtime.GOMAXPROCS(0), "concurrent resolvers")
	f.IntVar(&cfg.Requesters, "requesters", 64, "participants the resolvers ask as")
	f.IntVar(&cfg.MissPercent, "miss-percent", 10, "share of resolves for identifiers that are not linked")
	f.BoolVar(&quick, "quick", false, "a short run (200,000 links, 3 s)")
	return cmd
}

func newBenchE2ECommand() *cobra.Command {
	var cfg bench.E2EConfig
	var quick bool
	var reportDir string
	cmd := &cobra.Command{
		Use:   "e2e",
		Short: "ISO 8583 end to end: simulated payer banks → switch → simulated payee banks → post",
		Long: `Starts a switch on one node (or a 3-node cluster with --nodes 3) with its
ISO 8583 front end on loopback, onboards --banks simulated banks, and has
each of them pay the others over real TCP sessions, open loop, at its share
of --rate for --duration, approving every payment it receives. Latency runs
from each payment's scheduled send time to its 0210 (coordinated omission
corrected). Afterwards it checks the ledger: every approved payment posted,
and no money beyond the approved payments moved. Prints the figures, then
last one line:

  e2e_tps=<n> p50_ms=<n> p99_ms=<n> p999_ms=<n> errors=<n>`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if quick && !cmd.Flags().Changed("duration") {
				cfg.Duration = 5 * time.Second
			}
			if quick && !cmd.Flags().Changed("warmup") {
				cfg.Warmup = time.Second
			}
			if cfg.Nodes > 1 {
				hostCluster()
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "e2e benchmark: %d node(s), %d banks x %d sessions, %.0f payments/s offered for %v after a %v warm-up; %d CPUs, %d scheduler Ps\n",
				cfg.Nodes, cfg.Banks, cfg.Sessions, cfg.Rate, cfg.Duration, cfg.Warmup, runtime.NumCPU(), runtime.GOMAXPROCS(0))
			total := int(cfg.Rate * cfg.Duration.Seconds())
			bar := newProgressBar(total, "payments")
			cfg.Progress = func(_, done int) { _ = bar.Set(done) }
			res, err := bench.RunE2E(cmd.Context(), cfg)
			_ = bar.Finish()
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "sent %d, not sent %d, answered by code:", res.Sent, res.NotSent)
			for _, code := range iso8583.ResponseCodes() {
				if n := res.ByCode[code]; n > 0 {
					fmt.Fprintf(out, " %s=%d", code, n)
				}
			}
			fmt.Fprintf(out, ", timed out %d, failed %d, in %.2f s\n", res.TimedOut, res.Failed, res.Elapsed.Seconds())
			fmt.Fprintf(out, "latency from scheduled send: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms\n", res.P50ms, res.P99ms, res.P999ms)
			if w := res.Slowest(bench.E2ETargetP99); w.Windows > 0 {
				fmt.Fprintf(out, "latency by due time, in windows of %v: p99 over %v in %d of %d; the worst, %v-%v: p99 %.2f ms, max %.2f ms\n",
					res.WindowWidth, bench.E2ETargetP99, w.Over, w.Windows, time.Duration(w.Worst)*res.WindowWidth, time.Duration(w.Worst+1)*res.WindowWidth, w.WorstP99ms, w.WorstMaxMs)
			}
			if w := res.Warmup; w.Answered > 0 {
				fmt.Fprintf(out, "warm-up (%v, left out of the figures): %d answered, p99 %.2f ms, max %.2f ms; windows of %v with p99 over %v: %d of %d\n",
					cfg.Warmup, w.Answered, w.P99ms, w.MaxMs, w.WindowWidth, bench.E2ETargetP99, w.Windows.Over, w.Windows.Windows)
			}
			for _, l := range res.Legs {
				fmt.Fprintf(out, "switch leg %-8s %8d  mean %8.2f ms  p99 <= %8.2f ms\n", l.Leg, l.Count, l.MeanMs, l.P99Ms)
			}
			fmt.Fprintf(out, "raft on the leader: %d entries, %.0f commands per entry, %.2f ms mean commit, %.0f overloaded\n",
				res.Raft.Entries, res.Raft.MeanCommands, res.Raft.MeanCommit, res.Raft.Overloaded)
			if w := res.SchedWait; w.Count > 0 {
				fmt.Fprintf(out, "goroutines waiting for a P (Go scheduler, bucket upper bounds): p50 %.3f ms, p99 %.2f ms, p99.9 %.2f ms, max %.1f ms over %d waits\n",
					w.P50ms, w.P99ms, w.P999ms, w.MaxMs, w.Count)
			}
			if d := res.CPU.Describe(runtime.NumCPU()); d != "" {
				fmt.Fprintf(out, "cpu in the measured run: the process %s\n", d)
			}
			if g := res.Stops; g.Count > 0 {
				fmt.Fprintf(out, "stops of the world (garbage collector and other): %d, p50 %.3f ms, max %.1f ms (bucket upper bounds)\n", g.Count, g.P50ms, g.MaxMs)
			}
			if t := res.Tables; t.TableBytes > 0 {
				fmt.Fprintf(out, "ledger tables (leader): %.1f MB written by flushes and compactions, %.1f MB/s; %.1f s slept for the pace\n",
					float64(t.TableBytes)/1e6, float64(t.TableBytes)/1e6/res.Elapsed.Seconds(), t.Waited.Seconds())
			}
			fmt.Fprintf(out, "ledger check: %d approved payments not posted, %d minor units moved beyond the approved payments\n", res.Lost, res.Extra)
			if reportDir != "" {
				index, err := bench.WriteE2EReport(reportDir, strings.Join(os.Args, " "), cfg, res)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "report: %s\n", index)
			}
			fmt.Fprintln(out, res.Line())
			if res.Lost != 0 || res.Extra != 0 {
				return fmt.Errorf("bench e2e: the ledger disagrees with the answers: %d lost, %d extra", res.Lost, res.Extra)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Nodes, "nodes", 1, "1, or 3 for a 3-node cluster on this machine")
	f.StringVar(&reportDir, "report", "", "also write an HTML report with PNG plots to this directory")
	f.Float64Var(&cfg.Rate, "rate", 30_000, "offered payments per second, open loop")
	f.DurationVar(&cfg.Duration, "duration", 20*time.Second, "how long the measured load runs")
	f.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "load at the same rate before the measured run (checked in the ledger, not measured)")
	f.IntVar(&cfg.Banks, "banks", 4, "simulated banks (each pays the others)")
	f.IntVar(&cfg.Sessions, "sessions", 2, "TCP sessions per bank")
	f.StringVar(&cfg.Dir, "dir", "", "where the nodes keep their state (default a temporary directory)")
	f.BoolVar(&quick, "quick", false, "a 5-second run after a 1-second warm-up")
	return cmd
}

func newBenchCompareCommand() *cobra.Command {
	var cfg bench.CompareConfig
	var quick bool
	var reportDir string
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "The same workloads side by side on raw Pebble, the ledger, a 3-node cluster and PostgreSQL",
		Long: `Runs the same transfers, batch for batch, on four systems in one run, each
fresh for each workload: raw Pebble synced batches of the very writes the
ledger made (the physical reference, as 'bench ledger' measures it); the
ledger store on one node (synced apply); a 3-node Raft cluster in this
process (TCP on 127.0.0.1), fed the same batches through the leader by
many concurrent submitters; and the PostgreSQL baseline (bench/pgbaseline)
on a throwaway server, which gets only the first --postgres-transfers of
the same stream, in the same batches: it is about a hundred times slower.
Throughput is per system, so the counts may differ.

Workloads: uniform (every account alike), skewed (80% of debits and
credits on 8 hot participants' positions), two-phase (skewed, half the new
transfers reserved and posted by the next batch; a reserve and its post
count as two transfers).

After each workload the ledger store's balances right after PostgreSQL's
last batch must be identical to PostgreSQL's, and the cluster leader's
after the run to the ledger store's; otherwise the command fails. Prints a
table per workload, then last one line with the SKEWED workload's figures
(the last workload's when skewed is not run; a skipped system reports 0):

  pebble_tps=<n> ledger_tps=<n> cluster_tps=<n> postgres_tps=<n> ledger_vs_postgres=<x> ledger_vs_pebble=<x>

PostgreSQL must be installed (apt-get install -y postgresql), or use
--skip-postgres.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if quick {
				for flag, set := range map[string]func(){
					"transfers":          func() { cfg.Transfers = 200_000 },
					"postgres-transfers": func() { cfg.PostgresTransfers = 6_000 },
					"cold-accounts":      func() { cfg.Workload.ColdAccounts = 10_000 },
				} {
					if !cmd.Flags().Changed(flag) {
						set()
					}
				}
			}
			if !cfg.SkipCluster && cfg.ClusterNodes != 1 {
				hostCluster() // the cluster's nodes run in this process
			}
			out := cmd.OutOrStdout()
			postgres := fmt.Sprintf("postgres the first %d", cfg.PostgresTransfers)
			if cfg.SkipPostgres {
				postgres = "postgres skipped"
			}
			fmt.Fprintf(out, "compare: %v; %d transfers a workload (%s) in batches of %d; %d CPUs\n",
				cfg.Workloads, cfg.Transfers, postgres, cfg.BatchSize, runtime.NumCPU())
			cfg.Progress = func(line string) { fmt.Fprintln(out, line) }
			res, err := bench.RunCompare(cmd.Context(), cfg)
			if errors.Is(err, pgbaseline.ErrNotInstalled) {
				return fmt.Errorf("%w\n(or run with --skip-postgres to measure the other systems)", err)
			}
			if err != nil {
				return err
			}
			if reportDir != "" {
				index, err := bench.WriteCompareReport(reportDir, strings.Join(os.Args, " "), res)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "report: %s\n", index)
			}
			fmt.Fprintln(out, res.Line())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&reportDir, "report", "", "also write an HTML report with PNG plots to this directory")
	f.StringSliceVar(&cfg.Workloads, "workloads", bench.CompareWorkloadNames(), "workloads to run, in order")
	f.IntVar(&cfg.Transfers, "transfers", 1_000_000, "timed transfers per workload for pebble, the ledger and the cluster")
	f.IntVar(&cfg.PostgresTransfers, "postgres-transfers", 20_000, "timed transfers per workload for PostgreSQL (the first ones of the same stream)")
	f.IntVar(&cfg.Postgres.Clients, "postgres-clients", 16, "PostgreSQL client connections")
	f.IntVar(&cfg.BatchSize, "batch", 4096, "transfers per batch")
	f.IntVar(&cfg.ClusterSubmitters, "cluster-submitters", 128, "concurrent submitters to the cluster's leader, 64 transfers each")
	f.BoolVar(&cfg.SkipPostgres, "skip-postgres", false, "do not run PostgreSQL")
	f.BoolVar(&cfg.SkipCluster, "skip-cluster", false, "do not run the cluster")
	addWorkloadFlags(f, &cfg.Workload)
	f.StringVar(&cfg.Dir, "dir", "", "where to put the temporary stores (default the system temp dir)")
	f.BoolVar(&quick, "quick", false, "200,000 transfers (postgres 6,000) on 10,000 cold accounts: under a minute for all three workloads")
	return cmd
}
