package ledger

// Code is the outcome of one command. The numbers are stable: they are
// stored in transfer records and sent to clients, so a code is never
// renumbered or reused; new codes are appended. Within each command kind
// the checks run in the order of the numbers, and the first failing check
// decides the code.
//
// Mapping a Code to an ISO 8583 response code or an HTTP problem happens in
// the switch and adapter packages, never here.
type Code uint32

const (
	OK Code = 0

	// Batch-level outcomes.
	LinkedEventFailed    Code = 1 // another command of the linked chain failed
	LinkedEventChainOpen Code = 2 // the batch ended inside a linked chain

	// Checks of the command alone, before any state is read.
	IDMustNotBeZero Code = 10

	// Transfers: the idempotency check comes first, before the fields are
	// validated and before any account is looked up, so a retry always
	// gets the first outcome.
	IDAlreadyFailed                  Code = 20
	ExistsWithDifferentFlags         Code = 21
	ExistsWithDifferentPendingID     Code = 22
	ExistsWithDifferentTimeout       Code = 23
	ExistsWithDifferentDebitAccount  Code = 24
	ExistsWithDifferentCreditAccount Code = 25
	ExistsWithDifferentAmount        Code = 26
	ExistsWithDifferentCurrency      Code = 27
	ExistsWithDifferentCode          Code = 28
	ExistsWithDifferentUserRef       Code = 29
	Exists                           Code = 30

	// Transfers: checks of the fields alone.
	FlagsUnknown                      Code = 40
	FlagsAreMutuallyExclusive         Code = 41
	PendingIDMustBeZero               Code = 42
	PendingIDMustNotBeZero            Code = 43
	PendingIDMustBeDifferent          Code = 44
	TimeoutReservedForPendingTransfer Code = 45
	TimeoutTooLarge                   Code = 46
	DebitAccountMustNotBeZero         Code = 47
	CreditAccountMustNotBeZero        Code = 48
	AccountsMustBeDifferent           Code = 49
	CurrencyMustNotBeZero             Code = 50
	AmountMustNotBeZero               Code = 51

	// Transfers: checks against state.
	DebitAccountNotFound                     Code = 60
	CreditAccountNotFound                    Code = 61
	CurrencyMismatch                         Code = 62
	PendingTransferNotFound                  Code = 63
	PendingTransferNotPending                Code = 64
	PendingTransferHasDifferentDebitAccount  Code = 65
	PendingTransferHasDifferentCreditAccount Code = 66
	PendingTransferHasDifferentCurrency      Code = 67
	ExceedsPendingTransferAmount             Code = 68
	PendingTransferHasDifferentAmount        Code = 69
	PendingTransferAlreadyPosted             Code = 70
	PendingTransferAlreadyVoided             Code = 71
	PendingTransferExpired                   Code = 72
	Overflow                                 Code = 73
	ExceedsCredits                           Code = 74
	ExceedsDebits                            Code = 75

	// Accounts: the idempotency check first, then the fields.
	AccountExistsWithDifferentParticipant Code = 90
	AccountExistsWithDifferentCurrency    Code = 91
	AccountExistsWithDifferentKind        Code = 92
	AccountExistsWithDifferentFlags       Code = 93
	AccountExistsWithDifferentLimit       Code = 94
	AccountExistsWithDifferentUserRef     Code = 95
	AccountExists                         Code = 96
	AccountKindInvalid                    Code = 97
	AccountFlagsUnknown                   Code = 98
	AccountFlagsAreMutuallyExclusive      Code = 99
	ParticipantMustNotBeZero              Code = 100
	CurrencyUnknown                       Code = 101

	// Limit changes.
	AccountNotFound Code = 110
	LimitBelowUsage Code = 111

	// Commands.
	CommandUnknown Code = 120
)

var codeNames = map[Code]string{
	OK:                                       "ok",
	LinkedEventFailed:                        "linked_event_failed",
	LinkedEventChainOpen:                     "linked_event_chain_open",
	IDMustNotBeZero:                          "id_must_not_be_zero",
	FlagsAreMutuallyExclusive:                "flags_are_mutually_exclusive",
	FlagsUnknown:                             "flags_unknown",
	PendingIDMustBeZero:                      "pending_id_must_be_zero",
	PendingIDMustNotBeZero:                   "pending_id_must_not_be_zero",
	PendingIDMustBeDifferent:                 "pending_id_must_be_different",
	TimeoutReservedForPendingTransfer:        "timeout_reserved_for_pending_transfer",
	TimeoutTooLarge:                          "timeout_too_large",
	DebitAccountMustNotBeZero:                "debit_account_must_not_be_zero",
	CreditAccountMustNotBeZero:               "credit_account_must_not_be_zero",
	AccountsMustBeDifferent:                  "accounts_must_be_different",
	CurrencyMustNotBeZero:                    "currency_must_not_be_zero",
	AmountMustNotBeZero:                      "amount_must_not_be_zero",
	IDAlreadyFailed:                          "id_already_failed",
	ExistsWithDifferentFlags:                 "exists_with_different_flags",
	ExistsWithDifferentPendingID:             "exists_with_different_pending_id",
	ExistsWithDifferentTimeout:               "exists_with_different_timeout",
	ExistsWithDifferentDebitAccount:          "exists_with_different_debit_account",
	ExistsWithDifferentCreditAccount:         "exists_with_different_credit_account",
	ExistsWithDifferentAmount:                "exists_with_different_amount",
	ExistsWithDifferentCurrency:              "exists_with_different_currency",
	ExistsWithDifferentCode:                  "exists_with_different_code",
	ExistsWithDifferentUserRef:               "exists_with_different_user_ref",
	Exists:                                   "exists",
	DebitAccountNotFound:                     "debit_account_not_found",
	CreditAccountNotFound:                    "credit_account_not_found",
	CurrencyMismatch:                         "currency_mismatch",
	PendingTransferNotFound:                  "pending_transfer_not_found",
	PendingTransferNotPending:                "pending_transfer_not_pending",
	PendingTransferHasDifferentDebitAccount:  "pending_transfer_has_different_debit_account",
	PendingTransferHasDifferentCreditAccount: "pending_transfer_has_different_credit_account",
	PendingTransferHasDifferentCurrency:      "pending_transfer_has_different_currency",
	ExceedsPendingTransferAmount:             "exceeds_pending_transfer_amount",
	PendingTransferHasDifferentAmount:        "pending_transfer_has_different_amount",
	PendingTransferAlreadyPosted:             "pending_transfer_already_posted",
	PendingTransferAlreadyVoided:             "pending_transfer_already_voided",
	PendingTransferExpired:                   "pending_transfer_expired",
	Overflow:                                 "overflow",
	ExceedsCredits:                           "exceeds_credits",
	ExceedsDebits:                            "exceeds_debits",
	AccountKindInvalid:                       "account_kind_invalid",
	AccountFlagsUnknown:                      "account_flags_unknown",
	AccountFlagsAreMutuallyExclusive:         "account_flags_are_mutually_exclusive",
	ParticipantMustNotBeZero:                 "participant_must_not_be_zero",
	CurrencyUnknown:                          "currency_unknown",
	AccountExistsWithDifferentParticipant:    "account_exists_with_different_participant",
	AccountExistsWithDifferentCurrency:       "account_exists_with_different_currency",
	AccountExistsWithDifferentKind:           "account_exists_with_different_kind",
	AccountExistsWithDifferentFlags:          "account_exists_with_different_flags",
	AccountExistsWithDifferentLimit:          "account_exists_with_different_limit",
	AccountExistsWithDifferentUserRef:        "account_exists_with_different_user_ref",
	AccountExists:                            "account_exists",
	AccountNotFound:                          "account_not_found",
	LimitBelowUsage:                          "limit_below_usage",
	CommandUnknown:                           "command_unknown",
}

// String returns the code's stable snake_case name, the one clients see.
func (c Code) String() string {
	if name, ok := codeNames[c]; ok {
		return name
	}
	return "code_" + itoa(uint64(c))
}

// Codes returns every defined code in numeric order.
func Codes() []Code {
	codes := make([]Code, 0, len(codeNames))
	for c := Code(0); c <= CommandUnknown; c++ {
		if _, ok := codeNames[c]; ok {
			codes = append(codes, c)
		}
	}
	return codes
}

// Succeeded reports whether the code means the command's effect is in the
// ledger: OK, or an idempotent retry of a command that succeeded.
func (c Code) Succeeded() bool { return c == OK || c == Exists || c == AccountExists }

func itoa(v uint64) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(buf[i:])
		}
	}
}
