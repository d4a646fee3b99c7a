package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payswitch/payswitch/ledger/replica/clustertest"
)

// FailoverConfig configures the failover benchmark.
type FailoverConfig struct {
	Kills  int    // leader kills; default 7
	Binary string // the payswitch binary the nodes run; default this executable
	// HeartbeatTimeout and ElectionTimeout are passed to every node; zero
	// takes serve's defaults (250 ms).
	HeartbeatTimeout, ElectionTimeout time.Duration
	Progress                          func(line string)
}

// FailoverResult holds the time from each leader SIGKILL to the first
// transfer committed by the new leader.
type FailoverResult struct {
	Times    []time.Duration
	P50, Max time.Duration
}

// Line is the summary the CLI prints last.
func (r FailoverResult) Line() string {
	return fmt.Sprintf("failover_ms_p50=%d failover_ms_max=%d", r.P50.Milliseconds(), r.Max.Milliseconds())
}

// failoverProbeEvery is how often the probe tries each surviving node
// after a kill; it bounds the measurement's resolution.
const failoverProbeEvery = 5 * time.Millisecond

// RunFailover starts three `payswitch serve` processes on loopback, keeps
// a light load of transfers running through the leader, and repeatedly
// SIGKILLs the leader. After each kill a probe sends a fresh transfer to
// every surviving node every 5 ms; the failover time is from the kill to
// the first probe a node commits. The killed node is restarted and the
// cluster allowed to converge before the next kill.
func RunFailover(ctx context.Context, cfg FailoverConfig) (res FailoverResult, err error) {
	if cfg.Kills == 0 {
		cfg.Kills = 7
	}
	if cfg.Progress == nil {
		cfg.Progress = func(string) {}
	}
	if cfg.Binary == "" {
		if cfg.Binary, err = os.Executable(); err != nil {
			return res, err
		}
	}
	t, err := newRunT(cfg.Progress)
	if err != nil {
		return res, err
	}
	defer t.cleanup()
	err = t.run(func() { res = failover(ctx, t, cfg) })
	return res, err
}

func failover(ctx context.Context, t *runT, cfg FailoverConfig) FailoverResult {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Binary: cfg.Binary,
		HeartbeatTimeout: cfg.HeartbeatTimeout, ElectionTimeout: cfg.ElectionTimeout})
	client := c.Client()
	setup := []clustertest.Command{
		{Op: "create_account", Account: &clustertest.AccountSpec{ID: "1", Participant: "1", Currency: "KES", Kind: "hub"}},
		{Op: "create_account", Account: &clustertest.AccountSpec{ID: "2", Participant: "2", Currency: "KES", Kind: "position"}},
	}
	if _, err := client.Submit(ctx, setup); err != nil {
		t.Fatalf("set-up: %v", err)
	}
	var next atomic.Uint64
	transfer := func() clustertest.Command {
		id := strconv.FormatUint(1_000_000+next.Add(1), 10)
		return clustertest.Command{Op: "create_transfer", Transfer: &clustertest.TransferSpec{
			ID: id, DebitAccount: "1", CreditAccount: "2", Amount: "1.00", Currency: "KES", Code: 1}}
	}

	// A light background load, so that each kill lands on a working leader.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				_, _ = client.Submit(loadCtx, []clustertest.Command{transfer()})
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	defer func() { stopLoad(); wg.Wait() }()

	var res FailoverResult
	for k := 0; k < cfg.Kills; k++ {
		time.Sleep(300 * time.Millisecond) // let the load reach the new leader
		leader := c.WaitLeader(ctx)
		killed := time.Now()
		c.Kill(leader)
		took, err := probeUntilCommitted(ctx, client, c.N(), leader, killed, transfer)
		if err != nil {
			t.Fatalf("kill %d: %v", k+1, err)
		}
		res.Times = append(res.Times, took)
		cfg.Progress(fmt.Sprintf("kill %d of %d: %s down, a transfer committed %d ms later", k+1, cfg.Kills, c.Node(leader).ID, took.Milliseconds()))
		c.Restart(leader)
		c.WaitConverged(ctx)
	}
	sorted := slices.Clone(res.Times)
	slices.Sort(sorted)
	res.P50, res.Max = sorted[len(sorted)/2], sorted[len(sorted)-1]
	return res
}

// probeUntilCommitted sends a fresh transfer to each node but the killed
// one until one commits it, and returns the time since the kill.
func probeUntilCommitted(ctx context.Context, client *clustertest.Client, nodes, killed int, since time.Time,
	transfer func() clustertest.Command) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	type request struct {
		Commands []clustertest.Command `json:"commands"`
	}
	type response struct {
		Results []clustertest.Result `json:"results"`
	}
	for ctx.Err() == nil {
		for node := range nodes {
			if node == killed {
				continue
			}
			probeCtx, probeCancel := context.WithTimeout(ctx, 200*time.Millisecond)
			var out response
			err := client.Do(probeCtx, node, http.MethodPost, "/admin/ledger/commands", request{Commands: []clustertest.Command{transfer()}}, &out)
			probeCancel()
			if err == nil && len(out.Results) == 1 && out.Results[0].Code == "ok" {
				return time.Since(since), nil
			}
		}
		time.Sleep(failoverProbeEvery)
	}
	return 0, errors.New("no transfer committed within 30 s of the kill")
}
