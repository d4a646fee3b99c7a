// Package admin is the operator's HTTP API of one payswitch node: probes,
// metrics, the ledger (commands, accounts, transfers, state) and the
// cluster (status, voters, snapshots). docs/admin-api.md is its contract;
// this package implements it and nothing else.
//
// # What it owns
//
// The mapping between the ledger's types and JSON: IDs and other numbers
// that may exceed 2^53 travel as strings, amounts as decimal strings in the
// units of the command's currency, converted once here by the money
// package and never through a float. It also owns the problem codes
// (RFC 9457, see [Problem]) and the rule that every error is one.
//
// It depends on a node through [Cluster], an interface it owns and that
// *replica.Node satisfies. Writes and linearizable reads go to the leader
// only; a follower answers 503 not_leader with the leader's ID, its Raft
// address and, from [Config.HTTPAddrs], its HTTP address.
//
// # Invariants
//
//   - A request's commands are decoded in full before anything is
//     proposed: one undecodable command fails the whole request with 400
//     invalid_command naming its index and field, and nothing of it
//     reaches the log.
//   - Bodies are decoded strictly (decodeStrict): every object key must
//     be exactly a field's JSON name and appear once, at every level.
//     encoding/json alone would match keys regardless of case and let the
//     last of two equal keys win.
//   - Every /admin/ request is authenticated (Bearer admin key, compared in
//     constant time) before it is routed, and so is every path that the
//     mux would clean to /admin/ ("//admin/x"). Such non-canonical paths
//     then answer a 404 problem, never the mux's HTML redirect.
//   - Request bodies and pages are bounded (limits.go); so is the time a
//     request waits on the cluster.
//   - Metrics labels are route patterns, never raw paths.
//
// # Concurrency
//
// A Server is safe for concurrent use; it holds no request state.
//
// # Usage
//
//	node, _ := replica.Open(replica.Config{Dir: dir})
//	go node.Run(ctx)
//	srv, _ := admin.New(admin.Config{Cluster: node, AdminKey: key, Metrics: node.Registry()})
//	http.ListenAndServe(addr, srv)
//
// # Caveats
//
// set_limit carries a number of minor units to the ledger, not a currency,
// so the server checks the command's currency against the account's before
// proposing. The check reads this node's store (an account's currency never
// changes); an account created concurrently by another request after the
// check is the one case it cannot see.
package admin
