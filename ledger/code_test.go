package ledger_test

import (
	"regexp"
	"slices"
	"testing"

	"github.com/payswitch/payswitch/ledger"
)

// pinnedCodes is every Code with its client-visible name and its number.
// Codes are stored in transfer records and sent to clients, so this table
// only ever grows: a renumbered or renamed code fails the test, and a new
// code fails it until it is added here.
var pinnedCodes = []struct {
	code   ledger.Code
	name   string
	number uint32
}{
	{ledger.OK, "ok", 0},
	{ledger.LinkedEventFailed, "linked_event_failed", 1},
	{ledger.LinkedEventChainOpen, "linked_event_chain_open", 2},
	{ledger.IDMustNotBeZero, "id_must_not_be_zero", 10},
	{ledger.IDAlreadyFailed, "id_already_failed", 20},
	{ledger.ExistsWithDifferentFlags, "exists_with_different_flags", 21},
	{ledger.ExistsWithDifferentPendingID, "exists_with_different_pending_id", 22},
	{ledger.ExistsWithDifferentTimeout, "exists_with_different_timeout", 23},
	{ledger.ExistsWithDifferentDebitAccount, "exists_with_different_debit_account", 24},
	{ledger.ExistsWithDifferentCreditAccount, "exists_with_different_credit_account", 25},
	{ledger.ExistsWithDifferentAmount, "exists_with_different_amount", 26},
	{ledger.ExistsWithDifferentCurrency, "exists_with_different_currency", 27},
	{ledger.ExistsWithDifferentCode, "exists_with_different_code", 28},
	{ledger.ExistsWithDifferentUserRef, "exists_with_different_user_ref", 29},
	{ledger.Exists, "exists", 30},
	{ledger.FlagsUnknown, "flags_unknown", 40},
	{ledger.FlagsAreMutuallyExclusive, "flags_are_mutually_exclusive", 41},
	{ledger.PendingIDMustBeZero, "pending_id_must_be_zero", 42},
	{ledger.PendingIDMustNotBeZero, "pending_id_must_not_be_zero", 43},
	{ledger.PendingIDMustBeDifferent, "pending_id_must_be_different", 44},
	{ledger.TimeoutReservedForPendingTransfer, "timeout_reserved_for_pending_transfer", 45},
	{ledger.TimeoutTooLarge, "timeout_too_large", 46},
	{ledger.DebitAccountMustNotBeZero, "debit_account_must_not_be_zero", 47},
	{ledger.CreditAccountMustNotBeZero, "credit_account_must_not_be_zero", 48},
	{ledger.AccountsMustBeDifferent, "accounts_must_be_different", 49},
	{ledger.CurrencyMustNotBeZero, "currency_must_not_be_zero", 50},
	{ledger.AmountMustNotBeZero, "amount_must_not_be_zero", 51},
	{ledger.DebitAccountNotFound, "debit_account_not_found", 60},
	{ledger.CreditAccountNotFound, "credit_account_not_found", 61},
	{ledger.CurrencyMismatch, "currency_mismatch", 62},
	{ledger.PendingTransferNotFound, "pending_transfer_not_found", 63},
	{ledger.PendingTransferNotPending, "pending_transfer_not_pending", 64},
	{ledger.PendingTransferHasDifferentDebitAccount, "pending_transfer_has_different_debit_account", 65},
	{ledger.PendingTransferHasDifferentCreditAccount, "pending_transfer_has_different_credit_account", 66},
	{ledger.PendingTransferHasDifferentCurrency, "pending_transfer_has_different_currency", 67},
	{ledger.ExceedsPendingTransferAmount, "exceeds_pending_transfer_amount", 68},
	{ledger.PendingTransferHasDifferentAmount, "pending_transfer_has_different_amount", 69},
	{ledger.PendingTransferAlreadyPosted, "pending_transfer_already_posted", 70},
	{ledger.PendingTransferAlreadyVoided, "pending_transfer_already_voided", 71},
	{ledger.PendingTransferExpired, "pending_transfer_expired", 72},
	{ledger.Overflow, "overflow", 73},
	{ledger.ExceedsCredits, "exceeds_credits", 74},
	{ledger.ExceedsDebits, "exceeds_debits", 75},
	{ledger.AccountExistsWithDifferentParticipant, "account_exists_with_different_participant", 90},
	{ledger.AccountExistsWithDifferentCurrency, "account_exists_with_different_currency", 91},
	{ledger.AccountExistsWithDifferentKind, "account_exists_with_different_kind", 92},
	{ledger.AccountExistsWithDifferentFlags, "account_exists_with_different_flags", 93},
	{ledger.AccountExistsWithDifferentLimit, "account_exists_with_different_limit", 94},
	{ledger.AccountExistsWithDifferentUserRef, "account_exists_with_different_user_ref", 95},
	{ledger.AccountExists, "account_exists", 96},
	{ledger.AccountKindInvalid, "account_kind_invalid", 97},
	{ledger.AccountFlagsUnknown, "account_flags_unknown", 98},
	{ledger.AccountFlagsAreMutuallyExclusive, "account_flags_are_mutually_exclusive", 99},
	{ledger.ParticipantMustNotBeZero, "participant_must_not_be_zero", 100},
	{ledger.CurrencyUnknown, "currency_unknown", 101},
	{ledger.AccountNotFound, "account_not_found", 110},
	{ledger.LimitBelowUsage, "limit_below_usage", 111},
	{ledger.CommandUnknown, "command_unknown", 120},
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

func TestCodesArePinned(t *testing.T) {
	var want []ledger.Code
	for _, p := range pinnedCodes {
		if uint32(p.code) != p.number {
			t.Errorf("%s is %d, pinned as %d: codes are never renumbered", p.name, uint32(p.code), p.number)
		}
		if got := p.code.String(); got != p.name {
			t.Errorf("code %d is named %q, pinned as %q: names are never changed", p.number, got, p.name)
		}
		want = append(want, p.code)
	}
	if got := ledger.Codes(); !slices.Equal(got, want) {
		t.Errorf("Codes() = %v\n  pinned %v", got, want)
	}
}

func TestCodeNames(t *testing.T) {
	codes := ledger.Codes()
	if !slices.IsSorted(codes) {
		t.Errorf("Codes() not in numeric order: %v", codes)
	}
	seen := map[string]ledger.Code{}
	for _, c := range codes {
		name := c.String()
		if !snakeCase.MatchString(name) {
			t.Errorf("code %d has name %q, not snake_case", uint32(c), name)
		}
		if other, ok := seen[name]; ok {
			t.Errorf("codes %d and %d share the name %q", uint32(other), uint32(c), name)
		}
		seen[name] = c
	}
	// A number without a code still prints, so that a newer peer's code
	// is never lost in a log.
	for _, c := range []ledger.Code{3, 52, 121, 1 << 31} {
		if slices.Contains(codes, c) {
			t.Fatalf("%d is a code now; pick an unused number for this test", uint32(c))
		}
	}
	if got := ledger.Code(52).String(); got != "code_52" {
		t.Errorf("Code(52).String() = %q", got)
	}
	if got := ledger.Code(1 << 31).String(); got != "code_2147483648" {
		t.Errorf("Code(1<<31).String() = %q", got)
	}
}

func TestCodeSucceeded(t *testing.T) {
	for _, c := range ledger.Codes() {
		want := c == ledger.OK || c == ledger.Exists || c == ledger.AccountExists
		if got := c.Succeeded(); got != want {
			t.Errorf("%s.Succeeded() = %v", c, got)
		}
	}
}

// TestLimits checks how the limits relate: what one batch may cause must
// stay inside the encodings and arithmetic that carry it.
func TestLimits(t *testing.T) {
	if ledger.ExpireTransfersMax > ledger.BatchCommandsMax {
		t.Errorf("one expire (%d) voids more than a batch (%d) may create", ledger.ExpireTransfersMax, ledger.BatchCommandsMax)
	}
	// Commands get consecutive nanosecond timestamps: a full batch must
	// take far less than the smallest timeout, one second.
	if uint64(ledger.BatchCommandsMax) >= second {
		t.Errorf("a batch spans %d ns", ledger.BatchCommandsMax)
	}
	// A deadline is a timestamp plus the timeout in ns.
	if uint64(ledger.TimeoutSecondsMax)*second > 1<<60 {
		t.Errorf("TimeoutSecondsMax %d leaves no room in a uint64 deadline", ledger.TimeoutSecondsMax)
	}
}

// TestEnumNames pins the other names that leave the package: account
// kinds (parsed back by ParseAccountKind), ops, statuses and event kinds.
func TestEnumNames(t *testing.T) {
	for k, name := range map[ledger.AccountKind]string{
		ledger.KindPosition: "position", ledger.KindSettlement: "settlement",
		ledger.KindProgram: "program", ledger.KindHub: "hub", 0: "unknown", 5: "unknown",
	} {
		if got := k.String(); got != name {
			t.Errorf("AccountKind(%d) = %q, want %q", k, got, name)
		}
		if parsed, ok := ledger.ParseAccountKind(name); ok != (name != "unknown") || (ok && parsed != k) {
			t.Errorf("ParseAccountKind(%q) = %d, %v", name, parsed, ok)
		}
	}
	if _, ok := ledger.ParseAccountKind(""); ok {
		t.Error(`ParseAccountKind("") succeeded`)
	}
	for op, name := range map[ledger.Op]string{
		ledger.OpCreateAccount: "create_account", ledger.OpCreateTransfer: "create_transfer",
		ledger.OpSetLimit: "set_limit", ledger.OpExpire: "expire", 0: "op_0", 9: "op_9",
	} {
		if got := op.String(); got != name {
			t.Errorf("Op(%d) = %q, want %q", op, got, name)
		}
	}
	for s, name := range map[ledger.Status]string{
		ledger.StatusPosted: "posted", ledger.StatusPending: "pending", ledger.StatusVoided: "voided",
		ledger.StatusExpired: "expired", ledger.StatusRejected: "rejected", 0: "unknown", 6: "unknown",
	} {
		if got := s.String(); got != name {
			t.Errorf("Status(%d) = %q, want %q", s, got, name)
		}
	}
	for k, name := range map[ledger.EventKind]string{
		ledger.EventAccountCreated: "account_created", ledger.EventLimitChanged: "limit_changed",
		ledger.EventTransferPosted: "transfer_posted", ledger.EventTransferPending: "transfer_pending",
		ledger.EventTransferVoided: "transfer_voided", ledger.EventTransferExpired: "transfer_expired",
		ledger.EventTransferRejected: "transfer_rejected", 0: "unknown", 8: "unknown",
	} {
		if got := k.String(); got != name {
			t.Errorf("EventKind(%d) = %q, want %q", k, got, name)
		}
	}
}
