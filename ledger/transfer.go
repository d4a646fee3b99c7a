package ledger

import "math/bits"

// createTransfer applies one transfer. burn reports that the transfer was
// rejected on its own account (not by idempotency, not by its chain), so
// that the caller records the rejection under its ID.
func (a *applier) createTransfer(t *Transfer) (r Result, burn bool) {
	if t.ID.IsZero() {
		return Result{Code: IDMustNotBeZero, Timestamp: a.now}, false
	}
	if idx := a.transfer(t.ID); idx >= 0 {
		// A copy: fullAmount may load a record and grow out.Transfers.
		stored := a.out.Transfers[idx].Transfer
		return existsResult(&stored, t, a.fullAmount(&stored, t)), false
	}
	if code := validateTransfer(t); code != OK {
		return Result{Code: code, Timestamp: a.now}, true
	}
	var code Code
	if t.Flags&(PostPending|VoidPending) != 0 {
		code = a.resolvePending(t)
	} else {
		code = a.move(t)
	}
	return Result{Code: code, Timestamp: a.now}, code != OK
}

// existsResult compares a retry with the stored record. A record of a
// rejected transfer answers the same reason to an identical retry and
// id_already_failed to a different one; a successful record answers exists
// or the first field that differs, in the order of the codes.
func existsResult(stored, t *Transfer, full Amount) Result {
	code := differingField(stored, t, full)
	if stored.Status == StatusRejected {
		if code == Exists {
			code = stored.Result
		} else {
			code = IDAlreadyFailed
		}
	}
	return Result{Code: code, Timestamp: stored.Timestamp}
}

// fullAmount is the amount a retry t of stored asks for when its Amount is
// 0 and stored is a post record: all of the pending transfer. It reads the
// pending transfer only then; otherwise it returns stored.Amount.
func (a *applier) fullAmount(stored, t *Transfer) Amount {
	if t.Amount != 0 || stored.Flags&PostPending == 0 || stored.Status == StatusRejected {
		return stored.Amount
	}
	pi := a.transfer(stored.PendingID)
	if pi < 0 {
		return stored.Amount // a post record's pending transfer always exists; kept for safety
	}
	return a.out.Transfers[pi].Transfer.Amount
}

// differingField returns Exists when t is a retry of stored, or the
// exists_with_different_* code of the first field that differs. A post or
// void record holds the effective accounts, amount and currency it took from
// its pending transfer, so there a zero field in the retry (meaning "as
// pending") matches whatever was stored. For the amount, zero means "all of
// the pending amount", full: it matches a post that moved all of it, not a
// partial one.
func differingField(stored, t *Transfer, full Amount) Code {
	inherit := t.Flags&(PostPending|VoidPending) != 0 && stored.Status != StatusRejected
	same := func(retry, kept ID) bool { return retry == kept || (inherit && retry.IsZero()) }
	switch {
	case stored.Flags != t.Flags:
		return ExistsWithDifferentFlags
	case stored.PendingID != t.PendingID:
		return ExistsWithDifferentPendingID
	case stored.Timeout != t.Timeout:
		return ExistsWithDifferentTimeout
	case !same(t.DebitAccount, stored.DebitAccount):
		return ExistsWithDifferentDebitAccount
	case !same(t.CreditAccount, stored.CreditAccount):
		return ExistsWithDifferentCreditAccount
	case stored.Amount != t.Amount && !(inherit && t.Amount == 0 && stored.Amount == full):
		return ExistsWithDifferentAmount
	case stored.Currency != t.Currency && !(inherit && t.Currency == 0):
		return ExistsWithDifferentCurrency
	case stored.Code != t.Code:
		return ExistsWithDifferentCode
	case stored.UserRef != t.UserRef:
		return ExistsWithDifferentUserRef
	}
	return Exists
}

// validateTransfer checks the fields alone, in the order of the codes.
func validateTransfer(t *Transfer) Code {
	if t.Flags&^transferFlagsKnown != 0 {
		return FlagsUnknown
	}
	if bits.OnesCount16(uint16(t.Flags&(Pending|PostPending|VoidPending))) > 1 {
		return FlagsAreMutuallyExclusive
	}
	if t.Flags&(PostPending|VoidPending) != 0 {
		switch {
		case t.PendingID.IsZero():
			return PendingIDMustNotBeZero
		case t.PendingID == t.ID:
			return PendingIDMustBeDifferent
		case t.Timeout != 0:
			return TimeoutReservedForPendingTransfer
		}
		return OK
	}
	switch {
	case !t.PendingID.IsZero():
		return PendingIDMustBeZero
	case t.Flags&Pending == 0 && t.Timeout != 0:
		return TimeoutReservedForPendingTransfer
	case t.Timeout > TimeoutSecondsMax:
		return TimeoutTooLarge
	case t.DebitAccount.IsZero():
		return DebitAccountMustNotBeZero
	case t.CreditAccount.IsZero():
		return CreditAccountMustNotBeZero
	case t.DebitAccount == t.CreditAccount:
		return AccountsMustBeDifferent
	case t.Currency == 0:
		return CurrencyMustNotBeZero
	case t.Amount == 0:
		return AmountMustNotBeZero
	}
	return OK
}

// move applies a single-phase or pending transfer: it checks the accounts,
// overflow and the balance rules, then moves the amount.
func (a *applier) move(t *Transfer) Code {
	di := a.account(t.DebitAccount)
	if di < 0 {
		return DebitAccountNotFound
	}
	ci := a.account(t.CreditAccount)
	if ci < 0 {
		return CreditAccountNotFound
	}
	dr, cr := a.out.Accounts[di].Account, a.out.Accounts[ci].Account
	if dr.Currency != t.Currency || cr.Currency != t.Currency {
		return CurrencyMismatch
	}
	var overflow, o bool
	if t.Flags&Pending != 0 {
		dr.DebitsPending, overflow = addAmount(dr.DebitsPending, t.Amount)
		cr.CreditsPending, o = addAmount(cr.CreditsPending, t.Amount)
	} else {
		dr.DebitsPosted, overflow = addAmount(dr.DebitsPosted, t.Amount)
		cr.CreditsPosted, o = addAmount(cr.CreditsPosted, t.Amount)
	}
	if overflow || o || balancesOverflow(&dr) || balancesOverflow(&cr) {
		return Overflow
	}
	if exceedsCredits(&dr) {
		return ExceedsCredits
	}
	if exceedsDebits(&cr) {
		return ExceedsDebits
	}
	// From here the transfer cannot fail.
	a.setAccount(di, dr)
	a.setAccount(ci, cr)
	rec := *t
	rec.Timestamp, rec.Result = a.now, OK
	kind := EventTransferPosted
	rec.Status = StatusPosted
	if t.Flags&Pending != 0 {
		rec.Status, kind = StatusPending, EventTransferPending
	}
	a.addTransfer(rec)
	a.event(kind, rec.ID, ID{}, OK)
	return OK
}

// balancesOverflow reports whether the sums the balance rules compare no
// longer fit: debits_pending + debits_posted or the credit pair.
func balancesOverflow(acct *Account) bool {
	_, o1 := addAmount(acct.DebitsPending, acct.DebitsPosted)
	_, o2 := addAmount(acct.CreditsPending, acct.CreditsPosted)
	return o1 || o2
}

// exceedsCredits applies DebitsMustNotExceedCredits: debits (pending and
// posted) may not exceed credits_posted plus the limit. An overflowing
// right-hand side cannot be exceeded.
func exceedsCredits(acct *Account) bool {
	if acct.Flags&DebitsMustNotExceedCredits == 0 {
		return false
	}
	room, overflow := addAmount(acct.CreditsPosted, acct.Limit)
	return !overflow && acct.DebitsPending+acct.DebitsPosted > room
}

// exceedsDebits applies CreditsMustNotExceedDebits, the mirror rule.
func exceedsDebits(acct *Account) bool {
	if acct.Flags&CreditsMustNotExceedDebits == 0 {
		return false
	}
	room, overflow := addAmount(acct.DebitsPosted, acct.Limit)
	return !overflow && acct.CreditsPending+acct.CreditsPosted > room
}

// resolvePending posts or voids the pending transfer t.PendingID.
func (a *applier) resolvePending(t *Transfer) Code {
	pi := a.transfer(t.PendingID)
	if pi < 0 || a.out.Transfers[pi].Transfer.Status == StatusRejected {
		return PendingTransferNotFound
	}
	p := a.out.Transfers[pi].Transfer
	if code := checkAgainstPending(t, &p, a.now); code != OK {
		return code
	}
	amount := p.Amount
	if t.Flags&PostPending != 0 && t.Amount != 0 {
		amount = t.Amount
	}
	di, ci := a.account(p.DebitAccount), a.account(p.CreditAccount)
	if di < 0 || ci < 0 {
		return PendingTransferNotFound // accounts are never deleted; kept for safety
	}
	dr, cr := a.out.Accounts[di].Account, a.out.Accounts[ci].Account
	// Pending balances always cover the pending amount: it was added when
	// the transfer was reserved and only this path removes it.
	dr.DebitsPending -= p.Amount
	cr.CreditsPending -= p.Amount
	kind, status := EventTransferVoided, StatusVoided
	if t.Flags&PostPending != 0 {
		var o1, o2 bool
		dr.DebitsPosted, o1 = addAmount(dr.DebitsPosted, amount)
		cr.CreditsPosted, o2 = addAmount(cr.CreditsPosted, amount)
		if o1 || o2 || balancesOverflow(&dr) || balancesOverflow(&cr) {
			return Overflow
		}
		kind, status = EventTransferPosted, StatusPosted
	}
	// From here the post or void cannot fail.
	a.setAccount(di, dr)
	a.setAccount(ci, cr)
	p.Status = status
	a.setTransfer(pi, p)
	rec := *t
	rec.DebitAccount, rec.CreditAccount, rec.Currency = p.DebitAccount, p.CreditAccount, p.Currency
	rec.Amount, rec.Timestamp, rec.Status, rec.Result = amount, a.now, status, OK
	a.addTransfer(rec)
	a.event(kind, rec.ID, p.ID, OK)
	return OK
}

// checkAgainstPending validates a post or void against its pending
// transfer, in the order of the codes.
func checkAgainstPending(t, p *Transfer, now uint64) Code {
	switch {
	case p.Flags&Pending == 0:
		return PendingTransferNotPending
	case !t.DebitAccount.IsZero() && t.DebitAccount != p.DebitAccount:
		return PendingTransferHasDifferentDebitAccount
	case !t.CreditAccount.IsZero() && t.CreditAccount != p.CreditAccount:
		return PendingTransferHasDifferentCreditAccount
	case t.Currency != 0 && t.Currency != p.Currency:
		return PendingTransferHasDifferentCurrency
	case t.Flags&PostPending != 0 && t.Amount > p.Amount:
		return ExceedsPendingTransferAmount
	case t.Flags&VoidPending != 0 && t.Amount != 0 && t.Amount != p.Amount:
		return PendingTransferHasDifferentAmount
	case p.Status == StatusPosted:
		return PendingTransferAlreadyPosted
	case p.Status == StatusVoided:
		return PendingTransferAlreadyVoided
	case p.Status == StatusExpired:
		return PendingTransferExpired
	case p.Timeout != 0 && p.Deadline() <= now:
		// Due but not yet swept by an expire command: it is expired all the
		// same, and the next expire command voids it.
		return PendingTransferExpired
	}
	return OK
}

// reject records a rejected transfer under its ID so that the ID stays
// rejected with its first reason.
func (a *applier) reject(t *Transfer, code Code) {
	rec := *t
	rec.Timestamp, rec.Status, rec.Result = a.now, StatusRejected, code
	a.addTransfer(rec)
	a.event(EventTransferRejected, rec.ID, ID{}, code)
}

// WithinRules reports whether an account keeps its balance rule: the
// invariant that Apply maintains for every account at all times.
func WithinRules(acct *Account) bool {
	return !balancesOverflow(acct) && !exceedsCredits(acct) && !exceedsDebits(acct)
}
