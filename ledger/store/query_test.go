package store_test

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
)

// Accounts of the query tests: three in KES that trade among themselves
// and one in USD that a KES transfer cannot reach.
var (
	accountA   = ledger.NewID(1, 1)
	accountB   = ledger.NewID(1, 2)
	accountC   = ledger.NewID(1, 3)
	accountUSD = ledger.NewID(1, 4)
)

func createAccounts(ids ...ledger.ID) []ledger.Command {
	var out []ledger.Command
	for _, id := range ids {
		currency := uint16(404)
		if id == accountUSD {
			currency = 840
		}
		out = append(out, ledger.Command{Op: ledger.OpCreateAccount, Account: ledger.Account{
			ID: id, Participant: id.Lo(), Currency: currency, Kind: ledger.KindPosition,
		}})
	}
	return out
}

func transfer(id uint64, debit, credit ledger.ID, amount ledger.Amount) ledger.Command {
	return ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
		ID: ledger.IDFromUint64(id), DebitAccount: debit, CreditAccount: credit,
		Amount: amount, Currency: 404, Code: 1,
	}}
}

func pending(id uint64, debit, credit ledger.ID, amount ledger.Amount, timeout uint32) ledger.Command {
	c := transfer(id, debit, credit, amount)
	c.Transfer.Flags, c.Transfer.Timeout = ledger.Pending, timeout
	return c
}

func resolve(id, pendingID uint64, flags ledger.TransferFlags) ledger.Command {
	return ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
		ID: ledger.IDFromUint64(id), PendingID: ledger.IDFromUint64(pendingID), Flags: flags,
	}}
}

func linked(c ledger.Command) ledger.Command {
	c.Transfer.Flags |= ledger.Linked
	return c
}

// requireOK fails unless every command of the last batch succeeded.
func requireOK(t *testing.T, h *harness) {
	t.Helper()
	b := &h.batches[len(h.batches)-1]
	for i := range b.Commands {
		c := &b.Commands[i]
		if c.Op != ledger.OpCreateTransfer && c.Op != ledger.OpCreateAccount {
			continue
		}
		var ts uint64
		var ok bool
		if c.Op == ledger.OpCreateTransfer {
			var rec ledger.Transfer
			rec, ok = h.memory.Transfer(c.Transfer.ID)
			ok = ok && rec.Status != ledger.StatusRejected
			ts = rec.Timestamp
		} else {
			var rec ledger.Account
			rec, ok = h.memory.Account(c.Account.ID)
			ts = rec.Timestamp
		}
		if !ok || ts == 0 {
			t.Fatalf("index %d command %d (%s) did not succeed", h.index, i, describe(c))
		}
	}
}

func TestAccountTransfers(t *testing.T) {
	h := newHarness(t, store.Options{Dir: t.TempDir(), NoWAL: true}, tightness{}, &coverage{})
	defer h.close()
	ts := timestampStart
	h.apply(ledger.Batch{Timestamp: ts, Commands: createAccounts(accountA, accountB, accountC, accountUSD)})
	requireOK(t, h)
	ts += 1e9
	h.apply(ledger.Batch{Timestamp: ts, Commands: []ledger.Command{
		transfer(1, accountA, accountB, 10),
		transfer(2, accountB, accountC, 20),
		transfer(3, accountC, accountA, 30),
		pending(4, accountA, accountC, 40, 60),
	}})
	requireOK(t, h)
	ts -= 5e8 // the leader's clock stepped back: time order must still hold
	h.apply(ledger.Batch{Timestamp: ts, Commands: []ledger.Command{
		resolve(5, 4, ledger.PostPending),    // lists on A and C, as the pending one does
		transfer(6, accountA, accountUSD, 1), // rejected: currency_mismatch, listed nowhere
		linked(transfer(7, accountB, accountA, 5)),
		transfer(8, accountA, accountA, 5), // fails the chain: 7 is rolled back
		transfer(9, accountB, accountA, 7),
	}})
	want := modelHistory(h.memory.Transfers(), accountA)
	if wantIDs := []uint64{1, 3, 4, 5, 9}; !slices.Equal(idNumbers(want), wantIDs) {
		t.Fatalf("model history of A is %v, the test expects %v", idNumbers(want), wantIDs)
	}
	for _, page := range []int{1, 2, 3, 1000} {
		if got := accountHistory(t, h.store, accountA, page); !slices.Equal(got, want) {
			t.Errorf("page %d: history %v, want %v", page, ids(got), ids(want))
		}
	}
	got, err := h.store.AccountTransfers(accountA, want[1].Timestamp, 2)
	if err != nil || !slices.Equal(got, want[2:4]) {
		t.Errorf("page after %d: %v (%v), want %v", want[1].Timestamp, ids(got), err, ids(want[2:4]))
	}
	for _, q := range []struct {
		name    string
		account ledger.ID
		after   uint64
		limit   int
		want    []ledger.Transfer
	}{
		{"limit 0 means 1", accountA, 0, 0, want[:1]},
		{"negative limit means 1", accountA, 0, -5, want[:1]},
		{"after the last", accountA, want[len(want)-1].Timestamp, 10, nil},
		{"after the end of time", accountA, math.MaxUint64, 10, nil},
		{"no transfers", accountUSD, 0, 10, nil},
		{"no such account", ledger.NewID(1, 99), 0, 10, nil},
	} {
		got, err := h.store.AccountTransfers(q.account, q.after, q.limit)
		if err != nil || !slices.Equal(got, q.want) {
			t.Errorf("%s: %v (%v), want %v", q.name, ids(got), err, ids(q.want))
		}
	}
}

// TestAccountTransfersPageMax checks that a page never exceeds PageMax
// whatever limit the caller asks for.
func TestAccountTransfersPageMax(t *testing.T) {
	h := newHarness(t, store.Options{Dir: t.TempDir(), NoWAL: true}, tightness{}, &coverage{})
	defer h.close()
	h.apply(ledger.Batch{Timestamp: timestampStart, Commands: createAccounts(accountA, accountB)})
	b := ledger.Batch{Timestamp: timestampStart + 1e9}
	for i := range store.PageMax + 200 {
		b.Commands = append(b.Commands, transfer(uint64(i+1), accountA, accountB, 1))
	}
	h.apply(b)
	requireOK(t, h)
	got, err := h.store.AccountTransfers(accountB, 0, 10*store.PageMax)
	if err != nil || len(got) != store.PageMax {
		t.Fatalf("got %d transfers (%v), want a page of %d", len(got), err, store.PageMax)
	}
	rest, err := h.store.AccountTransfers(accountB, got[len(got)-1].Timestamp, 10*store.PageMax)
	if err != nil || len(rest) != 200 || rest[0].Timestamp <= got[len(got)-1].Timestamp {
		t.Fatalf("second page: %d transfers (%v), want the other 200 in time order", len(rest), err)
	}
}

func TestPendingTransfers(t *testing.T) {
	h := newHarness(t, store.Options{Dir: t.TempDir(), NoWAL: true, PendingCacheMax: 2}, tightness{}, &coverage{})
	defer h.close()
	ts := timestampStart
	h.apply(ledger.Batch{Timestamp: ts, Commands: createAccounts(accountA, accountB, accountC)})
	h.apply(ledger.Batch{Timestamp: ts + 1e9, Commands: []ledger.Command{
		pending(1, accountA, accountB, 10, 5),
		pending(2, accountA, accountC, 10, 2),
		pending(3, accountB, accountC, 10, 0), // no timeout: never expires, never listed
		pending(4, accountC, accountA, 10, 3),
	}})
	requireOK(t, h)
	// One second later, and second in its batch as transfer 2 is in its
	// own, so that transfer 5's deadline ties with transfer 2's and the
	// timestamp orders them.
	h.apply(ledger.Batch{Timestamp: ts + 2e9, Commands: []ledger.Command{
		pending(6, accountC, accountB, 10, 1),
		pending(5, accountB, accountA, 10, 1),
		pending(7, accountA, accountC, 10, 4),
	}})
	requireOK(t, h)
	listed := checkPending(t, h, []uint64{6, 2, 5, 4, 1, 7})
	if listed[1].Deadline() != listed[2].Deadline() {
		t.Fatalf("the test wants a deadline tie between transfers 2 and 5: %d, %d", listed[1].Deadline(), listed[2].Deadline())
	}
	got, err := h.store.PendingTransfers(listed[1].Deadline(), listed[1].Timestamp, 2)
	if err != nil || !slices.Equal(got, listed[2:4]) {
		t.Errorf("page after transfer 2: %v (%v), want %v", ids(got), err, ids(listed[2:4]))
	}

	// A posted and a voided transfer leave the list at once.
	h.apply(ledger.Batch{Timestamp: ts + 2e9 + 1e8, Commands: []ledger.Command{
		resolve(8, 6, ledger.PostPending),
		resolve(9, 4, ledger.VoidPending),
	}})
	requireOK(t, h)
	checkPending(t, h, []uint64{2, 5, 1, 7})

	// Expiry voids what is due (2 and 5, due just after start+3 s) and
	// nothing else.
	h.apply(ledger.Batch{Timestamp: ts + 3e9 + 1e8, Commands: []ledger.Command{{Op: ledger.OpExpire}}})
	checkPending(t, h, []uint64{1, 7})
	h.reopen()
	checkPending(t, h, []uint64{1, 7})
	h.apply(ledger.Batch{Timestamp: ts + 10e9, Commands: []ledger.Command{{Op: ledger.OpExpire}}})
	checkPending(t, h, nil)
	for _, id := range []uint64{2, 5, 1, 7} {
		rec, ok, err := h.store.Transfer(ledger.IDFromUint64(id))
		if err != nil || !ok || rec.Status != ledger.StatusExpired {
			t.Errorf("transfer %d: %+v (found %v, %v), want expired", id, rec, ok, err)
		}
	}
	h.verify()
}

// TestExpireAtDeadline pins the boundary of expiry: a pending transfer
// expires at its deadline, not a nanosecond before. Random timestamps
// almost never land on a deadline exactly, so the property test alone
// would not notice an off-by-one in the expiry index scan.
func TestExpireAtDeadline(t *testing.T) {
	h := newHarness(t, store.Options{Dir: t.TempDir(), NoWAL: true}, tightness{}, &coverage{})
	defer h.close()
	h.apply(ledger.Batch{Timestamp: timestampStart, Commands: createAccounts(accountA, accountB)})
	h.apply(ledger.Batch{Timestamp: timestampStart + 1e9, Commands: []ledger.Command{pending(1, accountA, accountB, 5, 1)}})
	requireOK(t, h)
	p, _, _ := h.store.Transfer(ledger.IDFromUint64(1))
	for _, tc := range []struct {
		now    uint64
		status ledger.Status
	}{
		{p.Deadline() - 1, ledger.StatusPending},
		{p.Deadline(), ledger.StatusExpired},
	} {
		h.apply(ledger.Batch{Timestamp: tc.now, Commands: []ledger.Command{{Op: ledger.OpExpire}}})
		if got := h.store.LastTimestamp(); got != tc.now {
			t.Fatalf("expire ran at %d, the test wants %d", got, tc.now)
		}
		if got, _, _ := h.store.Transfer(p.ID); got.Status != tc.status {
			t.Errorf("at deadline%+d: status %s, want %s", int64(tc.now-p.Deadline()), got.Status, tc.status)
		}
	}
	checkPending(t, h, nil)
}

// checkPending requires PendingTransfers, read in pages of every size, to
// list exactly the transfers wantIDs in that order, as the model does.
func checkPending(t *testing.T, h *harness, wantIDs []uint64) []ledger.Transfer {
	t.Helper()
	want := modelPending(h.memory.Transfers())
	if !slices.Equal(idNumbers(want), wantIDs) {
		t.Fatalf("model lists %v, the test expects %v", idNumbers(want), wantIDs)
	}
	for page := 1; page <= len(want)+1; page++ {
		if got := allPending(t, h.store, page); !slices.Equal(got, want) {
			t.Fatalf("page %d: pending %v, want %v", page, ids(got), ids(want))
		}
	}
	return want
}

func idNumbers(ts []ledger.Transfer) []uint64 {
	var out []uint64
	for _, t := range ts {
		out = append(out, t.ID.Lo())
	}
	return out
}

func TestLookups(t *testing.T) {
	h := newHarness(t, store.Options{Dir: t.TempDir(), NoWAL: true}, tightness{}, &coverage{})
	defer h.close()
	h.apply(ledger.Batch{Timestamp: timestampStart, Commands: createAccounts(accountA, accountB, accountUSD)})
	h.apply(ledger.Batch{Timestamp: timestampStart + 1e9, Commands: []ledger.Command{
		transfer(1, accountA, accountB, 10),
		transfer(2, accountA, accountUSD, 10), // rejected: currency_mismatch
		pending(3, accountB, accountA, 4, 60),
	}})
	for _, id := range []ledger.ID{accountA, accountB, accountUSD} {
		got, ok, err := h.store.Account(id)
		want, _ := h.memory.Account(id)
		if err != nil || !ok || got != want {
			t.Errorf("account %s: %+v (found %v, %v), want %+v", id, got, ok, err, want)
		}
	}
	if got, want := mustAccount(t, h.store, accountA).DebitsPosted, ledger.Amount(10); got != want {
		t.Errorf("A debits posted %d, want %d", got, want)
	}
	if got, want := mustAccount(t, h.store, accountA).CreditsPending, ledger.Amount(4); got != want {
		t.Errorf("A credits pending %d, want %d", got, want)
	}
	if _, ok, err := h.store.Account(accountC); ok || err != nil {
		t.Errorf("account C was never created, store found it (%v)", err)
	}
	for id, status := range map[uint64]ledger.Status{1: ledger.StatusPosted, 2: ledger.StatusRejected, 3: ledger.StatusPending} {
		got, ok, err := h.store.Transfer(ledger.IDFromUint64(id))
		want, _ := h.memory.Transfer(ledger.IDFromUint64(id))
		if err != nil || !ok || got != want || got.Status != status {
			t.Errorf("transfer %d: %+v (found %v, %v), want %+v with status %s", id, got, ok, err, want, status)
		}
	}
	if got, _, _ := h.store.Transfer(ledger.IDFromUint64(2)); got.Result != ledger.CurrencyMismatch {
		t.Errorf("rejected transfer keeps reason %s, want %s", got.Result, ledger.CurrencyMismatch)
	}
	if _, ok, err := h.store.Transfer(ledger.IDFromUint64(99)); ok || err != nil {
		t.Errorf("transfer 99 was never sent, store found it (%v)", err)
	}
}

func mustAccount(t *testing.T, s *store.Store, id ledger.ID) ledger.Account {
	t.Helper()
	a, ok, err := s.Account(id)
	if err != nil || !ok {
		t.Fatalf("account %s: found %v, %v", id, ok, err)
	}
	return a
}

// TestApplyOldIndex checks that a replayed log index changes nothing: it
// returns ErrIndexApplied, before and after a reopen, and leaves the
// applied index, the digest and the records as they were.
func TestApplyOldIndex(t *testing.T) {
	h := newHarness(t, store.Options{Dir: t.TempDir(), NoWAL: true}, tightness{}, &coverage{})
	defer h.close()
	next := ledger.Batch{Timestamp: timestampStart + 2e9, Commands: []ledger.Command{transfer(2, accountA, accountB, 1)}}
	if _, err := h.store.Apply(0, &next); !errors.Is(err, store.ErrIndexApplied) {
		t.Fatalf("index 0 on an empty store: %v, want ErrIndexApplied", err)
	}
	h.apply(ledger.Batch{Timestamp: timestampStart, Commands: createAccounts(accountA, accountB)})
	h.apply(ledger.Batch{Timestamp: timestampStart + 1e9, Commands: []ledger.Command{transfer(1, accountA, accountB, 5)}})
	applied, digest := h.store.AppliedIndex(), h.store.Digest()
	for _, reopen := range []bool{false, true} {
		if reopen {
			h.reopen()
		}
		for _, index := range []uint64{1, 2} {
			if _, err := h.store.Apply(index, &next); !errors.Is(err, store.ErrIndexApplied) {
				t.Fatalf("index %d again (reopened %v): %v, want ErrIndexApplied", index, reopen, err)
			}
		}
		if h.store.AppliedIndex() != applied || h.store.Digest() != digest {
			t.Fatalf("a refused batch changed the store: index %d digest %s, was %d %s",
				h.store.AppliedIndex(), h.store.Digest(), applied, digest)
		}
		if _, ok, _ := h.store.Transfer(ledger.IDFromUint64(2)); ok {
			t.Fatal("a refused batch wrote its transfer")
		}
	}
	// Indexes may skip (a Raft log holds entries that are not batches);
	// what counts is that they increase.
	if _, err := h.store.Apply(applied+5, &next); err != nil {
		t.Fatalf("index %d: %v", applied+5, err)
	}
	if _, err := h.store.Apply(applied+3, &next); !errors.Is(err, store.ErrIndexApplied) {
		t.Fatalf("index %d after %d: %v, want ErrIndexApplied", applied+3, applied+5, err)
	}
}
