package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestFollowerWipedRejoinsBySnapshot compacts the leader's log with a
// snapshot, kills a follower, deletes its data directory and restarts it:
// the follower can only catch up through the leader's snapshot, and must
// end with the same digest as the others.
func TestFollowerWipedRejoinsBySnapshot(t *testing.T) {
	// A snapshot keeps as many trailing log entries as the threshold; the
	// log must be longer than that for the snapshot to cut its beginning.
	threshold := uint64(1024) // the node's default
	var extra []string
	if ServeSupports(t, "--snapshot-threshold", "64") {
		threshold = 64
		extra = []string{"--snapshot-threshold", strconv.FormatUint(threshold, 10)}
	}
	c := Start(t, Options{Nodes: 3, ExtraArgs: extra})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	b := newBook(3)
	funded := b.setup(ctx, t, c.Client(), 1_000_000_00)
	plan := loadPlan{clients: 2, opsMax: 50, duration: time.Minute, amountMax: 5_000, hugePercent: 10,
		idBase: 3_000_000_000, seed: uint64(time.Now().UnixNano())}

	outcomes := fillLog(ctx, t, c, b, &plan, threshold+150)
	// Every node compacts its log, so that whichever leads when the
	// follower comes back must send it a snapshot.
	for i := range c.N() {
		if err := c.Client().Snapshot(ctx, i); err != nil {
			t.Fatalf("snapshot on %s: %v", c.Node(i).ID, err)
		}
	}
	follower := (c.WaitLeader(ctx) + 1) % c.N()
	c.Kill(follower)
	c.Wipe(follower)
	// The cluster goes on without it: the follower will need the snapshot
	// and the log after it.
	outcomes = append(outcomes, fillLog(ctx, t, c, b, &plan, 0)...)
	c.Restart(follower)
	outcomes = append(outcomes, fillLog(ctx, t, c, b, &plan, 0)...)
	states := c.WaitConverged(ctx)
	t.Logf("converged: applied index %s, digest %s on all %d nodes", states[0].AppliedIndex, states[0].Digest, c.N())

	installed, err := snapshotMetas(c.Node(follower).DataDir)
	if err != nil || len(installed) == 0 {
		t.Fatalf("the wiped follower %s holds no snapshot (%v): it caught up by replaying the log, which the snapshots should have compacted", c.Node(follower).ID, err)
	}
	var taken []snapshotMeta
	for i := range c.N() {
		if i != follower {
			metas, err := snapshotMetas(c.Node(i).DataDir)
			if err != nil {
				t.Fatal(err)
			}
			taken = append(taken, metas...)
		}
	}
	if !shareSnapshot(installed, taken) {
		t.Errorf("the follower's snapshots %+v are none of the others' %+v", installed, taken)
	}
	t.Logf("follower %s installed a snapshot at index %d", c.Node(follower).ID, installed[0].Index)
	verifyLedger(ctx, t, c.Client(), b, funded, outcomes)
}

// fillLog drives transfers until the leader has applied at least
// minApplied log entries, or for one round of the plan when minApplied is
// 0. Each operation of a client is about one log entry.
func fillLog(ctx context.Context, t *testing.T, c *Cluster, b book, plan *loadPlan, minApplied uint64) []outcome {
	t.Helper()
	var outcomes []outcome
	for round := 0; ; round++ {
		if round == 100 {
			t.Fatalf("the leader's log did not reach %d entries in %d rounds", minApplied, round)
		}
		outcomes = append(outcomes, b.drive(ctx, c.Client(), *plan, time.Now())...)
		plan.idBase += uint64(plan.clients) * 1_000_000
		s, err := c.Client().State(ctx, c.WaitLeader(ctx))
		if err != nil {
			t.Fatalf("state of the leader: %v", err)
		}
		if s.Applied() >= minApplied {
			return outcomes
		}
	}
}

// snapshotMeta is the part of hashicorp/raft's file snapshot metadata the
// test compares.
type snapshotMeta struct {
	ID    string
	Index uint64
	Term  uint64
}

// snapshotMetas reads the metadata of every snapshot under a node's data
// directory (the replica keeps them in a "snapshots" directory).
func snapshotMetas(dataDir string) ([]snapshotMeta, error) {
	var metas []snapshotMeta
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "meta.json" ||
			filepath.Base(filepath.Dir(filepath.Dir(path))) != "snapshots" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var m snapshotMeta
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		metas = append(metas, m)
		return nil
	})
	return metas, err
}

func shareSnapshot(a, b []snapshotMeta) bool {
	for _, x := range a {
		for _, y := range b {
			if x.Index == y.Index && x.Term == y.Term {
				return true
			}
		}
	}
	return false
}
