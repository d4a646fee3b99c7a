package admin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/payswitch/payswitch/ledger/replica"
)

// testCluster is three nodes in this process, each with its admin API on
// its own HTTP listener: n1 bootstraps, n2 and n3 start with Join and are
// added through the API.
type testCluster struct {
	nodes   []*replica.Node
	clients []*client
	http    map[string]string // node ID -> HTTP address
}

func startCluster(t *testing.T) *testCluster {
	t.Helper()
	tc := &testCluster{http: map[string]string{}}
	var servers []*httptest.Server
	for i := range 3 {
		id := fmt.Sprintf("n%d", i+1)
		tc.nodes = append(tc.nodes, startNode(t, id, i > 0))
		// Unstarted: the listener has its address, which every server's
		// HTTPAddrs must hold before the first request.
		ts := httptest.NewUnstartedServer(nil)
		t.Cleanup(ts.Close)
		servers = append(servers, ts)
		tc.http[id] = ts.Listener.Addr().String()
	}
	for i, ts := range servers {
		srv, err := New(Config{Cluster: tc.nodes[i], AdminKey: testKey, HTTPAddrs: tc.http,
			Metrics: tc.nodes[i].Registry(), Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		ts.Config.Handler = srv
		ts.Start()
		tc.clients = append(tc.clients, &client{t: t, base: ts.URL, key: testKey})
	}
	waitFor(t, "n1 to lead", tc.nodes[0].IsLeader)
	return tc
}

// TestFollowerRefusal builds a three-node cluster through the API, then
// checks that followers refuse leader-only requests with the leader's
// addresses, serve the any-node ones, and converge on the leader's state.
func TestFollowerRefusal(t *testing.T) {
	t.Parallel()
	tc := startCluster(t)
	leader, follower := tc.clients[0], tc.clients[1]
	n1Raft := tc.nodes[0].RaftAddr()

	// A joining node knows no leader yet: not_leader without addresses.
	a := follower.do("POST", "/admin/cluster/voters", fmt.Sprintf(`{"id":"n3","raft_addr":%q}`, tc.nodes[2].RaftAddr()))
	if p := a.problem(t); p.Code != CodeNotLeader || p.LeaderID != "" {
		t.Fatalf("add-voter on a joining node: %+v", p)
	}
	for _, i := range []int{1, 2} {
		var servers ServersView
		leader.ok("POST", "/admin/cluster/voters", fmt.Sprintf(`{"id":"n%d","raft_addr":%q}`, i+1, tc.nodes[i].RaftAddr()), &servers)
		if len(servers.Servers) != i+1 || servers.Servers[i].HTTPAddr != tc.http[fmt.Sprintf("n%d", i+1)] {
			t.Fatalf("servers after adding n%d: %+v", i+1, servers)
		}
	}
	for _, n := range tc.nodes[1:] {
		waitFor(t, n.ID()+" to follow n1", func() bool { id, _ := n.Leader(); return id == "n1" })
	}
	leader.submit(commands(cmdHub, cmdBankA, transferCmd(`"id":"1","debit_account":"1","credit_account":"1001","amount":"50","currency":"KES"`)))

	for _, req := range []struct{ method, path, body string }{
		{"POST", "/admin/ledger/commands", commands(cmdBankB)},
		{"GET", "/admin/ledger/accounts/1001", ""},
		{"GET", "/admin/ledger/transfers/1", ""},
		{"GET", "/admin/ledger/accounts/1001/transfers", ""},
		{"POST", "/admin/cluster/voters", `{"id":"n4","raft_addr":"127.0.0.1:1"}`},
		{"DELETE", "/admin/cluster/voters/n3", ""},
	} {
		for _, c := range tc.clients[1:] {
			a := c.do(req.method, req.path, req.body)
			p := a.problem(t)
			if p.Code != CodeNotLeader || p.LeaderID != "n1" || p.LeaderRaftAddr != n1Raft || p.LeaderHTTPAddr != tc.http["n1"] {
				t.Errorf("%s %s on a follower: %+v, want not_leader naming n1 at %s and %s", req.method, req.path, p, n1Raft, tc.http["n1"])
			}
			if a.header.Get("Retry-After") == "" {
				t.Errorf("%s %s: not_leader without Retry-After", req.method, req.path)
			}
		}
	}

	// n1 and n3 commit n3's joining without n2, so n2 may learn of n3
	// a moment later.
	var view ClusterView
	waitFor(t, "n2 to see three servers", func() bool {
		follower.ok("GET", "/admin/cluster", "", &view)
		return len(view.Servers) == 3
	})
	if view.Node.ID != "n2" || view.Node.State != "follower" || view.Node.LeaderID != "n1" ||
		view.Node.LeaderHTTPAddr != tc.http["n1"] || len(view.Servers) != 3 {
		t.Errorf("cluster seen from n2: %+v", view)
	}

	// Every replica reaches the leader's records; the index may differ by
	// the expire entries the leader keeps proposing.
	var want StateView
	leader.ok("GET", "/admin/ledger/state", "", &want)
	for _, c := range tc.clients[1:] {
		waitFor(t, "a follower to reach the leader's digest", func() bool {
			var got StateView
			c.ok("GET", "/admin/ledger/state", "", &got)
			return got.Digest == want.Digest && got.Records == want.Records
		})
		waitFor(t, "a follower to be ready", func() bool { return c.doAuth("GET", "/readyz", "", "").status == http.StatusOK })
	}

	var snap SnapshotView
	follower.ok("POST", "/admin/cluster/snapshot", "", &snap)
	if snap.Node != "n2" {
		t.Errorf("snapshot answered by %+v", snap)
	}

	var after ServersView
	leader.ok("DELETE", "/admin/cluster/voters/n3", "", &after)
	ids := []string{}
	for _, s := range after.Servers {
		ids = append(ids, s.ID)
	}
	if !slices.Equal(ids, []string{"n1", "n2"}) {
		t.Errorf("servers after removing n3: %v", ids)
	}
	if p := leader.do("DELETE", "/admin/cluster/voters/n3", "").problem(t); p.Code != CodeServerNotFound {
		t.Errorf("removing n3 twice: %+v", p)
	}
}
