package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/payswitch/payswitch/bench/pgbaseline"
	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/ledger/store"
)

// The workloads RunCompare knows.
const (
	// CompareUniform picks every position account alike.
	CompareUniform = "uniform"
	// CompareSkewed sends Workload.HotPercent (default 80%) of debits and
	// credits to the few hot participants' position accounts: the
	// workload DESIGN.md section 7 states the PostgreSQL target on.
	CompareSkewed = "skewed"
	// CompareTwoPhase is skewed, with half the new transfers reserved
	// (pending) and posted by the next batch.
	CompareTwoPhase = "two-phase"
)

// CompareWorkloadNames returns the workloads RunCompare knows, in the
// order it runs them by default.
func CompareWorkloadNames() []string {
	return []string{CompareUniform, CompareSkewed, CompareTwoPhase}
}

// ErrBalancesDiffer is returned by RunCompare when two systems that
// applied the same transfers end with different balances.
var ErrBalancesDiffer = errors.New("bench compare: balances differ")

// Defaults and limits of the comparison.
const (
	compareTransfersDefault = 1_000_000
	// comparePostgresTransfersDefault: PostgreSQL does 1-3k transfers/s
	// on the 2-core machine, so 5-20 s a workload.
	comparePostgresTransfersDefault = 20_000
	// compareSubmittersDefault x compareSubmitTransfersDefault is 8,192
	// transfers in flight, two of the proposer's full entries. Measured on
	// the 2-core machine, 3 nodes, skewed: 128 x 64 carried the most, about
	// 110k/s at a p50 of 70 ms; 16,384 in flight (1,024 x 16, 256 x 64)
	// carried 50-110k/s at 3-4 times the latency; one transfer a
	// submission (4,096 x 1) 45-60k/s, the cost per request being the
	// limit there.
	compareSubmittersDefault      = 128
	compareSubmitTransfersDefault = 64
	// compareInflightTransfersMax bounds Submitters x SubmitTransfers: the
	// replica's default proposer queue, beyond which Submit refuses with
	// ErrOverloaded.
	compareInflightTransfersMax = 65_536
	// compareSubmitAttemptsMax bounds the retries of one submission after
	// overload or a leadership change.
	compareSubmitAttemptsMax = 50
	// compareTwoPhasePendingPercent: with half of the new transfers
	// pending, a batch holds about a third each of reserves, posts of the
	// previous batch's reserves, and single-phase transfers (pgbaseline's
	// BenchmarkRun uses the same share).
	compareTwoPhasePendingPercent = 50
)

// CompareConfig configures RunCompare. Zero fields take the documented
// defaults.
type CompareConfig struct {
	// Workloads names the workloads to run, in order, from
	// CompareWorkloadNames; default all of them.
	Workloads []string
	// Workload is the base every named workload varies: its accounts,
	// currency, seed, and the HotPercent of skewed and two-phase. Each
	// workload sets Uniform and PendingPercent itself.
	Workload Workload
	// Transfers is the timed transfers raw Pebble, the ledger and the
	// cluster each do per workload; default 1,000,000.
	Transfers int
	// PostgresTransfers is how many PostgreSQL does: the first ones of
	// the same stream (at most Transfers); default 20,000. It is far fewer
	// because PostgreSQL is about a hundred times slower; throughput is
	// per system, so the counts may differ. The batch in which its share
	// ends is cut in two there, for every system, so that its share is
	// whole batches of the common stream (see batchSizes).
	PostgresTransfers int
	// BatchSize is the transfers per batch, the same for every system;
	// default 4,096. The cluster submits each batch in pieces.
	BatchSize int
	// ClusterNodes is the nodes of the replicated cluster; default 3.
	ClusterNodes int
	// ClusterSubmitters is how many goroutines submit to the leader at
	// once; default 128.
	ClusterSubmitters int
	// ClusterSubmitTransfers is the transfers of one submission; default
	// 64. Submitters x SubmitTransfers is the load in flight: the default
	// 8,192 keeps the proposer's entries full; more only queues.
	ClusterSubmitTransfers int
	// Postgres configures the baseline's clients; zeros take its defaults.
	Postgres     pgbaseline.Options
	SkipCluster  bool
	SkipPostgres bool
	// Dir is the parent of the temporary stores; default os.TempDir().
	Dir string
	// Progress, when set, receives one line per step and, after each
	// workload, the lines of its table (WorkloadResult.Table).
	Progress func(line string)
	Logger   *slog.Logger
}

func (c CompareConfig) withDefaults() CompareConfig {
	if len(c.Workloads) == 0 {
		c.Workloads = CompareWorkloadNames()
	}
	c.Workload = c.Workload.withDefaults()
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	set(&c.Transfers, compareTransfersDefault)
	set(&c.PostgresTransfers, comparePostgresTransfersDefault)
	set(&c.BatchSize, 4096)
	set(&c.ClusterNodes, 3)
	set(&c.ClusterSubmitters, compareSubmittersDefault)
	set(&c.ClusterSubmitTransfers, compareSubmitTransfersDefault)
	if c.Progress == nil {
		c.Progress = func(string) {}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// Validate reports every problem with the configuration.
func (c CompareConfig) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, name := range c.Workloads {
		if !slices.Contains(CompareWorkloadNames(), name) || seen[name] {
			errs = append(errs, fmt.Errorf("workload %q: unknown or repeated; want some of %s", name, strings.Join(CompareWorkloadNames(), ", ")))
		}
		seen[name] = true
	}
	if c.Transfers < 1 || c.PostgresTransfers < 1 {
		errs = append(errs, fmt.Errorf("transfers %d, postgres transfers %d: want at least 1", c.Transfers, c.PostgresTransfers))
	}
	if c.BatchSize < 1 || c.BatchSize > ledger.BatchCommandsMax {
		errs = append(errs, fmt.Errorf("batch size %d: want 1 to %d", c.BatchSize, ledger.BatchCommandsMax))
	}
	// A submission must fit one log entry: the replica's default entry
	// holds half of the ledger's largest batch.
	if c.ClusterNodes < 1 || c.ClusterSubmitters < 1 || c.ClusterSubmitTransfers < 1 ||
		c.ClusterSubmitTransfers > ledger.BatchCommandsMax/2 ||
		c.ClusterSubmitters*c.ClusterSubmitTransfers > compareInflightTransfersMax {
		errs = append(errs, fmt.Errorf("cluster of %d nodes, %d submitters of %d transfers: want at least 1 of each, at most %d transfers a submission and %d in flight",
			c.ClusterNodes, c.ClusterSubmitters, c.ClusterSubmitTransfers, ledger.BatchCommandsMax/2, compareInflightTransfersMax))
	}
	w := c.Workload
	if w.HotAccounts < 2 || w.ColdAccounts < 0 || w.HotPercent < 0 || w.HotPercent > 100 {
		errs = append(errs, fmt.Errorf("workload %+v: want at least 2 hot accounts and a hot percentage within 0..100", w))
	}
	// Zero options mean the baseline's defaults; check the rest.
	probe := c.Postgres
	probe.Clients, probe.Pipeline = cmp.Or(probe.Clients, 1), cmp.Or(probe.Pipeline, 1)
	if err := probe.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// SystemResult is one system's figures on one workload.
type SystemResult struct {
	System  string // pebble, ledger, cluster or postgres
	Skipped bool
	// Transfers counts the timed commands: a reserve and its post are two.
	Transfers int
	// Seconds is the time the throughput is over: for pebble, the ledger
	// and postgres the time spent in their synced batches, summed; for the
	// cluster the wall time from the first submission to the last answer.
	Seconds  float64
	TPS      float64
	Rejected int // commands that did not succeed (the workloads expect none)
	// P50Ms and P99Ms are latency quantiles of the unit LatencyOf names:
	// one synced batch (pebble, ledger), one batch spread over the
	// clients (postgres), one submission through the leader (cluster).
	P50Ms, P99Ms float64
	LatencyOf    string
	// StepSeconds is the wall time of the system's whole step: start,
	// set-up, timed run, checks and read-backs (the ledger's step holds
	// pebble's).
	StepSeconds float64
}

// BalanceCheck tells how two systems' balances compared after they
// applied the same set-up and the same transfers.
type BalanceCheck struct {
	Checked   bool
	Identical bool
	Transfers int // the transfers both applied
	Accounts  int // accounts compared: every account of the workload
	Named     int // of those, the ones the transfers named
	Detail    string
}

// WorkloadResult holds every system's figures on one workload.
type WorkloadResult struct {
	Name      string
	Workload  Workload // as run, Uniform and PendingPercent set
	BatchSize int
	Pebble    SystemResult
	Ledger    SystemResult
	Cluster   SystemResult
	Postgres  SystemResult
	// Ratios of throughput; zero when a side was skipped.
	LedgerVsPebble, LedgerVsPostgres, ClusterVsLedger, ClusterVsPostgres float64
	// PostgresBalances compares PostgreSQL's balances after its transfers
	// with the ledger store's after the same batches; ClusterBalances the
	// cluster leader's after the whole run with the ledger store's.
	PostgresBalances, ClusterBalances BalanceCheck
}

// Systems returns the four systems' results in table order.
func (r WorkloadResult) Systems() []SystemResult {
	return []SystemResult{r.Pebble, r.Ledger, r.Cluster, r.Postgres}
}

// CompareResult holds the figures of a comparison run, one entry per
// workload in the order run.
type CompareResult struct {
	Workloads []WorkloadResult
}

// Headline returns the workload the last line reports: skewed when it
// ran, else the last one run.
func (r CompareResult) Headline() (WorkloadResult, bool) {
	for _, w := range r.Workloads {
		if w.Name == CompareSkewed {
			return w, true
		}
	}
	if len(r.Workloads) == 0 {
		return WorkloadResult{}, false
	}
	return r.Workloads[len(r.Workloads)-1], true
}

// Line is the summary line the CLI prints last, from the Headline
// workload; a skipped system reports 0, and so do its ratios.
func (r CompareResult) Line() string {
	w, _ := r.Headline()
	return fmt.Sprintf("pebble_tps=%.0f ledger_tps=%.0f cluster_tps=%.0f postgres_tps=%.0f ledger_vs_postgres=%.1f ledger_vs_pebble=%.2f",
		w.Pebble.TPS, w.Ledger.TPS, w.Cluster.TPS, w.Postgres.TPS, w.LedgerVsPostgres, w.LedgerVsPebble)
}

// Table returns the lines of the workload's table: each system's
// throughput and latency, the ratios, and the balance checks.
func (r WorkloadResult) Table() []string {
	w := r.Workload
	shape := fmt.Sprintf("%d%% of debits and credits on %d hot accounts", w.HotPercent, w.HotAccounts)
	if w.Uniform {
		shape = "every account alike"
	}
	lines := []string{
		fmt.Sprintf("%s: %d hot + %d cold accounts, %s, %d%% of new transfers two-phase, batches of %d",
			r.Name, w.HotAccounts, w.ColdAccounts, shape, w.PendingPercent, r.BatchSize),
		fmt.Sprintf("  %-9s %10s %10s %9s %9s %7s  %s", "system", "transfers", "tps", "p50 ms", "p99 ms", "step s", "latency of"),
	}
	for _, s := range r.Systems() {
		if s.Skipped {
			lines = append(lines, fmt.Sprintf("  %-9s %10s", s.System, "skipped"))
			continue
		}
		step := "-"
		if s.StepSeconds > 0 {
			step = fmt.Sprintf("%.1f", s.StepSeconds)
		}
		lines = append(lines, fmt.Sprintf("  %-9s %10d %10.0f %9.2f %9.2f %7s  %s", s.System, s.Transfers, s.TPS, s.P50Ms, s.P99Ms, step, s.LatencyOf))
	}
	ratios := fmt.Sprintf("  ratios: ledger/pebble %.2f, ledger/postgres %.1f, cluster/ledger %.2f, cluster/postgres %.1f",
		r.LedgerVsPebble, r.LedgerVsPostgres, r.ClusterVsLedger, r.ClusterVsPostgres)
	if r.Name == CompareSkewed && !r.Postgres.Skipped {
		met := "met"
		if r.LedgerVsPostgres < 50 {
			met = "NOT met"
		}
		ratios += fmt.Sprintf(" (target ledger/postgres >= 50: %s)", met)
	}
	lines = append(lines, ratios)
	if r.Ledger.Rejected+r.Cluster.Rejected+r.Postgres.Rejected > 0 {
		lines = append(lines, fmt.Sprintf("  rejected: ledger %d, cluster %d, postgres %d (the workloads are funded so that none is)",
			r.Ledger.Rejected, r.Cluster.Rejected, r.Postgres.Rejected))
	}
	lines = append(lines, r.PostgresBalances.lines("balances identical", "postgres", "the ledger store after the same batches")...)
	lines = append(lines, r.ClusterBalances.lines("cluster balances identical to the ledger's", "the cluster leader", "the ledger store")...)
	return lines
}

func (c BalanceCheck) lines(label, who, against string) []string {
	if !c.Checked {
		return []string{label + ": not checked (skipped)"}
	}
	detail := fmt.Sprintf("  %s after its %d transfers against %s: %d accounts compared, %d of them named by the transfers",
		who, c.Transfers, against, c.Accounts, c.Named)
	if !c.Identical {
		return []string{detail, label + ": NO", c.Detail}
	}
	return []string{detail, label + ": yes"}
}

// RunCompare runs the same workloads, transfer for transfer, on four
// systems in one run, each fresh for each workload:
//
//   - pebble: the physical reference, as RunLedger measures it: the very
//     keys and values the ledger wrote for each batch, captured from its
//     Pebble batch, written as one plain synced Pebble batch (no reads, no
//     logic), alternating batch by batch with the ledger;
//   - ledger: the ledger store on one node, Store.Apply with a synced
//     commit per batch;
//   - cluster: a Raft cluster of ClusterNodes in this process (real TCP on
//     127.0.0.1, real logs and stores), the same batches cut into
//     submissions of ClusterSubmitTransfers and sent through the leader by
//     ClusterSubmitters goroutines; a batch's posts are sent only once
//     every reserve of the batch before has been answered;
//   - postgres: pgbaseline on a throwaway server (one per run, a fresh
//     database per workload), given the same set-up and the first
//     PostgresTransfers of the same stream, in the same batches.
//
// The correctness check: the ledger store's balances are read right after
// the batch where PostgreSQL's share of the stream ends, and must equal
// PostgreSQL's final balances for every account of the workload. Both
// started from the same set-up and applied exactly the same commands in
// the same batches, and the workloads are funded so that nothing is
// refused, so the order in which PostgreSQL's concurrent clients apply a
// batch cannot change an outcome: nothing but a bug can make them differ. The
// cluster leader's balances after the whole run must equal the ledger
// store's after the whole run likewise (timestamps are left out: each
// system has its own clock). A difference fails the run with
// ErrBalancesDiffer.
//
// Without PostgreSQL installed, RunCompare fails at once with an error
// wrapping pgbaseline.ErrNotInstalled, unless SkipPostgres is set.
func RunCompare(ctx context.Context, cfg CompareConfig) (res CompareResult, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	var srv *pgbaseline.Server
	if !cfg.SkipPostgres {
		start := time.Now()
		logf := func(format string, args ...any) { cfg.Logger.Debug(fmt.Sprintf(format, args...)) }
		if srv, err = pgbaseline.Start(ctx, logf); err != nil {
			return res, fmt.Errorf("bench compare: %w", err)
		}
		defer func() { err = errors.Join(err, srv.Close()) }()
		cfg.Progress(fmt.Sprintf("postgres: throwaway server up in %v", time.Since(start).Round(time.Millisecond)))
	}
	for i, name := range cfg.Workloads {
		wr, err := compareWorkload(ctx, cfg, i, name, srv)
		res.Workloads = append(res.Workloads, wr)
		if err == nil || errors.Is(err, ErrBalancesDiffer) {
			for _, line := range wr.Table() {
				cfg.Progress(line)
			}
		}
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// namedWorkload returns the base workload varied as name says.
func namedWorkload(base Workload, name string) Workload {
	w := base
	w.Uniform, w.PendingPercent = name == CompareUniform, 0
	if name == CompareTwoPhase {
		w.PendingPercent = compareTwoPhasePendingPercent
	}
	return w
}

// batchSizes yields the sizes of the timed batches every system is given,
// summing to Transfers: BatchSize each, the last one shorter, and the one
// in which the first cut transfers end split in two there (cut 0: none).
// The generator makes a batch's posts from the reserves of the batch
// before, so the stream of commands depends on these sizes: every system
// takes the same ones.
func (c CompareConfig) batchSizes(cut int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for done := 0; done < c.Transfers; {
			n := min(c.BatchSize, c.Transfers-done)
			if done < cut && done+n > cut {
				n = cut - done
			}
			if !yield(n) {
				return
			}
			done += n
		}
	}
}

// compareWorkload runs one workload on every system that is not skipped.
func compareWorkload(ctx context.Context, cfg CompareConfig, index int, name string, srv *pgbaseline.Server) (WorkloadResult, error) {
	w := namedWorkload(cfg.Workload, name)
	r := WorkloadResult{Name: name, Workload: w, BatchSize: cfg.BatchSize,
		Cluster:  SystemResult{System: "cluster", Skipped: cfg.SkipCluster},
		Postgres: SystemResult{System: "postgres", Skipped: cfg.SkipPostgres}}
	cut := 0
	if !cfg.SkipPostgres {
		cut = min(cfg.PostgresTransfers, cfg.Transfers)
	}
	cfg.Progress(fmt.Sprintf("%s: ledger and raw pebble, %d transfers", name, cfg.Transfers))
	step := time.Now()
	run, err := compareLedger(ctx, cfg, w, cut, !cfg.SkipCluster)
	r.Pebble, r.Ledger = run.pebble, run.ledger
	r.Ledger.StepSeconds = time.Since(step).Seconds()
	if err != nil {
		return r, fmt.Errorf("bench compare: %s: ledger: %w", name, err)
	}
	r.LedgerVsPebble = r.Ledger.TPS / r.Pebble.TPS
	if !cfg.SkipCluster {
		cfg.Progress(fmt.Sprintf("%s: %d-node cluster, %d transfers from %d submitters of %d", name, cfg.ClusterNodes,
			cfg.Transfers, cfg.ClusterSubmitters, cfg.ClusterSubmitTransfers))
		var balances map[ledger.ID]ledger.Account
		step = time.Now()
		r.Cluster, balances, err = compareCluster(ctx, cfg, w, cut)
		r.Cluster.StepSeconds = time.Since(step).Seconds()
		if err != nil {
			return r, fmt.Errorf("bench compare: %s: cluster: %w", name, err)
		}
		r.ClusterVsLedger = r.Cluster.TPS / r.Ledger.TPS
		r.ClusterBalances = checkBalances(run.final, balances, "ledger", "cluster", r.Ledger.Transfers, run.namedAll)
	}
	if !cfg.SkipPostgres {
		cfg.Progress(fmt.Sprintf("%s: postgres, the first %d transfers of the same stream", name, cut))
		var balances map[ledger.ID]ledger.Account
		step = time.Now()
		r.Postgres, balances, err = comparePostgres(ctx, cfg, w, srv, index, cut)
		r.Postgres.StepSeconds = time.Since(step).Seconds()
		if err != nil {
			return r, fmt.Errorf("bench compare: %s: postgres: %w", name, err)
		}
		r.LedgerVsPostgres = r.Ledger.TPS / r.Postgres.TPS
		r.PostgresBalances = checkBalances(run.prefix, balances, "ledger", "postgres", r.Postgres.Transfers, run.namedPrefix)
		if !r.Cluster.Skipped {
			r.ClusterVsPostgres = r.Cluster.TPS / r.Postgres.TPS
		}
	}
	for _, c := range []BalanceCheck{r.PostgresBalances, r.ClusterBalances} {
		if c.Checked && !c.Identical {
			return r, fmt.Errorf("%w: %s: %s", ErrBalancesDiffer, name, c.Detail)
		}
	}
	return r, nil
}

// ledgerRun is what compareLedger measured and read back.
type ledgerRun struct {
	ledger, pebble SystemResult
	// prefix holds the balances after the first cut transfers, final
	// those after the run; each is nil when not asked for.
	prefix, final         map[ledger.ID]ledger.Account
	namedPrefix, namedAll int // accounts the transfers of each named
}

// compareLedger is RunLedger's measurement with the balance read-backs:
// a fresh synced ledger store and a raw Pebble DB with the same options
// that receives, batch by batch, the very writes the ledger made.
func compareLedger(ctx context.Context, cfg CompareConfig, w Workload, cut int, wantFinal bool) (run ledgerRun, err error) {
	run.ledger = SystemResult{System: "ledger", LatencyOf: fmt.Sprintf("synced batch of up to %d", cfg.BatchSize)}
	run.pebble = SystemResult{System: "pebble", LatencyOf: fmt.Sprintf("synced batch of the ledger's writes for up to %d", cfg.BatchSize)}
	root, err := os.MkdirTemp(cfg.Dir, "payswitch-bench-compare-")
	if err != nil {
		return run, err
	}
	defer os.RemoveAll(root)
	var produced writeList
	capturing := false
	st, err := store.Open(store.Options{Dir: filepath.Join(root, "ledger"), Logger: cfg.Logger,
		OnCommit: func(writes []store.Write, _ []byte) {
			if capturing {
				produced.capture(writes)
			}
		}})
	if err != nil {
		return run, err
	}
	defer st.Close()
	raw, err := store.OpenPebble(filepath.Join(root, "raw"), nil)
	if err != nil {
		return run, err
	}
	defer raw.Close()
	index, clock, err := setUpStore(st, w, cfg.BatchSize)
	if err != nil {
		return run, err
	}

	ids := workloadAccountIDs(w)
	ledgerLatency, pebbleLatency := newLatencies(1), newLatencies(1)
	var ledgerTime, rawTime time.Duration
	named := map[ledger.ID]bool{}
	gen := newGenerator(w)
	var batch ledger.Batch
	capturing = true
	done := 0
	for n := range cfg.batchSizes(cut) {
		if err := ctx.Err(); err != nil {
			return run, err
		}
		gen.next(&batch, n)
		index++
		clock += uint64(time.Millisecond)
		batch.Timestamp = clock

		start := time.Now()
		out, err := st.Apply(index, &batch)
		elapsed := time.Since(start)
		if err != nil {
			return run, fmt.Errorf("batch %d: %w", index, err)
		}
		ledgerTime += elapsed
		ledgerLatency.record(0, elapsed)
		run.ledger.Rejected += rejectedCount(out.Results)

		start = time.Now()
		if err := writeRaw(raw, produced.ops); err != nil {
			return run, err
		}
		elapsed = time.Since(start)
		rawTime += elapsed
		pebbleLatency.record(0, elapsed)

		done += n
		noteNamed(named, batch.Commands)
		if done == cut {
			run.namedPrefix = len(named)
			if run.prefix, err = readBalances(ids, st.Account); err != nil {
				return run, err
			}
		}
	}
	if err := st.Check(); err != nil {
		return run, fmt.Errorf("ledger store check after the run: %w", err)
	}
	if wantFinal {
		run.namedAll = len(named)
		if run.final = run.prefix; cut != cfg.Transfers {
			if run.final, err = readBalances(ids, st.Account); err != nil {
				return run, err
			}
		}
	}
	run.ledger.fill(cfg.Transfers, ledgerTime, ledgerLatency)
	run.pebble.fill(cfg.Transfers, rawTime, pebbleLatency)
	return run, nil
}

// setUpStore applies the workload's set-up, untimed, and returns the
// applied index and the batch clock it reached.
func setUpStore(st *store.Store, w Workload, batchSize int) (index, clock uint64, err error) {
	clock = uint64(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	for _, b := range w.setupBatches(batchSize) {
		index++
		b.Timestamp = clock
		out, err := st.Apply(index, &b)
		if err != nil {
			return 0, 0, fmt.Errorf("set-up batch %d: %w", index, err)
		}
		for i, r := range out.Results {
			if r.Code != ledger.OK {
				return 0, 0, fmt.Errorf("set-up batch %d, command %d: %s", index, i, r.Code)
			}
		}
	}
	return index, clock, nil
}

func (s *SystemResult) fill(transfers int, elapsed time.Duration, l *latencies) {
	s.Transfers, s.Seconds = transfers, elapsed.Seconds()
	if s.Seconds > 0 {
		s.TPS = float64(transfers) / s.Seconds
	}
	s.P50Ms, s.P99Ms = l.quantileMs(50), l.quantileMs(99)
}

func rejectedCount(results []ledger.Result) int {
	n := 0
	for _, r := range results {
		if !r.Code.Succeeded() {
			n++
		}
	}
	return n
}

// noteNamed adds the accounts the commands name. A post names none: its
// reserve, in an earlier batch, named them.
func noteNamed(named map[ledger.ID]bool, cmds []ledger.Command) {
	for i := range cmds {
		t := &cmds[i].Transfer
		if !t.DebitAccount.IsZero() {
			named[t.DebitAccount] = true
		}
		if !t.CreditAccount.IsZero() {
			named[t.CreditAccount] = true
		}
	}
}

// workloadAccountIDs lists every account the workload's set-up creates.
func workloadAccountIDs(w Workload) []ledger.ID {
	ids := []ledger.ID{hubAccount}
	for i := range w.HotAccounts + w.ColdAccounts {
		ids = append(ids, accountID(i))
	}
	return ids
}

// readBalances reads the accounts with read, which is a store's Account
// method, and leaves their timestamps out: each system has its own clock.
func readBalances(ids []ledger.ID, read func(ledger.ID) (ledger.Account, bool, error)) (map[ledger.ID]ledger.Account, error) {
	out := make(map[ledger.ID]ledger.Account, len(ids))
	for _, id := range ids {
		a, found, err := read(id)
		if err != nil {
			return nil, fmt.Errorf("read account %s: %w", id, err)
		}
		if !found {
			return nil, fmt.Errorf("account %s of the set-up is missing", id)
		}
		a.Timestamp = 0
		out[id] = a
	}
	return out, nil
}

// compareDifferencesShown bounds the differing accounts a failed check names.
const compareDifferencesShown = 3

// checkBalances compares two systems' accounts field by field, timestamps
// aside. Every account either holds must be in both.
func checkBalances(reference, other map[ledger.ID]ledger.Account, referenceName, otherName string, transfers, named int) BalanceCheck {
	c := BalanceCheck{Checked: true, Transfers: transfers, Accounts: len(reference), Named: named}
	if len(reference) == 0 {
		// Every workload has accounts: an empty side was never read.
		c.Detail = "no accounts read from " + referenceName
		return c
	}
	var diffs []string
	differ := 0
	for _, id := range slices.SortedFunc(maps.Keys(reference), compareIDs) {
		want := reference[id]
		got, found := other[id]
		got.Timestamp = 0
		if found && got == want {
			continue
		}
		differ++
		if len(diffs) < compareDifferencesShown {
			if !found {
				diffs = append(diffs, fmt.Sprintf("account %s: missing from %s", id, otherName))
			} else {
				diffs = append(diffs, fmt.Sprintf("account %s: %s %+v, %s %+v", id, referenceName, want, otherName, got))
			}
		}
	}
	for id := range other {
		if _, found := reference[id]; !found {
			differ++
			if len(diffs) < compareDifferencesShown {
				diffs = append(diffs, fmt.Sprintf("account %s: missing from %s", id, referenceName))
			}
		}
	}
	c.Identical = differ == 0
	if !c.Identical {
		c.Detail = fmt.Sprintf("%d accounts differ between %s and %s; %s", differ, referenceName, otherName, strings.Join(diffs, "; "))
	}
	return c
}

func compareIDs(x, y ledger.ID) int {
	return cmp.Or(cmp.Compare(x.Hi(), y.Hi()), cmp.Compare(x.Lo(), y.Lo()))
}

// compareCluster starts a fresh cluster, sets the workload up through
// the leader, drives the timed transfers, and reads the leader's balances.
func compareCluster(ctx context.Context, cfg CompareConfig, w Workload, cut int) (SystemResult, map[ledger.ID]ledger.Account, error) {
	res := SystemResult{System: "cluster", LatencyOf: fmt.Sprintf("submission of %d through the leader", cfg.ClusterSubmitTransfers)}
	root, err := os.MkdirTemp(cfg.Dir, "payswitch-bench-compare-cluster-")
	if err != nil {
		return res, nil, err
	}
	defer os.RemoveAll(root)
	nodes, stop, err := startCluster(ctx, root, cfg.ClusterNodes, cfg.Logger, Tuning{})
	if err != nil {
		return res, nil, err
	}
	defer stop()
	leader, err := waitLeader(ctx, nodes, 10*time.Second)
	if err != nil {
		return res, nil, err
	}
	for _, b := range w.setupBatches(ledger.BatchCommandsMax / 2) {
		if leader, err = submitRetrying(ctx, nodes, leader, b.Commands); err != nil {
			return res, nil, fmt.Errorf("set-up: %w", err)
		}
	}
	if err := driveCluster(ctx, cfg, w, cut, nodes, leader, &res); err != nil {
		return res, nil, err
	}
	// Every answer came after the leader applied the command; a leader
	// elected meanwhile applies its whole log before it serves.
	if leader, err = waitLeader(ctx, nodes, 10*time.Second); err != nil {
		return res, nil, err
	}
	var balances map[ledger.ID]ledger.Account
	err = leader.Local(func(s *store.Store) (err error) {
		balances, err = readBalances(workloadAccountIDs(w), s.Account)
		return err
	})
	return res, balances, err
}

// clusterChunk is one submission. done, when set, is the WaitGroup of
// the reserves and single-phase transfers of its batch.
type clusterChunk struct {
	cmds []ledger.Command
	done *sync.WaitGroup
}

// driveCluster submits the workload's timed batches through the leader
// from ClusterSubmitters goroutines and fills res.
func driveCluster(ctx context.Context, cfg CompareConfig, w Workload, cut int, nodes []*replica.Node, leader *replica.Node, res *SystemResult) error {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	const shards = 32 // see saturate: a histogram per submitter costs more than the switch
	lat := newLatencies(shards)
	chunks := make(chan clusterChunk, cfg.ClusterSubmitters)
	var rejected atomic.Int64
	var submitters sync.WaitGroup
	start := time.Now()
	for i := range cfg.ClusterSubmitters {
		submitters.Go(func() {
			node := leader
			for c := range chunks {
				// After a failure the rest is only drained, so that the
				// feeder's waits end.
				if runCtx.Err() == nil {
					t0 := time.Now()
					var n int
					var err error
					if node, n, err = submitChunk(runCtx, nodes, node, c.cmds); err != nil {
						cancel(err)
					} else {
						lat.record(i%shards, time.Since(t0))
						rejected.Add(int64(n))
					}
				}
				if c.done != nil {
					c.done.Done()
				}
			}
		})
	}
	feedCluster(runCtx, cfg, w, cut, chunks)
	submitters.Wait()
	elapsed := time.Since(start)
	if runCtx.Err() != nil {
		return context.Cause(runCtx)
	}
	res.Rejected = int(rejected.Load())
	res.fill(cfg.Transfers, elapsed, lat)
	return nil
}

// feedCluster makes the same batches as the ledger got and cuts them into
// submissions, which it sends on chunks and closes it. A post names a
// reserve of the previous batch, which must have been applied first: so
// each batch's reserves and single-phase transfers go at once, and its
// posts once the previous batch's reserves and single-phase transfers
// have all been answered. Those were sent a batch earlier, so while the
// feeder waits for them the submitters still have this batch's work.
func feedCluster(ctx context.Context, cfg CompareConfig, w Workload, cut int, chunks chan<- clusterChunk) {
	defer close(chunks)
	gen := newGenerator(w)
	var b ledger.Batch
	var previous *sync.WaitGroup
	k := cfg.ClusterSubmitTransfers
	for n := range cfg.batchSizes(cut) {
		if ctx.Err() != nil {
			return
		}
		gen.next(&b, n)
		// Fresh slices: the submissions keep them while the generator
		// reuses b.
		var posts, others []ledger.Command
		for _, c := range b.Commands {
			if c.Transfer.Flags&ledger.PostPending != 0 {
				posts = append(posts, c)
			} else {
				others = append(others, c)
			}
		}
		current := new(sync.WaitGroup)
		current.Add((len(others) + k - 1) / k)
		sendChunks(ctx, chunks, others, k, current)
		if len(posts) > 0 && previous != nil {
			previous.Wait()
		}
		sendChunks(ctx, chunks, posts, k, nil)
		previous = current
	}
}

// sendChunks queues cmds in submissions of k; once ctx ends it only
// marks the rest done.
func sendChunks(ctx context.Context, chunks chan<- clusterChunk, cmds []ledger.Command, k int, done *sync.WaitGroup) {
	for start := 0; start < len(cmds); start += k {
		c := clusterChunk{cmds: cmds[start:min(start+k, len(cmds))], done: done}
		select {
		case chunks <- c:
		case <-ctx.Done():
			if done != nil {
				done.Done()
			}
		}
	}
}

// submitChunk submits commands until they have a definite outcome, as
// submitRetrying does, and counts the rejections instead of failing on
// them. An overloaded leader is given a moment; after an unknown outcome
// the same IDs go again, and a command that did apply answers exists.
func submitChunk(ctx context.Context, nodes []*replica.Node, leader *replica.Node, cmds []ledger.Command) (*replica.Node, int, error) {
	for range compareSubmitAttemptsMax {
		results, err := leader.Submit(ctx, cmds)
		if err == nil {
			return leader, rejectedCount(results), nil
		}
		if errors.Is(err, replica.ErrOverloaded) {
			select {
			case <-ctx.Done():
				return leader, 0, ctx.Err()
			case <-time.After(time.Millisecond):
			}
			continue
		}
		if leader, err = waitLeader(ctx, nodes, 10*time.Second); err != nil {
			return nil, 0, err
		}
	}
	return leader, 0, fmt.Errorf("no definite outcome after %d attempts", compareSubmitAttemptsMax)
}

// comparePostgres runs pgbaseline on a fresh database of srv with the
// workload's set-up and the first cut transfers of its stream, and reads
// the final balances.
func comparePostgres(ctx context.Context, cfg CompareConfig, w Workload, srv *pgbaseline.Server, index, cut int) (SystemResult, map[ledger.ID]ledger.Account, error) {
	clients := cmp.Or(cfg.Postgres.Clients, 16) // pgbaseline's default, for the label only
	res := SystemResult{System: "postgres", LatencyOf: fmt.Sprintf("batch of up to %d over %d clients", cfg.BatchSize, clients)}
	url, err := srv.CreateDatabase(ctx, fmt.Sprintf("compare_%d", index))
	if err != nil {
		return res, nil, err
	}
	lat := newLatencies(1)
	var yielded time.Time
	seq := func(yield func(*ledger.Batch) bool) {
		gen := newGenerator(w)
		var b ledger.Batch
		done := 0
		for n := range cfg.batchSizes(cut) {
			if done == cut {
				return
			}
			gen.next(&b, n)
			done += n
			yielded = time.Now()
			if !yield(&b) {
				return
			}
		}
	}
	out, err := pgbaseline.Run(ctx, pgbaseline.Config{URL: url, Options: cfg.Postgres,
		Setup: w.setupBatches(cfg.BatchSize), Batches: iter.Seq[*ledger.Batch](seq),
		Progress: func(int) { lat.record(0, time.Since(yielded)) }})
	if err != nil {
		return res, nil, err
	}
	res.Rejected = out.RejectedTotal()
	res.fill(out.Transfers, out.Elapsed, lat)
	db, err := pgbaseline.Open(ctx, url, pgbaseline.Options{Clients: 1})
	if err != nil {
		return res, nil, err
	}
	defer db.Close()
	balances, err := db.Balances(ctx)
	return res, balances, err
}

// latencies is a histogram of durations in shards, so that many
// goroutines can record at once without queueing on one lock.
type latencies struct {
	mu     []sync.Mutex
	shards []*hdrhistogram.Histogram
}

func newLatencies(shards int) *latencies {
	l := &latencies{mu: make([]sync.Mutex, shards)}
	for range shards {
		l.shards = append(l.shards, hdrhistogram.New(1, 60_000_000, 3)) // microseconds
	}
	return l
}

func (l *latencies) record(shard int, d time.Duration) {
	l.mu[shard].Lock()
	_ = l.shards[shard].RecordValue(max(d.Microseconds(), 1))
	l.mu[shard].Unlock()
}

// quantileMs merges the shards; call it once recording has ended.
func (l *latencies) quantileMs(q float64) float64 {
	all := hdrhistogram.New(1, 60_000_000, 3)
	for _, h := range l.shards {
		all.Merge(h)
	}
	return float64(all.ValueAtQuantile(q)) / 1000
}
