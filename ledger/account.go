package ledger

import "github.com/payswitch/payswitch/money"

// createAccount opens an account with zero balances. A retry with the same
// fields answers account_exists; accounts are never deleted.
func (a *applier) createAccount(acct *Account) Result {
	if acct.ID.IsZero() {
		return Result{Code: IDMustNotBeZero, Timestamp: a.now}
	}
	if idx := a.account(acct.ID); idx >= 0 {
		stored := &a.out.Accounts[idx].Account
		return Result{Code: accountDiffers(stored, acct), Timestamp: stored.Timestamp}
	}
	if code := validateAccount(acct); code != OK {
		return Result{Code: code, Timestamp: a.now}
	}
	rec := Account{
		ID: acct.ID, Participant: acct.Participant, Currency: acct.Currency,
		Kind: acct.Kind, Flags: acct.Flags, Limit: acct.Limit, UserRef: acct.UserRef,
		Timestamp: a.now,
	}
	a.addAccount(rec)
	a.event(EventAccountCreated, rec.ID, ID{}, OK)
	return Result{Code: OK, Timestamp: a.now}
}

func accountDiffers(stored, acct *Account) Code {
	switch {
	case stored.Participant != acct.Participant:
		return AccountExistsWithDifferentParticipant
	case stored.Currency != acct.Currency:
		return AccountExistsWithDifferentCurrency
	case stored.Kind != acct.Kind:
		return AccountExistsWithDifferentKind
	case stored.Flags != acct.Flags:
		return AccountExistsWithDifferentFlags
	case stored.Limit != acct.Limit:
		// A limit changed later by set_limit makes a retry of the original
		// create differ; the operator reads the account instead.
		return AccountExistsWithDifferentLimit
	case stored.UserRef != acct.UserRef:
		return AccountExistsWithDifferentUserRef
	}
	return AccountExists
}

func validateAccount(acct *Account) Code {
	switch {
	case !acct.Kind.valid():
		return AccountKindInvalid
	case acct.Flags&^accountFlagsKnown != 0:
		return AccountFlagsUnknown
	case acct.Flags&DebitsMustNotExceedCredits != 0 && acct.Flags&CreditsMustNotExceedDebits != 0:
		return AccountFlagsAreMutuallyExclusive
	case acct.Participant == 0:
		return ParticipantMustNotBeZero
	}
	if _, ok := money.ByNumeric(acct.Currency); !ok {
		return CurrencyUnknown
	}
	return OK
}

// setLimit changes an account's limit. A new limit that the account's
// current balances already break is refused, so that no account ever
// breaks its rule: lowering a net debit cap below what a participant has
// already used waits until its position comes back under the new cap.
func (a *applier) setLimit(id ID, limit Amount) Result {
	if id.IsZero() {
		return Result{Code: IDMustNotBeZero, Timestamp: a.now}
	}
	idx := a.account(id)
	if idx < 0 {
		return Result{Code: AccountNotFound, Timestamp: a.now}
	}
	acct := a.out.Accounts[idx].Account
	acct.Limit = limit
	if exceedsCredits(&acct) || exceedsDebits(&acct) {
		return Result{Code: LimitBelowUsage, Timestamp: a.now}
	}
	a.setAccount(idx, acct)
	a.event(EventLimitChanged, id, ID{}, OK)
	return Result{Code: OK, Timestamp: a.now}
}

// expire voids, in deadline order, the pending transfers whose deadline is
// at or before the command's timestamp, at most ExpireTransfersMax of them.
// Transfers posted or voided earlier in the same batch are skipped.
func (a *applier) expire() Result {
	out := a.out
	out.dueScratch = a.view.DuePending(a.now, ExpireTransfersMax, out.dueScratch[:0])
	r := Result{Code: OK, Timestamp: a.now, More: len(out.dueScratch) == ExpireTransfersMax}
	for _, id := range out.dueScratch {
		pi := a.transfer(id)
		if pi < 0 {
			continue
		}
		p := out.Transfers[pi].Transfer
		if p.Status != StatusPending || p.Timeout == 0 || p.Deadline() > a.now {
			continue
		}
		di, ci := a.account(p.DebitAccount), a.account(p.CreditAccount)
		dr, cr := out.Accounts[di].Account, out.Accounts[ci].Account
		dr.DebitsPending -= p.Amount
		cr.CreditsPending -= p.Amount
		a.setAccount(di, dr)
		a.setAccount(ci, cr)
		p.Status = StatusExpired
		a.setTransfer(pi, p)
		a.event(EventTransferExpired, p.ID, ID{}, OK)
		r.Expired++
	}
	return r
}
