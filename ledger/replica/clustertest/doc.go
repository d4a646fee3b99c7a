// Package clustertest runs real `payswitch serve` processes on loopback
// and drives them through the admin HTTP API (docs/admin-api.md), for
// tests that need what an in-process cluster cannot give: SIGKILL, a
// restart from the same data directory, a wiped directory.
//
// It owns the child processes it starts and nothing else: the binary is
// built once per test process (BuildBinary), each node gets its own data
// directory, Raft port and HTTP port, and every child is killed in the
// test's Cleanup. Every wait is bounded by a deadline from limits.go; a
// node's stdout and stderr go to files in the test's temporary directory
// and are printed when the test fails.
//
// A Cluster and its Client are safe for concurrent use, except that Kill,
// Restart and Wipe of one node must not run concurrently with each other.
//
// Usage:
//
//	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
//	leader := c.WaitLeader(ctx)
//	results, err := c.Client().Submit(ctx, commands) // follows the leader, retries by ID
//	c.Kill(leader)
//	c.Restart(leader)
//	c.WaitConverged(ctx)
//
// Caveats:
//   - Retries are safe only because every ledger command is idempotent by
//     ID: Client.Submit resends the same commands after a connection error
//     or outcome_unknown until it gets a definite answer or its context ends.
//   - Ports are picked below the kernel's ephemeral range and checked free
//     once; a node keeps its ports across restarts, so another process that
//     takes a port while the node is down makes Restart fail (reported as
//     such, not as a cluster bug).
//   - Tests of this package start three processes each: they run one at a
//     time (no t.Parallel) to stay light on small machines.
//   - PAYSWITCH_TEST_BINARY=path uses that binary instead of building one.
//   - PAYSWITCH_SOAK=1 turns on this package's long soak tests.
package clustertest
