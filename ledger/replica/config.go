package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/payswitch/payswitch/ledger"
)

// Peer is one voter of the initial cluster.
type Peer struct {
	ID       string
	RaftAddr string
}

// Config configures a node. Zero fields take the documented defaults.
type Config struct {
	// NodeID names this node in the cluster. Default "node1".
	NodeID string
	// Dir holds the node's state: ledger/ (Pebble), raft/ (the log),
	// snapshots/. Required.
	Dir string
	// RaftAddr is the TCP address Raft listens on and advertises. Default
	// 127.0.0.1:7001. Port 0 picks a free port (see Node.RaftAddr).
	RaftAddr string
	// Peers is the initial voter set, this node included. When the node has
	// no Raft state yet, it bootstraps the cluster with these voters; every
	// initial voter may be given the same list. Empty: a one-node cluster
	// of this node alone. A node that is to join an existing cluster later
	// (through AddVoter on the leader) sets Join instead.
	Peers []Peer
	// Join starts the node without bootstrapping: it waits to be added.
	Join bool

	// HeartbeatTimeout and ElectionTimeout: how long a follower waits for
	// its leader before it campaigns. Default 250 ms each: on loopback or a
	// LAN a leader's death is noticed in a few hundred milliseconds (raft's
	// own 1 s defaults give failovers above 2 s).
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration

	// BatchCommandsMax bounds the commands in one log entry, and so in one
	// Submit. Default 4096.
	BatchCommandsMax int
	// BatchCommandsTarget is where the proposer stops gathering callers'
	// commands into an entry and seals it; one caller's commands are never
	// split, so an entry exceeds the target when one Submit does. Default
	// 1024: an entry's results wake that many waiting callers at once, and
	// its apply holds up the next entry's. At 4096, under a backlog, both
	// grew long enough to starve the state machine of CPU and deepen the
	// backlog (bench e2e at 30,000 payments/s, bench/RESULTS.md).
	BatchCommandsTarget int
	// BatchLinger is how long the proposer waits for more commands after
	// the first before sealing an entry that is not full. Default 200 µs.
	BatchLinger time.Duration
	// EntriesInflightMax bounds the entries proposed but not yet applied.
	// Default 8: enough to keep the log, the network and apply all busy.
	EntriesInflightMax int
	// QueueMax bounds the commands waiting for the proposer; beyond it
	// Submit fails at once with ErrOverloaded. Default 65,536.
	QueueMax int
	// ApplyTimeout bounds every wait on a Raft future. Default 5 s.
	ApplyTimeout time.Duration
	// ExpireInterval is how often the leader proposes the ledger's expire
	// command. Default 100 ms.
	ExpireInterval time.Duration

	// SnapshotThreshold is the number of log entries after which a snapshot
	// is taken and the log truncated. Default 1024 entries (up to about
	// 4 million transfers).
	SnapshotThreshold uint64
	// SnapshotInterval is how often the threshold is checked. Default 30 s.
	SnapshotInterval time.Duration

	// Store passes options through to the ledger store; Dir and NoWAL are
	// set by the node.
	StoreCacheAccounts int

	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.NodeID == "" {
		c.NodeID = "node1"
	}
	if c.RaftAddr == "" {
		c.RaftAddr = "127.0.0.1:7001"
	}
	set(&c.HeartbeatTimeout, 250*time.Millisecond)
	set(&c.ElectionTimeout, 250*time.Millisecond)
	set(&c.BatchLinger, 200*time.Microsecond)
	set(&c.ApplyTimeout, 5*time.Second)
	set(&c.ExpireInterval, 100*time.Millisecond)
	set(&c.SnapshotInterval, 30*time.Second)
	if c.BatchCommandsMax == 0 {
		c.BatchCommandsMax = 4096
	}
	if c.BatchCommandsTarget == 0 {
		c.BatchCommandsTarget = min(1024, c.BatchCommandsMax)
	}
	if c.EntriesInflightMax == 0 {
		c.EntriesInflightMax = 8
	}
	if c.QueueMax == 0 {
		c.QueueMax = 65536
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 1024
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("Dir is required"))
	}
	if _, _, err := net.SplitHostPort(c.RaftAddr); err != nil {
		errs = append(errs, fmt.Errorf("RaftAddr %q: %w", c.RaftAddr, err))
	}
	if c.BatchCommandsMax < 1 || c.BatchCommandsMax > ledger.BatchCommandsMax {
		errs = append(errs, fmt.Errorf("BatchCommandsMax %d: want 1 to %d", c.BatchCommandsMax, ledger.BatchCommandsMax))
	}
	if c.BatchCommandsTarget < 1 || c.BatchCommandsTarget > c.BatchCommandsMax {
		errs = append(errs, fmt.Errorf("BatchCommandsTarget %d: want 1 to BatchCommandsMax (%d)", c.BatchCommandsTarget, c.BatchCommandsMax))
	}
	if c.QueueMax < c.BatchCommandsMax {
		errs = append(errs, fmt.Errorf("QueueMax %d is below BatchCommandsMax %d", c.QueueMax, c.BatchCommandsMax))
	}
	if c.EntriesInflightMax < 1 || c.EntriesInflightMax > 64 {
		errs = append(errs, fmt.Errorf("EntriesInflightMax %d: want 1 to 64", c.EntriesInflightMax))
	}
	if c.HeartbeatTimeout < 20*time.Millisecond || c.ElectionTimeout < 20*time.Millisecond {
		errs = append(errs, fmt.Errorf("heartbeat %v and election %v timeouts: want at least 20ms", c.HeartbeatTimeout, c.ElectionTimeout))
	}
	seen := map[string]bool{}
	self := len(c.Peers) == 0
	for _, p := range c.Peers {
		if p.ID == "" || seen[p.ID] {
			errs = append(errs, fmt.Errorf("peer %+v: empty or repeated ID", p))
		}
		seen[p.ID] = true
		if _, _, err := net.SplitHostPort(p.RaftAddr); err != nil {
			errs = append(errs, fmt.Errorf("peer %s address %q: %w", p.ID, p.RaftAddr, err))
		}
		self = self || p.ID == c.NodeID
	}
	if !self {
		errs = append(errs, fmt.Errorf("Peers do not include this node %q", c.NodeID))
	}
	if c.Join && len(c.Peers) > 0 {
		errs = append(errs, errors.New("Join and Peers exclude each other: a joining node is added by the leader"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	return nil
}
