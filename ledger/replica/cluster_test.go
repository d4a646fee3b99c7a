package replica

import (
	"context"
	"errors"
	"fmt"
	"github.com/payswitch/payswitch/ledger/replica/clustertest"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
	"github.com/prometheus/client_golang/prometheus"
)

// The in-process test harness: N nodes in this process, each with its own
// Pebble store and raft-wal log in the test's temporary directory, talking
// Raft over real TCP on loopback. Every wait is bounded by a deadline and
// every node is stopped (Run returned) in the test's Cleanup.

const (
	// electionWait bounds how long a cluster may take to elect a leader
	// that serves: a few election timeouts on a busy 2-core machine.
	electionWait = 5 * time.Second
	// convergeWait bounds how long replicas may take to agree after a
	// restart or a snapshot install. Raft's replication backs off up to
	// seconds from a peer that was down, so this is generous.
	convergeWait = 15 * time.Second
	// stopWait bounds Run's return after its context is cancelled.
	stopWait = 20 * time.Second
	// pollEvery is the period of every polling wait.
	pollEvery = 10 * time.Millisecond
	// logLinesMax bounds what one node's log recorder keeps.
	logLinesMax = 10_000
)

// kes is the currency of every test account and transfer.
const kes = 404

// testNode is one node of a test cluster. node is nil while it is stopped.
type testNode struct {
	t    *testing.T
	cfg  Config
	logs *logRecorder

	node    *Node
	stopRun context.CancelFunc
	runDone chan error // nil until run
}

func (tn *testNode) id() string { return tn.cfg.NodeID }

// open opens the node's state without running it.
func (tn *testNode) open() {
	tn.t.Helper()
	if tn.node != nil {
		tn.t.Fatalf("%s: open while it runs", tn.id())
	}
	n, err := Open(tn.cfg)
	if err != nil {
		tn.t.Fatalf("%s: open: %v", tn.id(), err)
	}
	tn.node, tn.runDone = n, nil
}

// run starts Run on an opened node.
func (tn *testNode) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func(n *Node) { done <- n.Run(ctx) }(tn.node)
	tn.stopRun, tn.runDone = cancel, done
}

func (tn *testNode) start() {
	tn.t.Helper()
	tn.open()
	tn.run()
}

// stop cancels Run and waits for it to return: the node has then closed
// its store, log and listener, and its directory may be reopened.
func (tn *testNode) stop() {
	tn.t.Helper()
	if tn.node == nil {
		return
	}
	if tn.runDone == nil { // opened, never run: Run closes it once cancelled
		tn.run()
	}
	tn.stopRun()
	select {
	case err := <-tn.runDone:
		if err != nil {
			tn.t.Errorf("%s: Run returned %v after its context was cancelled", tn.id(), err)
		}
	case <-time.After(stopWait):
		tn.t.Fatalf("%s: Run did not return within %v of its cancel", tn.id(), stopWait)
	}
	tn.node = nil
}

// testCluster is the nodes of one test. Tests use it from their own
// goroutine only.
type testCluster struct {
	t     *testing.T
	root  string // the nodes' directories are in it
	nodes []*testNode
}

// tuneFunc adjusts each node's config before it opens.
type tuneFunc func(*Config)

// startCluster starts size nodes that bootstrap one cluster together.
func startCluster(t *testing.T, size int, tune tuneFunc) *testCluster {
	t.Helper()
	addrs := freeAddrs(t, size)
	peers := make([]Peer, size)
	for i := range peers {
		peers[i] = Peer{ID: "n" + strconv.Itoa(i+1), RaftAddr: addrs[i]}
	}
	// The directory is made before the cleanup that stops the nodes is
	// registered, so it is removed after they stop: a stopping node
	// flushes its store into it.
	c := &testCluster{t: t, root: t.TempDir()}
	t.Cleanup(c.stopAll)
	for _, p := range peers {
		cfg := c.baseConfig(p.ID, p.RaftAddr)
		if size > 1 {
			cfg.Peers = peers
		}
		c.add(cfg, tune).start()
	}
	return c
}

// add registers a node with cfg without starting it.
func (c *testCluster) add(cfg Config, tune tuneFunc) *testNode {
	if tune != nil {
		tune(&cfg)
	}
	logs := &logRecorder{}
	cfg.Logger = slog.New(logs)
	tn := &testNode{t: c.t, cfg: cfg, logs: logs}
	c.nodes = append(c.nodes, tn)
	c.t.Cleanup(func() {
		if c.t.Failed() {
			c.t.Logf("log of %s:\n%s", tn.id(), logs.dump())
		}
	})
	return tn
}

// baseConfig is a node's config before tuning. The leader's periodic
// expiry is off (an hour) unless a test turns it on: with it, the log
// grows every 100 ms, and replicas that agree are a moving target.
func (c *testCluster) baseConfig(id, addr string) Config {
	return Config{
		NodeID:         id,
		Dir:            filepath.Join(c.root, id),
		RaftAddr:       addr,
		ExpireInterval: time.Hour,
	}
}

func (c *testCluster) stopAll() {
	for _, tn := range c.nodes {
		tn.stop()
	}
}

// running lists the nodes that run.
func (c *testCluster) running() []*testNode {
	var out []*testNode
	for _, tn := range c.nodes {
		if tn.node != nil {
			out = append(out, tn)
		}
	}
	return out
}

// waitLeader waits until exactly one running node leads and serves, and
// every running node names it as the leader.
func (c *testCluster) waitLeader() *testNode {
	c.t.Helper()
	var leader *testNode
	waitFor(c.t, electionWait, "one ready leader that every node knows", func() error {
		leader = nil
		var ready []string
		for _, tn := range c.running() {
			if tn.node.IsLeader() {
				leader = tn
				ready = append(ready, tn.id())
			}
		}
		if len(ready) != 1 {
			return fmt.Errorf("ready leaders %v", ready)
		}
		for _, tn := range c.running() {
			if id, addr := tn.node.Leader(); id != leader.id() || addr != leader.node.RaftAddr() {
				return fmt.Errorf("%s names leader %q at %q, want %s at %s", tn.id(), id, addr, leader.id(), leader.node.RaftAddr())
			}
		}
		return nil
	})
	return leader
}

// followers lists the running nodes other than leader.
func (c *testCluster) followers(leader *testNode) []*testNode {
	var out []*testNode
	for _, tn := range c.running() {
		if tn != leader {
			out = append(out, tn)
		}
	}
	return out
}

// waitConverged waits until nodes hold the same digest at the same
// applied index, then runs the store's full Check on each of them.
func waitConverged(t *testing.T, nodes ...*testNode) {
	t.Helper()
	waitFor(t, convergeWait, "replicas to converge", func() error {
		return agree(nodes)
	})
	checkStores(t, nodes...)
}

func agree(nodes []*testNode) error {
	first := nodes[0].node
	digest, index := first.Digest(), first.AppliedIndex()
	for _, tn := range nodes[1:] {
		if d, i := tn.node.Digest(), tn.node.AppliedIndex(); d != digest || i != index {
			return fmt.Errorf("%s has %s at index %d, %s has %s at index %d", nodes[0].id(), digest, index, tn.id(), d, i)
		}
	}
	return nil
}

// checkStores runs store.Check (balances, indexes, digest from disk) on
// each node's store.
func checkStores(t *testing.T, nodes ...*testNode) {
	t.Helper()
	for _, tn := range nodes {
		if err := tn.node.Local(func(s *store.Store) error { return s.Check() }); err != nil {
			t.Errorf("%s: store check: %v", tn.id(), err)
		}
	}
}

// waitFor polls cond until it returns nil, and fails the test with cond's
// last answer when timeout passes first.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s: %v", timeout, what, err)
		}
		time.Sleep(pollEvery)
	}
}

// freeAddrs returns n loopback addresses whose ports were free a moment
// ago, below the kernel's ephemeral range: a node keeps its port across a
// restart, and an ephemeral port could meanwhile become the local end of
// another node's outgoing connection.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	ports, err := clustertest.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	addrs := make([]string, n)
	for i, p := range ports {
		addrs[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	}
	return addrs
}

// logRecorder is a slog.Handler that keeps a node's log lines in memory,
// so that a test can assert that a code path ran and print the log when
// it fails. It keeps at most logLinesMax lines.
type logRecorder struct {
	mu      sync.Mutex
	lines   []logLine
	dropped int
}

type logLine struct {
	msg  string
	text string
}

var _ slog.Handler = (*logRecorder)(nil)

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", rec.Time.Format("15:04:05.000"), rec.Level, rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lines) >= logLinesMax {
		r.dropped++
		return nil
	}
	r.lines = append(r.lines, logLine{msg: rec.Message, text: b.String()})
	return nil
}

// count is how many recorded lines carry exactly the message msg.
func (r *logRecorder) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.lines {
		if l.msg == msg {
			n++
		}
	}
	return n
}

func (r *logRecorder) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, l := range r.lines {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	if r.dropped > 0 {
		fmt.Fprintf(&b, "(%d more lines dropped)\n", r.dropped)
	}
	return b.String()
}

// Commands. Accounts without flags may go negative, so transfers between
// them always post; a capped account refuses any debit beyond its credits.

func id(v uint64) ledger.ID { return ledger.IDFromUint64(v) }

func openAccount(idv uint64) ledger.Command {
	return ledger.Command{Op: ledger.OpCreateAccount, Account: ledger.Account{
		ID: id(idv), Participant: 1, Currency: kes, Kind: ledger.KindPosition,
	}}
}

// cappedAccount may not be debited beyond its posted credits (none).
func cappedAccount(idv uint64) ledger.Command {
	c := openAccount(idv)
	c.Account.Flags = ledger.DebitsMustNotExceedCredits
	return c
}

func transfer(idv, debit, credit uint64, amount ledger.Amount) ledger.Command {
	return ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
		ID: id(idv), DebitAccount: id(debit), CreditAccount: id(credit), Amount: amount, Currency: kes, Code: 1,
	}}
}

// reserve is a pending transfer that expires after timeout seconds.
func reserve(idv, debit, credit uint64, amount ledger.Amount, timeout uint32) ledger.Command {
	c := transfer(idv, debit, credit, amount)
	c.Transfer.Flags, c.Transfer.Timeout = ledger.Pending, timeout
	return c
}

// submitOK submits cmds on n and fails the test unless every command
// succeeded with OK. Call it from the test's goroutine only.
func submitOK(ctx context.Context, t *testing.T, n *Node, cmds ...ledger.Command) []ledger.Result {
	t.Helper()
	results, err := n.Submit(ctx, cmds)
	if err != nil {
		t.Fatalf("submit %d commands on %s: %v", len(cmds), n.ID(), err)
	}
	if err := allOK(cmds, results); err != nil {
		t.Fatalf("submit on %s: %v", n.ID(), err)
	}
	return results
}

func allOK(cmds []ledger.Command, results []ledger.Result) error {
	if len(results) != len(cmds) {
		return fmt.Errorf("%d results for %d commands", len(results), len(cmds))
	}
	for i, r := range results {
		if r.Code != ledger.OK {
			return fmt.Errorf("command %d (%s): %s", i, cmds[i].Op, r.Code)
		}
	}
	return nil
}

// transfers returns count single-phase transfers of amount 1 from debit
// to credit, with IDs from first on.
func transfers(first, count, debit, credit uint64) []ledger.Command {
	out := make([]ledger.Command, count)
	for i := range out {
		out[i] = transfer(first+uint64(i), debit, credit, 1)
	}
	return out
}

// submitEach submits each command as its own entry on n, in order.
func submitEach(ctx context.Context, t *testing.T, n *Node, cmds []ledger.Command) {
	t.Helper()
	for i := range cmds {
		submitOK(ctx, t, n, cmds[i])
	}
}

// notLeader fails the test unless err is a *NotLeaderError that names
// leader by ID and Raft address.
func notLeader(t *testing.T, what string, err error, leader *testNode) {
	t.Helper()
	var nle *NotLeaderError
	if !errors.As(err, &nle) {
		t.Fatalf("%s: got %v, want *NotLeaderError", what, err)
	}
	if nle.Leader != leader.id() || nle.LeaderAddr != leader.node.RaftAddr() {
		t.Fatalf("%s: NotLeaderError names %q at %q, want %s at %s", what, nle.Leader, nle.LeaderAddr, leader.id(), leader.node.RaftAddr())
	}
}

// histogram reads a histogram's sample count and sum from a registry.
func histogram(t *testing.T, reg *prometheus.Registry, name string) (count uint64, sum float64) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			h := f.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	t.Fatalf("no histogram %s in the registry", name)
	return 0, 0
}

// counter reads a counter's value from a registry.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s in the registry", name)
	return 0
}

// testContext is a context that ends after d or with the test.
func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
