// Package pgbaseline is the PostgreSQL baseline of the ledger benchmarks:
// the double-entry ledger a competent team would build first on
// PostgreSQL, doing the same transfers as package ledger with the same
// outcomes, so that bench can state the ledger's throughput as a multiple
// of it (DESIGN.md section 7 asks for at least 50x on the skewed,
// hot-account workload).
//
// It owns a throwaway server ([Start], [Server]), the schema and its
// PL/pgSQL functions, and a driver that applies ledger batches
// ([Open], [DB.Setup], [DB.Apply], [DB.Run], [DB.Balances]). [Run] does all
// of it in one call. It takes plain [ledger.Batch]es rather than bench's
// workload type, so that package bench can import it and feed both
// systems the very same commands.
//
// # The implementation
//
// Two tables: accounts (the ledger's account fields and its four balances:
// debits_pending, debits_posted, credits_pending, credits_posted) and
// transfers (the client's fields with status and result; every transfer
// ID ever submitted, rejected ones included, keyed by the ID). A transfer
// is one call of the PL/pgSQL function transfer(...), which runs the
// ledger's checks in the ledger's order and returns the ledger's code:
//
//   - the zero ID; then idempotency: an ID already recorded answers exists,
//     exists_with_different_<field>, or its first rejection again, before
//     any field is validated or any account is read;
//   - the fields alone (flags, pending ID, timeout, accounts, currency,
//     amount);
//   - the state, under row locks: both accounts are locked with one
//     SELECT ... ORDER BY id FOR UPDATE, so that concurrent transfers
//     between the same accounts, in either direction, never deadlock; a
//     post or void first locks its pending transfer's record, so that two
//     resolutions of one pending transfer serialise; then overflow, and the
//     balance rule of the flag DebitsMustNotExceedCredits (debits pending
//     and posted may not exceed credits posted plus the limit), whose
//     refusal is exceeds_credits, as in the ledger;
//   - then the record is inserted and both balances updated. A rejection
//     is recorded under its ID with its reason, so the ID stays rejected.
//
// Two sessions racing with one new ID both pass the look-up; the record
// is inserted with ON CONFLICT DO NOTHING before any balance changes, so
// the loser writes nothing and answers as a retry of the winner's record.
//
// Each transfer is its own transaction, and each commit waits for its WAL
// flush (synchronous_commit = on, fsync = on): the same durability as the
// ledger's synced Pebble commits. Nothing merges transfers into one
// transaction. Throughput comes from concurrency instead: Options.Clients
// connections (default 16) commit at once, which lets PostgreSQL share
// each WAL flush among them (group commit). A client sends several
// transfers in one round trip (Options.Pipeline, default 4) in the
// protocol's pipeline mode with a Sync after each transfer, which ends
// each one's implicit transaction; a pgx.Batch is not used because it
// ends with one Sync and so runs all its queries as one transaction.
// Statements are prepared on every connection; parameters are binary.
//
// # Running a workload
//
// A run is a sequence of batches. Apply spreads one batch's commands over
// the clients and returns when all have committed; the next batch starts
// only then, as the ledger applies batch after batch. So a batch may post
// the pending transfers of the previous one, as bench's workload does.
//
//	srv, err := pgbaseline.Start(ctx, nil)   // or Run(ctx, cfg) for all of this
//	db, err := pgbaseline.Open(ctx, srv.URL(), pgbaseline.Options{})
//	err = db.Setup(ctx, setupBatches)        // untimed: accounts and funding
//	res, err := db.Run(ctx, timedBatches, nil)
//	balances, err := db.Balances(ctx)
//	db.Close(); srv.Close()
//
// Setup is untimed and applies its commands in order on one connection,
// 256 to a transaction: funding 100,000 accounts from one hub account one
// synced commit at a time would serialise on the hub's row for minutes.
//
// # The server
//
// Start runs initdb in a fresh temporary directory (as the postgres user
// when running as root, since initdb refuses root), listens on a free port
// of 127.0.0.1 and on a Unix socket in that directory, and waits until the
// server accepts connections; Close stops it with a fast shutdown and
// deletes the directory. URL goes through the socket, the cheapest way in.
// Durability settings are the defaults, written out: fsync, synchronous
// commit, full page writes; WAL and checkpoint settings are untouched.
// shared_buffers is raised to 1 GB and max_connections to 272 (room for
// 256 clients). The binaries are found under /usr/lib/postgresql/*/bin,
// highest version first, or through an initdb on PATH; without them Start
// returns ErrNotInstalled, naming `apt-get install -y postgresql`.
//
// # Caveats
//
//   - Concurrency: the methods of DB may be called from several
//     goroutines, but within one Apply the commands run concurrently and in
//     no fixed order. Where the order decides an outcome (two transfers that
//     each fit under a limit but not both) the baseline may refuse a
//     different one of them than the ledger, which applies a batch in
//     order; with Options.Clients 1 the order is the batch's and every code
//     matches the ledger's.
//   - Money is bigint: amounts and limits must be below 2^63 (Apply returns
//     ErrAmountTooLarge otherwise), and a balance sum above 2^63-1 is
//     refused as overflow, where the ledger's limit is 2^64-1.
//   - Not implemented: linked chains, set_limit and expire (ErrUnsupported).
//     Nothing voids overdue pending transfers; a post after the timeout is
//     refused with pending_transfer_expired, judged by the server's clock.
//   - Timestamps are the server's clock at insert, not the ledger's
//     strictly increasing event timestamps; Balances leaves them zero.
package pgbaseline
