package replica

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
)

// TestElection: three nodes that bootstrap together elect exactly one
// leader that serves, and the followers refuse writes with an error that
// tells the client where the leader is.
func TestElection(t *testing.T) {
	c := startCluster(t, 3, nil)
	start := time.Now()
	leader := c.waitLeader()
	t.Logf("%s leads and serves %v after the nodes started", leader.id(), time.Since(start))
	ctx := testContext(t, 10*time.Second)

	for _, tn := range c.running() {
		st := tn.node.Status()
		isLeader := tn == leader
		wantState := "Follower"
		if isLeader {
			wantState = "Leader"
		}
		if st.ID != tn.id() || st.State != wantState || st.Ready != isLeader || st.Leader != leader.id() ||
			st.LeaderAddr != leader.node.RaftAddr() || st.Term == 0 {
			t.Errorf("%s status %+v, want state %s, ready %v, leader %s at %s, a term",
				tn.id(), st, wantState, isLeader, leader.id(), leader.node.RaftAddr())
		}
	}
	for _, f := range c.followers(leader) {
		if f.node.IsLeader() {
			t.Fatalf("%s and %s both report that they lead", f.id(), leader.id())
		}
		_, err := f.node.Submit(ctx, []ledger.Command{openAccount(1)})
		notLeader(t, f.id()+": Submit", err, leader)
	}

	servers, err := leader.node.Servers(ctx)
	if err != nil {
		t.Fatalf("servers: %v", err)
	}
	want := make([]Peer, 0, len(c.nodes))
	for _, tn := range c.nodes {
		want = append(want, Peer{ID: tn.id(), RaftAddr: tn.cfg.RaftAddr})
	}
	samePeers(t, "leader's configuration", servers, want)

	// The leader serves.
	submitOK(ctx, t, leader.node, openAccount(1))
	if _, found, err := leader.node.Account(ctx, id(1)); err != nil || !found {
		t.Fatalf("account 1 on the leader: found %v, err %v", found, err)
	}
}

// TestReadBarrier: ReadBarrier, Account and Transfer are linearizable on
// the leader, even right after its election, and refused on followers.
func TestReadBarrier(t *testing.T) {
	// Expiry is off (baseConfig), so nothing is proposed on its own: right
	// after the election the newest committed entries are the new term's
	// no-op and the leader's barrier, which never reach the FSM.
	c := startCluster(t, 3, nil)
	leader := c.waitLeader()
	fresh, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	start := time.Now()
	err := leader.node.ReadBarrier(fresh)
	cancel()
	if err != nil {
		t.Fatalf("ReadBarrier on a fresh leader with an idle log: %v after %v", err, time.Since(start))
	}

	ctx := testContext(t, 30*time.Second)
	submitOK(ctx, t, leader.node, openAccount(1), openAccount(2))

	// Every read that starts after a write was acknowledged sees it, and
	// reads never go back in time.
	const writes = 200
	var acked atomic.Uint64
	writerDone := make(chan error, 1)
	go func() {
		for i := range uint64(writes) {
			cmds := []ledger.Command{transfer(100+i, 1, 2, 1)}
			results, err := leader.node.Submit(ctx, cmds)
			if err == nil {
				err = allOK(cmds, results)
			}
			if err != nil {
				writerDone <- err
				return
			}
			acked.Store(i + 1)
		}
		writerDone <- nil
	}()
	reads, last := 0, ledger.Amount(0)
	for writing := true; writing; {
		select {
		case err := <-writerDone:
			if err != nil {
				t.Fatalf("writer: %v", err)
			}
			writing = false
		default:
		}
		before := ledger.Amount(acked.Load())
		a, found, err := leader.node.Account(ctx, id(2))
		if err != nil || !found {
			t.Fatalf("read %d of account 2: found %v, err %v", reads, found, err)
		}
		if a.CreditsPosted < before {
			t.Fatalf("read %d saw %d posted credits after %d transfers were acknowledged", reads, a.CreditsPosted, before)
		}
		if a.CreditsPosted < last {
			t.Fatalf("read %d saw %d posted credits after an earlier read saw %d", reads, a.CreditsPosted, last)
		}
		last = a.CreditsPosted
		reads++
	}
	if last != writes {
		t.Fatalf("last read saw %d posted credits, want %d", last, writes)
	}
	t.Logf("%d linearizable reads beside %d writes", reads, writes)

	tr, found, err := leader.node.Transfer(ctx, id(100+writes-1))
	if err != nil || !found || tr.Status != ledger.StatusPosted || tr.Amount != 1 {
		t.Fatalf("last transfer: %+v, found %v, err %v", tr, found, err)
	}
	if _, found, err := leader.node.Transfer(ctx, id(1)); err != nil || found {
		t.Fatalf("transfer 1 was never submitted: found %v, err %v", found, err)
	}

	for _, f := range c.followers(leader) {
		notLeader(t, f.id()+": ReadBarrier", f.node.ReadBarrier(ctx), leader)
		_, _, err := f.node.Account(ctx, id(2))
		notLeader(t, f.id()+": Account", err, leader)
		_, _, err = f.node.Transfer(ctx, id(100))
		notLeader(t, f.id()+": Transfer", err, leader)
	}
	waitConverged(t, c.nodes...)
}

// TestMembership: a fourth node joins through AddVoter and catches up, a
// follower is removed, the configuration follows each change, and the
// cluster serves throughout.
func TestMembership(t *testing.T) {
	c := startCluster(t, 3, nil)
	leader := c.waitLeader()
	original := c.followers(leader)
	ctx := testContext(t, 40*time.Second)
	submitOK(ctx, t, leader.node, openAccount(1), openAccount(2))
	submitEach(ctx, t, leader.node, transfers(100, 20, 1, 2))

	// Port 0: the joiner is never restarted, and its address is learnt
	// from the node, as an operator would read it before AddVoter.
	joinerCfg := c.baseConfig("n4", "127.0.0.1:0")
	joinerCfg.Join = true
	joiner := c.add(joinerCfg, nil)
	joiner.start()
	joiner.cfg.RaftAddr = joiner.node.RaftAddr()
	if host, port, err := net.SplitHostPort(joiner.cfg.RaftAddr); err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("a node opened on 127.0.0.1:0 reports Raft address %q", joiner.cfg.RaftAddr)
	}
	// It waits to be added: it neither leads nor knows a configuration.
	if joiner.node.IsLeader() {
		t.Fatalf("a joining node leads before it was added")
	}
	notLeader(t, original[0].id()+": AddVoter", original[0].node.AddVoter(ctx, joiner.id(), joiner.cfg.RaftAddr), leader)

	if err := leader.node.AddVoter(ctx, joiner.id(), joiner.cfg.RaftAddr); err != nil {
		t.Fatalf("add %s: %v", joiner.id(), err)
	}
	four := []Peer{}
	for _, tn := range c.nodes {
		four = append(four, Peer{ID: tn.id(), RaftAddr: tn.cfg.RaftAddr})
	}
	servers, err := leader.node.Servers(ctx)
	if err != nil {
		t.Fatalf("servers: %v", err)
	}
	samePeers(t, "configuration after AddVoter", servers, four)
	submitEach(ctx, t, leader.node, transfers(200, 10, 1, 2))
	waitConverged(t, c.nodes...)
	waitFor(t, convergeWait, "the joiner to learn the configuration", func() error {
		servers, err := joiner.node.Servers(ctx)
		if err != nil {
			return err
		}
		return diffPeers(servers, four)
	})

	removed := original[0]
	if err := leader.node.RemoveServer(ctx, removed.id()); err != nil {
		t.Fatalf("remove %s: %v", removed.id(), err)
	}
	three := slices.DeleteFunc(slices.Clone(four), func(p Peer) bool { return p.ID == removed.id() })
	servers, err = leader.node.Servers(ctx)
	if err != nil {
		t.Fatalf("servers: %v", err)
	}
	samePeers(t, "configuration after RemoveServer", servers, three)
	removed.stop()
	for _, tn := range []*testNode{original[1], joiner} {
		waitFor(t, convergeWait, tn.id()+" to learn of the removal", func() error {
			servers, err := tn.node.Servers(ctx)
			if err != nil {
				return err
			}
			return diffPeers(servers, three)
		})
	}

	submitEach(ctx, t, leader.node, transfers(300, 10, 1, 2))
	waitConverged(t, leader, original[1], joiner)
	var credits ledger.Amount
	err = joiner.node.Local(func(s *store.Store) error {
		a, _, err := s.Account(id(2))
		credits = a.CreditsPosted
		return err
	})
	if err != nil || credits != 40 {
		t.Fatalf("account 2 on the joiner: %d posted credits (err %v), want 40", credits, err)
	}
}

// samePeers fails the test unless got and want hold the same peers.
func samePeers(t *testing.T, what string, got, want []Peer) {
	t.Helper()
	if err := diffPeers(got, want); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func diffPeers(got, want []Peer) error {
	key := func(ps []Peer) string {
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = p.ID + "@" + p.RaftAddr
		}
		slices.Sort(s)
		return strings.Join(s, " ")
	}
	if key(got) != key(want) {
		return fmt.Errorf("servers [%s], want [%s]", key(got), key(want))
	}
	return nil
}
