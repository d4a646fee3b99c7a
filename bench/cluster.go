package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/replica"
)

// ClusterConfig configures the replicated ledger benchmark.
type ClusterConfig struct {
	Nodes      int           // nodes of the replicated cluster; default 3
	Saturation time.Duration // closed-loop phase per cluster; default 10 s
	HalfLoad   time.Duration // open-loop phase at half the saturation rate; default 10 s
	Submitters int           // concurrent closed-loop submitters; default 4096
	// Rate, when set, skips the search for saturation: the open-loop phase
	// runs at this many transfers per second.
	Rate float64
	// Tuning passes proposer settings to every node; zeros take the
	// replica package's defaults.
	Tuning   Tuning
	Dir      string // parent of the temporary node directories
	Workload Workload
	// Progress, when set, receives one line per phase.
	Progress func(line string)
	Logger   *slog.Logger
}

func (c ClusterConfig) withDefaults() ClusterConfig {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Saturation == 0 {
		c.Saturation = 10 * time.Second
	}
	if c.HalfLoad == 0 {
		c.HalfLoad = 10 * time.Second
	}
	if c.Submitters == 0 {
		c.Submitters = 4096
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Progress == nil {
		c.Progress = func(string) {}
	}
	c.Workload = c.Workload.withDefaults()
	return c
}

// PhaseResult is one load phase's figures.
type PhaseResult struct {
	Committed           int     // transfers with a result
	Errors              int     // submissions that got an error (overload, unknown outcome)
	TPS                 float64 // committed transfers per second
	P50Ms, P99Ms, MaxMs float64
}

// Tuning is the part of replica.Config a benchmark may vary.
type Tuning struct {
	EntriesInflightMax int
	BatchLinger        time.Duration
}

// ClusterResult holds both clusters' figures.
type ClusterResult struct {
	Nodes           int
	Cluster, Single PhaseResult // saturation
	ClusterHalf     PhaseResult // open loop at half the cluster's saturation rate
	Ratio           float64     // Cluster.TPS / Single.TPS
	DigestsAgree    bool
}

// Line is the summary the CLI prints last.
func (r ClusterResult) Line() string {
	return fmt.Sprintf("cluster_tps=%.0f single_tps=%.0f ratio=%.2f p50_ms=%.2f p99_ms=%.2f",
		r.Cluster.TPS, r.Single.TPS, r.Ratio, r.ClusterHalf.P50Ms, r.ClusterHalf.P99Ms)
}

// RunCluster measures an N-node cluster and a one-node cluster in one run.
// Both run in this process with real TCP between nodes on 127.0.0.1 and
// real disks (raft-wal logs, Pebble stores); all replicas share this
// machine's cores, so the N-node figure carries N times the apply work.
func RunCluster(ctx context.Context, cfg ClusterConfig) (ClusterResult, error) {
	cfg = cfg.withDefaults()
	res := ClusterResult{Nodes: cfg.Nodes}
	var err error
	cfg.Progress(fmt.Sprintf("%d-node cluster: saturation for %v with %d submitters", cfg.Nodes, cfg.Saturation, cfg.Submitters))
	res.Cluster, res.ClusterHalf, res.DigestsAgree, err = runOneCluster(ctx, cfg, cfg.Nodes, true)
	if err != nil {
		return res, err
	}
	cfg.Progress(fmt.Sprintf("1-node cluster: saturation for %v", cfg.Saturation))
	res.Single, _, _, err = runOneCluster(ctx, cfg, 1, false)
	if err != nil {
		return res, err
	}
	res.Ratio = res.Cluster.TPS / res.Single.TPS
	return res, nil
}

func runOneCluster(ctx context.Context, cfg ClusterConfig, n int, halfLoad bool) (sat, half PhaseResult, agree bool, err error) {
	root, err := os.MkdirTemp(cfg.Dir, "payswitch-bench-cluster-")
	if err != nil {
		return sat, half, false, err
	}
	defer os.RemoveAll(root)
	nodes, stop, err := startCluster(ctx, root, n, cfg.Logger, cfg.Tuning)
	if err != nil {
		return sat, half, false, err
	}
	defer stop()
	leader, err := waitLeader(ctx, nodes, 10*time.Second)
	if err != nil {
		return sat, half, false, err
	}
	for _, b := range cfg.Workload.setupBatches(ledger.BatchCommandsMax / 2) {
		if leader, err = submitRetrying(ctx, nodes, leader, b.Commands); err != nil {
			return sat, half, false, fmt.Errorf("set-up: %w", err)
		}
	}
	if cfg.Rate > 0 {
		sat.TPS = 2 * cfg.Rate
	} else {
		sat = saturate(ctx, leader, cfg)
		cfg.Progress(fmt.Sprintf("  saturation: %.0f transfers/s, p50 %.2f ms, p99 %.2f ms", sat.TPS, sat.P50Ms, sat.P99Ms))
	}
	if halfLoad && sat.TPS > 0 {
		rate := sat.TPS / 2
		// Latency at half load is a steady-state figure: start it once every
		// replica has applied what the saturation phase left behind (on one
		// machine, followers catching up take the leader's cores), and
		// discard a warm-up second.
		settle := time.Now()
		target := leader.AppliedIndex()
		settleCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
		for _, n := range nodes {
			_ = n.WaitApplied(settleCtx, target)
		}
		cancel()
		cfg.Progress(fmt.Sprintf("  replicas caught up in %v; open loop at %.0f transfers/s for %v after a %v warm-up",
			time.Since(settle).Round(time.Millisecond), rate, cfg.HalfLoad, halfLoadWarmup))
		warm := cfg
		warm.HalfLoad = halfLoadWarmup
		_ = openLoop(ctx, leader, warm, rate)
		half = openLoop(ctx, leader, cfg, rate)
		cfg.Progress(fmt.Sprintf("  half load: %.0f transfers/s, p50 %.2f ms, p99 %.2f ms", half.TPS, half.P50Ms, half.P99Ms))
	}
	agree = digestsAgree(ctx, nodes, leader)
	return sat, half, agree, nil
}

// submitRetrying submits commands until they have a definite outcome,
// following leadership changes and retrying the same IDs after an unknown
// outcome, as every client of the ledger should. A retry of a command that
// did apply answers exists, which counts as success.
func submitRetrying(ctx context.Context, nodes []*replica.Node, leader *replica.Node, cmds []ledger.Command) (*replica.Node, error) {
	for attempt := 0; attempt < 20; attempt++ {
		results, err := leader.Submit(ctx, cmds)
		if err == nil {
			for _, r := range results {
				if !r.Code.Succeeded() {
					return leader, fmt.Errorf("%s", r.Code)
				}
			}
			return leader, nil
		}
		if leader, err = waitLeader(ctx, nodes, 10*time.Second); err != nil {
			return nil, err
		}
	}
	return leader, errors.New("no definite outcome after 20 attempts")
}

// halfLoadWarmup is the open-loop time at half load that is not recorded.
const halfLoadWarmup = time.Second

// freePorts finds n free TCP ports on 127.0.0.1.
func freePorts(n int) ([]string, error) {
	var addrs []string
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

func startCluster(ctx context.Context, root string, n int, logger *slog.Logger, tuning Tuning) ([]*replica.Node, func(), error) {
	addrs, err := freePorts(n)
	if err != nil {
		return nil, nil, err
	}
	var peers []replica.Peer
	for i, a := range addrs {
		peers = append(peers, replica.Peer{ID: fmt.Sprintf("n%d", i+1), RaftAddr: a})
	}
	if n == 1 {
		peers = nil
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var nodes []*replica.Node
	stop := func() {
		cancel()
		wg.Wait()
	}
	for i := range n {
		node, err := replica.Open(replica.Config{NodeID: fmt.Sprintf("n%d", i+1), Dir: filepath.Join(root, fmt.Sprintf("n%d", i+1)),
			RaftAddr: addrs[i], Peers: peers, Logger: logger,
			EntriesInflightMax: tuning.EntriesInflightMax, BatchLinger: tuning.BatchLinger})
		if err != nil {
			stop()
			return nil, nil, err
		}
		nodes = append(nodes, node)
		wg.Add(1)
		go func() { defer wg.Done(); _ = node.Run(runCtx) }()
	}
	return nodes, stop, nil
}

func waitLeader(ctx context.Context, nodes []*replica.Node, within time.Duration) (*replica.Node, error) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if n.IsLeader() {
				return n, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil, errors.New("no leader elected")
}

// saturate runs closed-loop submitters, one transfer per submission as a
// switch's payment flow submits them, for cfg.Saturation.
func saturate(ctx context.Context, leader *replica.Node, cfg ClusterConfig) PhaseResult {
	ctx, cancel := context.WithTimeout(ctx, cfg.Saturation)
	defer cancel()
	var committed, failed atomic.Int64
	// A histogram per submitter would cost the benchmark itself more CPU
	// than the switch; a few shards behind mutexes cost almost nothing.
	const shards = 32
	hists := make([]*hdrhistogram.Histogram, shards)
	locks := make([]sync.Mutex, shards)
	for i := range hists {
		hists[i] = hdrhistogram.New(1, 60_000_000, 3)
	}
	var wg sync.WaitGroup
	start := time.Now()
	for i := range cfg.Submitters {
		shard := i % shards
		w := cfg.Workload
		w.Seed = cfg.Workload.Seed*1_000_003 + uint64(i)
		gen := newGenerator(w)
		wg.Add(1)
		go func(h *hdrhistogram.Histogram, mu *sync.Mutex) {
			defer wg.Done()
			var b ledger.Batch
			for ctx.Err() == nil {
				gen.next(&b, 1)
				t0 := time.Now()
				_, err := leader.Submit(ctx, b.Commands)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				mu.Lock()
				_ = h.RecordValue(max(time.Since(t0).Microseconds(), 1))
				mu.Unlock()
				committed.Add(1)
			}
		}(hists[shard], &locks[shard])
	}
	wg.Wait()
	return phaseResult(hists, committed.Load(), failed.Load(), time.Since(start))
}

// openLoop sends transfers at a fixed rate whatever the answers, and
// measures each latency from the moment it was due to be sent, so that a
// stall counts against every request it delayed (no coordinated omission).
func openLoop(ctx context.Context, leader *replica.Node, cfg ClusterConfig, rate float64) PhaseResult {
	ctx, cancel := context.WithTimeout(ctx, cfg.HalfLoad)
	defer cancel()
	const inflightMax = 20_000
	sem := make(chan struct{}, inflightMax)
	var mu sync.Mutex
	hist := hdrhistogram.New(1, 60_000_000, 3)
	var committed, failed atomic.Int64
	var wg sync.WaitGroup
	w := cfg.Workload
	w.Seed ^= 0xabcdef
	gen := newGenerator(w)
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		var b ledger.Batch
		gen.next(&b, 1)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(cmds []ledger.Command, due time.Time) {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := leader.Submit(context.Background(), cmds)
			if err != nil {
				failed.Add(1)
				return
			}
			committed.Add(1)
			mu.Lock()
			_ = hist.RecordValue(max(time.Since(due).Microseconds(), 1))
			mu.Unlock()
		}(b.Commands, due)
	}
	wg.Wait()
	return phaseResult([]*hdrhistogram.Histogram{hist}, committed.Load(), failed.Load(), time.Since(start))
}

func phaseResult(hists []*hdrhistogram.Histogram, committed, failed int64, elapsed time.Duration) PhaseResult {
	all := hdrhistogram.New(1, 60_000_000, 3)
	for _, h := range hists {
		all.Merge(h)
	}
	return PhaseResult{
		Committed: int(committed), Errors: int(failed),
		TPS:   float64(committed) / elapsed.Seconds(),
		P50Ms: float64(all.ValueAtQuantile(50)) / 1000, P99Ms: float64(all.ValueAtQuantile(99)) / 1000,
		MaxMs: float64(all.Max()) / 1000,
	}
}

// digestsAgree waits briefly for every node to apply what the leader has
// and compares their state digests.
func digestsAgree(ctx context.Context, nodes []*replica.Node, leader *replica.Node) bool {
	target := leader.AppliedIndex()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	want := leader.Digest()
	for _, n := range nodes {
		if err := n.WaitApplied(ctx, target); err != nil {
			return false
		}
		// Entries after target are the leader's periodic expire commands,
		// which change no record when nothing is due: digests must agree.
		if n.Digest() != want {
			return false
		}
	}
	return true
}
