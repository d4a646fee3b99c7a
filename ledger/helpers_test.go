package ledger_test

import (
	"fmt"
	"testing"

	"github.com/payswitch/payswitch/ledger"
)

// Shared building blocks of the ledger tests: command constructors that
// keep table rows short, and the invariant checks that every test runs
// after every batch it applies.

const (
	kes    = 404 // the currency of almost every test account
	usd    = 840 // a second currency, for mismatches
	second = uint64(1e9)
	// t0 is when test fixtures are set up. Later steps are t0 plus whole
	// seconds, so that deadlines are easy to read in failures.
	t0 = 1000 * second
)

func id(v uint64) ledger.ID { return ledger.IDFromUint64(v) }

func account(idv, participant uint64, currency uint16, kind ledger.AccountKind, flags ledger.AccountFlags, limit ledger.Amount) ledger.Command {
	return ledger.Command{Op: ledger.OpCreateAccount, Account: ledger.Account{
		ID: id(idv), Participant: participant, Currency: currency, Kind: kind, Flags: flags, Limit: limit,
	}}
}

// transfer is a single-phase KES transfer with code 1.
func transfer(idv, debit, credit uint64, amount ledger.Amount) ledger.Command {
	return ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
		ID: id(idv), DebitAccount: id(debit), CreditAccount: id(credit), Amount: amount, Currency: kes, Code: 1,
	}}
}

// reserve is a pending KES transfer with a timeout in seconds.
func reserve(idv, debit, credit uint64, amount ledger.Amount, timeout uint32) ledger.Command {
	c := transfer(idv, debit, credit, amount)
	c.Transfer.Flags, c.Transfer.Timeout = ledger.Pending, timeout
	return c
}

// post posts pending transfer pendingID; amount 0 posts all of it. The
// accounts and currency are left zero, to be taken from the pending one.
func post(idv, pendingID uint64, amount ledger.Amount) ledger.Command {
	return ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
		ID: id(idv), PendingID: id(pendingID), Amount: amount, Code: 1, Flags: ledger.PostPending,
	}}
}

func void(idv, pendingID uint64) ledger.Command {
	return ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
		ID: id(idv), PendingID: id(pendingID), Code: 1, Flags: ledger.VoidPending,
	}}
}

func setLimit(idv uint64, limit ledger.Amount) ledger.Command {
	return ledger.Command{Op: ledger.OpSetLimit, Account: ledger.Account{ID: id(idv), Limit: limit}}
}

func expire() ledger.Command { return ledger.Command{Op: ledger.OpExpire} }

// linked sets the Linked flag: the command chains to the next one.
func linked(c ledger.Command) ledger.Command {
	c.Transfer.Flags |= ledger.Linked
	return c
}

// with returns c with its transfer edited by f.
func with(c ledger.Command, f func(*ledger.Transfer)) ledger.Command {
	f(&c.Transfer)
	return c
}

// withAccount returns c with its account edited by f.
func withAccount(c ledger.Command, f func(*ledger.Account)) ledger.Command {
	f(&c.Account)
	return c
}

// harness is a Memory ledger that checks the ledger's invariants after
// every batch it applies.
type harness struct {
	t    testing.TB
	m    *ledger.Memory
	last uint64 // the LastTimestamp before the next batch
}

func newHarness(t testing.TB) *harness {
	return &harness{t: t, m: ledger.NewMemory()}
}

// apply applies one batch at ts and checks it.
func (h *harness) apply(ts uint64, cmds ...ledger.Command) *ledger.Output {
	h.t.Helper()
	b := &ledger.Batch{Timestamp: ts, Commands: cmds}
	out := h.m.Apply(b)
	checkApplied(h.t, h.m, b, out, h.last, true)
	h.last = out.LastTimestamp
	return out
}

// mustApply applies a batch whose every command must succeed.
func (h *harness) mustApply(ts uint64, cmds ...ledger.Command) *ledger.Output {
	h.t.Helper()
	out := h.apply(ts, cmds...)
	for i, r := range out.Results {
		if !r.Code.Succeeded() {
			h.t.Fatalf("setup command %d (%s %s): %s", i, cmds[i].Op, commandID(&cmds[i]), r.Code)
		}
	}
	return out
}

func (h *harness) account(idv uint64) ledger.Account {
	h.t.Helper()
	a, ok := h.m.Account(id(idv))
	if !ok {
		h.t.Fatalf("account %d not found", idv)
	}
	return a
}

func (h *harness) transfer(idv uint64) ledger.Transfer {
	h.t.Helper()
	tr, ok := h.m.Transfer(id(idv))
	if !ok {
		h.t.Fatalf("transfer %d not found", idv)
	}
	return tr
}

func commandID(c *ledger.Command) ledger.ID {
	if c.Op == ledger.OpCreateTransfer {
		return c.Transfer.ID
	}
	return c.Account.ID
}

// balances is an account's four balances, for compact comparisons.
type balances struct{ dp, dP, cp, cP ledger.Amount }

func balancesOf(a ledger.Account) balances {
	return balances{a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted}
}

func (b balances) String() string {
	return fmt.Sprintf("debits pending=%d posted=%d credits pending=%d posted=%d", b.dp, b.dP, b.cp, b.cP)
}

// isRetryCode reports the codes that answer from an existing record, and
// so carry the original's timestamp.
func isRetryCode(c ledger.Code) bool {
	return (c >= ledger.IDAlreadyFailed && c <= ledger.Exists) ||
		(c >= ledger.AccountExistsWithDifferentParticipant && c <= ledger.AccountExists)
}

// isBurningCode reports the transfer codes that reject a transfer on its
// own account, which records the rejection under its ID.
func isBurningCode(c ledger.Code) bool {
	return (c >= ledger.FlagsUnknown && c <= ledger.AmountMustNotBeZero) ||
		(c >= ledger.DebitAccountNotFound && c <= ledger.ExceedsDebits)
}

// checkApplied checks what Apply promises for one batch b whose output is
// out, with m holding the state after it and prevLast the LastTimestamp
// before it. checkTime is off only for fuzzed batches whose timestamps may
// wrap around 2^64.
func checkApplied(t testing.TB, m *ledger.Memory, b *ledger.Batch, out *ledger.Output, prevLast uint64, checkTime bool) {
	t.Helper()
	n := len(b.Commands)
	if len(out.Results) != n {
		t.Fatalf("%d results for %d commands", len(out.Results), n)
	}
	if n == 0 {
		if out.LastTimestamp != prevLast {
			t.Fatalf("empty batch moved LastTimestamp from %d to %d", prevLast, out.LastTimestamp)
		}
	} else if checkTime {
		checkTimestamps(t, b, out, prevLast)
	}
	if checkTime {
		checkEvents(t, m, b, out)
	}
	if got, want := m.Digest(), m.RecomputeDigest(); got != want {
		t.Fatalf("incremental digest %s, recomputed %s", got, want)
	}
	checkBalances(t, m)
}

// checkTimestamps checks that the batch's timestamps follow the previous
// batch's and the batch's own clock, and that every result carries its
// command's timestamp unless it answers from an earlier record.
func checkTimestamps(t testing.TB, b *ledger.Batch, out *ledger.Output, prevLast uint64) {
	t.Helper()
	n := uint64(len(b.Commands))
	start := out.LastTimestamp - (n - 1)
	if start <= prevLast || start < b.Timestamp {
		t.Fatalf("batch starts at %d: previous batch ended at %d, batch clock %d", start, prevLast, b.Timestamp)
	}
	if start != max(b.Timestamp, prevLast+1) {
		t.Fatalf("batch starts at %d, want the later of clock %d and %d+1", start, b.Timestamp, prevLast)
	}
	for i, r := range out.Results {
		fresh := start + uint64(i)
		if r.Timestamp == fresh {
			continue
		}
		retry := b.Commands[i].Op == ledger.OpCreateTransfer || b.Commands[i].Op == ledger.OpCreateAccount
		if !retry || r.Timestamp > fresh || !(isRetryCode(r.Code) || isBurningCode(r.Code)) {
			t.Fatalf("command %d: %s at %d, want its own timestamp %d", i, r.Code, r.Timestamp, fresh)
		}
	}
}

// checkEvents rebuilds the change stream the results imply and compares it
// with out.Events: one event per command that changed the ledger, none for
// a retry or a command undone with its chain.
func checkEvents(t testing.TB, m *ledger.Memory, b *ledger.Batch, out *ledger.Output) {
	t.Helper()
	var want []ledger.Event
	start := out.LastTimestamp - uint64(len(b.Commands)-1)
	for i, r := range out.Results {
		ts := start + uint64(i)
		if r.Timestamp != ts {
			continue // a retry answers from the record; nothing happens
		}
		c := &b.Commands[i]
		e := ledger.Event{Timestamp: ts, ID: commandID(c)}
		switch {
		case c.Op == ledger.OpCreateAccount && r.Code == ledger.OK:
			e.Kind = ledger.EventAccountCreated
		case c.Op == ledger.OpSetLimit && r.Code == ledger.OK:
			e.Kind = ledger.EventLimitChanged
		case c.Op == ledger.OpCreateTransfer && r.Code == ledger.OK:
			e.Kind = transferEventKind(&c.Transfer)
			if c.Transfer.Flags&(ledger.PostPending|ledger.VoidPending) != 0 {
				e.ID2 = c.Transfer.PendingID
			}
		case c.Op == ledger.OpCreateTransfer && isBurningCode(r.Code):
			e.Kind, e.Code = ledger.EventTransferRejected, r.Code
		case c.Op == ledger.OpExpire && r.Code == ledger.OK:
			want = append(want, expiredEvents(t, m, out, ts, int(r.Expired))...)
			continue
		default:
			continue
		}
		want = append(want, e)
	}
	if len(want) != len(out.Events) {
		t.Fatalf("events:\n got %v\nwant %v", out.Events, want)
	}
	for i := range want {
		if want[i] != out.Events[i] {
			t.Fatalf("event %d: got %+v, want %+v", i, out.Events[i], want[i])
		}
	}
}

func transferEventKind(tr *ledger.Transfer) ledger.EventKind {
	switch {
	case tr.Flags&ledger.Pending != 0:
		return ledger.EventTransferPending
	case tr.Flags&ledger.VoidPending != 0:
		return ledger.EventTransferVoided
	}
	return ledger.EventTransferPosted
}

// expiredEvents returns the count transfer_expired events at ts, taking the
// IDs from out.Events and checking that each names a transfer that is now
// expired.
func expiredEvents(t testing.TB, m *ledger.Memory, out *ledger.Output, ts uint64, count int) []ledger.Event {
	t.Helper()
	var es []ledger.Event
	for _, e := range out.Events {
		if e.Timestamp == ts && e.Kind == ledger.EventTransferExpired {
			es = append(es, e)
		}
	}
	if len(es) != count {
		t.Fatalf("expire at %d reports %d expired, events show %d", ts, count, len(es))
	}
	for _, e := range es {
		if tr, ok := m.Transfer(e.ID); !ok || tr.Status != ledger.StatusExpired {
			t.Fatalf("expired event for %s, whose record is %+v", e.ID, tr)
		}
	}
	return es
}

// checkBalances checks every account against its rule and against the
// transfer records: each balance must equal the sum of the amounts of the
// records that make it up, and for each currency debits equal credits.
// Sums wrap modulo 2^64 on both sides, which keeps the check exact for the
// overflow tests too.
func checkBalances(t testing.TB, m *ledger.Memory) {
	t.Helper()
	want := map[ledger.ID]*balances{}
	for _, a := range m.Accounts() {
		want[a.ID] = &balances{}
	}
	for _, tr := range m.Transfers() {
		d, c := want[tr.DebitAccount], want[tr.CreditAccount]
		switch {
		case tr.Status == ledger.StatusPending:
			d.dp += tr.Amount
			c.cp += tr.Amount
		case tr.Status == ledger.StatusPosted && tr.Flags&ledger.Pending == 0:
			// A single-phase transfer or a post record; the posted pending
			// transfer itself is counted through its post record.
			d.dP += tr.Amount
			c.cP += tr.Amount
		}
	}
	type totals struct{ dp, dP, cp, cP ledger.Amount }
	perCurrency := map[uint16]*totals{}
	for _, a := range m.Accounts() {
		if !ledger.WithinRules(&a) {
			t.Fatalf("account %s breaks its rule: %+v", a.ID, a)
		}
		if got := balancesOf(a); got != *want[a.ID] {
			t.Fatalf("account %s: %s, transfer records say %s", a.ID, got, want[a.ID])
		}
		tot := perCurrency[a.Currency]
		if tot == nil {
			tot = &totals{}
			perCurrency[a.Currency] = tot
		}
		tot.dp += a.DebitsPending
		tot.dP += a.DebitsPosted
		tot.cp += a.CreditsPending
		tot.cP += a.CreditsPosted
	}
	for cur, tot := range perCurrency {
		if tot.dp != tot.cp || tot.dP != tot.cP {
			t.Fatalf("currency %d does not balance: %+v", cur, *tot)
		}
	}
}
