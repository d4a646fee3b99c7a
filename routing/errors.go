package routing

import (
	"errors"
	"strconv"
	"time"
)

// Errors of this package. Test for them with errors.Is; the wrapping errors
// say more, but never repeat a raw identifier.
var (
	// ErrIdentifier is wrapped by every *IdentifierError: the input is not
	// a valid identifier of its type.
	ErrIdentifier = errors.New("routing: invalid identifier")
	// ErrSecret is returned by NewTokenizer and NewWebhookHook for a secret
	// that is too short, too long or all zero bytes.
	ErrSecret = errors.New("routing: unusable secret")
	// ErrRateLimited is wrapped by every *RateLimitError: the requester's
	// resolve budget is spent for now.
	ErrRateLimited = errors.New("routing: resolve rate limit exhausted")
	// ErrConfig is wrapped by the errors of Validate methods and
	// constructors given an invalid configuration.
	ErrConfig = errors.New("routing: invalid configuration")
	// ErrRequest is returned (wrapped) by Request.Validate and by hooks given
	// a structurally invalid consent request, which is a caller's bug.
	ErrRequest = errors.New("routing: invalid consent request")
	// ErrHookCanceled is returned (wrapped, together with the context's
	// error) by a consent hook whose caller's context ended before it
	// decided. The decision returned with it always denies.
	ErrHookCanceled = errors.New("routing: consent check canceled")
)

// IdentifierError says which part of an identifier broke which rule. Its
// message is built only from the type, the field and the rule, never from
// the input, so it is safe to log and to return to the participant.
type IdentifierError struct {
	// Type is the identifier type, or zero when the type itself was bad.
	Type IDType
	// Field names the part that broke the rule: "input", "type", "msisdn",
	// "nid", "alias name", "participant", "email local part", "email
	// domain", "account".
	Field string
	// Rule says what was wanted, in a few words.
	Rule string
}

func (e *IdentifierError) Error() string {
	prefix := "routing: identifier "
	if e.Type.Valid() {
		prefix += e.Type.String() + " "
	}
	return prefix + e.Field + ": " + e.Rule
}

// Unwrap returns ErrIdentifier.
func (e *IdentifierError) Unwrap() error { return ErrIdentifier }

// identifierError builds an *IdentifierError.
func identifierError(t IDType, field, rule string) error {
	return &IdentifierError{Type: t, Field: field, Rule: rule}
}

// RateLimitError is returned by Limiter.Allow when the requester cannot
// afford another resolve. Adapters map it to ISO 8583 response code 91 or
// HTTP 429 with a Retry-After header.
type RateLimitError struct {
	// Requester is the participant that was refused.
	Requester uint64
	// RetryAfter is how long until the bucket holds enough for one more
	// resolve, given no other spending in between. It is at least 1 ns.
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return "routing: resolve rate limit exhausted for participant " +
		strconv.FormatUint(e.Requester, 10) + "; retry after " + e.RetryAfter.String()
}

// Unwrap returns ErrRateLimited.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }
