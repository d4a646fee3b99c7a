package replica

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
)

// Log messages that show which way a node recovered.
const (
	msgRestored       = "restored ledger from snapshot"
	msgBehindSnapshot = "ledger store is behind the newest snapshot; restoring it"
)

// failoverMax is how soon a new leader must serve after the old one stops.
const failoverMax = 3 * time.Second

// TestLeaderFailover: when the leader stops, another node leads and serves
// within failoverMax; the old leader, restarted from its directory, keeps
// what its store held (the log is replayed over it and skipped by index,
// no snapshot restored) and converges with the others.
func TestLeaderFailover(t *testing.T) {
	c := startCluster(t, 3, nil)
	old := c.waitLeader()
	ctx := testContext(t, 45*time.Second)
	submitOK(ctx, t, old.node, openAccount(1), openAccount(2))
	submitEach(ctx, t, old.node, transfers(100, 30, 1, 2))
	waitConverged(t, c.nodes...)
	stoppedIndex, stoppedDigest := old.node.AppliedIndex(), old.node.Digest()

	start := time.Now()
	old.stop()
	leader := waitServing(t, c, transfer(200, 1, 2, 1))
	t.Logf("%s served %v after %s stopped", leader.id(), time.Since(start), old.id())
	submitEach(ctx, t, leader.node, transfers(300, 30, 1, 2))

	old.open()
	// What the store held when Open recovered it: the leader may already
	// be replicating to the reopened node, which Open starts as a follower.
	if got, digest := old.node.openedIndex, old.node.openedDigest; got != stoppedIndex || digest != stoppedDigest {
		t.Fatalf("%s reopened at index %d with %s, want %d with %s as it stopped", old.id(), got, digest, stoppedIndex, stoppedDigest)
	}
	old.run()
	waitConverged(t, c.nodes...)
	if n := old.logs.count(msgRestored) + old.logs.count(msgBehindSnapshot); n != 0 {
		t.Fatalf("%s restored a snapshot (%d log lines); it should have replayed the log", old.id(), n)
	}
	var tr ledger.Transfer
	err := old.node.Local(func(s *store.Store) (err error) {
		tr, _, err = s.Transfer(id(329))
		return err
	})
	if err != nil || tr.Status != ledger.StatusPosted {
		t.Fatalf("%s lacks a transfer posted while it was down: %+v, err %v", old.id(), tr, err)
	}

	leader = c.waitLeader()
	submitOK(ctx, t, leader.node, transfer(400, 1, 2, 1))
	waitConverged(t, c.nodes...)
}

// waitServing waits up to failoverMax for a running node that leads and
// posts cmd. A retry after an unknown outcome may answer exists.
func waitServing(t *testing.T, c *testCluster, cmd ledger.Command) *testNode {
	t.Helper()
	var serving *testNode
	waitFor(t, failoverMax, "a new leader that serves", func() error {
		for _, tn := range c.running() {
			if !tn.node.IsLeader() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			results, err := tn.node.Submit(ctx, []ledger.Command{cmd})
			cancel()
			if err != nil {
				return fmt.Errorf("%s: %w", tn.id(), err)
			}
			if !results[0].Code.Succeeded() {
				t.Fatalf("%s: transfer %s answered %s", tn.id(), cmd.Transfer.ID, results[0].Code)
			}
			serving = tn
			return nil
		}
		return errors.New("no running node leads")
	})
	return serving
}

// TestSnapshotInstall: after the leader's log is compacted behind a
// snapshot, a follower whose directory is wiped restarts with the same ID
// and address, receives the snapshot, restores its ledger from it and
// converges.
func TestSnapshotInstall(t *testing.T) {
	const trailing = 16 // SnapshotThreshold, and the entries kept behind a snapshot
	c := startCluster(t, 3, func(cfg *Config) { cfg.SnapshotThreshold = trailing })
	leader := c.waitLeader()
	ctx := testContext(t, 45*time.Second)
	submitOK(ctx, t, leader.node, openAccount(1), openAccount(2))
	submitEach(ctx, t, leader.node, transfers(100, 60, 1, 2))
	waitConverged(t, c.nodes...)
	for _, tn := range c.nodes {
		if err := tn.node.Snapshot(ctx); err != nil {
			t.Fatalf("%s: snapshot: %v", tn.id(), err)
		}
	}
	first, err := leader.node.wal.FirstIndex()
	if err != nil || first <= 1 {
		t.Fatalf("the leader's log starts at %d (err %v) after a snapshot: not compacted", first, err)
	}

	victim := c.followers(leader)[0]
	victim.stop()
	if err := os.RemoveAll(victim.cfg.Dir); err != nil {
		t.Fatal(err)
	}
	submitEach(ctx, t, leader.node, transfers(200, 20, 1, 2))
	victim.start() // same ID, address and peers, nothing on disk
	waitFor(t, convergeWait, victim.id()+" to restore the leader's snapshot", func() error {
		if victim.logs.count(msgRestored) == 0 {
			return errors.New("no snapshot restored yet")
		}
		return nil
	})
	// New entries after the install, so that every replica's applied index
	// ends on the same command.
	submitEach(ctx, t, leader.node, transfers(300, 5, 1, 2))
	waitConverged(t, c.nodes...)

	vfirst, err := victim.node.wal.FirstIndex()
	if err != nil || vfirst < first {
		t.Fatalf("%s's log starts at %d (err %v), want past the leader's compacted start %d: it should never have seen the early entries",
			victim.id(), vfirst, err, first)
	}
	snaps, err := os.ReadDir(filepath.Join(victim.cfg.Dir, "snapshots"))
	if err != nil || len(snaps) == 0 {
		t.Fatalf("%s keeps no snapshot (%v): it did not install one", victim.id(), err)
	}
	for _, idv := range []uint64{100, 219, 304} { // before the snapshot, while away, after
		var tr ledger.Transfer
		err := victim.node.Local(func(s *store.Store) (err error) {
			tr, _, err = s.Transfer(id(idv))
			return err
		})
		if err != nil || tr.Status != ledger.StatusPosted {
			t.Fatalf("%s: transfer %d is %+v (err %v), want posted", victim.id(), idv, tr, err)
		}
	}
}

// TestExpiryIsReplicated: a pending transfer expires on every node through
// the leader's periodic expire command, leaving identical state; one that
// is not yet due stays pending.
func TestExpiryIsReplicated(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.ExpireInterval = 100 * time.Millisecond })
	leader := c.waitLeader()
	ctx := testContext(t, 20*time.Second)
	submitOK(ctx, t, leader.node, openAccount(1), openAccount(2))
	results := submitOK(ctx, t, leader.node, reserve(10, 1, 2, 7, 1), reserve(11, 1, 2, 5, 3600))
	reserved := results[0].Timestamp

	// It stays pending until its deadline, one second after the leader
	// stamped it (the leader's clock is this process's clock).
	for checks := 0; checks == 0 || uint64(time.Now().UnixNano()) < reserved+8e8; checks++ {
		tr, found, err := leader.node.Transfer(ctx, id(10))
		if err != nil || !found || tr.Status != ledger.StatusPending {
			t.Fatalf("transfer 10, %v after it was reserved: %+v, found %v, err %v",
				time.Duration(uint64(time.Now().UnixNano())-reserved), tr, found, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitFor(t, 5*time.Second, "transfer 10 to expire on every node", func() error {
		for _, tn := range c.nodes {
			tr, err := localTransfer(tn, 10)
			if err != nil {
				return err
			}
			if tr.Status != ledger.StatusExpired {
				return fmt.Errorf("%s: transfer 10 is %s", tn.id(), tr.Status)
			}
		}
		return nil
	})
	waitConverged(t, c.nodes...)
	for _, tn := range c.nodes {
		var debit, credit ledger.Account
		err := tn.node.Local(func(s *store.Store) error {
			var err1, err2 error
			debit, _, err1 = s.Account(id(1))
			credit, _, err2 = s.Account(id(2))
			return errors.Join(err1, err2)
		})
		if err != nil || debit.DebitsPending != 5 || debit.DebitsPosted != 0 || credit.CreditsPending != 5 || credit.CreditsPosted != 0 {
			t.Fatalf("%s: accounts %+v and %+v (err %v), want only transfer 11's 5 pending", tn.id(), debit, credit, err)
		}
		long, err := localTransfer(tn, 11)
		if err != nil || long.Status != ledger.StatusPending {
			t.Fatalf("%s: transfer 11, due in an hour, is %s (err %v)", tn.id(), long.Status, err)
		}
	}
}

func localTransfer(tn *testNode, idv uint64) (ledger.Transfer, error) {
	var tr ledger.Transfer
	var found bool
	err := tn.node.Local(func(s *store.Store) (err error) {
		tr, found, err = s.Transfer(id(idv))
		return err
	})
	if err == nil && !found {
		err = fmt.Errorf("%s: transfer %d not found", tn.id(), idv)
	}
	return tr, err
}

// TestRestartWithLocalSnapshot: a node restarted over its own directory
// restores its newest local snapshot into the store only when the store
// lacks commands the snapshot holds. A snapshot taken while the log ends
// with the new term's no-op and barrier is ahead of the store by index
// only, and restoring it would copy the whole ledger for nothing; a store
// that was lost is rebuilt from the snapshot.
func TestRestartWithLocalSnapshot(t *testing.T) {
	c := startCluster(t, 1, nil)
	tn := c.nodes[0]
	c.waitLeader()
	ctx := testContext(t, 30*time.Second)
	submitOK(ctx, t, tn.node, openAccount(1), openAccount(2))
	submitEach(ctx, t, tn.node, transfers(100, 10, 1, 2))

	// A new term: its no-op and barrier are the newest entries.
	tn.stop()
	tn.start()
	c.waitLeader()
	if err := tn.node.Snapshot(ctx); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	applied, digest := tn.node.AppliedIndex(), tn.node.Digest()
	var snapshotIndex uint64
	fmt.Sscan(tn.node.raft.Stats()["last_snapshot_index"], &snapshotIndex)
	if snapshotIndex <= applied {
		t.Fatalf("snapshot at index %d, store at %d: the test needs a snapshot ahead of the store by index", snapshotIndex, applied)
	}
	tn.stop()
	tn.open()
	if n := tn.logs.count(msgBehindSnapshot); n != 0 {
		t.Fatalf("restored a snapshot at index %d over a store at %d that already held all of it", snapshotIndex, applied)
	}
	if got, d := tn.node.openedIndex, tn.node.openedDigest; got != applied || d != digest {
		t.Fatalf("reopened at index %d with %s, want %d with %s", got, d, applied, digest)
	}
	tn.run()
	c.waitLeader()
	submitOK(ctx, t, tn.node, transfer(200, 1, 2, 1))
	applied, digest = tn.node.AppliedIndex(), tn.node.Digest()

	// The store is lost; the log and the snapshot are not.
	tn.stop()
	if err := os.RemoveAll(filepath.Join(tn.cfg.Dir, "ledger")); err != nil {
		t.Fatal(err)
	}
	tn.start()
	if n := tn.logs.count(msgBehindSnapshot); n != 1 {
		t.Fatalf("%d restores of the local snapshot into an empty store, want 1", n)
	}
	c.waitLeader()
	waitFor(t, convergeWait, "the log to replay past the snapshot", func() error {
		if got, d := tn.node.AppliedIndex(), tn.node.Digest(); got != applied || d != digest {
			return fmt.Errorf("index %d with %s, want %d with %s", got, d, applied, digest)
		}
		return nil
	})
	checkStores(t, tn)
	submitOK(ctx, t, tn.node, transfer(201, 1, 2, 1))
}
