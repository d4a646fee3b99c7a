package admin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/payswitch/payswitch/ledger/replica"
)

// NodeStatus is one node's view of the cluster, as GET /admin/cluster
// answers it under "node". Indexes and the term are strings like every
// number that may exceed 2^53.
type NodeStatus struct {
	ID             string `json:"id"`
	HTTPAddr       string `json:"http_addr,omitempty"`
	State          string `json:"state"` // leader, follower, candidate, shutdown
	Ready          bool   `json:"ready"` // a leader that serves writes and linearizable reads
	LeaderID       string `json:"leader_id"`
	LeaderRaftAddr string `json:"leader_raft_addr"`
	LeaderHTTPAddr string `json:"leader_http_addr"`
	Term           string `json:"term"`
	CommitIndex    string `json:"commit_index"`
	AppliedIndex   string `json:"applied_index"`
}

// ServerView is one voter of the cluster's configuration. HTTPAddr is
// known for the nodes in the server's HTTPAddrs map.
type ServerView struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr,omitempty"`
}

// ClusterView is the answer of GET /admin/cluster.
type ClusterView struct {
	Node    NodeStatus   `json:"node"`
	Servers []ServerView `json:"servers"`
}

// ServersView answers a membership change with the configuration after it.
type ServersView struct {
	Servers []ServerView `json:"servers"`
}

// voterBody is the body of POST /admin/cluster/voters.
type voterBody struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
}

func (s *Server) nodeStatus() NodeStatus {
	st := s.cfg.Cluster.Status()
	return NodeStatus{
		ID:             st.ID,
		HTTPAddr:       s.cfg.HTTPAddrs[st.ID],
		State:          strings.ToLower(st.State),
		Ready:          st.Ready,
		LeaderID:       st.Leader,
		LeaderRaftAddr: st.LeaderAddr,
		LeaderHTTPAddr: s.cfg.HTTPAddrs[st.Leader],
		Term:           strconv.FormatUint(st.Term, 10),
		CommitIndex:    strconv.FormatUint(st.CommitIndex, 10),
		AppliedIndex:   strconv.FormatUint(st.AppliedIndex, 10),
	}
}

func (s *Server) servers(ctx context.Context) ([]ServerView, error) {
	peers, err := s.cfg.Cluster.Servers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ServerView, len(peers))
	for i, p := range peers {
		out[i] = ServerView{ID: p.ID, RaftAddr: p.RaftAddr, HTTPAddr: s.cfg.HTTPAddrs[p.ID]}
	}
	return out, nil
}

// getCluster answers on any node: its own status and the configuration it
// holds.
func (s *Server) getCluster(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	servers, err := s.servers(ctx)
	if err != nil {
		writeProblem(w, s.problemFor(err, false))
		return
	}
	writeJSON(w, http.StatusOK, ClusterView{Node: s.nodeStatus(), Servers: servers})
}

// postVoter adds a voter and answers once the new configuration is
// committed. Adding a voter that is already one, at the same address,
// changes nothing and succeeds, so the request may be retried.
func (s *Server) postVoter(w http.ResponseWriter, r *http.Request) {
	var v voterBody
	if !readJSON(w, r, &v) {
		return
	}
	if p := v.validate(); p != nil {
		writeProblem(w, p)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	if p := s.checkReachable(ctx, v.RaftAddr); p != nil {
		writeProblem(w, p)
		return
	}
	if err := s.cfg.Cluster.AddVoter(ctx, v.ID, v.RaftAddr); err != nil {
		writeProblem(w, s.membershipProblem(err))
		return
	}
	s.cfg.Logger.Info("admin: voter added", "id", v.ID, "raft_addr", v.RaftAddr)
	s.answerServers(ctx, w)
}

// checkReachable refuses a voter whose Raft address does not accept a
// connection. Raft counts a new voter in the quorum at once, with no
// catch-up stage: adding one that is not running (a typo in the address,
// a node not yet started with --join) can leave the cluster without a
// quorum, and a one-node cluster then cannot even remove it again. A
// follower skips the check and answers not_leader from AddVoter.
func (s *Server) checkReachable(ctx context.Context, raftAddr string) *Problem {
	if !s.cfg.Cluster.Status().Ready {
		return nil
	}
	dialer := net.Dialer{Timeout: voterDialTimeout}
	conn, err := dialer.DialContext(ctx, "tcp", raftAddr)
	if err != nil {
		return newProblem(CodeVoterUnreachable, "raft_addr %s does not answer (%s); start the node with --join first: "+
			"a voter that cannot be reached may cost the cluster its quorum", quote(raftAddr), dialFailure(err))
	}
	_ = conn.Close()
	return nil
}

// dialFailure says why a dial failed without the dialer's text, which
// repeats the address (the client's, of any length) in full.
func dialFailure(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return "no such host"
	case errors.As(err, &dnsErr):
		return "the host name does not resolve"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, context.DeadlineExceeded), os.IsTimeout(err):
		return "timed out"
	}
	return "the connection failed"
}

func (v *voterBody) validate() *Problem {
	if v.ID == "" || len(v.ID) > 64 || strings.ContainsAny(v.ID, " \t\r\n/") {
		return newProblem(CodeInvalidRequest, "id %s: want 1 to 64 characters without spaces or slashes", quote(v.ID))
	}
	host, port, err := net.SplitHostPort(v.RaftAddr)
	if err != nil || host == "" || port == "" || port == "0" || len(v.RaftAddr) > raftAddrLenMax {
		return newProblem(CodeInvalidRequest, "raft_addr %s: want host:port of the node's Raft listener", quote(v.RaftAddr))
	}
	return nil
}

// deleteVoter removes a server and answers once the configuration without
// it is committed. A leader may remove itself; it steps down afterwards.
func (s *Server) deleteVoter(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	// Only the leader's configuration is authoritative: a follower's may
	// not list a voter that was just added, so it answers not_leader
	// before it judges membership.
	if st := s.cfg.Cluster.Status(); !st.Ready {
		if st.Leader == st.ID {
			writeProblem(w, s.notLeader("", ""))
		} else {
			writeProblem(w, s.notLeader(st.Leader, st.LeaderAddr))
		}
		return
	}
	servers, err := s.servers(ctx)
	if err != nil {
		writeProblem(w, s.problemFor(err, false))
		return
	}
	member := false
	for _, sv := range servers {
		member = member || sv.ID == id
	}
	if !member {
		writeProblem(w, newProblem(CodeServerNotFound, "no server %s in the configuration", quote(id)))
		return
	}
	if err := s.cfg.Cluster.RemoveServer(ctx, id); err != nil {
		writeProblem(w, s.membershipProblem(err))
		return
	}
	s.cfg.Logger.Info("admin: server removed", "id", id)
	s.answerServers(ctx, w)
}

func (s *Server) answerServers(ctx context.Context, w http.ResponseWriter) {
	servers, err := s.servers(ctx)
	if err != nil {
		writeProblem(w, s.problemFor(err, false))
		return
	}
	writeJSON(w, http.StatusOK, ServersView{Servers: servers})
}

// membershipProblem maps a failed configuration change. Raft's own
// refusals (a change already in progress, leadership lost while
// committing) reach here as plain errors; their text is the useful part
// for the operator.
func (s *Server) membershipProblem(err error) *Problem {
	var notLeader *replica.NotLeaderError
	switch {
	case errors.As(err, &notLeader), errors.Is(err, replica.ErrStopped):
		return s.problemFor(err, true)
	case errors.Is(err, replica.ErrUnknownOutcome), errors.Is(err, context.DeadlineExceeded):
		return newProblem(CodeOutcomeUnknown, "the configuration change was proposed but its outcome is unknown; read GET /admin/cluster, then retry")
	}
	s.cfg.Logger.Warn("admin: configuration change failed", "err", err)
	return newProblem(CodeMembershipFailed, "%v", err)
}

// SnapshotView answers POST /admin/cluster/snapshot.
type SnapshotView struct {
	Node         string `json:"node"`
	AppliedIndex string `json:"applied_index"`
}

// postSnapshot takes a snapshot on this node, leader or follower, and
// answers once it is persisted (the log before it may then be truncated).
func (s *Server) postSnapshot(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	if err := s.cfg.Cluster.Snapshot(ctx); err != nil && !errors.Is(err, replica.ErrNothingToSnapshot) {
		// Nothing new since the last snapshot is success: one holds this state.
		s.cfg.Logger.Warn("admin: snapshot failed", "err", err)
		writeProblem(w, newProblem(CodeSnapshotFailed, "%v", err))
		return
	}
	st := s.cfg.Cluster.Status()
	writeJSON(w, http.StatusOK, SnapshotView{Node: st.ID, AppliedIndex: strconv.FormatUint(st.AppliedIndex, 10)})
}
