package flow

import (
	"testing"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/routing"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// TestRouteCodes: every reason routing refuses a payment becomes the
// response code of DESIGN.md 6.1 that the route code names, and anything
// else a system error.
func TestRouteCodes(t *testing.T) {
	for _, tc := range []struct {
		route routing.RouteCode
		want  iso8583.ResponseCode
	}{
		{routing.RouteFormat, iso8583.ResponseFormatError},
		{routing.RouteInvalidTransaction, iso8583.ResponseInvalidTransaction},
		{routing.RouteInvalidAmount, iso8583.ResponseInvalidAmount},
		{routing.RouteUnknownID, iso8583.ResponseUnknownAccount},
		{routing.RouteNotPermitted, iso8583.ResponseNotPermitted},
		{routing.RouteUnavailable, iso8583.ResponseUnavailable},
		{routing.RouteUnknownParticipant, iso8583.ResponseUnknownParticipant},
		{routing.RouteSystemError, iso8583.ResponseSystemError},
		{routing.RouteCode("zz"), iso8583.ResponseSystemError},
	} {
		got := routeCode(tc.route)
		if got != tc.want {
			t.Errorf("route code %q: %s (%s), want %s (%s)", tc.route, got, got.Meaning(), tc.want, tc.want.Meaning())
		}
		if tc.route != "zz" && got.String() != string(tc.route) {
			t.Errorf("route code %q answers %s: the digits differ", tc.route, got)
		}
	}
}

// TestReserveFailureCodes: every way the ledger can refuse a payment's
// reservation gets its response code; a refusal the flow does not expect
// (the flow's own commands should never cause it) is a system error.
func TestReserveFailureCodes(t *testing.T) {
	for _, tc := range []struct {
		ledger ledger.Code
		want   iso8583.ResponseCode
	}{
		{ledger.ExceedsCredits, iso8583.ResponseLiquidityExhausted},
		{ledger.DebitAccountNotFound, iso8583.ResponseUnknownParticipant},
		{ledger.CreditAccountNotFound, iso8583.ResponseUnknownParticipant},
		{ledger.AmountMustNotBeZero, iso8583.ResponseInvalidAmount},
		{ledger.Overflow, iso8583.ResponseInvalidAmount},
		{ledger.CurrencyMismatch, iso8583.ResponseInvalidTransaction},
		{ledger.Exists, iso8583.ResponseSystemError},
		{ledger.ExceedsDebits, iso8583.ResponseSystemError},
	} {
		if got := reserveFailure(tc.ledger); got != tc.want {
			t.Errorf("ledger %v: %s (%s), want %s (%s)", tc.ledger, got, got.Meaning(), tc.want, tc.want.Meaning())
		}
	}
}
