package replica

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
)

const entryCommands = "payswitch_raft_entry_commands"

// TestBatchingAndOrdering: many concurrent submitters share log entries;
// every transfer posts once, each submitter sees its own transfers'
// timestamps increase in the order it sent them, and all replicas agree.
func TestBatchingAndOrdering(t *testing.T) {
	const (
		submitters   = 50
		perSubmitter = 100
		sink         = 1000 // the account every transfer credits
	)
	c := startCluster(t, 3, nil)
	leader := c.waitLeader()
	ctx := testContext(t, 60*time.Second)
	openSubmitters(ctx, t, leader.node, submitters, sink)
	entries0, commands0 := histogram(t, leader.node.Registry(), entryCommands)

	type outcome struct {
		stamps []uint64
		err    error
	}
	outcomes := make([]outcome, submitters)
	var wg sync.WaitGroup
	for g := range uint64(submitters) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &outcomes[g]
			for k := range uint64(perSubmitter) {
				cmds := []ledger.Command{transfer(1e6+g*perSubmitter+k, g+1, sink, 1)}
				results, err := leader.node.Submit(ctx, cmds)
				if err == nil {
					err = allOK(cmds, results)
				}
				if err != nil {
					o.err = fmt.Errorf("submitter %d, transfer %d: %w", g, k, err)
					return
				}
				o.stamps = append(o.stamps, results[0].Timestamp)
			}
		}()
	}
	wg.Wait() // every Submit returns by ctx's deadline at the latest

	owner := make(map[uint64]int, submitters*perSubmitter)
	for g, o := range outcomes {
		if o.err != nil {
			t.Fatal(o.err)
		}
		for k, stamp := range o.stamps {
			if k > 0 && stamp <= o.stamps[k-1] {
				t.Fatalf("submitter %d: transfer %d has timestamp %d, not after %d of transfer %d", g, k, stamp, o.stamps[k-1], k-1)
			}
			if other, dup := owner[stamp]; dup {
				t.Fatalf("timestamp %d given to transfers of submitters %d and %d", stamp, other, g)
			}
			owner[stamp] = g
		}
	}

	entries1, commands1 := histogram(t, leader.node.Registry(), entryCommands)
	entries, commands := entries1-entries0, commands1-commands0
	if commands != submitters*perSubmitter {
		t.Fatalf("the proposer sealed %v commands into entries, want %d", commands, submitters*perSubmitter)
	}
	if average := commands / float64(entries); average <= 1 {
		t.Fatalf("%d entries for %v commands: no batching", entries, commands)
	} else {
		t.Logf("%v transfers in %d entries, %.1f per entry", commands, entries, average)
	}

	waitConverged(t, c.nodes...)
	for _, tn := range c.nodes {
		var a ledger.Account
		err := tn.node.Local(func(s *store.Store) (err error) {
			a, _, err = s.Account(id(sink))
			return err
		})
		if err != nil || a.CreditsPosted != submitters*perSubmitter {
			t.Fatalf("%s: the sink has %d posted credits (err %v), want %d", tn.id(), a.CreditsPosted, err, submitters*perSubmitter)
		}
	}
}

// TestResultsGoToTheirCaller: concurrent callers whose commands share
// entries, each submitting a few commands built to end with different
// codes, get exactly their own results, in their own order.
func TestResultsGoToTheirCaller(t *testing.T) {
	const (
		submitters = 24
		rounds     = 40
		missing    = 999 // no such account
	)
	kinds := []struct {
		code  ledger.Code
		build func(idv uint64) ledger.Command
	}{
		{ledger.OK, func(idv uint64) ledger.Command { return transfer(idv, 1, 2, 1) }},
		{ledger.ExceedsCredits, func(idv uint64) ledger.Command { return transfer(idv, 3, 2, 1) }},
		{ledger.DebitAccountNotFound, func(idv uint64) ledger.Command { return transfer(idv, missing, 2, 1) }},
	}
	c := startCluster(t, 3, nil)
	leader := c.waitLeader()
	ctx := testContext(t, 60*time.Second)
	submitOK(ctx, t, leader.node, openAccount(1), openAccount(2), cappedAccount(3))

	type outcome struct {
		posted  ledger.Amount
		example [3]uint64 // a transfer ID of each kind
		err     error
	}
	outcomes := make([]outcome, submitters)
	var wg sync.WaitGroup
	for g := range uint64(submitters) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &outcomes[g]
			rng := rand.New(rand.NewPCG(g, 1))
			next := 1e6 * (g + 1)
			for round := range rounds {
				cmds := make([]ledger.Command, 1+rng.IntN(4))
				want := make([]ledger.Code, len(cmds))
				for i := range cmds {
					k := rng.IntN(len(kinds))
					cmds[i], want[i] = kinds[k].build(next), kinds[k].code
					o.example[k] = next
					next++
				}
				results, err := leader.node.Submit(ctx, cmds)
				if err == nil {
					err = sameCodes(want, results)
				}
				if err != nil {
					o.err = fmt.Errorf("submitter %d, round %d: %w", g, round, err)
					return
				}
				for _, code := range want {
					if code == ledger.OK {
						o.posted++
					}
				}
			}
		}()
	}
	wg.Wait()

	var posted ledger.Amount
	for _, o := range outcomes {
		if o.err != nil {
			t.Fatal(o.err)
		}
		posted += o.posted
	}
	// The records agree with the answers.
	for k, kind := range kinds {
		for g, o := range outcomes {
			if o.example[k] == 0 {
				continue
			}
			tr, found, err := leader.node.Transfer(ctx, id(o.example[k]))
			wantStatus := ledger.StatusRejected
			if kind.code == ledger.OK {
				wantStatus = ledger.StatusPosted
			}
			if err != nil || !found || tr.Status != wantStatus || tr.Result != kind.code {
				t.Fatalf("submitter %d's transfer %d: %+v, found %v, err %v; want status %s, result %s",
					g, o.example[k], tr, found, err, wantStatus, kind.code)
			}
		}
	}
	credited, _, err := leader.node.Account(ctx, id(2))
	if err != nil || credited.CreditsPosted != posted {
		t.Fatalf("account 2 has %d posted credits (err %v), want %d, the transfers answered ok", credited.CreditsPosted, err, posted)
	}
	capped, _, err := leader.node.Account(ctx, id(3))
	if err != nil || capped.DebitsPosted != 0 || capped.DebitsPending != 0 {
		t.Fatalf("the capped account was debited: %+v, err %v", capped, err)
	}
	waitConverged(t, c.nodes...)
}

// sameCodes checks results against the codes wanted, and that the
// timestamps of one submission increase in command order.
func sameCodes(want []ledger.Code, results []ledger.Result) error {
	if len(results) != len(want) {
		return fmt.Errorf("%d results for %d commands", len(results), len(want))
	}
	for i, r := range results {
		if r.Code != want[i] {
			return fmt.Errorf("command %d: %s, want %s (all: %v)", i, r.Code, want[i], results)
		}
		if i > 0 && r.Timestamp <= results[i-1].Timestamp {
			return fmt.Errorf("command %d: timestamp %d, not after %d", i, r.Timestamp, results[i-1].Timestamp)
		}
	}
	return nil
}

// TestUnknownOpFailsAlone: a caller's malformed command is refused to that
// caller alone; the callers whose commands would have shared its entry
// are not failed with it.
func TestUnknownOpFailsAlone(t *testing.T) {
	// A long linger holds the entry open so that all three callers share it.
	c := startCluster(t, 1, func(cfg *Config) { cfg.BatchLinger = 100 * time.Millisecond })
	n := c.waitLeader().node
	ctx := testContext(t, 20*time.Second)
	submitOK(ctx, t, n, openAccount(1), openAccount(2))

	calls := [][]ledger.Command{
		{transfer(10, 1, 2, 1)},
		{{Op: 99}},
		{transfer(11, 1, 2, 1), transfer(12, 1, 2, 1)},
	}
	type answer struct {
		results []ledger.Result
		err     error
	}
	answers := make([]chan answer, len(calls))
	for i, cmds := range calls {
		answers[i] = make(chan answer, 1)
		go func() {
			results, err := n.Submit(ctx, cmds)
			answers[i] <- answer{results, err}
		}()
	}
	for i, cmds := range calls {
		var a answer
		select {
		case a = <-answers[i]:
		case <-ctx.Done():
			t.Fatalf("call %d: no answer", i)
		}
		if cmds[0].Op == 99 {
			if !errors.Is(a.err, ledger.ErrBatchMalformed) {
				t.Errorf("call %d with op 99: %v, want ledger.ErrBatchMalformed", i, a.err)
			}
			continue
		}
		if a.err == nil {
			a.err = allOK(cmds, a.results)
		}
		if a.err != nil {
			t.Errorf("call %d beside a malformed one: %v", i, a.err)
		}
	}
}

// TestOverload: with apply stalled and the smallest queue, Submit refuses
// at once with ErrOverloaded instead of waiting; what it refused was never
// proposed, and what callers gave up on was.
func TestOverload(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.BatchCommandsMax, cfg.QueueMax, cfg.EntriesInflightMax = 1, 1, 1
	})
	n := c.waitLeader().node
	ctx := testContext(t, 30*time.Second)
	submitOK(ctx, t, n, openAccount(1))
	submitOK(ctx, t, n, openAccount(2))
	applied := n.AppliedIndex()

	const (
		callerWait = 400 * time.Millisecond // how long each caller waits
		promptMax  = 100 * time.Millisecond // a refusal comes well before that
	)
	release := stallApply(t, n)
	var gaveUp []uint64
	refused := uint64(0)
	for idv := uint64(10); idv < 20 && refused == 0; idv++ {
		callCtx, cancel := context.WithTimeout(ctx, callerWait)
		start := time.Now()
		_, err := n.Submit(callCtx, []ledger.Command{transfer(idv, 1, 2, 1)})
		took := time.Since(start)
		cancel()
		switch {
		case errors.Is(err, ErrOverloaded):
			if took > promptMax {
				t.Fatalf("ErrOverloaded came after %v, want at once", took)
			}
			refused = idv
		case errors.Is(err, ErrUnknownOutcome):
			gaveUp = append(gaveUp, idv)
		default:
			t.Fatalf("transfer %d while apply is stalled: %v, want ErrUnknownOutcome or ErrOverloaded", idv, err)
		}
	}
	// One entry in flight (EntriesInflightMax), one sealed and waiting for
	// a slot, one queued (QueueMax): the fourth is refused.
	if refused == 0 || len(gaveUp) != 3 {
		t.Fatalf("refused %d after %d callers gave up, want the fourth refused", refused, len(gaveUp))
	}
	if got := counter(t, n.Registry(), "payswitch_raft_overloaded_total"); got != 1 {
		t.Fatalf("overloaded counter %v, want 1", got)
	}

	release()
	waitFor(t, 5*time.Second, "the stalled entries to apply", func() error {
		if got := n.AppliedIndex(); got < applied+uint64(len(gaveUp)) {
			return fmt.Errorf("applied index %d, want %d", got, applied+uint64(len(gaveUp)))
		}
		return nil
	})
	for _, idv := range gaveUp {
		results, err := n.Submit(ctx, []ledger.Command{transfer(idv, 1, 2, 1)})
		if err != nil || results[0].Code != ledger.Exists {
			t.Fatalf("retry of transfer %d: %v, %v; want exists, since it was proposed after all", idv, results, err)
		}
	}
	submitOK(ctx, t, n, transfer(refused, 1, 2, 1))
	a, _, err := n.Account(ctx, id(2))
	if want := ledger.Amount(len(gaveUp) + 1); err != nil || a.CreditsPosted != want {
		t.Fatalf("account 2 has %d posted credits (err %v), want %d", a.CreditsPosted, err, want)
	}
}

// TestEntriesInflightMax: with apply stalled, the proposer keeps no more
// entries in flight than EntriesInflightMax, even when requests arrive
// that do not fit the entry it is filling.
func TestEntriesInflightMax(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.BatchCommandsMax, cfg.EntriesInflightMax, cfg.BatchLinger = 4, 1, 100*time.Millisecond
	})
	n := c.waitLeader().node
	ctx := testContext(t, 20*time.Second)
	submitOK(ctx, t, n, openAccount(1), openAccount(2))
	entries0, commands0 := histogram(t, n.Registry(), entryCommands)

	release := stallApply(t, n)
	answers := make(chan error, 3)
	submit := func(first uint64) { submitTransfers(ctx, n, answers, first, 3) }
	submit(100)
	waitFor(t, 2*time.Second, "the first entry to be proposed", func() error {
		if got, _ := histogram(t, n.Registry(), entryCommands); got != entries0+1 {
			return fmt.Errorf("%d entries proposed", got-entries0)
		}
		return nil
	})
	submit(200) // 3 + 3 commands do not fit in one entry of 4
	submit(300)
	time.Sleep(300 * time.Millisecond) // three lingers: time enough to break the bound
	if got, _ := histogram(t, n.Registry(), entryCommands); got != entries0+1 {
		t.Fatalf("%d entries proposed while the first one cannot apply, want 1 (EntriesInflightMax)", got-entries0)
	}

	release()
	for range 3 {
		select {
		case err := <-answers:
			if err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatal("a submission did not return")
		}
	}
	if got, sum := histogram(t, n.Registry(), entryCommands); got != entries0+3 || sum != commands0+9 {
		t.Fatalf("%d entries of %v commands in all, want 3 entries of 9", got-entries0, sum-commands0)
	}
}

// TestProposerAnswersAfterItStopped: a caller that fetched the proposer
// just before its term ended, and enqueues after the proposer's last
// drain, gets ErrStopped at once instead of waiting for its deadline.
func TestProposerAnswersAfterItStopped(t *testing.T) {
	cfg := Config{Dir: t.TempDir()}.withDefaults()
	m := newMetrics(cfg.NodeID, func() *raft.Raft { return nil }, func() uint64 { return 0 })
	p := newProposer(cfg, nil, m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the proposer did not stop")
	}

	callCtx := testContext(t, 2*time.Second)
	start := time.Now()
	_, err := p.submit(callCtx, []ledger.Command{transfer(1, 1, 2, 1)})
	if !errors.Is(err, ErrStopped) || time.Since(start) > time.Second {
		t.Fatalf("submit to a stopped proposer: %v after %v, want ErrStopped at once", err, time.Since(start))
	}
	if q := p.queued.Load(); q != 0 {
		t.Fatalf("%d commands still counted as queued", q)
	}
}

// stallApply stops n's FSM until release: ApplyBatch holds fsm.mu for
// reading around every store write, so holding it for writing parks the
// apply goroutine (and Local and the linearizable reads) right there.
func stallApply(t *testing.T, n *Node) (release func()) {
	n.fsm.mu.Lock()
	var once sync.Once
	release = func() { once.Do(n.fsm.mu.Unlock) }
	t.Cleanup(release) // before the node stops: cleanups run last first
	return release
}

// TestSubmitOneAnswersItsOwnCaller proposes single commands from many
// goroutines through SubmitOne, which recycles its requests, half of them
// under a context that is cancelled at once (whose requests must then not
// be recycled while the proposer may still answer them). Every answer must
// be its own command's: the timestamp it reports is the one the ledger
// stored for that transfer. A second pass repeats every command, the
// cancelled ones included, and finds each applied exactly once.
func TestSubmitOneAnswersItsOwnCaller(t *testing.T) {
	const (
		submitters   = 32
		perSubmitter = 60
		sink         = 1000
	)
	c := startCluster(t, 1, nil)
	leader := c.waitLeader()
	ctx := testContext(t, 60*time.Second)
	openSubmitters(ctx, t, leader.node, submitters, sink)

	tid := func(g, k uint64) uint64 { return 1e6 + g*perSubmitter + k }
	errs := make(chan error, submitters)
	var answered sync.WaitGroup
	for g := range uint64(submitters) {
		answered.Add(1)
		go func() {
			defer answered.Done()
			for k := range uint64(perSubmitter) {
				cmd := transfer(tid(g, k), g+1, sink, 1)
				callCtx := ctx
				if k%2 == 1 {
					c, cancel := context.WithCancel(ctx)
					cancel()
					callCtx = c
				}
				res, err := leader.node.SubmitOne(callCtx, cmd)
				if err != nil {
					if k%2 == 1 && errors.Is(err, ErrUnknownOutcome) {
						continue
					}
					errs <- fmt.Errorf("transfer %d: %w", tid(g, k), err)
					return
				}
				var stored ledger.Transfer
				var found bool
				if err := leader.node.Local(func(s *store.Store) (err error) {
					stored, found, err = s.Transfer(cmd.Transfer.ID)
					return err
				}); err != nil || !found {
					errs <- fmt.Errorf("transfer %d: stored %v, %v", tid(g, k), found, err)
					return
				}
				if res.Code != ledger.OK || res.Timestamp != stored.Timestamp {
					errs <- fmt.Errorf("transfer %d: answered %v at %d, stored at %d: another caller's answer", tid(g, k), res.Code, res.Timestamp, stored.Timestamp)
					return
				}
			}
		}()
	}
	answered.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for g := range uint64(submitters) {
		for k := range uint64(perSubmitter) {
			res, err := leader.node.SubmitOne(ctx, transfer(tid(g, k), g+1, sink, 1))
			if err != nil || (res.Code != ledger.Exists && res.Code != ledger.OK) {
				t.Fatalf("transfer %d again: %v, %v", tid(g, k), res.Code, err)
			}
		}
	}
	var sinkAccount ledger.Account
	if err := leader.node.Local(func(s *store.Store) (err error) {
		sinkAccount, _, err = s.Account(id(sink))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if sinkAccount.CreditsPosted != submitters*perSubmitter {
		t.Fatalf("sink credited %d, want %d: a transfer applied twice or never", sinkAccount.CreditsPosted, submitters*perSubmitter)
	}
}

// TestBatchCommandsTarget: the proposer seals an entry once it holds
// BatchCommandsTarget commands, but never splits one caller's commands, so
// a Submit above the target and within BatchCommandsMax is one entry.
func TestBatchCommandsTarget(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.BatchCommandsMax, cfg.BatchCommandsTarget = 8, 2
		cfg.EntriesInflightMax, cfg.BatchLinger = 1, 100*time.Millisecond
	})
	n := c.waitLeader().node
	ctx := testContext(t, 20*time.Second)
	submitOK(ctx, t, n, openAccount(1), openAccount(2))
	entries0, commands0 := histogram(t, n.Registry(), entryCommands)

	release := stallApply(t, n)
	answers := make(chan error, 5)
	submit := func(first, count uint64) { submitTransfers(ctx, n, answers, first, count) }
	submit(100, 1)
	waitFor(t, 2*time.Second, "the first entry to be proposed", func() error {
		if got, _ := histogram(t, n.Registry(), entryCommands); got != entries0+1 {
			return fmt.Errorf("%d entries proposed", got-entries0)
		}
		return nil
	})
	for i := range uint64(4) {
		submit(200+i, 1)
	}
	time.Sleep(300 * time.Millisecond) // all four queued behind the stalled entry
	release()
	for range 5 {
		if err := <-answers; err != nil {
			t.Fatal(err)
		}
	}
	if got, sum := histogram(t, n.Registry(), entryCommands); got != entries0+3 || sum != commands0+5 {
		t.Fatalf("%d entries of %v commands, want 3 entries of 5: the target seals entries of 2", got-entries0, sum-commands0)
	}
	cmds := transfers(300, 6, 1, 2)
	results, err := n.Submit(ctx, cmds)
	if err == nil {
		err = allOK(cmds, results)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got, sum := histogram(t, n.Registry(), entryCommands); got != entries0+4 || sum != commands0+11 {
		t.Fatalf("a submit of 6 went into %d entries (%v commands), want one", got-entries0-3, sum-commands0-5)
	}
}

// openSubmitters opens the sink account and one account for each of
// submitters, numbered from 1.
func openSubmitters(ctx context.Context, t *testing.T, n *Node, submitters, sink uint64) {
	t.Helper()
	accounts := []ledger.Command{openAccount(sink)}
	for g := range submitters {
		accounts = append(accounts, openAccount(g+1))
	}
	submitOK(ctx, t, n, accounts...)
}

// submitTransfers submits count transfers from account 1 to 2, IDs from
// first, in the background, and sends the outcome to answers.
func submitTransfers(ctx context.Context, n *Node, answers chan<- error, first, count uint64) {
	go func() {
		cmds := transfers(first, count, 1, 2)
		results, err := n.Submit(ctx, cmds)
		if err == nil {
			err = allOK(cmds, results)
		}
		answers <- err
	}()
}

// TestSubmitAsync: every callback is called once, with its own command's
// result, also when it proposes again from inside the callback; a command
// refused before it is queued is answered on the caller's goroutine.
func TestSubmitAsync(t *testing.T) {
	const (
		submitters   = 16
		perSubmitter = 50
		sink         = 1000
		chained      = 1_000_000 // the IDs of the transfers proposed from callbacks
	)
	c := startCluster(t, 1, nil)
	n := c.waitLeader().node
	ctx := testContext(t, 60*time.Second)
	openSubmitters(ctx, t, n, submitters, sink)

	var mu sync.Mutex
	got := map[uint64][]ledger.Result{}
	var failed []error
	var pending sync.WaitGroup
	record := func(tid uint64) func(ledger.Result, error) {
		return func(res ledger.Result, err error) {
			defer pending.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, fmt.Errorf("transfer %d: %w", tid, err))
				return
			}
			got[tid] = append(got[tid], res)
		}
	}
	for g := range uint64(submitters) {
		for k := range uint64(perSubmitter) {
			tid := 1 + g*perSubmitter + k
			pending.Add(1)
			then := record(tid)
			if k%2 == 0 {
				pending.Add(1)
				first := then
				then = func(res ledger.Result, err error) {
					n.SubmitAsync(transfer(chained+tid, g+1, sink, 1), record(chained+tid))
					first(res, err)
				}
			}
			go n.SubmitAsync(transfer(tid, g+1, sink, 1), then)
		}
	}
	done := make(chan struct{})
	go func() { pending.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("callbacks not all called")
	}
	for _, err := range failed {
		t.Error(err)
	}
	if want := submitters * perSubmitter * 3 / 2; len(got) != want {
		t.Fatalf("%d transfers answered, want %d", len(got), want)
	}
	for tid, results := range got {
		if len(results) != 1 {
			t.Fatalf("transfer %d answered %d times", tid, len(results))
		}
		var stored ledger.Transfer
		var found bool
		if err := n.Local(func(s *store.Store) (err error) {
			stored, found, err = s.Transfer(id(tid))
			return err
		}); err != nil || !found {
			t.Fatalf("transfer %d: stored %v, %v", tid, found, err)
		}
		if res := results[0]; res.Code != ledger.OK || res.Timestamp != stored.Timestamp {
			t.Fatalf("transfer %d: answered %v at %d, stored at %d: another command's result", tid, res.Code, res.Timestamp, stored.Timestamp)
		}
	}

	called := false
	n.SubmitAsync(ledger.Command{Op: 0}, func(_ ledger.Result, err error) {
		called = true
		if !errors.Is(err, ledger.ErrBatchMalformed) {
			t.Errorf("unknown op: %v", err)
		}
	})
	if !called {
		t.Error("a malformed command was not refused on the caller's goroutine")
	}
}

// TestSubmitAsyncCallbackDoesNotHoldTheEntry: the next entry is proposed
// while a finished entry's callbacks still run, so a slow callback delays
// its entry's other callers and no one else.
func TestSubmitAsyncCallbackDoesNotHoldTheEntry(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.EntriesInflightMax = 1 })
	n := c.waitLeader().node
	ctx := testContext(t, 20*time.Second)
	submitOK(ctx, t, n, openAccount(1), openAccount(2))

	second := make(chan error, 1)
	firstDone := make(chan struct{})
	n.SubmitAsync(transfer(10, 1, 2, 1), func(ledger.Result, error) {
		defer close(firstDone)
		// Blocks, against SubmitAsync's rule, until an entry after this
		// one commits: with the inflight slot still held it never would.
		n.SubmitAsync(transfer(11, 1, 2, 1), func(res ledger.Result, err error) {
			if err == nil && res.Code != ledger.OK {
				err = fmt.Errorf("code %v", res.Code)
			}
			second <- err
		})
		select {
		case err := <-second:
			second <- err
		case <-ctx.Done():
		}
	})
	select {
	case <-firstDone:
	case <-ctx.Done():
		t.Fatal("the second entry waited for the first entry's callbacks")
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
}
