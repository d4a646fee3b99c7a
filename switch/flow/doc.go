// Package flow runs payments through the switch (DESIGN.md section 5):
// ISO 8583 requests from participants' sessions in, ledger commands and
// forwarded messages out.
//
// # A push payment
//
// A 0200 (processing 400000) from the payer's session:
//
//  1. Check the fields (30), that field 32 is the session's participant
//     (63), and the processing code (12).
//  2. De-duplicate on 32 + 37: the payment's ledger transfers have IDs
//     derived from that key (ids.go), so the ledger's idempotency is the
//     de-duplication, on every node. A request whose key is in progress on
//     this node waits for the same answer if its content matches and gets
//     94 if not; a key the ledger knows is answered from the ledger (the
//     first outcome, or 94 when the content hash in the pending transfer's
//     user reference differs).
//  3. Route and ask for consent (routing.Router: 92, 14, 91, 57, 12, 13).
//  4. Reserve: a pending transfer payer position → payee position, with a
//     timeout beyond the payee's deadline as the ledger's backstop (51 when
//     the payer's position cannot cover it).
//  5. Forward the 0200 to the payee on one of its sessions, the same 32
//     and 37, the resolved payee in 100 and 103, a STAN and field 7
//     derived from the reservation's timestamp, and the payee's MAC (the
//     front end adds it). No session: void, 91.
//  6. The payee's 0210 (matched by 32 + 37) posts on 00 (its approval code
//     kept in the post's user reference) and voids otherwise (its code kept
//     in the void's code); the payer gets the payee's code. No answer by
//     the deadline (the payee's payment timeout, 10 s by default): void,
//     68 to the payer, and a reversal advice owed to the payee.
//
// No goroutine waits for the ledger. The front end's worker checks,
// routes and proposes the reservation (replica.Node.SubmitAsync) and goes
// back to its queue; the proposer, once the entry is applied, runs the
// forward for every payment of the entry in turn; the payee's 0210 is
// worked the same way up to its post, and the proposer answers the payer.
// Only the rare paths that must wait start a goroutine: a resend read
// from the ledger, a void, a mandate, a post retried, an advice, and
// routing itself when a consent hook is configured (Config.RouteWaits).
// Waking a goroutine per payment, hundreds at once for each log entry,
// kept the Raft loop and the network loops queued behind them. A payment
// forwarded holds one timer; InflightMax bounds the payments in progress
// (91 beyond it). A request never waits on the front end's event loop.
//
// # Reversal advices
//
// Owing an advice is a replicated routing command (routing's outbox), so
// it survives restarts and leader changes; the leader sends it at once,
// then again with a doubling wait (1 s up to a minute), and at once when
// the participant signs on again, until a 0430 acknowledges it (advice.go).
// Only a 0430 for an advice owed to its sender is recorded, and those are
// recorded in batches by one goroutine (one Raft entry for up to 1,024).
// A participant owed Config.AdvicesOwedMax advices (default 10,000) gets
// no new payments until it acknowledges some: each is answered 91 before
// any money is reserved, which bounds the outbox.
//
// A node that becomes leader voids every payment the old leader left
// pending and owes each target an advice: the target may have applied a
// payment whose answer was lost with the old leader. The payer's resend of
// the 0200 then gets 68.
//
// # Payer reversals, late answers, pulls
//
// A payer's 0420 for a payment forwarded and awaiting its answer voids it
// (the 0200 is answered 05, the 0420 00) and owes the payee an advice; one
// for a payment in progress but not yet forwarded, or whose answer is being
// settled, waits for the payment's outcome and is answered from the
// ledger. For a posted payment it is answered 12 (instant payments are
// irrevocable: a refund is a new payment); for a payment already void, 00;
// for an unknown one, or one whose amount or currency differs, 25. A
// payee's 0210 after the deadline is logged, counted and changes nothing.
// A pull (processing 000000) comes from the payee's bank with the payer's
// bank in 100 and the mandate in 48: the mandate is checked by the router
// and counted by an atomic routing command, then the payer's bank is asked
// as a payee would be.
//
// # Metrics
//
// payswitch_payments_total{result}, payswitch_payment_leg_seconds{leg} for
// route, reserve, payee, finish and total, resends, late responses, shed
// payments and advices. Logs name each declined or timed-out payment by
// RRN and acquirer (approved ones at debug level).
package flow
