package clustertest

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// linCheckWaitMax bounds porcupine's search. Histories of a few hundred
// operations of a handful of clients are checked in well under a second.
const linCheckWaitMax = 30 * time.Second

// TestLinearizableUnderSIGKILL records concurrent transfers and
// linearizable balance reads on a few accounts while leaders and followers
// are SIGKILLed and restarted, and checks the history with porcupine
// against the sequential model in model_test.go.
func TestLinearizableUnderSIGKILL(t *testing.T) {
	runLinearizability(t, linPlan{
		load: loadPlan{clients: 5, opsMax: 100, duration: 7 * time.Second, pause: 60 * time.Millisecond,
			readPercent: 50, amountMax: 60, fromHubPct: 10, idBase: 2_000_000_000, seed: uint64(time.Now().UnixNano())},
		faults: []fault{
			{at: 1 * time.Second, leader: true}, {at: 2 * time.Second, restart: true},
			{at: 3 * time.Second, leader: true}, {at: 4 * time.Second, restart: true},
			{at: 5 * time.Second, leader: false}, {at: 6 * time.Second, restart: true},
		},
	})
}

type linPlan struct {
	load   loadPlan
	faults []fault
}

// fault is one step of the nemesis: SIGKILL the leader or a follower, or
// restart whatever is down.
type fault struct {
	at      time.Duration // since the load started
	leader  bool
	restart bool
}

func runLinearizability(t *testing.T, plan linPlan) {
	c := Start(t, Options{Nodes: 3})
	ctx, cancel := context.WithTimeout(t.Context(), plan.load.duration+2*opTimeoutMax)
	defer cancel()
	b := newBook(3)
	funded := b.setup(ctx, t, c.Client(), 100)
	initial, err := b.balances(ctx, c.Client())
	if err != nil {
		t.Fatalf("initial balances: %v", err)
	}
	t.Logf("load: %+v", plan.load)

	start := time.Now()
	done := make(chan []outcome, 1)
	go func() { done <- b.drive(ctx, c.Client(), plan.load, start) }()
	nemesis(ctx, t, c, plan.faults, start)
	outcomes := <-done
	t.Logf("load done after %v: %s", time.Since(start), summarize(outcomes))

	checkLinearizable(t, initial, outcomes)
	c.WaitConverged(ctx)
	verifyLedger(ctx, t, c.Client(), b, funded, withoutAbandonedReads(outcomes))
}

func nemesis(ctx context.Context, t *testing.T, c *Cluster, faults []fault, start time.Time) {
	t.Helper()
	for _, f := range faults {
		sleepUntil(ctx, start.Add(f.at))
		if ctx.Err() != nil {
			return
		}
		if f.restart {
			for i := range c.N() {
				if !c.Running(i) {
					c.Restart(i)
				}
			}
			continue
		}
		leader := c.WaitLeader(ctx)
		victim := leader
		if !f.leader {
			victim = (leader + 1) % c.N()
		}
		c.Kill(victim)
	}
}

// checkLinearizable builds porcupine's history from the outcomes: a
// transfer without a definite answer returns at the end of the history
// (it may have happened at any point after its call, or never) and its
// client is not reused, as if it had crashed; a read without an answer
// observed nothing and is left out.
func checkLinearizable(t *testing.T, initial balances, outcomes []outcome) {
	t.Helper()
	var end int64
	for _, o := range outcomes {
		end = max(end, int64(o.ret))
	}
	end++
	var history []porcupine.Operation
	crashed := map[int]int{} // client → operations abandoned so far
	var unknown int
	for _, o := range outcomes {
		id := o.client + len(outcomes)*crashed[o.client] // a new ID after each crash
		op := porcupine.Operation{ClientId: id, Input: o.in, Call: int64(o.call), Output: o.out, Return: int64(o.ret)}
		if o.err != nil {
			if o.in.kind == opRead {
				continue
			}
			unknown++
			op.Output = linOutput{unknown: true}
			op.Return = end
			crashed[o.client]++
		}
		history = append(history, op)
	}
	model := linModel(initial)
	began := time.Now()
	result := porcupine.CheckOperationsTimeout(model, history, linCheckWaitMax)
	t.Logf("porcupine: %s for %d operations (%d with unknown outcome) in %v", result, len(history), unknown, time.Since(began))
	switch result {
	case porcupine.Ok:
		return
	case porcupine.Unknown:
		t.Errorf("linearizability check inconclusive after %v", linCheckWaitMax)
		return
	}
	_, info := porcupine.CheckOperationsVerbose(model, history, linCheckWaitMax)
	path := filepath.Join(t.ArtifactDir(), "linearizability.html")
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		t.Errorf("visualize: %v", err)
	}
	t.Errorf("history is not linearizable; visualization in %s (keep it with go test -artifacts -outputdir DIR)", path)
}

// withoutAbandonedReads drops reads that never got an answer: they have no
// effect to verify.
func withoutAbandonedReads(outcomes []outcome) []outcome {
	var out []outcome
	for _, o := range outcomes {
		if o.in.kind == opRead && errors.Is(o.err, ErrNoAnswer) {
			continue
		}
		out = append(out, o)
	}
	return out
}
