package ledger

import "github.com/payswitch/payswitch/internal/invariant"

// View is the state a batch is applied against: the ledger as it stood
// after the previous batch. The store implements it from its prefetched
// cache; Memory implements it with plain maps. Apply never writes through
// a View; it reads each object at most once and keeps its own overlay.
type View interface {
	// LastTimestamp is the timestamp of the last event applied so far.
	LastTimestamp() uint64
	Account(id ID) (Account, bool)
	Transfer(id ID) (Transfer, bool)
	// DuePending appends to dst, in deadline order (ties by timestamp),
	// up to limit IDs of pending transfers whose deadline is at or before
	// now, and returns dst.
	DuePending(now uint64, limit int, dst []ID) []ID
}

// EventKind says what happened to an account or transfer.
type EventKind uint8

const (
	EventAccountCreated   EventKind = 1
	EventLimitChanged     EventKind = 2
	EventTransferPosted   EventKind = 3 // a single-phase transfer, or a post_pending record
	EventTransferPending  EventKind = 4
	EventTransferVoided   EventKind = 5 // a void_pending record; the pending one is in ID2
	EventTransferExpired  EventKind = 6
	EventTransferRejected EventKind = 7
)

var eventKindNames = [...]string{"", "account_created", "limit_changed", "transfer_posted",
	"transfer_pending", "transfer_voided", "transfer_expired", "transfer_rejected"}

func (k EventKind) String() string {
	if k >= EventAccountCreated && k <= EventTransferRejected {
		return eventKindNames[k]
	}
	return "unknown"
}

// Event is one entry of the change stream: what one command did. Consumers
// (webhooks, the dashboard, the flow's waiters) read the full record by ID.
type Event struct {
	Kind      EventKind
	Timestamp uint64
	ID        ID   // the account or transfer
	ID2       ID   // for a post or void: the pending transfer it acted on
	Code      Code // for EventTransferRejected: the reason
}

// AccountWrite is the final state of one account a batch created or changed.
type AccountWrite struct {
	Account Account
	Existed bool    // false for an account created by this batch
	Old     Account // the state before the batch, when Existed
}

// TransferWrite is the final state of one transfer record a batch wrote.
type TransferWrite struct {
	Transfer  Transfer
	Existed   bool   // false for a record created by this batch
	OldStatus Status // the status before the batch, when Existed
}

// Output is what Apply produces: one result per command, the change
// stream, the state changes for the store to persist, and the change of the
// state digest. It is reused across batches to avoid allocation; its slices
// are valid until the next Apply into the same Output.
type Output struct {
	Results   []Result
	Events    []Event
	Accounts  []AccountWrite  // in order of first touch
	Transfers []TransferWrite // in order of first touch
	// LastTimestamp is the timestamp of the batch's last event.
	LastTimestamp uint64
	// Digest is the state digest after the batch, given the one before.
	Digest Digest

	accountIndex  map[ID]int32
	transferIndex map[ID]int32
	undo          []undoEntry
	chainStart    int
	dueScratch    []ID
}

// undoEntry restores one overlay slot when a linked chain fails.
type undoEntry struct {
	account bool
	index   int32
	// appended: the slot was appended inside the chain (created or loaded
	// from the view); rollback drops it. Slots are dropped newest first, so
	// the dropped slot is always the last one.
	appended  bool
	prevAcct  Account
	prevTrans Transfer
}

// applier carries one batch's state. It lives on the stack of Apply.
type applier struct {
	view  View
	out   *Output
	start uint64 // the batch's first command's timestamp
	now   uint64 // the current command's timestamp

	// The open linked chain: the index of its first member or -1, whether
	// a member failed, and how many events existed when it opened.
	chainStart  int
	chainFailed bool
	chainEvents int
}

// Apply runs every command of batch against view, in order, and fills out.
// It is deterministic: the same view and batch give the same Output, byte
// for byte. It reads no clock: time is batch.Timestamp, raised when needed
// so that event timestamps strictly increase across batches. digest is the
// state digest before the batch.
func Apply(view View, batch *Batch, digest Digest, out *Output) {
	n := len(batch.Commands)
	invariant.Always(n <= BatchCommandsMax, "batch of %d commands", n)
	invariant.Always(batch.Timestamp <= TimestampMax && view.LastTimestamp() <= TimestampMax+BatchCommandsMax,
		"timestamps %d/%d past TimestampMax", batch.Timestamp, view.LastTimestamp())
	out.reset(n)
	out.Digest = digest
	start := max(batch.Timestamp, view.LastTimestamp()+1)
	a := applier{view: view, out: out, start: start, chainStart: -1}

	for i := range batch.Commands {
		a.now = start + uint64(i)
		a.applyOne(i, &batch.Commands[i])
	}
	a.closeOpenChain(n)
	out.LastTimestamp = view.LastTimestamp()
	if n > 0 {
		out.LastTimestamp = start + uint64(n) - 1
	}
	a.foldDigest()
	invariant.Always(len(out.Results) == n, "%d results for %d commands", len(out.Results), n)
}

// applyOne applies the command at index i. A linked chain opens at a
// transfer flagged Linked and closes at the next transfer without the flag;
// any other command inside a chain leaves the chain open, which fails it.
func (a *applier) applyOne(i int, cmd *Command) {
	out := a.out
	isTransfer := cmd.Op == OpCreateTransfer
	linked := isTransfer && cmd.Transfer.Flags&Linked != 0
	if !isTransfer {
		a.closeOpenChain(i)
	}
	if a.chainStart < 0 && linked {
		a.chainStart, a.chainFailed, a.chainEvents = i, false, len(out.Events)
		out.undo = out.undo[:0]
	}
	if a.chainStart >= 0 && a.chainFailed {
		out.Results = append(out.Results, Result{Code: LinkedEventFailed, Timestamp: a.now})
		if !linked {
			a.chainStart = -1
		}
		return
	}

	var r Result
	burn := false
	switch cmd.Op {
	case OpCreateAccount:
		r = a.createAccount(&cmd.Account)
	case OpCreateTransfer:
		r, burn = a.createTransfer(&cmd.Transfer)
	case OpSetLimit:
		r = a.setLimit(cmd.Account.ID, cmd.Account.Limit)
	case OpExpire:
		r = a.expire()
	default:
		r = Result{Code: CommandUnknown, Timestamp: a.now}
	}
	out.Results = append(out.Results, r)

	if a.chainStart >= 0 && !r.Code.Succeeded() {
		a.rollbackChain()
		for j := a.chainStart; j < i; j++ {
			// The member's own timestamp, even where it was an idempotent
			// retry that answered with the original's.
			out.Results[j] = Result{Code: LinkedEventFailed, Timestamp: a.start + uint64(j)}
		}
		a.chainFailed = true
	}
	if burn {
		// A rejected transfer burns its ID with its reason, even inside a
		// failed chain: the rollback above has already run, so the
		// rejection record is not undone.
		a.reject(&cmd.Transfer, r.Code)
	}
	if a.chainStart >= 0 && !linked {
		a.chainStart = -1
	}
}

// closeOpenChain fails a chain that is still open before command end: its
// members get LinkedEventChainOpen and their effects are undone. A chain
// that already failed keeps its results.
func (a *applier) closeOpenChain(end int) {
	if a.chainStart < 0 {
		return
	}
	if !a.chainFailed {
		a.rollbackChain()
		for j := a.chainStart; j < end; j++ {
			a.out.Results[j] = Result{Code: LinkedEventChainOpen, Timestamp: a.start + uint64(j)}
		}
	}
	a.chainStart = -1
}

// rollbackChain undoes every overlay change since the chain opened, newest
// first, and drops the chain's events.
func (a *applier) rollbackChain() {
	out := a.out
	for k := len(out.undo) - 1; k >= 0; k-- {
		u := &out.undo[k]
		switch {
		case u.account && u.appended:
			invariant.Always(int(u.index) == len(out.Accounts)-1, "undo drops account slot %d of %d", u.index, len(out.Accounts))
			delete(out.accountIndex, out.Accounts[u.index].Account.ID)
			out.Accounts = out.Accounts[:u.index]
		case u.account:
			out.Accounts[u.index].Account = u.prevAcct
		case u.appended:
			invariant.Always(int(u.index) == len(out.Transfers)-1, "undo drops transfer slot %d of %d", u.index, len(out.Transfers))
			delete(out.transferIndex, out.Transfers[u.index].Transfer.ID)
			out.Transfers = out.Transfers[:u.index]
		default:
			out.Transfers[u.index].Transfer = u.prevTrans
		}
	}
	out.undo = out.undo[:0]
	out.Events = out.Events[:a.chainEvents]
}

func (o *Output) reset(n int) {
	if o.accountIndex == nil {
		o.accountIndex = make(map[ID]int32, 64)
		o.transferIndex = make(map[ID]int32, n)
	}
	clear(o.accountIndex)
	clear(o.transferIndex)
	o.Results = o.Results[:0]
	o.Events = o.Events[:0]
	o.Accounts = o.Accounts[:0]
	o.Transfers = o.Transfers[:0]
	o.undo = o.undo[:0]
}

func (a *applier) event(kind EventKind, id, id2 ID, code Code) {
	a.out.Events = append(a.out.Events, Event{Kind: kind, Timestamp: a.now, ID: id, ID2: id2, Code: code})
}

// account returns the overlay slot of account id, loading it from the view
// on first use, or -1 if the account does not exist.
func (a *applier) account(id ID) int32 {
	if idx, ok := a.out.accountIndex[id]; ok {
		return idx
	}
	acct, ok := a.view.Account(id)
	if !ok {
		return -1
	}
	out := a.out
	idx := int32(len(out.Accounts))
	out.Accounts = append(out.Accounts, AccountWrite{Account: acct, Existed: true, Old: acct})
	out.accountIndex[id] = idx
	a.recordAppend(true, idx)
	return idx
}

// setAccount replaces the overlay state of slot idx, recording an undo
// entry when inside a chain.
func (a *applier) setAccount(idx int32, acct Account) {
	slot := &a.out.Accounts[idx]
	if a.chainStart >= 0 && !a.chainFailed {
		a.out.undo = append(a.out.undo, undoEntry{account: true, index: idx, prevAcct: slot.Account})
	}
	slot.Account = acct
}

// addAccount creates a slot for a new account.
func (a *applier) addAccount(acct Account) {
	out := a.out
	idx := int32(len(out.Accounts))
	out.Accounts = append(out.Accounts, AccountWrite{Account: acct})
	out.accountIndex[acct.ID] = idx
	a.recordAppend(true, idx)
}

// recordAppend records that a slot was appended, when inside a chain that
// has not failed: such a chain may still be rolled back.
func (a *applier) recordAppend(account bool, idx int32) {
	if a.chainStart >= 0 && !a.chainFailed {
		a.out.undo = append(a.out.undo, undoEntry{account: account, index: idx, appended: true})
	}
}

// transfer returns the overlay slot of transfer id, loading it from the
// view on first use, or -1 if no record exists.
func (a *applier) transfer(id ID) int32 {
	if idx, ok := a.out.transferIndex[id]; ok {
		return idx
	}
	t, ok := a.view.Transfer(id)
	if !ok {
		return -1
	}
	out := a.out
	idx := int32(len(out.Transfers))
	out.Transfers = append(out.Transfers, TransferWrite{Transfer: t, Existed: true, OldStatus: t.Status})
	out.transferIndex[id] = idx
	a.recordAppend(false, idx)
	return idx
}

// setTransfer replaces the overlay state of an existing record.
func (a *applier) setTransfer(idx int32, t Transfer) {
	slot := &a.out.Transfers[idx]
	if a.chainStart >= 0 && !a.chainFailed {
		a.out.undo = append(a.out.undo, undoEntry{index: idx, prevTrans: slot.Transfer})
	}
	slot.Transfer = t
}

// addTransfer creates a slot for a new record.
func (a *applier) addTransfer(t Transfer) {
	out := a.out
	idx := int32(len(out.Transfers))
	out.Transfers = append(out.Transfers, TransferWrite{Transfer: t})
	out.transferIndex[t.ID] = idx
	a.recordAppend(false, idx)
}
