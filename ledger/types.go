package ledger

import "math/bits"

// Amount is a quantity of money in the minor units of its currency (cents
// for KES, whole yen for JPY). It is never negative and never a float;
// every addition goes through addAmount, which reports overflow.
type Amount uint64

// addAmount returns a+b and whether the sum overflowed 64 bits.
func addAmount(a, b Amount) (Amount, bool) {
	sum, carry := bits.Add64(uint64(a), uint64(b), 0)
	return Amount(sum), carry != 0
}

// AccountKind says what an account is for in the switch.
type AccountKind uint8

const (
	// KindPosition is what a participant may send: prefunded liquidity
	// (credits) plus its net debit cap (the account limit).
	KindPosition AccountKind = 1
	// KindSettlement is the participant's money at the settlement bank.
	KindSettlement AccountKind = 2
	// KindProgram is a government payer's budget line.
	KindProgram AccountKind = 3
	// KindHub is an account of the hub operator itself.
	KindHub AccountKind = 4
)

var accountKindNames = [...]string{"", "position", "settlement", "program", "hub"}

func (k AccountKind) valid() bool { return k >= KindPosition && k <= KindHub }

func (k AccountKind) String() string {
	if k.valid() {
		return accountKindNames[k]
	}
	return "unknown"
}

// ParseAccountKind reads a kind by its String name.
func ParseAccountKind(s string) (AccountKind, bool) {
	for i, name := range accountKindNames {
		if i > 0 && name == s {
			return AccountKind(i), true
		}
	}
	return 0, false
}

// AccountFlags are an account's balance rules.
type AccountFlags uint16

const (
	// DebitsMustNotExceedCredits: debits_pending + debits_posted may not
	// exceed credits_posted + limit. A position account uses it: credits are
	// the participant's prefunding, the limit is its net debit cap.
	DebitsMustNotExceedCredits AccountFlags = 1 << 0
	// CreditsMustNotExceedDebits: credits_pending + credits_posted may not
	// exceed debits_posted + limit.
	CreditsMustNotExceedDebits AccountFlags = 1 << 1

	accountFlagsKnown = DebitsMustNotExceedCredits | CreditsMustNotExceedDebits
)

// Account is a double-entry account: one participant, one currency, four
// balances. Only the state machine changes an Account; readers get copies.
type Account struct {
	ID          ID
	Participant uint64 // up to 11 digits, as in ISO 8583 fields 32 and 100
	Currency    uint16 // ISO 4217 numeric code
	Kind        AccountKind
	Flags       AccountFlags
	// Limit is the extra room the flag rule allows: a net debit cap on a
	// position account. It has no effect without a flag.
	Limit          Amount
	DebitsPending  Amount
	DebitsPosted   Amount
	CreditsPending Amount
	CreditsPosted  Amount
	UserRef        uint64
	Timestamp      uint64 // when the account was created, in ns since the Unix epoch
}

// Available reports what the account may still be debited under its
// DebitsMustNotExceedCredits rule: credits_posted + limit - debits. Without
// the flag it reports the maximum Amount. It saturates at zero.
func (a *Account) Available() Amount {
	if a.Flags&DebitsMustNotExceedCredits == 0 {
		return ^Amount(0)
	}
	room, overflow := addAmount(a.CreditsPosted, a.Limit)
	if overflow {
		room = ^Amount(0)
	}
	used, overflow := addAmount(a.DebitsPending, a.DebitsPosted)
	if overflow || used >= room {
		return 0
	}
	return room - used
}

// TransferFlags select a transfer's kind and its linking.
type TransferFlags uint16

const (
	// Linked chains this transfer to the next one in the batch: the chain
	// succeeds or fails as one. The last transfer of a chain has no Linked.
	Linked TransferFlags = 1 << 0
	// Pending reserves the amount (debits_pending/credits_pending) until it
	// is posted, voided, or its timeout passes.
	Pending TransferFlags = 1 << 1
	// PostPending posts the pending transfer PendingID, in full (Amount 0)
	// or in part.
	PostPending TransferFlags = 1 << 2
	// VoidPending releases the pending transfer PendingID.
	VoidPending TransferFlags = 1 << 3

	transferFlagsKnown = Linked | Pending | PostPending | VoidPending
)

// Status is where a transfer stands. A pending transfer moves from
// StatusPending to exactly one of posted, voided or expired; every other
// record is written once with its final status.
type Status uint8

const (
	StatusPosted   Status = 1 // moved money; also the status of a post_pending record
	StatusPending  Status = 2 // reserved, awaiting post, void or expiry
	StatusVoided   Status = 3 // a voided pending transfer, or a void_pending record
	StatusExpired  Status = 4 // a pending transfer whose timeout passed
	StatusRejected Status = 5 // the ID is burnt with Transfer.Result as its reason
)

var statusNames = [...]string{"", "posted", "pending", "voided", "expired", "rejected"}

func (s Status) String() string {
	if s >= StatusPosted && s <= StatusRejected {
		return statusNames[s]
	}
	return "unknown"
}

// Transfer moves Amount from DebitAccount to CreditAccount. The fields up to
// UserRef are the client's; Timestamp, Status and Result are the ledger's.
type Transfer struct {
	ID            ID
	DebitAccount  ID
	CreditAccount ID
	Amount        Amount
	PendingID     ID     // the pending transfer a PostPending or VoidPending acts on
	Timeout       uint32 // seconds a Pending transfer may stay pending
	Currency      uint16 // ISO 4217 numeric; both accounts must hold it
	Code          uint16 // the client's reason for the transfer (payment, fee, refund...)
	Flags         TransferFlags
	UserRef       ID // the client's reference, e.g. an ISO 8583 RRN with its acquirer

	Timestamp uint64 // assigned by the state machine, strictly increasing
	Status    Status
	Result    Code // OK, or the first reason a rejected ID failed with
}

// Deadline is when a pending transfer expires, in ns since the Unix epoch.
func (t *Transfer) Deadline() uint64 {
	return t.Timestamp + uint64(t.Timeout)*1e9
}
