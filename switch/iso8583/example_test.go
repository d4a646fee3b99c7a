package iso8583_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// A payer bank sends a push payment; the switch frames it off the wire,
// decodes it, checks its MAC, answers 0210 approved with its own MAC, and
// shows how a malformed message is answered.
func Example() {
	key := []byte("participant-10001-demo-key-32byt")
	bank, _ := iso8583.NewMACer(key)      // the bank's side of the session
	switchMAC, _ := iso8583.NewMACer(key) // the switch's side

	// The bank builds and sends a 0200.
	var req iso8583.Message
	req.MTI = iso8583.MTIFinancialRequest
	req.ProcessingCode = iso8583.ProcessingPush
	req.Amount = 12500 // 125.00 KES
	req.Currency = 404
	req.STAN = 42
	req.Set(iso8583.FieldProcessingCode, iso8583.FieldAmount, iso8583.FieldCurrency, iso8583.FieldSTAN)
	req.SetTransmissionTime(time.Date(2026, 6, 12, 9, 30, 20, 0, time.UTC))
	for _, f := range []struct {
		field iso8583.Field
		value string
	}{
		{iso8583.FieldAcquirer, "10001"},
		{iso8583.FieldRRN, "616309000042"},
		{iso8583.FieldPayerAccount, "0011223344"},
		{iso8583.FieldPayeeAccount, "msisdn:+254700000001"},
	} {
		if err := req.SetBytes(f.field, []byte(f.value)); err != nil {
			fmt.Println(err)
		}
	}
	wire, err := iso8583.PackFrame(nil, &req, bank)
	fmt.Println(len(wire), "bytes on the wire,", err)

	// The switch splits the frame off its read buffer and decodes it.
	frame, rest, _ := iso8583.NextFrame(wire)
	var got iso8583.Message
	fmt.Println("unpack:", iso8583.Unpack(frame, &got), "rest:", len(rest))
	fmt.Println("fields:", got.CheckFields(), "MAC:", iso8583.VerifyMAC(frame, switchMAC))
	payment, _ := got.PaymentKey()
	fmt.Printf("%v of %d minor units, payment %d/%s\n", got.MTI, got.Amount, payment.Acquirer, payment.RRN[:])

	// It answers 0210 approved, echoing the request.
	var resp iso8583.Message
	_ = resp.ResponseTo(&got)
	resp.ResponseCode = iso8583.ResponseApproved
	resp.Set(iso8583.FieldResponseCode)
	_ = resp.SetBytes(iso8583.FieldApprovalCode, []byte("A7F3K2"))
	out, _ := iso8583.PackFrame(nil, &resp, switchMAC)
	fmt.Printf("%s STAN %d: %s (%s)\n", resp.MTI, resp.STAN, resp.ResponseCode, resp.ResponseCode.Meaning())
	_ = out

	// A 0200 with a letter in its amount cannot be decoded, but its MTI and
	// STAN can be read, so it is answered 30 rather than dropped.
	bad := []byte("0200" + "3020000000000000" + "400000" + "00000001250X" + "000043")
	err = iso8583.Unpack(bad, &got)
	var fe *iso8583.FieldError
	if errors.As(err, &fe) {
		mti, stan, ok := iso8583.PeekMTISTAN(bad)
		answer, _ := mti.Response()
		fmt.Printf("field %d: %v; answer %v STAN %d with %s: %v\n",
			fe.Field, errors.Is(err, iso8583.ErrCharset), answer, stan, iso8583.ResponseFormatError, ok)
	}
	// Output:
	// 144 bytes on the wire, <nil>
	// unpack: <nil> rest: 0
	// fields: <nil> MAC: <nil>
	// 0200 of 12500 minor units, payment 10001/616309000042
	// 0210 STAN 42: 00 (approved)
	// field 4: true; answer 0210 STAN 43 with 30: true
}
