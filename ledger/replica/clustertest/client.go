package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// Client talks to one cluster's admin API. Submit and the linearizable
// reads go to the node it believes leads, follow not_leader answers to
// leader_http_addr, move on to the next node after a connection error,
// and retry after outcome_unknown or overloaded until they get a definite
// answer or their context ends. It is safe for concurrent use; all callers
// share what it learnt about the leader.
type Client struct {
	key   string
	addrs []string // each node's HTTP address, by node index
	http  *http.Client
	hint  atomic.Int64 // the index of the node believed to lead
}

func newClient(key string, addrs []string) *Client {
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
	return &Client{key: key, addrs: addrs, http: &http.Client{Transport: transport}}
}

// Do sends one request to one node and decodes a 2xx answer into out
// (when out is not nil). Any other answer is returned as a *Problem; a
// failure to get an answer is returned as is. It makes one attempt.
func (c *Client) Do(ctx context.Context, node int, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeoutMax)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.addrs[node]+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("node %d %s %s: %w", node, method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, responseBytesMax))
	if err != nil {
		return fmt.Errorf("node %d %s %s: reading the answer: %w", node, method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("node %d %s %s: decoding %q: %w", node, method, path, clip(data), err)
		}
		return nil
	}
	p := &Problem{}
	if err := json.Unmarshal(data, p); err != nil || p.Code == "" {
		p = &Problem{Detail: string(clip(data))}
	}
	p.Status = resp.StatusCode
	return p
}

func clip(b []byte) []byte {
	if len(b) > 512 {
		return b[:512]
	}
	return b
}

// Submit proposes commands through the leader and returns their results,
// one per command. Because every ledger command is idempotent by ID, it
// resends the same commands until it gets a definite answer; when ctx ends
// first it returns ErrNoAnswer and the outcome is unknown.
func (c *Client) Submit(ctx context.Context, cmds []Command) ([]Result, error) {
	var out commandsResponse
	err := c.onLeader(ctx, func(ctx context.Context, node int) error {
		return c.Do(ctx, node, http.MethodPost, "/admin/ledger/commands", commandsRequest{Commands: cmds}, &out)
	})
	if err != nil {
		return nil, err
	}
	if len(out.Results) != len(cmds) {
		return nil, fmt.Errorf("clustertest: %d results for %d commands", len(out.Results), len(cmds))
	}
	return out.Results, nil
}

// Account reads an account linearizably on the leader. A missing account
// is a *Problem with Code account_not_found.
func (c *Client) Account(ctx context.Context, id string) (Account, error) {
	var a Account
	err := c.onLeader(ctx, func(ctx context.Context, node int) error {
		return c.Do(ctx, node, http.MethodGet, "/admin/ledger/accounts/"+url.PathEscape(id), nil, &a)
	})
	return a, err
}

// Transfer reads a transfer linearizably on the leader. A missing transfer
// is a *Problem with Code transfer_not_found.
func (c *Client) Transfer(ctx context.Context, id string) (Transfer, error) {
	var t Transfer
	err := c.onLeader(ctx, func(ctx context.Context, node int) error {
		return c.Do(ctx, node, http.MethodGet, "/admin/ledger/transfers/"+url.PathEscape(id), nil, &t)
	})
	return t, err
}

// AccountTransfers reads one page of the transfers that moved money on
// the account, after the given timestamp ("" or "0" for the first page).
func (c *Client) AccountTransfers(ctx context.Context, id, after string, limit int) ([]Transfer, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	path := "/admin/ledger/accounts/" + url.PathEscape(id) + "/transfers?" + q.Encode()
	var out transfersResponse
	err := c.onLeader(ctx, func(ctx context.Context, node int) error {
		return c.Do(ctx, node, http.MethodGet, path, nil, &out)
	})
	return out.Transfers, err
}

// State reads one node's local state (one attempt, no barrier).
func (c *Client) State(ctx context.Context, node int) (State, error) {
	var s State
	err := c.Do(ctx, node, http.MethodGet, "/admin/ledger/state", nil, &s)
	return s, err
}

// Snapshot asks one node to take a snapshot now (one attempt).
func (c *Client) Snapshot(ctx context.Context, node int) error {
	return c.Do(ctx, node, http.MethodPost, "/admin/cluster/snapshot", nil, nil)
}

// ClusterStatus returns one node's GET /admin/cluster answer as raw JSON,
// for logs: the harness relies only on the ledger endpoints' contract.
func (c *Client) ClusterStatus(ctx context.Context, node int) (json.RawMessage, error) {
	var raw json.RawMessage
	err := c.Do(ctx, node, http.MethodGet, "/admin/cluster", nil, &raw)
	return raw, err
}

// ServesAsLeader reports whether the node answers a linearizable read,
// which only a leader that serves does. It makes one attempt; when the node
// redirects, the returned *Problem names the leader it knows.
func (c *Client) ServesAsLeader(ctx context.Context, node int) (bool, error) {
	err := c.Do(ctx, node, http.MethodGet, "/admin/ledger/accounts/"+probeAccountID, nil, nil)
	var p *Problem
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &p) && p.Code == CodeAccountNotFound:
		return true, nil
	default:
		return false, err
	}
}

// LeaderHint is the node the client currently believes leads.
func (c *Client) LeaderHint() int { return int(c.hint.Load()) }

// onLeader runs attempt against the node believed to lead until it gives
// a definite answer or ctx ends.
func (c *Client) onLeader(ctx context.Context, attempt func(ctx context.Context, node int) error) error {
	backoff := 5 * time.Millisecond
	redirects := 0
	for {
		node := int(c.hint.Load())
		err := attempt(ctx, node)
		definite, redirected := c.next(node, err)
		if definite {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: last attempt: %w", ErrNoAnswer, err)
		}
		if redirected && redirects < 2 {
			// Straight to the leader named, but not forever: two nodes
			// with stale views could send a client back and forth.
			redirects++
			continue
		}
		redirects = 0
		pause := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return fmt.Errorf("%w: last attempt: %w", ErrNoAnswer, err)
		}
		backoff = min(2*backoff, retryBackoffMax)
	}
}

// next judges an attempt on node: whether err is a definite answer and,
// when it is not, whether the client was sent to the leader by name. It
// moves the leader hint as it learns.
func (c *Client) next(node int, err error) (definite, redirected bool) {
	if err == nil {
		return true, false
	}
	var p *Problem
	if !errors.As(err, &p) {
		// No answer: the node is down or slow. Try the next one; a
		// follower redirects.
		c.hint.CompareAndSwap(int64(node), int64((node+1)%len(c.addrs)))
		return false, false
	}
	switch {
	case p.Code == CodeNotLeader:
		if i := c.index(p.LeaderHTTPAddr); i >= 0 && i != node {
			c.hint.CompareAndSwap(int64(node), int64(i))
			return false, true
		}
		// No leader known yet: an election runs. Ask around.
		c.hint.CompareAndSwap(int64(node), int64((node+1)%len(c.addrs)))
		return false, false
	case p.Status >= 500:
		// outcome_unknown, overloaded, or a node in trouble: the same
		// request again is safe.
		return false, false
	default:
		return true, false
	}
}

func (c *Client) index(httpAddr string) int {
	for i, a := range c.addrs {
		if a == httpAddr {
			return i
		}
	}
	return -1
}
