package store_test

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
	"pgregory.net/rapid"
)

// quiet keeps the store's "open" lines out of the test output.
var quiet = slog.New(slog.DiscardHandler)

// tightness selects OpenTight's bounds; the zero value opens normally.
type tightness struct {
	accountCacheMax int
	filterBytes     int
}

// coverage counts how often the tests drove the store's cache and filter
// paths, so that a test can prove it reached them rather than hope.
type coverage struct {
	filterNo            int // a new ID the filter ruled out: no Pebble read
	filterFalsePositive int // a new ID the filter let through: a Pebble read that finds nothing
	pendingHit          int // a post or void of a pending transfer in the pending cache
	pendingMiss         int // a post or void of a pending transfer read from disk
	accountCacheFull    int // batches after which the account cache was at its bound
	reopens             int
	retriesSame         int // identical retries of an ID with a record, checked against its first outcome
	retriesChanged      int // changed retries of an ID with a record
	expired             int // pending transfers voided by expire commands
}

// outcome is what every later identical retry of a transfer ID must
// answer: the command that first wrote the ID's record, and the result an
// identical retry gets (exists with the original timestamp, or the
// original rejection).
type outcome struct {
	creator ledger.Transfer
	retry   ledger.Result
}

// harness applies the same batches to a Store and to ledger.Memory, the
// reference model, and fails at the first difference.
type harness struct {
	t       rapid.TB
	options store.Options
	tight   tightness
	cover   *coverage

	store  *store.Store
	memory *ledger.Memory
	index  uint64

	batches  []ledger.Batch
	digests  []ledger.Digest // the digest after each batch
	outcomes map[ledger.ID]outcome
}

func newHarness(t rapid.TB, options store.Options, tight tightness, cover *coverage) *harness {
	t.Helper()
	options.Logger = quiet
	h := &harness{
		t: t, options: options, tight: tight, cover: cover,
		memory:   ledger.NewMemory(),
		outcomes: map[ledger.ID]outcome{},
	}
	h.store = h.open()
	return h
}

func (h *harness) open() *store.Store {
	h.t.Helper()
	var s *store.Store
	var err error
	if h.tight == (tightness{}) {
		s, err = store.Open(h.options)
	} else {
		s, err = store.OpenTight(h.options, h.tight.accountCacheMax, h.tight.filterBytes)
	}
	if err != nil {
		h.t.Fatalf("open %s: %v", h.options.Dir, err)
	}
	return s
}

// close closes the store once; it is safe to call again, so that a
// cleanup can close whatever a failed test left open.
func (h *harness) close() {
	h.t.Helper()
	if h.store == nil {
		return
	}
	err := h.store.Close()
	h.store = nil
	if err != nil {
		h.t.Fatalf("close: %v", err)
	}
}

// reopen closes the store and opens it again, which empties its caches and
// rebuilds its ID filter from disk. The model must not notice.
func (h *harness) reopen() {
	h.t.Helper()
	h.close()
	h.store = h.open()
	h.cover.reopens++
	if got := h.store.AppliedIndex(); got != h.index {
		h.t.Fatalf("reopened at applied index %d, want %d", got, h.index)
	}
	if got, want := h.store.Digest(), h.memory.Digest(); got != want {
		h.t.Fatalf("reopened with digest %s, model has %s", got, want)
	}
	if got, want := h.store.LastTimestamp(), h.memory.LastTimestamp(); got != want {
		h.t.Fatalf("reopened with last timestamp %d, model has %d", got, want)
	}
}

// apply applies b as the next log index to both ledgers and compares
// everything they answer.
func (h *harness) apply(b ledger.Batch) {
	h.t.Helper()
	h.observe(&b)
	h.index++
	got, err := h.store.Apply(h.index, &b)
	if err != nil {
		h.t.Fatalf("apply index %d: %v", h.index, err)
	}
	want := h.memory.Apply(&b)
	compareOutputs(h.t, h.index, &b, got, want)
	if got, want := h.store.Digest(), h.memory.Digest(); got != want {
		h.t.Fatalf("index %d: store digest %s, model %s", h.index, got, want)
	}
	if got := h.store.AppliedIndex(); got != h.index {
		h.t.Fatalf("applied index %d, want %d", got, h.index)
	}
	if got, want := h.store.LastTimestamp(), h.memory.LastTimestamp(); got != want {
		h.t.Fatalf("index %d: last timestamp %d, model %d", h.index, got, want)
	}
	h.checkRetries(&b, want)
	for _, r := range want.Results {
		h.cover.expired += int(r.Expired)
	}
	if err := h.store.CheckCaches(); err != nil {
		h.t.Fatalf("index %d: %v", h.index, err)
	}
	if h.tight.accountCacheMax > 0 && h.store.AccountsCached() == h.tight.accountCacheMax {
		h.cover.accountCacheFull++
	}
	h.batches = append(h.batches, b)
	h.digests = append(h.digests, h.memory.Digest())
}

// observe looks at the filter and the pending cache before b is applied:
// the filter must never rule out a stored ID, and the coverage counts
// which paths the batch will take.
func (h *harness) observe(b *ledger.Batch) {
	h.t.Helper()
	for i := range b.Commands {
		c := &b.Commands[i]
		if c.Op != ledger.OpCreateTransfer || c.Transfer.ID.IsZero() {
			continue
		}
		_, stored := h.memory.Transfer(c.Transfer.ID)
		may := h.store.FilterMayContain(c.Transfer.ID)
		switch {
		case stored && !may:
			h.t.Fatalf("filter rules out transfer %s, which is stored", c.Transfer.ID)
		case !stored && may:
			h.cover.filterFalsePositive++
		case !stored:
			h.cover.filterNo++
		}
		if c.Transfer.Flags&(ledger.PostPending|ledger.VoidPending) == 0 {
			continue
		}
		if p, ok := h.memory.Transfer(c.Transfer.PendingID); ok && p.Status == ledger.StatusPending {
			if h.store.PendingCached(p.ID) {
				h.cover.pendingHit++
			} else {
				h.cover.pendingMiss++
			}
		}
	}
}

// checkRetries asserts idempotency across the whole sequence: once an ID
// has a record, an identical retry answers exactly what the first outcome
// implies (exists, or the same rejection) with the original timestamp, and
// a changed retry answers an exists_with_different_* code (or
// id_already_failed) with the original timestamp. Retries that a failed
// linked chain overrode are skipped: the chain decided those.
func (h *harness) checkRetries(b *ledger.Batch, out *ledger.Output) {
	h.t.Helper()
	for i := range b.Commands {
		c := &b.Commands[i]
		if c.Op != ledger.OpCreateTransfer || c.Transfer.ID.IsZero() {
			continue
		}
		r := out.Results[i]
		first, seen := h.outcomes[c.Transfer.ID]
		if !seen {
			rec, ok := h.memory.Transfer(c.Transfer.ID)
			if ok && rec.Timestamp == r.Timestamp { // this command wrote the record
				retry := ledger.Result{Code: ledger.Exists, Timestamp: rec.Timestamp}
				if rec.Status == ledger.StatusRejected {
					retry.Code = rec.Result
				}
				h.outcomes[c.Transfer.ID] = outcome{creator: c.Transfer, retry: retry}
			}
			continue
		}
		if r.Code == ledger.LinkedEventFailed || r.Code == ledger.LinkedEventChainOpen {
			continue
		}
		if c.Transfer == first.creator {
			h.cover.retriesSame++
			if r != first.retry {
				h.t.Fatalf("index %d command %d: identical retry of %s answered %s@%d, first outcome %s@%d",
					h.index, i, c.Transfer.ID, r.Code, r.Timestamp, first.retry.Code, first.retry.Timestamp)
			}
			continue
		}
		h.cover.retriesChanged++
		differs := r.Code >= ledger.IDAlreadyFailed && r.Code <= ledger.Exists
		if r.Timestamp != first.retry.Timestamp || !(differs || r.Code == first.retry.Code) {
			h.t.Fatalf("index %d command %d: changed retry of %s answered %s@%d, first outcome %s@%d",
				h.index, i, c.Transfer.ID, r.Code, r.Timestamp, first.retry.Code, first.retry.Timestamp)
		}
	}
}

// verify reads the store back and compares it with the model: Check, the
// digest, the records and the query indexes. A large ledger is compared on
// an even sample of its records (the digest, which Check recomputes from
// disk, covers them all); a small one in full.
func (h *harness) verify() {
	h.t.Helper()
	if err := h.store.Check(); err != nil {
		h.t.Fatalf("check: %v", err)
	}
	if got, want := h.store.Digest(), h.memory.Digest(); got != want {
		h.t.Fatalf("digest %s, model %s", got, want)
	}
	accounts := h.memory.Accounts()
	transfers := h.memory.Transfers()
	if len(accounts)+len(transfers) <= recordsSampleMax {
		d, err := h.store.RecomputeDigest()
		if err != nil || d != h.memory.Digest() {
			h.t.Fatalf("digest from disk %s (%v), model %s", d, err, h.memory.Digest())
		}
	}
	every := max(1, len(accounts)/recordsSampleMax)
	for i := 0; i < len(accounts); i += every {
		want := accounts[i]
		got, ok, err := h.store.Account(want.ID)
		if err != nil || !ok || got != want {
			h.t.Fatalf("account %s: store %+v (found %v, %v), model %+v", want.ID, got, ok, err, want)
		}
	}
	every = max(1, len(accounts)/historyAccountsMax)
	for i := 0; i < len(accounts); i += every {
		history := accountHistory(h.t, h.store, accounts[i].ID, 3)
		if want := modelHistory(transfers, accounts[i].ID); !slices.Equal(history, want) {
			h.t.Fatalf("history of %s:\nstore %v\nmodel %v", accounts[i].ID, ids(history), ids(want))
		}
	}
	every = max(1, len(transfers)/recordsSampleMax)
	for i := 0; i < len(transfers); i += every {
		want := transfers[i]
		got, ok, err := h.store.Transfer(want.ID)
		if err != nil || !ok || got != want {
			h.t.Fatalf("transfer %s: store %+v (found %v, %v), model %+v", want.ID, got, ok, err, want)
		}
	}
	want := modelPending(transfers)
	pending := allPending(h.t, h.store, max(2, len(want)/16))
	if !slices.Equal(pending, want) {
		h.t.Fatalf("pending transfers:\nstore %v\nmodel %v", ids(pending), ids(want))
	}
	h.checkNextDeadline()
}

// checkNextDeadline requires the store's next deadline to be the model's.
// Called between batches it also moves the store's expiry floor, which
// the next batches must lower again where they add an earlier deadline.
func (h *harness) checkNextDeadline() {
	h.t.Helper()
	want := modelPending(h.memory.Transfers())
	deadline, ok, err := h.store.NextDeadline()
	if err != nil || ok != (len(want) > 0) || (ok && deadline != want[0].Deadline()) {
		h.t.Fatalf("next deadline %d (%v, %v), model lists %v", deadline, ok, err, ids(want))
	}
}

// recordsSampleMax and historyAccountsMax bound what verify reads one by
// one, so that a ledger of 20,000 accounts is checked in a fraction of a
// second.
const (
	recordsSampleMax   = 2000
	historyAccountsMax = 64
)

// replayFresh applies every batch again to a new store, opened with
// default cache bounds and a filter large enough for no false positive,
// and requires the same digest after every batch: neither the caches'
// sizes nor the filter may change what the ledger decides. This second
// store lives in vfs.NewMem, for speed: the property runs a hundred cases,
// each store on disk costs a dozen fsyncs to create, and what this replay
// checks does not depend on the file system.
func (h *harness) replayFresh() {
	h.t.Helper()
	s, err := store.Open(store.Options{Dir: "fresh", FS: vfs.NewMem(), NoWAL: true, FilterBytes: 1 << 20, Logger: quiet})
	if err != nil {
		h.t.Fatalf("open fresh store: %v", err)
	}
	defer s.Close()
	for i := range h.batches {
		if _, err := s.Apply(uint64(i+1), &h.batches[i]); err != nil {
			h.t.Fatalf("fresh store, index %d: %v", i+1, err)
		}
		if got := s.Digest(); got != h.digests[i] {
			h.t.Fatalf("fresh store, index %d: digest %s, first store %s", i+1, got, h.digests[i])
		}
	}
	if err := s.Check(); err != nil {
		h.t.Fatalf("fresh store check: %v", err)
	}
}

// compareOutputs requires the store to answer exactly what the model does.
func compareOutputs(t rapid.TB, index uint64, b *ledger.Batch, got, want *ledger.Output) {
	t.Helper()
	if len(got.Results) != len(want.Results) {
		t.Fatalf("index %d: %d results, model %d", index, len(got.Results), len(want.Results))
	}
	for i := range want.Results {
		if got.Results[i] != want.Results[i] {
			t.Fatalf("index %d command %d (%s): store %+v, model %+v\nbatch:\n%s",
				index, i, describe(&b.Commands[i]), got.Results[i], want.Results[i], describeBatch(b))
		}
	}
	if !slices.Equal(got.Events, want.Events) {
		t.Fatalf("index %d: events differ\nstore %+v\nmodel %+v", index, got.Events, want.Events)
	}
	if got.LastTimestamp != want.LastTimestamp || got.Digest != want.Digest {
		t.Fatalf("index %d: store last %d digest %s, model last %d digest %s",
			index, got.LastTimestamp, got.Digest, want.LastTimestamp, want.Digest)
	}
}

// accountHistory reads all of an account's transfers through
// AccountTransfers, page by page.
func accountHistory(t rapid.TB, s *store.Store, account ledger.ID, page int) []ledger.Transfer {
	t.Helper()
	var all []ledger.Transfer
	var after uint64
	for range pagesMax {
		got, err := s.AccountTransfers(account, after, page)
		if err != nil {
			t.Fatalf("account transfers of %s after %d: %v", account, after, err)
		}
		if len(got) > page {
			t.Fatalf("account transfers: page of %d, asked for %d", len(got), page)
		}
		if len(got) == 0 {
			return all
		}
		all = append(all, got...)
		after = got[len(got)-1].Timestamp
	}
	t.Fatalf("account transfers of %s: more than %d pages", account, pagesMax)
	return nil
}

// allPending reads every listed pending transfer through PendingTransfers,
// page by page.
func allPending(t rapid.TB, s *store.Store, page int) []ledger.Transfer {
	t.Helper()
	var all []ledger.Transfer
	var deadline, timestamp uint64
	for range pagesMax {
		got, err := s.PendingTransfers(deadline, timestamp, page)
		if err != nil {
			t.Fatalf("pending transfers after %d/%d: %v", deadline, timestamp, err)
		}
		if len(got) > page {
			t.Fatalf("pending transfers: page of %d, asked for %d", len(got), page)
		}
		if len(got) == 0 {
			return all
		}
		all = append(all, got...)
		last := got[len(got)-1]
		deadline, timestamp = last.Deadline(), last.Timestamp
	}
	t.Fatalf("pending transfers: more than %d pages", pagesMax)
	return nil
}

// pagesMax bounds the paging loops, so that a cursor that never advances
// fails the test instead of hanging it.
const pagesMax = 100_000

// modelHistory is what AccountTransfers must list: every record that moved
// or reserved money on the account, in time order.
// transfers is Memory.Transfers(), which is in time order.
func modelHistory(transfers []ledger.Transfer, account ledger.ID) []ledger.Transfer {
	var out []ledger.Transfer
	for _, t := range transfers {
		if t.Status != ledger.StatusRejected && (t.DebitAccount == account || t.CreditAccount == account) {
			out = append(out, t)
		}
	}
	return out
}

// modelPending is what PendingTransfers must list: every pending transfer
// that can expire, in expiry order.
// transfers is Memory.Transfers().
func modelPending(transfers []ledger.Transfer) []ledger.Transfer {
	var out []ledger.Transfer
	for _, t := range transfers {
		if t.Status == ledger.StatusPending && t.Timeout != 0 {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, ledger.ComparePendingOrder)
	return out
}

func ids(ts []ledger.Transfer) []string {
	out := make([]string, len(ts))
	for i := range ts {
		out[i] = fmt.Sprintf("%s@%d", ts[i].ID, ts[i].Timestamp)
	}
	return out
}

func describe(c *ledger.Command) string {
	switch c.Op {
	case ledger.OpCreateAccount:
		a := &c.Account
		return fmt.Sprintf("create_account %s participant=%d currency=%d kind=%d flags=%b limit=%d ref=%d",
			a.ID, a.Participant, a.Currency, a.Kind, a.Flags, a.Limit, a.UserRef)
	case ledger.OpCreateTransfer:
		t := &c.Transfer
		return fmt.Sprintf("create_transfer %s %s->%s amount=%d pending=%s timeout=%d currency=%d code=%d flags=%b ref=%s",
			t.ID, t.DebitAccount, t.CreditAccount, t.Amount, t.PendingID, t.Timeout, t.Currency, t.Code, t.Flags, t.UserRef)
	case ledger.OpSetLimit:
		return fmt.Sprintf("set_limit %s %d", c.Account.ID, c.Account.Limit)
	}
	return c.Op.String()
}

func describeBatch(b *ledger.Batch) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "timestamp %d\n", b.Timestamp)
	for i := range b.Commands {
		fmt.Fprintf(&sb, "  %3d %s\n", i, describe(&b.Commands[i]))
	}
	return sb.String()
}
