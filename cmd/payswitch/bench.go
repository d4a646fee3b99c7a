package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/payswitch/payswitch/bench"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newBenchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks that print figures and the ratios DESIGN.md section 7 sets",
	}
	cmd.AddCommand(newBenchLedgerCommand())
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
logic). Prints the figures, then last one line:

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
			fmt.Fprintf(out, "pebble: %.2f s in synced batches of the same %.2f keys (%.0f bytes) per transfer, %.0f transfers/s\n",
				res.PebbleSeconds, res.KeysPerTransfer, res.BytesPerTransfer, res.PebbleTPS)
			fmt.Fprintf(out, "memory: rss %.0f MiB, peak %.0f MiB\n", res.RSSMB, res.PeakRSSMB)
			fmt.Fprintln(out, res.Line())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Transfers, "transfers", 1_000_000, "timed transfers")
	f.IntVar(&cfg.BatchSize, "batch", 4096, "transfers per synced batch")
	f.IntVar(&cfg.Workload.HotAccounts, "hot-accounts", 8, "big participants' position accounts")
	f.IntVar(&cfg.Workload.ColdAccounts, "cold-accounts", 100_000, "small participants' position accounts")
	f.IntVar(&cfg.Workload.HotPercent, "hot-percent", 80, "share of debits and credits on hot accounts")
	f.IntVar(&cfg.Workload.PendingPercent, "pending-percent", 0, "share of transfers reserved then posted in the next batch")
	f.Uint64Var(&cfg.Workload.Seed, "seed", 1, "workload seed")
	f.StringVar(&cfg.Dir, "dir", "", "where to put the temporary stores (default the system temp dir)")
	f.BoolVar(&quick, "quick", false, "a short run (300,000 transfers, 20,000 cold accounts) that finishes in seconds")
	return cmd
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
