package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/ledger/store"
)

const testKey = "test-admin-key-0123456789"

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startNode opens a replica on a fresh directory with a free Raft port and
// runs it until the test ends.
func startNode(t *testing.T, id string, join bool) *replica.Node {
	t.Helper()
	n, err := replica.Open(replica.Config{
		NodeID: id, Dir: t.TempDir(), RaftAddr: "127.0.0.1:0", Join: join, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatalf("open node %s: %v", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node %s stopped with %v", id, err)
		}
	})
	return n
}

// waitFor polls cond until it holds, for at most 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startLeader runs a one-node cluster and serves its admin API.
func startLeader(t *testing.T) (*replica.Node, *client) {
	t.Helper()
	n := startNode(t, "n1", false)
	waitFor(t, "n1 to lead", n.IsLeader)
	return n, serve(t, Config{Cluster: n, Routing: n, Metrics: n.Registry()})
}

// serve starts an httptest server around New(cfg), with the test key and
// a quiet logger unless cfg says otherwise.
func serve(t *testing.T, cfg Config) *client {
	t.Helper()
	if cfg.AdminKey == "" {
		cfg.AdminKey = testKey
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &client{t: t, base: ts.URL, key: cfg.AdminKey}
}

// client speaks to one server under test.
type client struct {
	t    *testing.T
	base string
	key  string
}

// noRedirects shows a test the server's own answer: a redirect is not
// followed.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with the client's key (auth "" sends none; any other
// value is the whole Authorization header).
func (c *client) do(method, path, body string) answer {
	return c.doAuth(method, path, body, "Bearer "+c.key)
}

func (c *client) doAuth(method, path, body, auth string) answer {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: data}
}

// ok sends a request that must answer 200 and decodes its JSON into out.
func (c *client) ok(method, path, body string, out any) {
	c.t.Helper()
	a := c.do(method, path, body)
	if a.status != http.StatusOK {
		c.t.Fatalf("%s %s: status %d, want 200: %s", method, path, a.status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" && !strings.HasPrefix(path, "/metrics") {
		c.t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(a.body, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, a.body)
		}
	}
}

// submit posts commands and returns the result codes.
func (c *client) submit(body string) []ResultView {
	c.t.Helper()
	var out struct{ Results []ResultView }
	c.ok("POST", "/admin/ledger/commands", body, &out)
	return out.Results
}

// problem decodes a problem answer and checks its envelope.
func (a answer) problem(t *testing.T) Problem {
	t.Helper()
	if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, a.body)
	}
	var p Problem
	dec := json.NewDecoder(strings.NewReader(string(a.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body %s: %v", a.body, err)
	}
	if p.Status != a.status || p.Type != ProblemTypeBase+p.Code || p.Title == "" {
		t.Fatalf("problem envelope %+v does not match status %d", p, a.status)
	}
	return p
}

// fakeCluster answers with canned values and errors, for the failures a
// healthy one-node cluster cannot be made to show on demand.
type fakeCluster struct {
	submitErr, readErr, changeErr, snapshotErr error
	status                                     replica.Status
}

var _ Cluster = (*fakeCluster)(nil)

func (f *fakeCluster) Submit(_ context.Context, cmds []ledger.Command) ([]ledger.Result, error) {
	if f.submitErr != nil {
		return nil, f.submitErr
	}
	return make([]ledger.Result, len(cmds)), nil
}

func (f *fakeCluster) Account(context.Context, ledger.ID) (ledger.Account, bool, error) {
	return ledger.Account{}, false, f.readErr
}

func (f *fakeCluster) Transfer(context.Context, ledger.ID) (ledger.Transfer, bool, error) {
	return ledger.Transfer{}, false, f.readErr
}

func (f *fakeCluster) ReadBarrier(context.Context) error { return f.readErr }

func (f *fakeCluster) Local(func(*store.Store) error) error {
	return errors.New("fake: no store")
}

func (f *fakeCluster) Status() replica.Status { return f.status }

func (f *fakeCluster) Servers(context.Context) ([]replica.Peer, error) {
	return []replica.Peer{{ID: f.status.ID, RaftAddr: "127.0.0.1:7001"}}, f.readErr
}

func (f *fakeCluster) AddVoter(context.Context, string, string) error { return f.changeErr }
func (f *fakeCluster) RemoveServer(context.Context, string) error     { return f.changeErr }
func (f *fakeCluster) Snapshot(context.Context) error                 { return f.snapshotErr }
