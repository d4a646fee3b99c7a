package clustertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures a test cluster. Zero fields take the defaults.
type Options struct {
	// Nodes is the number of voters. Default 3.
	Nodes int
	// HeartbeatTimeout and ElectionTimeout are passed to every node.
	// Default 250 ms each.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// ExtraArgs are appended to every node's serve arguments.
	ExtraArgs []string
	// Binary is the payswitch binary to run. Default: build it once per
	// process (BuildBinary).
	Binary string
}

func (o Options) withDefaults() Options {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.HeartbeatTimeout == 0 {
		o.HeartbeatTimeout = 250 * time.Millisecond
	}
	if o.ElectionTimeout == 0 {
		o.ElectionTimeout = 250 * time.Millisecond
	}
	return o
}

// Node is one member of a test cluster: its identity, addresses and files.
// Its fields do not change across restarts.
type Node struct {
	Index    int
	ID       string
	RaftAddr string
	HTTPAddr string
	// ISO8583Addr is the node's listener for banks (serve --iso8583-addr).
	ISO8583Addr string
	DataDir     string

	stdoutPath, stderrPath string
	args                   []string
	proc                   *process // nil while stopped; guarded by Cluster.mu
}

// Cluster is a set of `payswitch serve` processes on loopback. Its
// methods that take no context fail the test on error, so call them from
// the test's goroutine; the Client may be used from any goroutine.
type Cluster struct {
	tb     T
	bin    string
	nodes  []*Node
	client *Client

	mu sync.Mutex // guards each Node.proc
}

// Start builds the binary (once per process), starts opts.Nodes servers
// and waits until one of them leads and serves. Every child is killed in
// tb's Cleanup, and the children's logs are printed if tb failed.
func Start(tb T, opts Options) *Cluster {
	tb.Helper()
	opts = opts.withDefaults()
	if opts.Nodes < 1 || opts.Nodes > nodesMax {
		tb.Fatalf("clustertest: %d nodes: want 1 to %d", opts.Nodes, nodesMax)
	}
	bin := opts.Binary
	if bin == "" {
		bin = BuildBinary(tb)
	}
	c := &Cluster{tb: tb, bin: bin}
	// Both directories before the Cleanup below, so that their removal runs
	// after it. The logs go to the artifact directory: `go test -artifacts`
	// keeps them.
	dir, logs := tb.TempDir(), tb.ArtifactDir()
	ports, err := freePorts(3 * opts.Nodes)
	if err != nil {
		tb.Fatal(err)
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	adminKey := hex.EncodeToString(key[:])
	var peers, addrs []string
	for i := range opts.Nodes {
		n := &Node{
			Index:       i,
			ID:          "n" + strconv.Itoa(i+1),
			RaftAddr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[3*i])),
			HTTPAddr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[3*i+1])),
			ISO8583Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[3*i+2])),
			DataDir:     filepath.Join(dir, "n"+strconv.Itoa(i+1)),
		}
		n.stdoutPath = filepath.Join(logs, n.ID+".stdout.log")
		n.stderrPath = filepath.Join(logs, n.ID+".stderr.log")
		c.nodes = append(c.nodes, n)
		peers = append(peers, n.ID+"="+n.RaftAddr+"/"+n.HTTPAddr)
		addrs = append(addrs, n.HTTPAddr)
	}
	for _, n := range c.nodes {
		n.args = append([]string{"serve",
			"--data-dir", n.DataDir,
			"--node-id", n.ID,
			"--raft-addr", n.RaftAddr,
			"--http-addr", n.HTTPAddr,
			"--iso8583-addr", n.ISO8583Addr,
			"--peers", strings.Join(peers, ","),
			"--admin-key", adminKey,
			"--heartbeat-timeout", opts.HeartbeatTimeout.String(),
			"--election-timeout", opts.ElectionTimeout.String(),
		}, opts.ExtraArgs...)
	}
	c.client = newClient(adminKey, addrs)
	tb.Cleanup(c.cleanup)
	start := time.Now()
	for _, n := range c.nodes {
		c.spawn(n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), serveLineWaitMax)
	defer cancel()
	for _, n := range c.nodes {
		c.waitServing(ctx, n)
	}
	serving := time.Since(start)
	leader := c.WaitLeader(context.Background())
	tb.Logf("clustertest: %d nodes serving after %v, %s leads after %v (logs in %s)",
		len(c.nodes), serving.Round(time.Millisecond), c.nodes[leader].ID, time.Since(start).Round(time.Millisecond), logs)
	return c
}

// N is the number of nodes.
func (c *Cluster) N() int { return len(c.nodes) }

// Node returns node i (0-based).
func (c *Cluster) Node(i int) *Node { return c.nodes[i] }

// Client returns the cluster's client.
func (c *Cluster) Client() *Client { return c.client }

// Running reports whether node i's process is up (it may not serve yet).
func (c *Cluster) Running(i int) bool {
	c.mu.Lock()
	p := c.nodes[i].proc
	c.mu.Unlock()
	if p == nil {
		return false
	}
	done, _ := p.exited()
	return !done
}

func (c *Cluster) spawn(n *Node) {
	c.tb.Helper()
	p, err := startProcess(c.bin, n.args, n.stdoutPath, n.stderrPath, n.ID)
	if err != nil {
		c.tb.Fatalf("clustertest: start %s: %v", n.ID, err)
	}
	c.mu.Lock()
	n.proc = p
	c.mu.Unlock()
}

func (c *Cluster) waitServing(ctx context.Context, n *Node) {
	c.tb.Helper()
	c.mu.Lock()
	p := n.proc
	c.mu.Unlock()
	if err := p.waitServing(ctx); err != nil {
		c.tb.Fatalf("clustertest: %s (raft %s, http %s): %v", n.ID, n.RaftAddr, n.HTTPAddr, err)
	}
}

// Kill sends SIGKILL to node i and waits until it is gone.
func (c *Cluster) Kill(i int) {
	c.tb.Helper()
	n := c.nodes[i]
	c.mu.Lock()
	p := n.proc
	n.proc = nil
	c.mu.Unlock()
	if p == nil {
		c.tb.Fatalf("clustertest: kill %s: not running", n.ID)
	}
	c.checkAlive(n, p)
	if err := p.kill(); err != nil {
		c.tb.Fatalf("clustertest: kill %s: %v", n.ID, err)
	}
	c.tb.Logf("clustertest: %s SIGKILLed", n.ID)
}

// Restart starts node i again on its data directory and ports, and waits
// for its serving line (not for it to catch up: see WaitConverged).
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	n := c.nodes[i]
	if c.Running(i) {
		c.tb.Fatalf("clustertest: restart %s: still running", n.ID)
	}
	c.spawn(n)
	ctx, cancel := context.WithTimeout(context.Background(), serveLineWaitMax)
	defer cancel()
	c.waitServing(ctx, n)
	c.tb.Logf("clustertest: %s restarted", n.ID)
}

// Wipe deletes node i's data directory. The node must be stopped.
func (c *Cluster) Wipe(i int) {
	c.tb.Helper()
	n := c.nodes[i]
	if c.Running(i) {
		c.tb.Fatalf("clustertest: wipe %s: still running", n.ID)
	}
	if err := os.RemoveAll(n.DataDir); err != nil {
		c.tb.Fatalf("clustertest: wipe %s: %v", n.ID, err)
	}
	c.tb.Logf("clustertest: %s data directory wiped", n.ID)
}

// Leader makes one pass over the running nodes and returns the index of
// one that serves as leader, or an error.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	var errs []error
	for i := range c.nodes {
		if !c.Running(i) {
			continue
		}
		ok, err := c.client.ServesAsLeader(ctx, i)
		if ok {
			c.client.hint.Store(int64(i))
			return i, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", c.nodes[i].ID, err))
	}
	return -1, fmt.Errorf("clustertest: no node serves as leader: %w", errors.Join(errs...))
}

// WaitLeader polls until a running node serves as leader, bounded by ctx
// and by leaderWaitMax, and returns its index.
func (c *Cluster) WaitLeader(ctx context.Context) int {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(ctx, leaderWaitMax)
	defer cancel()
	for {
		i, err := c.Leader(ctx)
		if err == nil {
			return i
		}
		select {
		case <-ctx.Done():
			c.tb.Fatalf("clustertest: no leader within %v: %v", leaderWaitMax, err)
		case <-time.After(pollInterval):
		}
	}
}

// States reads every running node's local state; a node that does not
// answer gets a zero State and its error.
func (c *Cluster) States(ctx context.Context) ([]State, []error) {
	states := make([]State, len(c.nodes))
	errs := make([]error, len(c.nodes))
	for i := range c.nodes {
		if !c.Running(i) {
			errs[i] = errors.New("not running")
			continue
		}
		states[i], errs[i] = c.client.State(ctx, i)
	}
	return states, errs
}

// WaitConverged polls until every node runs and reports the same applied
// index and digest, bounded by ctx and convergeWaitMax, and returns the
// states it saw agree.
func (c *Cluster) WaitConverged(ctx context.Context) []State {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(ctx, convergeWaitMax)
	defer cancel()
	for {
		states, errs := c.States(ctx)
		if agree(states, errs) {
			return states
		}
		select {
		case <-ctx.Done():
			c.tb.Fatalf("clustertest: nodes did not converge within %v: states %+v, errors %v", convergeWaitMax, states, errs)
		case <-time.After(pollInterval):
		}
	}
}

func agree(states []State, errs []error) bool {
	for i, s := range states {
		if errs[i] != nil || s.Digest == "" || s.Digest != states[0].Digest || s.AppliedIndex != states[0].AppliedIndex {
			return false
		}
	}
	return true
}

// checkAlive fails the test when a node the harness did not kill has
// exited: a server that dies on its own is a bug (a panic, a failed disk
// write), whatever else the test saw.
func (c *Cluster) checkAlive(n *Node, p *process) {
	if done, err := p.exited(); done {
		c.tb.Errorf("clustertest: %s exited on its own: %v (see %s)", n.ID, err, filepath.Base(n.stderrPath))
	}
}

// cleanup kills every child and, when the test failed, prints the tail of
// each node's logs.
func (c *Cluster) cleanup() {
	c.mu.Lock()
	var procs []*process
	for _, n := range c.nodes {
		if n.proc != nil {
			c.checkAlive(n, n.proc)
			procs = append(procs, n.proc)
			n.proc = nil
		}
	}
	c.mu.Unlock()
	for _, p := range procs {
		if err := p.kill(); err != nil {
			c.tb.Errorf("clustertest: cleanup: %v", err)
		}
	}
	if !c.tb.Failed() {
		return
	}
	for _, n := range c.nodes {
		for _, path := range []string{n.stderrPath, n.stdoutPath} {
			c.tb.Logf("clustertest: ---- %s ----\n%s", filepath.Base(path), tail(path, logTailBytesMax))
		}
	}
}

// tail returns up to limit bytes from the end of the file.
func tail(path string, limit int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := max(0, info.Size()-limit)
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return err.Error()
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return err.Error()
	}
	if off > 0 {
		return fmt.Sprintf("[... %d bytes before]\n%s", off, b)
	}
	return string(b)
}
