package clustertest

import (
	"context"
	"slices"
	"testing"
	"time"
)

// failoverWaitMax is the longest a cluster may go without a serving leader
// after its leader is SIGKILLed (DESIGN.md: worst ≤ 2 s on real machines;
// three replicas and the test on two shared cores get more room).
const failoverWaitMax = 5 * time.Second

// TestClusterSurvivesLeaderSIGKILL kills the leader in the middle of a
// load of concurrent transfers, keeps the load going through the new
// leader, restarts the killed node, and then checks every answer a client
// got against the ledger and the replicas against each other.
func TestClusterSurvivesLeaderSIGKILL(t *testing.T) {
	runFailover(t, failoverPlan{
		load: loadPlan{clients: 8, opsMax: 250, duration: 5 * time.Second, pause: 20 * time.Millisecond,
			amountMax: 5_000, hugePercent: 10, idBase: 1_000_000_000, seed: uint64(time.Now().UnixNano())},
		firstKill: 1500 * time.Millisecond,
		downtime:  1500 * time.Millisecond,
		kills:     1,
	})
}

type failoverPlan struct {
	load      loadPlan
	firstKill time.Duration // since the load started
	downtime  time.Duration // from a kill to the restart
	kills     int           // one after the other, each after the last restart
}

func runFailover(t *testing.T, plan failoverPlan) {
	c := Start(t, Options{Nodes: 3})
	ctx, cancel := context.WithTimeout(t.Context(), plan.load.duration+2*opTimeoutMax)
	defer cancel()
	b := newBook(4)
	began := time.Now()
	funded := b.setup(ctx, t, c.Client(), 1_000_000_00)
	t.Logf("accounts set up in %v; load: %+v", time.Since(began), plan.load)

	start := time.Now()
	done := make(chan []outcome, 1)
	go func() { done <- b.drive(ctx, c.Client(), plan.load, start) }()

	var kills []time.Time
	var failovers []time.Duration
	next := plan.firstKill
	for range plan.kills {
		sleepUntil(ctx, start.Add(next))
		leader := c.WaitLeader(ctx)
		kills = append(kills, time.Now())
		c.Kill(leader)
		failover := waitNewLeader(ctx, t, c, leader, kills[len(kills)-1])
		failovers = append(failovers, failover)
		t.Logf("killed leader %s at %v; a new leader served after %v", c.Node(leader).ID, kills[len(kills)-1].Sub(start), failover)
		sleepUntil(ctx, kills[len(kills)-1].Add(plan.downtime))
		c.Restart(leader)
		next = time.Since(start) + plan.downtime
	}
	outcomes := <-done
	t.Logf("load done after %v: %s", time.Since(start), summarize(outcomes))
	for _, kill := range kills {
		if first := firstAnswerAfter(outcomes, kill.Sub(start)); first >= 0 {
			t.Logf("first answer to an operation sent after the kill at %v: %v after it", kill.Sub(start), first)
		}
	}
	for i, f := range failovers {
		if f > failoverWaitMax {
			t.Errorf("kill %d: no serving leader for %v (want < %v)", i+1, f, failoverWaitMax)
		}
	}
	began = time.Now()
	states := c.WaitConverged(ctx)
	t.Logf("converged after %v: applied index %s, digest %s on all %d nodes", time.Since(began), states[0].AppliedIndex, states[0].Digest, c.N())
	began = time.Now()
	verifyLedger(ctx, t, c.Client(), b, funded, outcomes)
	t.Logf("verified %d operations in %v", len(outcomes), time.Since(began))
}

// waitNewLeader polls the surviving nodes until one serves as leader and
// returns the time since the kill; it fails the test after
// failoverWaitMax and twice that.
func waitNewLeader(ctx context.Context, t *testing.T, c *Cluster, killed int, kill time.Time) time.Duration {
	t.Helper()
	deadline := kill.Add(2 * failoverWaitMax)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for i := range c.N() {
			if i == killed || !c.Running(i) {
				continue
			}
			probeCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			ok, _ := c.Client().ServesAsLeader(probeCtx, i)
			cancel()
			if ok {
				return time.Since(kill)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no node served as leader within %v of the kill", 2*failoverWaitMax)
	return 0
}

func sleepUntil(ctx context.Context, when time.Time) {
	select {
	case <-time.After(time.Until(when)):
	case <-ctx.Done():
	}
}

// firstAnswerAfter returns how long after since the first definite answer
// to an operation sent after since came, or -1.
func firstAnswerAfter(outcomes []outcome, since time.Duration) time.Duration {
	var rets []time.Duration
	for _, o := range outcomes {
		if o.err == nil && o.call > since {
			rets = append(rets, o.ret)
		}
	}
	if len(rets) == 0 {
		return -1
	}
	return slices.Min(rets) - since
}

func summarize(outcomes []outcome) string {
	var ok, rejected, reads, failed int
	var slowest time.Duration
	for _, o := range outcomes {
		slowest = max(slowest, o.ret-o.call)
		switch {
		case o.err != nil:
			failed++
		case o.in.kind == opRead:
			reads++
		case o.code == "ok":
			ok++
		default:
			rejected++
		}
	}
	return fmtCounts(ok, rejected, reads, failed, slowest)
}
