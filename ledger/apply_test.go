package ledger_test

import (
	"math"
	"slices"
	"testing"

	"github.com/payswitch/payswitch/ledger"
)

// The fixture's accounts. Bank 7 has prefunded its position with 500 and
// has a net debit cap of 1000, so it may send 1500; bank 8 has neither.
const (
	pos7   = 1 // position of bank 7: debits_must_not_exceed_credits, limit 1000, credits 500
	pos8   = 2 // position of bank 8: debits_must_not_exceed_credits, limit 0, empty
	set7   = 3 // settlement of bank 7, no rule; it funded pos7
	set8   = 4 // settlement of bank 8, no rule
	prog9  = 5 // budget line of payer 9: credits_must_not_exceed_debits, limit 500
	hubUSD = 6 // a USD hub account, no rule
	hub    = 7 // the KES hub account, no rule

	fundingID = 900 // the transfer that prefunded pos7
)

func newFixture(t testing.TB) *harness {
	t.Helper()
	h := newHarness(t)
	h.mustApply(t0,
		account(pos7, 7, kes, ledger.KindPosition, ledger.DebitsMustNotExceedCredits, 1000),
		account(pos8, 8, kes, ledger.KindPosition, ledger.DebitsMustNotExceedCredits, 0),
		account(set7, 7, kes, ledger.KindSettlement, 0, 0),
		account(set8, 8, kes, ledger.KindSettlement, 0, 0),
		account(prog9, 9, kes, ledger.KindProgram, ledger.CreditsMustNotExceedDebits, 500),
		account(hubUSD, 1, usd, ledger.KindHub, 0, 0),
		account(hub, 1, kes, ledger.KindHub, 0, 0),
		transfer(fundingID, set7, pos7, 500),
	)
	return h
}

// fixtureBalances are the balances newFixture leaves; accounts not listed
// are empty.
var fixtureBalances = map[uint64]balances{
	pos7: {cP: 500},
	set7: {dP: 500},
}

// wantBalances checks every fixture account: those in changed must hold
// the given balances, the others what the fixture left.
func wantBalances(t *testing.T, h *harness, changed map[uint64]balances) {
	t.Helper()
	for idv := uint64(pos7); idv <= hub; idv++ {
		want, ok := changed[idv]
		if !ok {
			want = fixtureBalances[idv]
		}
		if got := balancesOf(h.account(idv)); got != want {
			t.Errorf("account %d: %s, want %s", idv, got, want)
		}
	}
}

// step is one batch of a test case: its clock, its commands, and the code
// each command must get.
type step struct {
	at   uint64 // batch clock in ns after t0
	cmds []ledger.Command
	want []ledger.Code
}

// do builds a step at sec seconds after t0.
func do(sec uint64, cmds ...ledger.Command) step { return step{at: sec * second, cmds: cmds} }

// doAt builds a step at ns nanoseconds after t0.
func doAt(ns uint64, cmds ...ledger.Command) step { return step{at: ns, cmds: cmds} }

func (s step) expect(codes ...ledger.Code) step {
	s.want = codes
	return s
}

// run keeps copies of each step's results and events; Memory reuses its
// Output, so the checks cannot keep pointers into it.
type run struct {
	results [][]ledger.Result
	events  [][]ledger.Event
}

// ts returns the timestamp of result i of step s.
func (r *run) ts(s, i int) uint64 { return r.results[s][i].Timestamp }

type applyCase struct {
	name  string
	steps []step
	check func(t *testing.T, h *harness, r *run)
}

// applyCases has at least one row per Code, named after the code it is
// about, followed by precedence rows where several checks fail at once.
// TestApplyCoversEveryCode keeps it complete.
var applyCases = []applyCase{
	// ok: what each kind of transfer does to the balances.
	{name: "ok/single_phase", steps: []step{
		do(1, transfer(10, pos7, pos8, 600)).expect(ledger.OK),
	}, check: func(t *testing.T, h *harness, r *run) {
		wantBalances(t, h, map[uint64]balances{pos7: {dP: 600, cP: 500}, pos8: {cP: 600}})
		tr := h.transfer(10)
		if tr.Status != ledger.StatusPosted || tr.Timestamp != r.ts(0, 0) || tr.Result != ledger.OK {
			t.Errorf("record %+v", tr)
		}
	}},
	{name: "ok/at_the_net_debit_cap", steps: []step{
		do(1, transfer(10, pos7, pos8, 1500)).expect(ledger.OK),
	}},
	{name: "ok/pending_reserves", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
	}, check: func(t *testing.T, h *harness, r *run) {
		wantBalances(t, h, map[uint64]balances{pos7: {dp: 600, cP: 500}, pos8: {cp: 600}})
		tr := h.transfer(10)
		if tr.Status != ledger.StatusPending || tr.Deadline() != r.ts(0, 0)+5*second {
			t.Errorf("record %+v, deadline %d", tr, tr.Deadline())
		}
	}},
	{name: "ok/pending_timeout_at_maximum", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, ledger.TimeoutSecondsMax)).expect(ledger.OK),
	}},
	{name: "ok/post_full_with_amount_zero", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, post(11, 10, 0)).expect(ledger.OK),
	}, check: func(t *testing.T, h *harness, r *run) {
		wantBalances(t, h, map[uint64]balances{pos7: {dP: 600, cP: 500}, pos8: {cP: 600}})
		if p := h.transfer(10); p.Status != ledger.StatusPosted {
			t.Errorf("pending record %+v", p)
		}
		// The post record holds what it took from the pending transfer.
		rec := h.transfer(11)
		if rec.Status != ledger.StatusPosted || rec.Amount != 600 || rec.DebitAccount != id(pos7) ||
			rec.CreditAccount != id(pos8) || rec.Currency != kes || rec.PendingID != id(10) {
			t.Errorf("post record %+v", rec)
		}
		want := ledger.Event{Kind: ledger.EventTransferPosted, Timestamp: r.ts(1, 0), ID: id(11), ID2: id(10)}
		if len(r.events[1]) != 1 || r.events[1][0] != want {
			t.Errorf("events %+v, want %+v", r.events[1], want)
		}
	}},
	{name: "ok/post_partial_releases_remainder", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, post(11, 10, 200)).expect(ledger.OK),
	}, check: func(t *testing.T, h *harness, r *run) {
		wantBalances(t, h, map[uint64]balances{pos7: {dP: 200, cP: 500}, pos8: {cP: 200}})
		if rec := h.transfer(11); rec.Amount != 200 {
			t.Errorf("post record %+v", rec)
		}
	}},
	{name: "ok/post_with_the_pending_fields_spelt_out", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, with(post(11, 10, 600), func(tr *ledger.Transfer) {
			tr.DebitAccount, tr.CreditAccount, tr.Currency = id(pos7), id(pos8), kes
		})).expect(ledger.OK),
	}},
	{name: "ok/void", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, void(11, 10)).expect(ledger.OK),
	}, check: func(t *testing.T, h *harness, r *run) {
		wantBalances(t, h, nil)
		if p := h.transfer(10); p.Status != ledger.StatusVoided {
			t.Errorf("pending record %+v", p)
		}
		if rec := h.transfer(11); rec.Status != ledger.StatusVoided || rec.Amount != 600 {
			t.Errorf("void record %+v", rec)
		}
		want := ledger.Event{Kind: ledger.EventTransferVoided, Timestamp: r.ts(1, 0), ID: id(11), ID2: id(10)}
		if len(r.events[1]) != 1 || r.events[1][0] != want {
			t.Errorf("events %+v, want %+v", r.events[1], want)
		}
	}},
	{name: "ok/void_naming_the_full_amount", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, with(void(11, 10), func(tr *ledger.Transfer) { tr.Amount = 600 })).expect(ledger.OK),
	}},
	{name: "ok/pending_without_timeout_never_expires", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 0)).expect(ledger.OK),
		do(3*ledger.TimeoutSecondsMax, expire()).expect(ledger.OK),
		do(3*ledger.TimeoutSecondsMax+1, post(11, 10, 0)).expect(ledger.OK),
	}, check: func(t *testing.T, h *harness, r *run) {
		if r.results[1][0].Expired != 0 {
			t.Errorf("expire voided %d transfers", r.results[1][0].Expired)
		}
	}},
	{name: "ok/pending_and_post_in_one_batch", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5), post(11, 10, 100)).expect(ledger.OK, ledger.OK),
	}, check: func(t *testing.T, h *harness, r *run) {
		wantBalances(t, h, map[uint64]balances{pos7: {dP: 100, cP: 500}, pos8: {cP: 100}})
	}},

	// Expiry: swept by an expire command, or due but not yet swept.
	{name: "pending_transfer_expired/swept_by_expire", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(7, expire()).expect(ledger.OK),
		do(8, post(11, 10, 0)).expect(ledger.PendingTransferExpired),
	}, check: func(t *testing.T, h *harness, r *run) {
		wantBalances(t, h, nil)
		if res := r.results[1][0]; res.Expired != 1 || res.More {
			t.Errorf("expire result %+v", res)
		}
		if p := h.transfer(10); p.Status != ledger.StatusExpired {
			t.Errorf("pending record %+v", p)
		}
		want := ledger.Event{Kind: ledger.EventTransferExpired, Timestamp: r.ts(1, 0), ID: id(10)}
		if len(r.events[1]) != 1 || r.events[1][0] != want {
			t.Errorf("events %+v, want %+v", r.events[1], want)
		}
	}},
	{name: "pending_transfer_expired/due_but_not_swept", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(7, post(11, 10, 0), void(12, 10)).expect(ledger.PendingTransferExpired, ledger.PendingTransferExpired),
	}, check: func(t *testing.T, h *harness, r *run) {
		// The reservation stands until an expire command voids it.
		if p := h.transfer(10); p.Status != ledger.StatusPending {
			t.Errorf("pending record %+v", p)
		}
		wantBalances(t, h, map[uint64]balances{pos7: {dp: 600, cP: 500}, pos8: {cp: 600}})
		out := h.apply(t0+8*second, expire())
		if out.Results[0].Expired != 1 {
			t.Errorf("expire result %+v", out.Results[0])
		}
		wantBalances(t, h, nil)
	}},
	{name: "pending_transfer_expired/at_the_deadline_exactly", steps: []step{
		// The fixture's last timestamp is below t0+1s, so the reservation
		// gets exactly t0+1s and its deadline is t0+6s.
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		doAt(6*second-1, expire()).expect(ledger.OK),
		doAt(6*second, post(11, 10, 0)).expect(ledger.PendingTransferExpired),
	}, check: func(t *testing.T, h *harness, r *run) {
		if r.ts(0, 0) != t0+second {
			t.Fatalf("reservation at %d", r.ts(0, 0))
		}
		if r.results[1][0].Expired != 0 {
			t.Errorf("expire before the deadline voided %d", r.results[1][0].Expired)
		}
		if r.ts(2, 0) != t0+6*second {
			t.Errorf("post at %d", r.ts(2, 0))
		}
	}},
	{name: "pending_transfer_expired/swept_at_the_deadline_exactly", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		doAt(6*second, expire()).expect(ledger.OK),
		doAt(6*second+1, void(11, 10)).expect(ledger.PendingTransferExpired),
	}, check: func(t *testing.T, h *harness, r *run) {
		p := h.transfer(10)
		if r.ts(1, 0) != p.Deadline() || r.results[1][0].Expired != 1 {
			t.Errorf("expire at %d, deadline %d: %+v", r.ts(1, 0), p.Deadline(), r.results[1][0])
		}
	}},
	{name: "ok/post_just_before_the_deadline", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		doAt(6*second-1, post(11, 10, 0)).expect(ledger.OK),
	}},

	// Checks of the command alone.
	{name: "id_must_not_be_zero/transfer", steps: []step{
		do(1, transfer(0, pos7, pos8, 1)).expect(ledger.IDMustNotBeZero),
	}, check: func(t *testing.T, h *harness, r *run) {
		if len(h.m.Transfers()) != 1 {
			t.Errorf("records: %+v", h.m.Transfers())
		}
	}},
	{name: "id_must_not_be_zero/account", steps: []step{
		do(1, account(0, 7, kes, ledger.KindHub, 0, 0)).expect(ledger.IDMustNotBeZero),
	}},
	{name: "id_must_not_be_zero/set_limit", steps: []step{
		do(1, setLimit(0, 5)).expect(ledger.IDMustNotBeZero),
	}},
	{name: "precedence/id_zero_before_everything", steps: []step{
		do(1, with(transfer(0, 0, 0, 0), func(tr *ledger.Transfer) { tr.Flags = 0xff00 })).expect(ledger.IDMustNotBeZero),
	}},

	// Idempotency.
	{name: "exists/returns_the_original_timestamp", steps: []step{
		do(1, transfer(10, pos7, pos8, 100)).expect(ledger.OK),
		do(2, transfer(10, pos7, pos8, 100)).expect(ledger.Exists),
	}, check: func(t *testing.T, h *harness, r *run) {
		if r.ts(1, 0) != r.ts(0, 0) {
			t.Errorf("retry answered %d, original at %d", r.ts(1, 0), r.ts(0, 0))
		}
		if len(r.events[1]) != 0 {
			t.Errorf("retry emitted %+v", r.events[1])
		}
		wantBalances(t, h, map[uint64]balances{pos7: {dP: 100, cP: 500}, pos8: {cP: 100}})
	}},
	{name: "exists/in_the_same_batch", steps: []step{
		do(1, transfer(10, pos7, pos8, 100), transfer(10, pos7, pos8, 100)).expect(ledger.OK, ledger.Exists),
	}, check: func(t *testing.T, h *harness, r *run) {
		if r.ts(0, 1) != r.ts(0, 0) {
			t.Errorf("retry answered %d, original at %d", r.ts(0, 1), r.ts(0, 0))
		}
	}},
	{name: "exists/pending_after_it_was_posted", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, post(11, 10, 0)).expect(ledger.OK),
		do(3, reserve(10, pos7, pos8, 600, 5)).expect(ledger.Exists),
	}},
	{name: "exists/post_retry_with_inherited_fields", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, post(11, 10, 0)).expect(ledger.OK),
		do(3, post(11, 10, 0),
			with(post(11, 10, 600), func(tr *ledger.Transfer) {
				tr.DebitAccount, tr.CreditAccount, tr.Currency = id(pos7), id(pos8), kes
			})).expect(ledger.Exists, ledger.Exists),
	}},
	{name: "exists/partial_post_retried", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, post(11, 10, 200)).expect(ledger.OK),
		do(3, post(11, 10, 200)).expect(ledger.Exists),
	}},
	{name: "exists/void_retried", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, void(11, 10)).expect(ledger.OK),
		do(3, void(11, 10)).expect(ledger.Exists),
	}},
	{name: "exists_with_different_flags", steps: []step{
		do(1, transfer(10, pos7, pos8, 100)).expect(ledger.OK),
		do(2, reserve(10, pos7, pos8, 100, 0)).expect(ledger.ExistsWithDifferentFlags),
	}},
	{name: "exists_with_different_pending_id", steps: []step{
		do(1, reserve(10, pos7, pos8, 100, 5), reserve(12, pos7, pos8, 100, 5)).expect(ledger.OK, ledger.OK),
		do(2, post(11, 10, 0)).expect(ledger.OK),
		do(3, post(11, 12, 0)).expect(ledger.ExistsWithDifferentPendingID),
	}},
	{name: "exists_with_different_timeout", steps: []step{
		do(1, reserve(10, pos7, pos8, 100, 5)).expect(ledger.OK),
		do(2, reserve(10, pos7, pos8, 100, 6)).expect(ledger.ExistsWithDifferentTimeout),
	}},
	{name: "exists_with_different_debit_account", steps: []step{
		do(1, transfer(10, pos7, pos8, 100)).expect(ledger.OK),
		do(2, transfer(10, set7, pos8, 100)).expect(ledger.ExistsWithDifferentDebitAccount),
	}},
	{name: "exists_with_different_credit_account", steps: []step{
		do(1, transfer(10, pos7, pos8, 100)).expect(ledger.OK),
		do(2, transfer(10, pos7, set8, 100)).expect(ledger.ExistsWithDifferentCreditAccount),
	}},
	{name: "exists_with_different_amount", steps: []step{
		do(1, transfer(10, pos7, pos8, 100)).expect(ledger.OK),
		do(2, transfer(10, pos7, pos8, 101)).expect(ledger.ExistsWithDifferentAmount),
	}},
	{name: "exists_with_different_amount/full_post_retry_of_a_partial_post", steps: []step{
		// Amount 0 asks for all 600; the stored post moved 200, so this is
		// not the same request.
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, post(11, 10, 200)).expect(ledger.OK),
		do(3, post(11, 10, 0)).expect(ledger.ExistsWithDifferentAmount),
	}},
	{name: "exists_with_different_amount/void_retry_with_an_amount", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, void(11, 10)).expect(ledger.OK),
		do(3, with(void(11, 10), func(tr *ledger.Transfer) { tr.Amount = 5 })).expect(ledger.ExistsWithDifferentAmount),
	}},
	{name: "exists_with_different_currency", steps: []step{
		do(1, transfer(10, pos7, pos8, 100)).expect(ledger.OK),
		do(2, with(transfer(10, pos7, pos8, 100), func(tr *ledger.Transfer) { tr.Currency = usd })).expect(ledger.ExistsWithDifferentCurrency),
	}},
	{name: "exists_with_different_code", steps: []step{
		do(1, transfer(10, pos7, pos8, 100)).expect(ledger.OK),
		do(2, with(transfer(10, pos7, pos8, 100), func(tr *ledger.Transfer) { tr.Code = 2 })).expect(ledger.ExistsWithDifferentCode),
	}},
	{name: "exists_with_different_user_ref", steps: []step{
		do(1, transfer(10, pos7, pos8, 100)).expect(ledger.OK),
		do(2, with(transfer(10, pos7, pos8, 100), func(tr *ledger.Transfer) { tr.UserRef = id(5) })).expect(ledger.ExistsWithDifferentUserRef),
	}},
	{name: "precedence/flags_before_amount", steps: []step{
		do(1, transfer(10, pos7, pos8, 100)).expect(ledger.OK),
		do(2, reserve(10, pos7, pos8, 999, 0)).expect(ledger.ExistsWithDifferentFlags),
	}},
	{name: "precedence/debit_account_before_amount_and_user_ref", steps: []step{
		do(1, transfer(10, pos7, pos8, 100)).expect(ledger.OK),
		do(2, with(transfer(10, set7, pos8, 999), func(tr *ledger.Transfer) { tr.UserRef = id(5) })).expect(ledger.ExistsWithDifferentDebitAccount),
	}},
	{name: "precedence/idempotency_before_validation", steps: []step{
		do(1, transfer(10, pos7, pos8, 100)).expect(ledger.OK),
		do(2, transfer(10, 0, pos8, 0)).expect(ledger.ExistsWithDifferentDebitAccount),
	}},
	{name: "id_already_failed", steps: []step{
		do(1, transfer(10, pos7, pos8, 0)).expect(ledger.AmountMustNotBeZero),
		do(2, transfer(10, pos7, pos8, 5)).expect(ledger.IDAlreadyFailed),
	}, check: func(t *testing.T, h *harness, r *run) {
		if r.ts(1, 0) != r.ts(0, 0) {
			t.Errorf("retry answered %d, rejection at %d", r.ts(1, 0), r.ts(0, 0))
		}
		if rec := h.transfer(10); rec.Status != ledger.StatusRejected || rec.Result != ledger.AmountMustNotBeZero {
			t.Errorf("record %+v", rec)
		}
	}},
	{name: "rejected_id_retried_identically_keeps_its_first_reason", steps: []step{
		do(1, transfer(10, pos7, pos8, 2000)).expect(ledger.ExceedsCredits),
		// Even once the transfer would fit, the ID stays rejected.
		do(2, setLimit(pos7, 5000)).expect(ledger.OK),
		do(3, transfer(10, pos7, pos8, 2000)).expect(ledger.ExceedsCredits),
	}, check: func(t *testing.T, h *harness, r *run) {
		if r.ts(2, 0) != r.ts(0, 0) {
			t.Errorf("retry answered %d, rejection at %d", r.ts(2, 0), r.ts(0, 0))
		}
		want := []ledger.Event{{Kind: ledger.EventTransferRejected, Timestamp: r.ts(0, 0), ID: id(10), Code: ledger.ExceedsCredits}}
		if !slices.Equal(r.events[0], want) || len(r.events[2]) != 0 {
			t.Errorf("events %+v and %+v", r.events[0], r.events[2])
		}
		wantBalances(t, h, nil)
	}},
	{name: "rejected_post_retried_keeps_its_first_reason", steps: []step{
		do(1, post(11, 10, 0)).expect(ledger.PendingTransferNotFound),
		do(2, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(3, post(11, 10, 0)).expect(ledger.PendingTransferNotFound),
	}},

	// Transfers: checks of the fields alone.
	{name: "flags_unknown", steps: []step{
		do(1, with(transfer(10, pos7, pos8, 1), func(tr *ledger.Transfer) { tr.Flags = 1 << 4 })).expect(ledger.FlagsUnknown),
	}},
	{name: "flags_are_mutually_exclusive", steps: []step{
		do(1,
			with(reserve(10, pos7, pos8, 1, 5), func(tr *ledger.Transfer) { tr.Flags |= ledger.PostPending }),
			with(post(11, 10, 0), func(tr *ledger.Transfer) { tr.Flags |= ledger.VoidPending }),
			with(void(12, 10), func(tr *ledger.Transfer) { tr.Flags |= ledger.Pending }),
		).expect(ledger.FlagsAreMutuallyExclusive, ledger.FlagsAreMutuallyExclusive, ledger.FlagsAreMutuallyExclusive),
	}},
	{name: "pending_id_must_be_zero", steps: []step{
		do(1, with(transfer(10, pos7, pos8, 1), func(tr *ledger.Transfer) { tr.PendingID = id(5) })).expect(ledger.PendingIDMustBeZero),
	}},
	{name: "pending_id_must_not_be_zero", steps: []step{
		do(1, post(11, 0, 0), void(12, 0)).expect(ledger.PendingIDMustNotBeZero, ledger.PendingIDMustNotBeZero),
	}},
	{name: "pending_id_must_be_different", steps: []step{
		do(1, post(11, 11, 0)).expect(ledger.PendingIDMustBeDifferent),
	}},
	{name: "timeout_reserved_for_pending_transfer", steps: []step{
		do(1,
			with(transfer(10, pos7, pos8, 1), func(tr *ledger.Transfer) { tr.Timeout = 5 }),
			with(post(12, 11, 0), func(tr *ledger.Transfer) { tr.Timeout = 5 }),
		).expect(ledger.TimeoutReservedForPendingTransfer, ledger.TimeoutReservedForPendingTransfer),
	}},
	{name: "timeout_too_large", steps: []step{
		do(1, reserve(10, pos7, pos8, 1, ledger.TimeoutSecondsMax+1)).expect(ledger.TimeoutTooLarge),
	}},
	{name: "debit_account_must_not_be_zero", steps: []step{
		do(1, transfer(10, 0, pos8, 1)).expect(ledger.DebitAccountMustNotBeZero),
	}},
	{name: "credit_account_must_not_be_zero", steps: []step{
		do(1, transfer(10, pos7, 0, 1)).expect(ledger.CreditAccountMustNotBeZero),
	}},
	{name: "accounts_must_be_different", steps: []step{
		do(1, transfer(10, pos7, pos7, 1)).expect(ledger.AccountsMustBeDifferent),
	}},
	{name: "currency_must_not_be_zero", steps: []step{
		do(1, with(transfer(10, pos7, pos8, 1), func(tr *ledger.Transfer) { tr.Currency = 0 })).expect(ledger.CurrencyMustNotBeZero),
	}},
	{name: "amount_must_not_be_zero", steps: []step{
		do(1, transfer(10, pos7, pos8, 0)).expect(ledger.AmountMustNotBeZero),
	}},
	{name: "precedence/flags_unknown_before_amount_zero", steps: []step{
		do(1, with(transfer(10, pos7, pos8, 0), func(tr *ledger.Transfer) { tr.Flags = 1 << 9 })).expect(ledger.FlagsUnknown),
	}},
	{name: "precedence/mutually_exclusive_before_pending_id_zero", steps: []step{
		do(1, with(post(11, 0, 0), func(tr *ledger.Transfer) { tr.Flags |= ledger.VoidPending })).expect(ledger.FlagsAreMutuallyExclusive),
	}},
	{name: "precedence/pending_id_must_be_zero_before_timeout_and_accounts", steps: []step{
		do(1, with(transfer(10, 0, 0, 0), func(tr *ledger.Transfer) { tr.PendingID, tr.Timeout = id(5), 5 })).expect(ledger.PendingIDMustBeZero),
	}},
	{name: "precedence/pending_id_zero_before_timeout_on_post", steps: []step{
		do(1, with(post(11, 0, 0), func(tr *ledger.Transfer) { tr.Timeout = 5 })).expect(ledger.PendingIDMustNotBeZero),
	}},
	{name: "precedence/timeout_before_debit_account", steps: []step{
		do(1, with(transfer(10, 0, pos8, 1), func(tr *ledger.Transfer) { tr.Timeout = 5 })).expect(ledger.TimeoutReservedForPendingTransfer),
	}},
	{name: "precedence/debit_before_credit_account_zero", steps: []step{
		do(1, transfer(10, 0, 0, 1)).expect(ledger.DebitAccountMustNotBeZero),
	}},
	{name: "precedence/accounts_different_before_currency_zero", steps: []step{
		do(1, with(transfer(10, pos7, pos7, 0), func(tr *ledger.Transfer) { tr.Currency = 0 })).expect(ledger.AccountsMustBeDifferent),
	}},
	{name: "precedence/currency_zero_before_amount_zero", steps: []step{
		do(1, with(transfer(10, pos7, pos8, 0), func(tr *ledger.Transfer) { tr.Currency = 0 })).expect(ledger.CurrencyMustNotBeZero),
	}},
	{name: "precedence/fields_before_state", steps: []step{
		do(1, transfer(10, 98, 99, 0)).expect(ledger.AmountMustNotBeZero),
	}},

	// Transfers: checks against state.
	{name: "debit_account_not_found", steps: []step{
		do(1, transfer(10, 99, pos8, 1)).expect(ledger.DebitAccountNotFound),
	}},
	{name: "credit_account_not_found", steps: []step{
		do(1, transfer(10, pos7, 99, 1)).expect(ledger.CreditAccountNotFound),
	}},
	{name: "currency_mismatch/accounts_differ", steps: []step{
		do(1, transfer(10, hub, hubUSD, 1)).expect(ledger.CurrencyMismatch),
	}},
	{name: "currency_mismatch/transfer_differs_from_accounts", steps: []step{
		do(1, with(transfer(10, hub, set8, 1), func(tr *ledger.Transfer) { tr.Currency = usd })).expect(ledger.CurrencyMismatch),
	}},
	{name: "precedence/debit_before_credit_not_found", steps: []step{
		do(1, transfer(10, 98, 99, 1)).expect(ledger.DebitAccountNotFound),
	}},
	{name: "precedence/currency_mismatch_before_exceeds_credits", steps: []step{
		do(1, with(transfer(10, pos8, hubUSD, 5000), func(tr *ledger.Transfer) { tr.Currency = usd })).expect(ledger.CurrencyMismatch),
	}},
	{name: "pending_transfer_not_found", steps: []step{
		do(1, post(11, 99, 0), void(12, 98)).expect(ledger.PendingTransferNotFound, ledger.PendingTransferNotFound),
	}},
	{name: "pending_transfer_not_found/rejected_id", steps: []step{
		do(1, reserve(10, pos7, pos8, 0, 5)).expect(ledger.AmountMustNotBeZero),
		do(2, post(11, 10, 0)).expect(ledger.PendingTransferNotFound),
	}},
	{name: "pending_transfer_not_pending", steps: []step{
		do(1, transfer(10, pos7, pos8, 100)).expect(ledger.OK),
		do(2, post(11, 10, 0)).expect(ledger.PendingTransferNotPending),
	}},
	{name: "pending_transfer_not_pending/post_of_a_post", steps: []step{
		do(1, reserve(10, pos7, pos8, 100, 5)).expect(ledger.OK),
		do(2, post(11, 10, 0)).expect(ledger.OK),
		do(3, void(12, 11)).expect(ledger.PendingTransferNotPending),
	}},
	{name: "pending_transfer_has_different_debit_account", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, with(post(11, 10, 0), func(tr *ledger.Transfer) { tr.DebitAccount = id(set7) })).expect(ledger.PendingTransferHasDifferentDebitAccount),
	}},
	{name: "pending_transfer_has_different_credit_account", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, with(void(11, 10), func(tr *ledger.Transfer) { tr.CreditAccount = id(set8) })).expect(ledger.PendingTransferHasDifferentCreditAccount),
	}},
	{name: "pending_transfer_has_different_currency", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, with(post(11, 10, 0), func(tr *ledger.Transfer) { tr.Currency = usd })).expect(ledger.PendingTransferHasDifferentCurrency),
	}},
	{name: "exceeds_pending_transfer_amount", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, post(11, 10, 601)).expect(ledger.ExceedsPendingTransferAmount),
	}},
	{name: "pending_transfer_has_different_amount", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, with(void(11, 10), func(tr *ledger.Transfer) { tr.Amount = 100 })).expect(ledger.PendingTransferHasDifferentAmount),
	}},
	{name: "pending_transfer_already_posted", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, post(11, 10, 0)).expect(ledger.OK),
		do(3, post(12, 10, 0), void(13, 10)).expect(ledger.PendingTransferAlreadyPosted, ledger.PendingTransferAlreadyPosted),
	}},
	{name: "pending_transfer_already_voided", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, void(11, 10)).expect(ledger.OK),
		do(3, post(12, 10, 0), void(13, 10)).expect(ledger.PendingTransferAlreadyVoided, ledger.PendingTransferAlreadyVoided),
	}},
	{name: "precedence/amount_before_already_posted", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, post(11, 10, 0)).expect(ledger.OK),
		do(3, post(12, 10, 601)).expect(ledger.ExceedsPendingTransferAmount),
	}},
	{name: "precedence/currency_before_expired", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(9, with(post(11, 10, 0), func(tr *ledger.Transfer) { tr.Currency = usd })).expect(ledger.PendingTransferHasDifferentCurrency),
	}},
	{name: "overflow/posted_debits", steps: []step{
		do(1, account(20, 20, kes, ledger.KindSettlement, 0, 0), account(21, 21, kes, ledger.KindSettlement, 0, 0)).expect(ledger.OK, ledger.OK),
		do(2, transfer(10, 20, 21, math.MaxUint64)).expect(ledger.OK),
		do(3, transfer(11, 20, 21, 1)).expect(ledger.Overflow),
	}, check: func(t *testing.T, h *harness, r *run) {
		if got := balancesOf(h.account(20)); got != (balances{dP: math.MaxUint64}) {
			t.Errorf("account 20: %s", got)
		}
	}},
	{name: "overflow/posted_credits_only", steps: []step{
		do(1, account(20, 20, kes, ledger.KindSettlement, 0, 0), account(21, 21, kes, ledger.KindSettlement, 0, 0),
			account(22, 22, kes, ledger.KindSettlement, 0, 0)).expect(ledger.OK, ledger.OK, ledger.OK),
		do(2, transfer(10, 20, 21, math.MaxUint64)).expect(ledger.OK),
		do(3, transfer(11, 22, 21, 1)).expect(ledger.Overflow),
	}},
	{name: "overflow/pending_plus_posted", steps: []step{
		do(1, account(20, 20, kes, ledger.KindSettlement, 0, 0), account(21, 21, kes, ledger.KindSettlement, 0, 0)).expect(ledger.OK, ledger.OK),
		do(2, transfer(10, 20, 21, 1<<63)).expect(ledger.OK),
		// Each balance fits; their sum, which the rules compare, does not.
		do(3, reserve(11, 20, 21, 1<<63, 0)).expect(ledger.Overflow),
		do(4, reserve(12, 20, 21, 1<<63-1, 0)).expect(ledger.OK),
	}},
	{name: "precedence/overflow_before_exceeds_credits", steps: []step{
		do(1, account(20, 20, kes, ledger.KindSettlement, 0, 0), account(21, 21, kes, ledger.KindSettlement, 0, 0)).expect(ledger.OK, ledger.OK),
		do(2, transfer(10, 20, 21, math.MaxUint64)).expect(ledger.OK),
		do(3, transfer(11, pos8, 21, 1)).expect(ledger.Overflow),
	}},
	{name: "exceeds_credits", steps: []step{
		do(1, transfer(10, pos7, pos8, 1501), transfer(11, pos8, pos7, 1)).expect(ledger.ExceedsCredits, ledger.ExceedsCredits),
	}},
	{name: "exceeds_credits/pending_debits_count", steps: []step{
		do(1, reserve(10, pos7, pos8, 1000, 5)).expect(ledger.OK),
		do(2, transfer(11, pos7, pos8, 501), reserve(12, pos7, pos8, 501, 5)).expect(ledger.ExceedsCredits, ledger.ExceedsCredits),
		do(3, transfer(13, pos7, pos8, 500)).expect(ledger.OK),
	}},
	{name: "exceeds_credits/pending_credits_do_not_fund", steps: []step{
		do(1, reserve(10, pos7, pos8, 1000, 5)).expect(ledger.OK),
		do(2, transfer(11, pos8, set8, 1)).expect(ledger.ExceedsCredits),
		do(3, post(12, 10, 0), transfer(13, pos8, set8, 1000)).expect(ledger.OK, ledger.OK),
	}},
	{name: "exceeds_debits", steps: []step{
		do(1, transfer(10, hub, prog9, 501)).expect(ledger.ExceedsDebits),
		do(2, transfer(11, hub, prog9, 500)).expect(ledger.OK),
		do(3, reserve(12, hub, prog9, 1, 0)).expect(ledger.ExceedsDebits),
		do(4, transfer(13, prog9, hub, 1), reserve(14, hub, prog9, 1, 0)).expect(ledger.OK, ledger.OK),
	}},
	{name: "precedence/exceeds_credits_before_exceeds_debits", steps: []step{
		do(1, transfer(10, pos8, prog9, 501)).expect(ledger.ExceedsCredits),
	}},

	// Accounts.
	{name: "ok/account_created", steps: []step{
		do(1, withAccount(account(20, 12345678901, kes, ledger.KindProgram, ledger.CreditsMustNotExceedDebits, 7),
			func(a *ledger.Account) { a.UserRef = 42 })).expect(ledger.OK),
	}, check: func(t *testing.T, h *harness, r *run) {
		want := ledger.Account{ID: id(20), Participant: 12345678901, Currency: kes, Kind: ledger.KindProgram,
			Flags: ledger.CreditsMustNotExceedDebits, Limit: 7, UserRef: 42, Timestamp: r.ts(0, 0)}
		if got := h.account(20); got != want {
			t.Errorf("account %+v, want %+v", got, want)
		}
	}},
	{name: "account_exists", steps: []step{
		do(1, account(pos7, 7, kes, ledger.KindPosition, ledger.DebitsMustNotExceedCredits, 1000)).expect(ledger.AccountExists),
	}, check: func(t *testing.T, h *harness, r *run) {
		if r.ts(0, 0) != h.account(pos7).Timestamp || r.ts(0, 0) >= t0+second {
			t.Errorf("retry answered %d, account created at %d", r.ts(0, 0), h.account(pos7).Timestamp)
		}
	}},
	{name: "account_exists_with_different_participant", steps: []step{
		do(1, account(pos7, 8, kes, ledger.KindPosition, ledger.DebitsMustNotExceedCredits, 1000)).expect(ledger.AccountExistsWithDifferentParticipant),
	}},
	{name: "account_exists_with_different_currency", steps: []step{
		do(1, account(pos7, 7, usd, ledger.KindPosition, ledger.DebitsMustNotExceedCredits, 1000)).expect(ledger.AccountExistsWithDifferentCurrency),
	}},
	{name: "account_exists_with_different_kind", steps: []step{
		do(1, account(pos7, 7, kes, ledger.KindSettlement, ledger.DebitsMustNotExceedCredits, 1000)).expect(ledger.AccountExistsWithDifferentKind),
	}},
	{name: "account_exists_with_different_flags", steps: []step{
		do(1, account(pos7, 7, kes, ledger.KindPosition, 0, 1000)).expect(ledger.AccountExistsWithDifferentFlags),
	}},
	{name: "account_exists_with_different_limit", steps: []step{
		do(1, account(pos7, 7, kes, ledger.KindPosition, ledger.DebitsMustNotExceedCredits, 999)).expect(ledger.AccountExistsWithDifferentLimit),
	}},
	{name: "account_exists_with_different_limit/after_set_limit", steps: []step{
		do(1, setLimit(pos7, 2000)).expect(ledger.OK),
		do(2, account(pos7, 7, kes, ledger.KindPosition, ledger.DebitsMustNotExceedCredits, 1000)).expect(ledger.AccountExistsWithDifferentLimit),
	}},
	{name: "account_exists_with_different_user_ref", steps: []step{
		do(1, withAccount(account(pos7, 7, kes, ledger.KindPosition, ledger.DebitsMustNotExceedCredits, 1000),
			func(a *ledger.Account) { a.UserRef = 1 })).expect(ledger.AccountExistsWithDifferentUserRef),
	}},
	{name: "precedence/participant_before_kind", steps: []step{
		do(1, account(pos7, 8, kes, ledger.KindHub, 0, 1000)).expect(ledger.AccountExistsWithDifferentParticipant),
	}},
	{name: "precedence/account_idempotency_before_validation", steps: []step{
		do(1, account(pos7, 7, kes, 0, ledger.DebitsMustNotExceedCredits, 1000)).expect(ledger.AccountExistsWithDifferentKind),
	}},
	{name: "account_kind_invalid", steps: []step{
		do(1, account(20, 7, kes, 0, 0, 0), account(21, 7, kes, 5, 0, 0)).expect(ledger.AccountKindInvalid, ledger.AccountKindInvalid),
	}},
	{name: "account_flags_unknown", steps: []step{
		do(1, account(20, 7, kes, ledger.KindHub, 1<<2, 0)).expect(ledger.AccountFlagsUnknown),
	}},
	{name: "account_flags_are_mutually_exclusive", steps: []step{
		do(1, account(20, 7, kes, ledger.KindHub, ledger.DebitsMustNotExceedCredits|ledger.CreditsMustNotExceedDebits, 0)).expect(ledger.AccountFlagsAreMutuallyExclusive),
	}},
	{name: "participant_must_not_be_zero", steps: []step{
		do(1, account(20, 0, kes, ledger.KindHub, 0, 0)).expect(ledger.ParticipantMustNotBeZero),
	}},
	{name: "currency_unknown", steps: []step{
		do(1, account(20, 7, 0, ledger.KindHub, 0, 0), account(21, 7, 1, ledger.KindHub, 0, 0), account(22, 7, 999, ledger.KindHub, 0, 0)).
			expect(ledger.CurrencyUnknown, ledger.CurrencyUnknown, ledger.CurrencyUnknown),
	}},
	{name: "precedence/kind_before_participant_and_currency", steps: []step{
		do(1, account(20, 0, 0, 9, 0, 0)).expect(ledger.AccountKindInvalid),
	}},
	{name: "precedence/flags_unknown_before_mutually_exclusive", steps: []step{
		do(1, account(20, 0, kes, ledger.KindHub, 0xffff, 0)).expect(ledger.AccountFlagsUnknown),
	}},
	{name: "precedence/participant_before_currency", steps: []step{
		do(1, account(20, 0, 0, ledger.KindHub, 0, 0)).expect(ledger.ParticipantMustNotBeZero),
	}},
	{name: "ok/rejected_account_id_is_not_burnt", steps: []step{
		do(1, account(20, 7, kes, 0, 0, 0)).expect(ledger.AccountKindInvalid),
		do(2, account(20, 7, kes, ledger.KindHub, 0, 0)).expect(ledger.OK),
	}},

	// Limits.
	{name: "ok/set_limit", steps: []step{
		do(1, setLimit(pos7, 2000)).expect(ledger.OK),
		do(2, transfer(10, pos7, pos8, 2500)).expect(ledger.OK),
	}, check: func(t *testing.T, h *harness, r *run) {
		want := []ledger.Event{{Kind: ledger.EventLimitChanged, Timestamp: r.ts(0, 0), ID: id(pos7)}}
		if !slices.Equal(r.events[0], want) || h.account(pos7).Limit != 2000 {
			t.Errorf("events %+v, account %+v", r.events[0], h.account(pos7))
		}
	}},
	{name: "ok/set_limit_down_to_usage", steps: []step{
		do(1, transfer(10, pos7, pos8, 1200)).expect(ledger.OK),
		do(2, setLimit(pos7, 700)).expect(ledger.OK),
	}},
	{name: "account_not_found", steps: []step{
		do(1, setLimit(99, 5)).expect(ledger.AccountNotFound),
	}},
	{name: "limit_below_usage", steps: []step{
		do(1, transfer(10, pos7, pos8, 1200)).expect(ledger.OK),
		do(2, setLimit(pos7, 699)).expect(ledger.LimitBelowUsage),
	}, check: func(t *testing.T, h *harness, r *run) {
		if h.account(pos7).Limit != 1000 || len(r.events[1]) != 0 {
			t.Errorf("account %+v, events %+v", h.account(pos7), r.events[1])
		}
	}},
	{name: "limit_below_usage/pending_debits_count", steps: []step{
		do(1, reserve(10, pos7, pos8, 1200, 5)).expect(ledger.OK),
		do(2, setLimit(pos7, 699)).expect(ledger.LimitBelowUsage),
	}},
	{name: "limit_below_usage/credits_rule", steps: []step{
		do(1, transfer(10, hub, prog9, 400)).expect(ledger.OK),
		do(2, setLimit(prog9, 399), setLimit(prog9, 400)).expect(ledger.LimitBelowUsage, ledger.OK),
	}},

	// Commands.
	{name: "command_unknown", steps: []step{
		// DecodeBatch refuses unknown ops, so only a batch built in
		// process can carry one.
		do(1, ledger.Command{Op: 0}, ledger.Command{Op: 200}).expect(ledger.CommandUnknown, ledger.CommandUnknown),
	}},

	// Linked chains.
	{name: "ok/linked_chain", steps: []step{
		do(1,
			linked(transfer(10, pos7, pos8, 100)),
			linked(reserve(11, pos8, set8, 60, 0)),
			transfer(12, set8, pos8, 10),
		).expect(ledger.OK, ledger.OK, ledger.OK),
	}, check: func(t *testing.T, h *harness, r *run) {
		wantBalances(t, h, map[uint64]balances{
			pos7: {dP: 100, cP: 500}, pos8: {dp: 60, cP: 110}, set8: {cp: 60, dP: 10},
		})
	}},
	{name: "linked_event_failed/failure_in_the_middle", steps: []step{
		do(1,
			linked(transfer(10, pos7, pos8, 100)),
			linked(transfer(11, pos8, set8, 500)), // pos8 holds only the 100 of transfer 10
			transfer(12, set8, pos8, 10),
		).expect(ledger.LinkedEventFailed, ledger.ExceedsCredits, ledger.LinkedEventFailed),
	}, check: func(t *testing.T, h *harness, r *run) {
		wantBalances(t, h, nil)
		want := []ledger.Event{{Kind: ledger.EventTransferRejected, Timestamp: r.ts(0, 1), ID: id(11), Code: ledger.ExceedsCredits}}
		if !slices.Equal(r.events[0], want) {
			t.Errorf("events %+v, want %+v", r.events[0], want)
		}
		for _, idv := range []uint64{10, 12} {
			if _, ok := h.m.Transfer(id(idv)); ok {
				t.Errorf("transfer %d of the failed chain was kept", idv)
			}
		}
		// A retry of the whole chain gets the same answer: the failing
		// member burnt its ID with its reason.
		out := h.apply(t0+2*second,
			linked(transfer(10, pos7, pos8, 100)), linked(transfer(11, pos8, set8, 500)), transfer(12, set8, pos8, 10))
		got := []ledger.Code{out.Results[0].Code, out.Results[1].Code, out.Results[2].Code}
		if !slices.Equal(got, []ledger.Code{ledger.LinkedEventFailed, ledger.ExceedsCredits, ledger.LinkedEventFailed}) {
			t.Errorf("chain retried: %v", got)
		}
		if out.Results[1].Timestamp != r.ts(0, 1) {
			t.Errorf("burnt retry answered %d, rejection at %d", out.Results[1].Timestamp, r.ts(0, 1))
		}
		// The other members were not burnt: sent on their own, they pass.
		out = h.apply(t0+3*second, transfer(10, pos7, pos8, 100), transfer(12, set8, pos8, 10))
		if out.Results[0].Code != ledger.OK || out.Results[1].Code != ledger.OK {
			t.Errorf("members sent alone: %+v", out.Results)
		}
	}},
	{name: "linked_event_failed/first_member_fails", steps: []step{
		do(1, linked(transfer(10, pos8, pos7, 1)), linked(transfer(11, pos7, pos8, 1)), transfer(12, pos7, pos8, 1)).
			expect(ledger.ExceedsCredits, ledger.LinkedEventFailed, ledger.LinkedEventFailed),
	}, check: func(t *testing.T, h *harness, r *run) { wantBalances(t, h, nil) }},
	{name: "linked_event_failed/last_member_fails", steps: []step{
		do(1, linked(transfer(10, pos7, pos8, 1)), transfer(11, pos8, hubUSD, 1), transfer(12, pos7, pos8, 1)).
			expect(ledger.LinkedEventFailed, ledger.CurrencyMismatch, ledger.OK),
	}, check: func(t *testing.T, h *harness, r *run) {
		wantBalances(t, h, map[uint64]balances{pos7: {dP: 1, cP: 500}, pos8: {cP: 1}})
	}},
	{name: "linked_event_failed/undoes_a_post_of_an_earlier_reservation", steps: []step{
		do(1, reserve(10, pos7, pos8, 600, 5)).expect(ledger.OK),
		do(2, linked(post(11, 10, 0)), transfer(12, pos8, set8, 601)).expect(ledger.LinkedEventFailed, ledger.ExceedsCredits),
		do(3, post(11, 10, 0)).expect(ledger.OK),
	}, check: func(t *testing.T, h *harness, r *run) {
		if len(r.events[1]) != 1 {
			t.Errorf("events of the failed chain: %+v", r.events[1])
		}
		wantBalances(t, h, map[uint64]balances{pos7: {dP: 600, cP: 500}, pos8: {cP: 600}})
	}},
	{name: "linked_event_failed/undoes_a_reservation_made_in_the_chain", steps: []step{
		do(1, linked(reserve(10, pos7, pos8, 600, 5)), linked(post(11, 10, 200)), transfer(12, pos8, set8, 201)).
			expect(ledger.LinkedEventFailed, ledger.LinkedEventFailed, ledger.ExceedsCredits),
	}, check: func(t *testing.T, h *harness, r *run) {
		wantBalances(t, h, nil)
		for _, idv := range []uint64{10, 11} {
			if _, ok := h.m.Transfer(id(idv)); ok {
				t.Errorf("transfer %d of the failed chain was kept", idv)
			}
		}
	}},
	{name: "linked_event_failed/idempotency_failure_burns_nothing", steps: []step{
		do(1, transfer(10, pos7, pos8, 100)).expect(ledger.OK),
		do(2, linked(transfer(11, pos7, pos8, 1)), transfer(10, pos7, pos8, 999)).expect(ledger.LinkedEventFailed, ledger.ExistsWithDifferentAmount),
		do(3, transfer(11, pos7, pos8, 1)).expect(ledger.OK),
	}, check: func(t *testing.T, h *harness, r *run) {
		if rec := h.transfer(10); rec.Amount != 100 || rec.Status != ledger.StatusPosted {
			t.Errorf("record %+v", rec)
		}
	}},
	{name: "linked_event_failed/member_that_was_a_retry", steps: []step{
		do(1, linked(transfer(10, pos7, pos8, 100)), transfer(11, pos8, set8, 100)).expect(ledger.OK, ledger.OK),
		do(2, linked(transfer(10, pos7, pos8, 100)), transfer(11, pos8, set8, 99)).expect(ledger.LinkedEventFailed, ledger.ExistsWithDifferentAmount),
	}},
	{name: "ok/linked_chain_retried", steps: []step{
		do(1, linked(transfer(10, pos7, pos8, 100)), transfer(11, pos8, set8, 100)).expect(ledger.OK, ledger.OK),
		do(2, linked(transfer(10, pos7, pos8, 100)), transfer(11, pos8, set8, 100)).expect(ledger.Exists, ledger.Exists),
		do(3, linked(transfer(10, pos7, pos8, 100)), transfer(12, pos7, pos8, 1)).expect(ledger.Exists, ledger.OK),
	}, check: func(t *testing.T, h *harness, r *run) {
		if r.ts(1, 0) != r.ts(0, 0) || r.ts(1, 1) != r.ts(0, 1) {
			t.Errorf("retries answered %d and %d, originals at %d and %d", r.ts(1, 0), r.ts(1, 1), r.ts(0, 0), r.ts(0, 1))
		}
	}},
	{name: "linked_event_failed/chain_left_open_after_failing", steps: []step{
		do(1, linked(transfer(10, pos8, pos7, 1)), linked(transfer(11, pos7, pos8, 1))).expect(ledger.ExceedsCredits, ledger.LinkedEventFailed),
	}},
	{name: "linked_event_chain_open", steps: []step{
		do(1, linked(transfer(10, pos7, pos8, 100)), linked(transfer(11, pos8, set8, 50))).
			expect(ledger.LinkedEventChainOpen, ledger.LinkedEventChainOpen),
		do(2, transfer(10, pos7, pos8, 100), transfer(11, pos8, set8, 50)).expect(ledger.OK, ledger.OK),
	}, check: func(t *testing.T, h *harness, r *run) {
		if len(r.events[0]) != 0 {
			t.Errorf("events of the open chain: %+v", r.events[0])
		}
	}},
	{name: "linked_event_chain_open/closed_by_a_set_limit", steps: []step{
		do(1, linked(transfer(10, pos7, pos8, 100)), setLimit(pos7, 2000), transfer(11, pos7, pos8, 2400)).
			expect(ledger.LinkedEventChainOpen, ledger.OK, ledger.OK),
	}, check: func(t *testing.T, h *harness, r *run) {
		// Transfer 10 was undone; set_limit and transfer 11 ran on their own.
		if _, ok := h.m.Transfer(id(10)); ok {
			t.Error("transfer 10 of the open chain was kept")
		}
		wantBalances(t, h, map[uint64]balances{pos7: {dP: 2400, cP: 500}, pos8: {cP: 2400}})
	}},
	{name: "linked_event_chain_open/closed_by_an_expire", steps: []step{
		do(1, reserve(9, pos7, pos8, 10, 1)).expect(ledger.OK),
		do(5, linked(transfer(10, pos7, pos8, 1)), expire(), void(11, 9)).
			expect(ledger.LinkedEventChainOpen, ledger.OK, ledger.PendingTransferExpired),
	}, check: func(t *testing.T, h *harness, r *run) {
		if h.transfer(9).Status != ledger.StatusExpired {
			t.Errorf("record %+v", h.transfer(9))
		}
	}},
}

func TestApply(t *testing.T) {
	for _, tc := range applyCases {
		t.Run(tc.name, func(t *testing.T) {
			h := newFixture(t)
			var r run
			for s, st := range tc.steps {
				if len(st.want) != len(st.cmds) {
					t.Fatalf("step %d: %d codes for %d commands", s, len(st.want), len(st.cmds))
				}
				out := h.apply(t0+st.at, st.cmds...)
				r.results = append(r.results, slices.Clone(out.Results))
				r.events = append(r.events, slices.Clone(out.Events))
				for i, res := range out.Results {
					if res.Code != st.want[i] {
						t.Fatalf("step %d command %d: got %s, want %s", s, i, res.Code, st.want[i])
					}
				}
			}
			if tc.check != nil {
				tc.check(t, h, &r)
			}
		})
	}
}

// TestApplyCoversEveryCode keeps applyCases complete: every code a command
// can get has a row that produces it.
func TestApplyCoversEveryCode(t *testing.T) {
	covered := map[ledger.Code]bool{}
	for _, tc := range applyCases {
		for _, st := range tc.steps {
			for _, c := range st.want {
				covered[c] = true
			}
		}
	}
	for _, c := range ledger.Codes() {
		if !covered[c] {
			t.Errorf("no applyCases row produces %s (%d)", c, c)
		}
	}
}
