package clustertest

import "time"

// Every wait of the harness is bounded by one of these.
const (
	// buildWaitMax bounds `go build` of the binary (cold caches on a busy
	// two-core machine).
	buildWaitMax = 5 * time.Minute
	// serveLineWaitMax bounds the wait for a child's "serving" line.
	serveLineWaitMax = 30 * time.Second
	// exitWaitMax bounds the wait for a killed child to be reaped.
	exitWaitMax = 10 * time.Second
	// leaderWaitMax bounds WaitLeader when the caller's context has no
	// earlier deadline.
	leaderWaitMax = 20 * time.Second
	// convergeWaitMax bounds WaitConverged likewise.
	convergeWaitMax = 30 * time.Second
	// requestTimeoutMax bounds one HTTP request. A leader that lost its
	// quorum may hold a request until its ApplyTimeout (5 s) runs out;
	// giving up earlier and retrying elsewhere is what a client does.
	requestTimeoutMax = 3 * time.Second
	// pollInterval paces every polling loop.
	pollInterval = 25 * time.Millisecond
	// retryBackoffMax caps the pause between two attempts of one request.
	retryBackoffMax = 200 * time.Millisecond
	// logTailBytesMax bounds how much of each child's log a failing test
	// prints.
	logTailBytesMax = 24 << 10
	// nodesMax bounds the size of a test cluster.
	nodesMax = 7
	// portAttemptsMax bounds the search for free ports.
	portAttemptsMax = 200
)

// responseBytesMax bounds one response body the client reads (a page of
// 1,000 transfers is a few hundred kilobytes).
const responseBytesMax = 8 << 20

// probeAccountID is an account ID no test creates: a linearizable read of
// it answers 404 account_not_found on a leader that serves and
// not_leader elsewhere, which is how the harness finds the leader through
// the documented contract alone.
const probeAccountID = "340282366920938463463374607431768211455"
