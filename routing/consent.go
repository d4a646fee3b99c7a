package routing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Purpose says why money or data moves. The numbers are stable: they may
// be stored and must never be renumbered.
type Purpose uint8

// The purposes.
const (
	// PurposePayment is a push credit transfer.
	PurposePayment Purpose = 1
	// PurposeG2P is one item of a government-to-person disbursement.
	PurposeG2P Purpose = 2
	// PurposePull is a pull payment, which needs an active mandate.
	PurposePull Purpose = 3
	// PurposeResolve is the disclosure of an identifier's participant,
	// account and masked name to a requester.
	PurposeResolve Purpose = 4
)

// purposeNames is the read-only table of names, indexed by Purpose.
var purposeNames = [...]string{
	PurposePayment: "payment",
	PurposeG2P:     "g2p",
	PurposePull:    "pull",
	PurposeResolve: "resolve",
}

// Valid reports whether p is one of the defined purposes.
func (p Purpose) Valid() bool { return p >= PurposePayment && p <= PurposeResolve }

// String returns the purpose's name ("payment"), or "Purpose(N)".
func (p Purpose) String() string {
	if p.Valid() {
		return purposeNames[p]
	}
	return "Purpose(" + strconv.Itoa(int(p)) + ")"
}

// Stable reason codes of a Decision. Adapters map a denial to ISO 8583
// response code 57 and to the HTTP problem code of the same name.
const (
	// ReasonConsentDenied: the ID holder or a consent manager said no.
	ReasonConsentDenied = "consent_denied"
	// ReasonMandateMissing: a pull payment without an active mandate.
	ReasonMandateMissing = "mandate_missing"
	// ReasonScreeningDenied: a fraud or AML screening service said no.
	ReasonScreeningDenied = "screening_denied"
	// ReasonScreeningUnavailable: a screening service did not answer in
	// time or answered nonsense. It comes with a denial when the hook fails
	// closed (the default) and with an allowance when it fails open, so
	// that the exception is visible wherever the decision travels.
	ReasonScreeningUnavailable = "screening_unavailable"
	// ReasonRequestInvalid: the hook was asked about a malformed request.
	ReasonRequestInvalid = "request_invalid"
)

// Decision is a hook's answer. An allowance may carry a reason (see
// ReasonScreeningUnavailable); a denial always does.
type Decision struct {
	// Allow is true when the movement may go ahead.
	Allow bool
	// Reason is a stable code of 1 to 32 characters of [a-z0-9_], such as
	// "consent_denied"; empty on a plain allowance.
	Reason string
	// Reference identifies the consent or screening record behind the
	// decision, up to 64 printable ASCII characters from one hook (a Chain
	// joins those of its hooks with ';'); it travels with the transfer.
	// Empty when the hook keeps no record.
	Reference string
}

// deny returns a denial with reason.
func deny(reason string) Decision { return Decision{Reason: reason} }

// validate checks the shape of a decision that came from outside the
// process.
func (d Decision) validate() error {
	if !d.Allow && d.Reason == "" {
		return errors.New("denial without a reason")
	}
	if d.Reason != "" && !isReasonCode(d.Reason) {
		return errors.New("reason is not 1 to 32 of [a-z0-9_]")
	}
	if len(d.Reference) > referenceLenMax || !isPrintableASCII(d.Reference) {
		return errors.New("reference is not up to 64 printable ASCII characters")
	}
	return nil
}

// Party is one side of a movement: a participant and, when known, an
// account at it.
type Party struct {
	// Participant is the participant's number, 1 to 11 digits.
	Participant uint64 `yaml:"participant"`
	// Account is the account at the participant, up to 28 printable ASCII
	// characters (ISO 8583 field 102); may be empty.
	Account string `yaml:"account"`
}

// Request is what a consent hook is asked about. It never holds a raw
// identifier: an alias has been resolved to the Payee before the hook runs.
type Request struct {
	// TransferID is the transfer's ID as the flow prints it, up to 64
	// printable ASCII characters; required.
	TransferID string
	// Purpose says why money or data moves; required.
	Purpose Purpose
	// Payer is who pays or, for PurposeResolve, who asks.
	Payer Party
	// Payee is who is paid or, for PurposeResolve, whose data is disclosed.
	Payee Party
	// Amount is in minor units of Currency; zero only for PurposeResolve.
	Amount uint64
	// Currency is the ISO 4217 numeric code, 1 to 999; zero only for
	// PurposeResolve.
	Currency uint16
	// MandateID names the mandate of a pull payment (ISO 8583 field 48), up
	// to 128 printable ASCII characters; may be empty.
	MandateID string
	// At is when the flow asked, from the caller's clock; required.
	At time.Time
}

// Validate reports every structural problem of r, joined into one error
// wrapping ErrRequest; nil if there is none. It does not judge consent.
func (r Request) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrRequest}, args...)...))
	}
	if r.TransferID == "" || len(r.TransferID) > transferIDLenMax || !isPrintableASCII(r.TransferID) {
		bad("transfer ID: want 1 to 64 printable ASCII characters")
	}
	if !r.Purpose.Valid() {
		bad("purpose %s undefined", r.Purpose)
	}
	for _, side := range []struct {
		name  string
		party Party
	}{{"payer", r.Payer}, {"payee", r.Payee}} {
		if side.party.Participant == 0 || side.party.Participant > participantMax {
			bad("%s participant: want 1 to 11 digits", side.name)
		}
		if len(side.party.Account) > accountLenMax || !isPrintableASCII(side.party.Account) {
			bad("%s account: want up to 28 printable ASCII characters", side.name)
		}
	}
	moves := r.Purpose != PurposeResolve
	if moves && r.Amount == 0 {
		bad("amount: zero for %s", r.Purpose)
	}
	if r.Currency > 999 || (moves && r.Currency == 0) {
		bad("currency: want an ISO 4217 numeric code 1 to 999")
	}
	if len(r.MandateID) > mandateIDLenMax || !isPrintableASCII(r.MandateID) {
		bad("mandate ID: want up to 128 printable ASCII characters")
	}
	if r.At.IsZero() {
		bad("at: time not set")
	}
	return errors.Join(errs...)
}

// participantMax is the largest 11-digit participant number.
const participantMax = 99_999_999_999

// ConsentHook decides whether a movement of money or data may go ahead.
// The flow calls it between resolving the payee and reserving the funds,
// outside the state machine.
//
// Check returns a non-nil error only when it could not decide for a reason
// the caller must know about: the request is invalid (ErrRequest) or the
// caller's context ended (ErrHookCanceled). Its Decision then denies, so a
// caller that looks only at the Decision still fails closed. A hook's own
// failures (a screening service that is down) are decisions, not errors.
// Implementations must be safe for concurrent use.
type ConsentHook interface {
	Check(ctx context.Context, req Request) (Decision, error)
}

// HookFunc adapts a function to ConsentHook.
type HookFunc func(ctx context.Context, req Request) (Decision, error)

// Check calls f.
func (f HookFunc) Check(ctx context.Context, req Request) (Decision, error) { return f(ctx, req) }

// Chain asks several hooks in order; the movement may go ahead only if all
// of them allow it. It stops at the first denial or error, so later hooks
// (an external screening service, typically) never see a movement that an
// earlier one (consent) refused. Build it with NewChain.
type Chain struct {
	hooks []ConsentHook
}

// NewChain returns a Chain of 1 to 8 hooks, asked in the order given.
func NewChain(hooks ...ConsentHook) (*Chain, error) {
	if len(hooks) == 0 || len(hooks) > chainHooksMax {
		return nil, fmt.Errorf("%w: chain: want 1 to %d hooks, got %d", ErrConfig, chainHooksMax, len(hooks))
	}
	if slices.Contains(hooks, nil) {
		return nil, fmt.Errorf("%w: chain: nil hook", ErrConfig)
	}
	return &Chain{hooks: slices.Clone(hooks)}, nil
}

// Check asks the hooks in order. A denial or error ends the chain and is
// returned as it is (a denial without a reason becomes consent_denied). If
// all allow, the result carries the first non-empty reason and the
// non-empty references joined with ';', in hook order.
func (c *Chain) Check(ctx context.Context, req Request) (Decision, error) {
	if err := req.Validate(); err != nil {
		return deny(ReasonRequestInvalid), err
	}
	var out Decision
	refs := make([]string, 0, len(c.hooks))
	for _, h := range c.hooks {
		d, err := h.Check(ctx, req)
		if err != nil || !d.Allow {
			d.Allow = false
			if d.Reason == "" {
				d.Reason = ReasonConsentDenied
			}
			return d, err
		}
		if out.Reason == "" {
			out.Reason = d.Reason
		}
		if d.Reference != "" {
			refs = append(refs, d.Reference)
		}
	}
	out.Allow = true
	out.Reference = strings.Join(refs, ";")
	return out, nil
}

// scopedHook is a ConsentHook that applies only to some participants.
type scopedHook struct {
	hook         ConsentHook
	participants map[uint64]struct{}
}

// ForParticipants returns a hook that asks hook only about movements whose
// payer or payee is one of participants, and allows the others without a
// reason. It is how a participant's own webhook is wired: put it in a
// Chain next to the global hooks.
func ForParticipants(hook ConsentHook, participants ...uint64) (ConsentHook, error) {
	if hook == nil || len(participants) == 0 {
		return nil, fmt.Errorf("%w: scoped hook: want a hook and at least one participant", ErrConfig)
	}
	set := make(map[uint64]struct{}, len(participants))
	for _, p := range participants {
		if p == 0 || p > participantMax {
			return nil, fmt.Errorf("%w: scoped hook: participant %d not 1 to 11 digits", ErrConfig, p)
		}
		set[p] = struct{}{}
	}
	return &scopedHook{hook: hook, participants: set}, nil
}

// Check implements ConsentHook.
func (s *scopedHook) Check(ctx context.Context, req Request) (Decision, error) {
	_, payer := s.participants[req.Payer.Participant]
	_, payee := s.participants[req.Payee.Participant]
	if !payer && !payee {
		return Decision{Allow: true}, nil
	}
	return s.hook.Check(ctx, req)
}

var (
	_ ConsentHook = HookFunc(nil)
	_ ConsentHook = (*Chain)(nil)
	_ ConsentHook = (*scopedHook)(nil)
)

// isReasonCode reports whether s is 1 to 32 of [a-z0-9_].
func isReasonCode(s string) bool {
	if len(s) == 0 || len(s) > reasonLenMax {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnumLower(c) && c != '_' {
			return false
		}
	}
	return true
}

// isPrintableASCII reports whether every byte of s is printable ASCII,
// space included.
func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
