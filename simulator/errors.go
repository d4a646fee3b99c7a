package simulator

import (
	"errors"
	"strconv"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// Errors of this package. Test for them with errors.Is; the wrapping
// errors say which session or field.
var (
	// ErrConfig is wrapped by the errors of BankConfig.Validate and
	// LoadConfig.Validate.
	ErrConfig = errors.New("simulator: invalid configuration")
	// ErrSignOn is wrapped by every *SignOnError: the switch answered a
	// sign-on with a code other than 00.
	ErrSignOn = errors.New("simulator: sign-on refused")
	// ErrSignOff: the switch answered a sign-off with a code other than 00.
	ErrSignOff = errors.New("simulator: sign-off refused")
	// ErrNoAnswer: the switch did not answer a request before its deadline
	// (the context's, BankConfig.ResponseTimeout or LoadConfig.Timeout). A
	// later answer is counted in Stats.Unmatched.
	ErrNoAnswer = errors.New("simulator: no answer before the deadline")
	// ErrSessionClosed: the session closed (the switch hung up, a read or
	// write failed, or the Bank closed) before the answer came.
	ErrSessionClosed = errors.New("simulator: session closed")
	// ErrNoSession: no session is open and signed on.
	ErrNoSession = errors.New("simulator: no signed-on session")
	// ErrClosed: the Bank is closed or closing.
	ErrClosed = errors.New("simulator: bank closed")
	// ErrInflightFull: the session already has inflightPerSessionMax
	// requests outstanding.
	ErrInflightFull = errors.New("simulator: too many requests in flight on the session")
	// ErrPayment: a Payment does not fit the 0200 (a field too long, a
	// character outside its format, no payee). The wrapped
	// *iso8583.FieldError, when there is one, names the field.
	ErrPayment = errors.New("simulator: payment does not fit the message")
	// ErrUnknownPayment: Resend or Reverse named an RRN this Bank has no
	// record of (never sent by Pay, PayAsync or Pull, or forgotten).
	ErrUnknownPayment = errors.New("simulator: no record of a payment with this RRN")
	// ErrResponseMAC: the answer's MAC is missing or wrong under the
	// participant's key; it is counted in Stats.MACFailures.
	ErrResponseMAC = errors.New("simulator: response MAC missing or wrong")
	// ErrMalformedResponse: the answer does not decode or lacks a field its
	// type requires; it is counted in Stats.Malformed.
	ErrMalformedResponse = errors.New("simulator: malformed response")
)

// SignOnError is returned by Dial when the switch answers a session's
// sign-on with 39 other than 00: 91 from a node that is not the leader, 92
// for an unknown participant, 63 for a wrong MAC key.
type SignOnError struct {
	// Session is the index of the session, from 0.
	Session int
	// Code is field 39 of the 0810.
	Code iso8583.ResponseCode
}

func (e *SignOnError) Error() string {
	return "simulator: sign-on of session " + strconv.Itoa(e.Session) + " refused with " +
		e.Code.String() + " (" + e.Code.Meaning() + ")"
}

// Unwrap returns ErrSignOn.
func (e *SignOnError) Unwrap() error { return ErrSignOn }

var _ error = (*SignOnError)(nil)
