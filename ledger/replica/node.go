package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
	"github.com/payswitch/payswitch/routing"
	"github.com/prometheus/client_golang/prometheus"
)

// Node is one member of a replicated ledger cluster. Open it, then Run it;
// Submit and the reads work while Run runs. All methods are safe for
// concurrent use.
type Node struct {
	cfg       Config
	raft      *raft.Raft
	fsm       *fsm
	wal       *raftwal.WAL
	walFS     *lazyDeleteFS
	transport *raft.NetworkTransport
	metrics   *metrics

	proposer atomic.Pointer[proposer] // set while this node leads and is ready
	ready    atomic.Bool              // leader with a committed barrier of its own term

	appliedMu sync.Mutex
	appliedCh chan struct{} // closed and replaced after every applied entry

	runOnce sync.Once
	stopped chan struct{}

	// openedIndex and openedDigest are the store's state when Open had
	// recovered it and before Raft started: Raft replicates to a follower
	// from then on, so AppliedIndex may already be past it when Open
	// returns.
	openedIndex  uint64
	openedDigest ledger.Digest
}

// Open opens the node's state in cfg.Dir, bootstrapping a new cluster when
// the node has no Raft state and cfg.Join is not set, and starts Raft.
func Open(cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, sub := range []string{"raft", "snapshots"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	n := &Node{cfg: cfg, appliedCh: make(chan struct{}), stopped: make(chan struct{})}
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft." + cfg.NodeID, Level: hclog.Warn, Output: os.Stderr})
	var err error
	n.fsm, err = openFSM(store.Options{Dir: filepath.Join(cfg.Dir, "ledger"), NoWAL: true,
		Logger: cfg.Logger, AccountCacheMax: cfg.StoreCacheAccounts}, cfg.Logger)
	if err != nil {
		return nil, err
	}
	n.fsm.onApply = func(uint64) { n.notifyApplied() }
	closeAll := func() {
		if n.transport != nil {
			_ = n.transport.Close()
		}
		if n.wal != nil {
			_ = n.wal.Close()
			n.walFS.wait()
		}
		_ = n.fsm.close()
	}
	if n.wal, n.walFS, err = openLog(filepath.Join(cfg.Dir, "raft"), cfg.Logger, 0); err != nil {
		closeAll()
		return nil, fmt.Errorf("replica: open raft log: %w", err)
	}
	files, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(cfg.Dir, "snapshots"), 2, hlog)
	if err != nil {
		closeAll()
		return nil, err
	}
	snaps, err := newCheckpointSnapshots(files, filepath.Join(cfg.Dir, "checkpoints"), cfg.Logger)
	if err != nil {
		closeAll()
		return nil, err
	}
	n.fsm.snapshots = snaps
	if n.transport, err = raft.NewTCPTransportWithLogger(cfg.RaftAddr, nil, 3, 10*time.Second, hlog); err != nil {
		closeAll()
		return nil, fmt.Errorf("replica: listen on %s: %w", cfg.RaftAddr, err)
	}
	if err := n.catchUpFromSnapshot(snaps); err != nil {
		closeAll()
		return nil, err
	}
	rc := n.raftConfig(hlog)
	has, err := raft.HasExistingState(n.wal, n.wal, snaps)
	if err != nil {
		closeAll()
		return nil, err
	}
	if !has && !cfg.Join {
		if err := raft.BootstrapCluster(rc, n.wal, n.wal, snaps, n.transport, n.bootstrapConfiguration()); err != nil {
			closeAll()
			return nil, fmt.Errorf("replica: bootstrap: %w", err)
		}
	}
	n.openedIndex, n.openedDigest = n.AppliedIndex(), n.Digest()
	if n.raft, err = raft.NewRaft(rc, n.fsm, compactedLog{n.wal}, n.wal, snaps, n.transport); err != nil {
		closeAll()
		return nil, err
	}
	n.metrics = newMetrics(cfg.NodeID, func() *raft.Raft { return n.raft }, n.fsm.applied.Load)
	n.metrics.registry.MustRegister(pacingCollectors(cfg.NodeID, n.fsm)...)
	cfg.Logger.Info("replica open", "node", cfg.NodeID, "raft_addr", n.RaftAddr(), "applied_index", n.fsm.applied.Load(),
		"bootstrapped", !has && !cfg.Join)
	return n, nil
}

func (n *Node) raftConfig(hlog hclog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.NodeID)
	rc.Logger = hlog
	rc.HeartbeatTimeout = n.cfg.HeartbeatTimeout
	rc.ElectionTimeout = n.cfg.ElectionTimeout
	// A leader steps down when a quorum has not answered for this long. A
	// follower applying a large entry or a GC pause on a busy machine must
	// not cost a term, so the lease is as long as the heartbeat timeout.
	rc.LeaderLeaseTimeout = n.cfg.HeartbeatTimeout
	rc.CommitTimeout = 5 * time.Millisecond
	// Entries hold up to thousands of commands: a few per AppendEntries
	// keep each RPC near a megabyte.
	rc.MaxAppendEntries = 8
	rc.BatchApplyCh = true
	rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	rc.SnapshotInterval = n.cfg.SnapshotInterval
	rc.TrailingLogs = n.cfg.SnapshotThreshold
	// The ledger store is durable on its own (synced before every snapshot)
	// and skips entries it already holds, so a restart needs no restore:
	// catchUpFromSnapshot covers a store that is behind the snapshots.
	rc.NoSnapshotRestoreOnStart = true
	return rc
}

func (n *Node) bootstrapConfiguration() raft.Configuration {
	if len(n.cfg.Peers) == 0 {
		return raft.Configuration{Servers: []raft.Server{{ID: raft.ServerID(n.cfg.NodeID), Address: n.transport.LocalAddr()}}}
	}
	var c raft.Configuration
	for _, p := range n.cfg.Peers {
		addr := raft.ServerAddress(p.RaftAddr)
		if p.ID == n.cfg.NodeID {
			addr = n.transport.LocalAddr()
		}
		c.Servers = append(c.Servers, raft.Server{ID: raft.ServerID(p.ID), Address: addr})
	}
	return c
}

// catchUpFromSnapshot restores the newest local snapshot into the store
// when the store is behind it (its directory was lost or replaced): Raft
// will only replay the log after the snapshot's index.
func (n *Node) catchUpFromSnapshot(snaps raft.SnapshotStore) error {
	list, err := snaps.List()
	if err != nil || len(list) == 0 {
		return err
	}
	newest := list[0]
	if newest.Index <= n.fsm.applied.Load() || !n.commandsBetween(n.fsm.applied.Load(), newest.Index) {
		return nil
	}
	_, rc, err := snaps.Open(newest.ID)
	if err != nil {
		return err
	}
	n.cfg.Logger.Warn("ledger store is behind the newest snapshot; restoring it", "store_index", n.fsm.applied.Load(), "snapshot_index", newest.Index)
	return n.fsm.Restore(rc)
}

// commandsBetween reports whether the log holds a command after index from
// up to index to. The store's index moves only with commands, so a
// snapshot taken just after the no-op and barrier of a new term is ahead
// of a store that holds all of it; restoring it would rewrite the whole
// ledger for nothing. Any entry it cannot read, or a long run without a
// command, counts as a command: restoring is always correct.
func (n *Node) commandsBetween(from, to uint64) bool {
	for index := from + 1; index <= to; index++ {
		var l raft.Log
		if index > from+16 || n.wal.GetLog(index, &l) != nil || l.Type == raft.LogCommand {
			return true
		}
	}
	return false
}

// RaftAddr is the address Raft listens on (useful with port 0).
func (n *Node) RaftAddr() string { return string(n.transport.LocalAddr()) }

// ID is the node's ID.
func (n *Node) ID() string { return n.cfg.NodeID }

// Registry holds the node's Prometheus metrics.
func (n *Node) Registry() *prometheus.Registry { return n.metrics.registry }

func (n *Node) notifyApplied() {
	n.appliedMu.Lock()
	close(n.appliedCh)
	n.appliedCh = make(chan struct{})
	n.appliedMu.Unlock()
}

// Run serves until ctx ends, then shuts Raft down and closes the node's
// state. It returns once everything has stopped.
func (n *Node) Run(ctx context.Context) error {
	err := ErrStopped
	n.runOnce.Do(func() {
		err = n.run(ctx)
	})
	return err
}

func (n *Node) run(ctx context.Context) error {
	defer close(n.stopped)
	var term context.CancelFunc = func() {}
	var termDone chan struct{}
	endTerm := func() {
		n.ready.Store(false)
		n.proposer.Store(nil)
		term()
		if termDone != nil {
			<-termDone
			termDone = nil
		}
	}
	leaderCh := n.raft.LeaderCh()
	for {
		select {
		case <-ctx.Done():
			endTerm()
			return n.shutdown()
		case isLeader := <-leaderCh:
			endTerm()
			if !isLeader {
				n.cfg.Logger.Info("lost leadership", "node", n.cfg.NodeID)
				continue
			}
			termCtx, cancel := context.WithCancel(ctx)
			term = cancel
			termDone = make(chan struct{})
			go func(done chan struct{}) {
				defer close(done)
				n.lead(termCtx)
			}(termDone)
		}
	}
}

// lead runs for one leadership term: it commits a barrier (so that every
// entry of earlier terms is applied before this node serves), then runs
// the proposer and proposes expiry periodically.
func (n *Node) lead(ctx context.Context) {
	start := time.Now()
	if err := n.waitFuture(ctx, n.raft.Barrier(n.cfg.ApplyTimeout)); err != nil {
		n.cfg.Logger.Warn("leader barrier failed", "node", n.cfg.NodeID, "err", err)
		return
	}
	p := newProposer(n.cfg, n.raft, n.metrics)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.run(ctx) }()
	go func() { defer wg.Done(); n.expireLoop(ctx, p) }()
	n.proposer.Store(p)
	n.ready.Store(true)
	n.cfg.Logger.Info("leading", "node", n.cfg.NodeID, "ready_after", time.Since(start))
	wg.Wait()
}

// expireLoop proposes the ledger's expire command every ExpireInterval when
// the leader's own expiry index shows a deadline that has passed, and again
// at once while one command could not void everything due. An idle
// cluster's log therefore stays still.
func (n *Node) expireLoop(ctx context.Context, p *proposer) {
	ticker := time.NewTicker(n.cfg.ExpireInterval)
	defer ticker.Stop()
	expire := []ledger.Command{{Op: ledger.OpExpire}}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if !n.expiryDue() {
			continue
		}
		for round := 0; round < 16; round++ { // bounded: the next tick goes on
			results, err := p.submit(ctx, expire)
			if err != nil || !results[0].More {
				break
			}
		}
	}
}

// expiryDue reports whether a pending transfer's deadline has passed by
// the leader's clock. On a read error it says yes: an expire with nothing
// due is harmless.
func (n *Node) expiryDue() bool {
	var deadline uint64
	var found bool
	err := n.fsm.withStore(func(s *store.Store) (err error) {
		deadline, found, err = s.NextDeadline()
		return err
	})
	return err != nil || (found && deadline <= uint64(time.Now().UnixNano()))
}

// Submit proposes commands and returns their results in order, once they
// are committed and applied. On a follower it returns *NotLeaderError.
// ErrOverloaded and ErrUnknownOutcome are the other errors; after
// ErrUnknownOutcome retry with the same IDs.
func (n *Node) Submit(ctx context.Context, cmds []ledger.Command) ([]ledger.Result, error) {
	p := n.proposer.Load()
	if p == nil {
		return nil, n.notLeader()
	}
	return p.submit(ctx, cmds)
}

// SubmitOne is Submit for one command, without allocating: the switch's
// hot path proposes its payments one command at a time.
func (n *Node) SubmitOne(ctx context.Context, cmd ledger.Command) (ledger.Result, error) {
	p := n.proposer.Load()
	if p == nil {
		return ledger.Result{}, n.notLeader()
	}
	return p.submitOne(ctx, cmd)
}

// SubmitAsync is SubmitOne without waiting: then gets the result (or the
// error, as SubmitOne would return it) exactly once, on one of the
// proposer's goroutines, or on the caller's at once when the command is
// refused before it is queued (not the leader, overloaded, malformed).
// then must not block: the other commands of its log entry get their
// results after it. A caller that must wait (a ledger read, another
// proposal) starts a goroutine from then.
//
// It spares the switch a parked goroutine per payment: a log entry's
// results go to hundreds of callers at once, and waking hundreds of
// goroutines together queued the Raft loop and the network loops behind
// them.
func (n *Node) SubmitAsync(cmd ledger.Command, then func(ledger.Result, error)) {
	p := n.proposer.Load()
	if p == nil {
		then(ledger.Result{}, n.notLeader())
		return
	}
	p.submitAsync(cmd, then)
}

// SubmitRouting proposes routing commands (directory, mapper, mandates) as
// one log entry and returns their results in order. Only the leader
// accepts them. Routing commands are rare next to transfers, so they skip
// the ledger's batching and go to Raft directly; the leader's clock stamps
// the entry.
func (n *Node) SubmitRouting(ctx context.Context, cmds []routing.Command) ([]routing.Result, error) {
	if len(cmds) == 0 || len(cmds) > routing.EntryCommandsMax {
		return nil, fmt.Errorf("replica: %d routing commands; want 1 to %d", len(cmds), routing.EntryCommandsMax)
	}
	if !n.ready.Load() {
		return nil, n.notLeader()
	}
	data := routing.AppendEntry(nil, uint64(time.Now().UnixNano()), cmds)
	future := n.raft.Apply(data, n.cfg.ApplyTimeout)
	if err := n.waitFuture(ctx, future); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return nil, fmt.Errorf("%w: %w", ErrUnknownOutcome, n.notLeader())
		}
		return nil, fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
	}
	resp, ok := future.Response().(*entryResponse)
	if !ok || resp.err != nil || len(resp.routing) != len(cmds) {
		return nil, fmt.Errorf("%w: entry response %v", ErrUnknownOutcome, future.Response())
	}
	return resp.routing, nil
}

// Routing returns the node's routing tables as applied locally. The
// pointer stays valid for the node's life (a snapshot install reloads the
// tables in place). Reads through it are not linearizable; call
// ReadBarrier first when that matters.
func (n *Node) Routing() *routing.State { return n.fsm.routing }

func (n *Node) notLeader() error {
	addr, id := n.raft.LeaderWithID()
	if string(id) == n.cfg.NodeID {
		// Elected, but the barrier of this term is not applied yet.
		return &NotLeaderError{}
	}
	return &NotLeaderError{Leader: string(id), LeaderAddr: string(addr)}
}

// IsLeader reports whether this node leads and serves.
func (n *Node) IsLeader() bool { return n.ready.Load() }

// Leader returns the ID and Raft address of the current leader, if known.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// ReadBarrier makes the reads that follow linearizable: it confirms this
// node still leads (a round of heartbeats to a quorum) and waits until
// everything committed before the call is applied locally.
func (n *Node) ReadBarrier(ctx context.Context) error {
	if !n.ready.Load() {
		return n.notLeader()
	}
	commit := n.raft.CommitIndex()
	if err := n.waitFuture(ctx, n.raft.VerifyLeader()); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return n.notLeader()
		}
		return err
	}
	if n.fsm.applied.Load() < commit {
		// No-ops and barriers (every new term starts with both) never reach
		// the FSM, so the applied index stops below them until the next
		// command, which an idle cluster may never send: wait for the newest
		// entry at or below commit that the FSM applies instead.
		target, ok := n.lastFSMEntry(commit)
		if !ok {
			err := n.waitFuture(ctx, n.raft.Barrier(n.cfg.ApplyTimeout))
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
				return n.notLeader()
			}
			return err // the barrier returns once everything before it is applied
		}
		commit = target
	}
	return n.WaitApplied(ctx, commit)
}

// lastFSMEntry finds the newest log entry at or below index that the FSM
// applies (a command or a configuration), looking back over a few no-ops
// and barriers. ok is false when it cannot tell.
func (n *Node) lastFSMEntry(index uint64) (uint64, bool) {
	for back := 0; back < 16 && index > 0; back, index = back+1, index-1 {
		var l raft.Log
		if err := n.wal.GetLog(index, &l); err != nil {
			return 0, false
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return index, true
		}
	}
	return 0, index == 0
}

// WaitApplied waits until the local ledger has applied index.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	for {
		n.appliedMu.Lock()
		ch := n.appliedCh
		n.appliedMu.Unlock()
		if n.fsm.applied.Load() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.stopped:
			return ErrStopped
		}
	}
}

// Account reads an account linearizably (on the leader).
func (n *Node) Account(ctx context.Context, id ledger.ID) (a ledger.Account, found bool, err error) {
	if err := n.ReadBarrier(ctx); err != nil {
		return a, false, err
	}
	err = n.fsm.withStore(func(s *store.Store) error {
		a, found, err = s.Account(id)
		return err
	})
	return a, found, err
}

// Transfer reads a transfer linearizably (on the leader).
func (n *Node) Transfer(ctx context.Context, id ledger.ID) (t ledger.Transfer, found bool, err error) {
	if err := n.ReadBarrier(ctx); err != nil {
		return t, false, err
	}
	err = n.fsm.withStore(func(s *store.Store) error {
		t, found, err = s.Transfer(id)
		return err
	})
	return t, found, err
}

// Local runs fn against this node's store as it stands, without any
// linearizability: for followers' metrics, checks and stale-tolerant reads.
func (n *Node) Local(fn func(*store.Store) error) error { return n.fsm.withStore(fn) }

// AppliedIndex is the last log index applied locally.
func (n *Node) AppliedIndex() uint64 { return n.fsm.applied.Load() }

// Digest is the local ledger's state digest.
func (n *Node) Digest() (d ledger.Digest) {
	_ = n.fsm.withStore(func(s *store.Store) error { d = s.Digest(); return nil })
	return d
}

// Status summarises the node for health checks and the CLI.
type Status struct {
	ID, State, Leader, LeaderAddr   string
	Term, CommitIndex, AppliedIndex uint64
	Ready                           bool
}

// Status reports the node's Raft state.
func (n *Node) Status() Status {
	leaderAddr, leader := n.raft.LeaderWithID()
	var term uint64
	fmt.Sscan(n.raft.Stats()["term"], &term)
	return Status{ID: n.cfg.NodeID, State: n.raft.State().String(), Leader: string(leader), LeaderAddr: string(leaderAddr),
		Term: term, CommitIndex: n.raft.CommitIndex(), AppliedIndex: n.fsm.applied.Load(), Ready: n.ready.Load()}
}

// AddVoter adds a node to the cluster (leader only).
func (n *Node) AddVoter(ctx context.Context, id, raftAddr string) error {
	if !n.ready.Load() {
		return n.notLeader()
	}
	return n.raftError(n.waitFuture(ctx, n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, n.cfg.ApplyTimeout)))
}

// raftError turns raft's own errors into this package's, so that callers
// need not import raft: not the leader, or leadership lost while the
// change was committing (its outcome is then unknown).
func (n *Node) raftError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		return n.notLeader()
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
	case errors.Is(err, raft.ErrNothingNewToSnapshot):
		return ErrNothingToSnapshot
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrStopped
	}
	return err
}

// RemoveServer removes a node from the cluster (leader only).
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	if !n.ready.Load() {
		return n.notLeader()
	}
	return n.raftError(n.waitFuture(ctx, n.raft.RemoveServer(raft.ServerID(id), 0, n.cfg.ApplyTimeout)))
}

// Servers lists the cluster's configuration.
func (n *Node) Servers(ctx context.Context) ([]Peer, error) {
	f := n.raft.GetConfiguration()
	if err := n.waitFuture(ctx, f); err != nil {
		return nil, err
	}
	var out []Peer
	for _, s := range f.Configuration().Servers {
		out = append(out, Peer{ID: string(s.ID), RaftAddr: string(s.Address)})
	}
	return out, nil
}

// Snapshot asks Raft for a snapshot now (tests and operators).
func (n *Node) Snapshot(ctx context.Context) error {
	return n.raftError(n.waitFuture(ctx, n.raft.Snapshot()))
}

// waitFuture waits on a Raft future under the context and ApplyTimeout:
// a future may never be answered while Raft shuts down.
func (n *Node) waitFuture(ctx context.Context, f raft.Future) error {
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	timer := time.NewTimer(n.cfg.ApplyTimeout + time.Second)
	defer timer.Stop()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("%w: raft did not answer within %v", ErrUnknownOutcome, n.cfg.ApplyTimeout)
	}
}

func (n *Node) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := n.waitFuture(ctx, n.raft.Shutdown())
	errs := []error{err, n.transport.Close(), n.wal.Close(), n.fsm.close()}
	n.walFS.wait()
	n.cfg.Logger.Info("replica stopped", "node", n.cfg.NodeID)
	return errors.Join(errs...)
}

var _ io.Closer = (*raftwal.WAL)(nil)
