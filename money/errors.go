package money

import (
	"errors"
	"fmt"
)

// Errors returned (wrapped) by ParseAmount and ParseAmountAllowZero. Test
// for them with errors.Is; the wrapping error's message names the input and
// the currency.
var (
	// ErrAmountSyntax is returned for text that is not a plain decimal
	// number: empty, blank, signed with '+', in exponent notation, NaN or
	// Inf, with thousands separators or other characters, or longer than
	// MaxAmountLen bytes.
	ErrAmountSyntax = errors.New("money: invalid amount syntax")
	// ErrAmountPrecision is returned for an amount with more significant
	// fractional digits than the currency's exponent allows ("1.005" KES).
	// Trailing zeros are not significant: "1.500" KES is 150.
	ErrAmountPrecision = errors.New("money: amount too precise")
	// ErrAmountNegative is returned for an amount with a leading '-'.
	ErrAmountNegative = errors.New("money: amount negative")
	// ErrAmountZero is returned by ParseAmount for an amount equal to zero.
	ErrAmountZero = errors.New("money: amount zero")
	// ErrAmountOverflow is returned for an amount whose minor units do not
	// fit in a uint64.
	ErrAmountOverflow = errors.New("money: amount overflows uint64 minor units")
)

// amountError is the error returned for a rejected amount. Its message is
// specific to the input; errors.Is matches the sentinel it carries.
type amountError struct {
	msg  string
	kind error
}

func (e *amountError) Error() string { return e.msg }
func (e *amountError) Unwrap() error { return e.kind }

// newAmountError builds the error of kind for input s. The message is
// `money: amount "<s>" ` followed by the formatted tail, which names the
// currency and ends with a short reason. An oversized input is quoted only
// up to MaxAmountLen bytes, so that it cannot blow up a log line.
func newAmountError(kind error, s string, tailFormat string, args ...any) error {
	var quoted string
	if len(s) > MaxAmountLen {
		quoted = fmt.Sprintf("%q...", s[:MaxAmountLen])
	} else {
		quoted = fmt.Sprintf("%q", s)
	}
	return &amountError{
		msg:  "money: amount " + quoted + " " + fmt.Sprintf(tailFormat, args...),
		kind: kind,
	}
}
