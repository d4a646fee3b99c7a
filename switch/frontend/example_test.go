package frontend_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/payswitch/payswitch/switch/frontend"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// approver approves every payment it is given.
type approver struct{}

func (approver) Request(s *frontend.Session, m *iso8583.Message) {
	_ = m.ResponseTo(m)
	m.ResponseCode = iso8583.ResponseApproved
	m.Set(iso8583.FieldResponseCode)
	_ = m.SetBytes(iso8583.FieldApprovalCode, []byte("A7F3K2"))
	_ = s.Reply(m) // with the switch's MAC under the session's key
}

func (approver) Response(*frontend.Session, *iso8583.Message) {}
func (approver) SignedOn(uint64)                              {}

// A bank connects, signs on and pays; the switch's handler approves.
func Example() {
	key := []byte("participant-10001-demo-key-32byt")
	srv, err := frontend.Start(frontend.Config{
		Addr: "127.0.0.1:0",
		Keys: func(p uint64) ([]byte, bool, bool) {
			return key, true, p == 10001
		},
		Handler: approver{},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop(context.Background())

	// The bank's side: a plain TCP connection.
	conn, _ := net.Dial("tcp", srv.Addr())
	defer conn.Close()
	mac, _ := iso8583.NewMACer(key)
	frames := iso8583.NewFrameReader(conn)
	exchange := func(m *iso8583.Message) {
		out, _ := iso8583.PackFrame(nil, m, mac)
		_, _ = conn.Write(out)
		frame, _ := frames.Next()
		var resp iso8583.Message
		_ = iso8583.Unpack(frame, &resp)
		fmt.Printf("%v STAN %d: %s (%s)\n", resp.MTI, resp.STAN, resp.ResponseCode, resp.ResponseCode.Meaning())
	}
	now := time.Date(2026, 6, 12, 9, 30, 15, 0, time.UTC)

	var signOn iso8583.Message
	signOn.MTI = iso8583.MTINetworkRequest
	signOn.STAN = 1
	signOn.NetworkCode = iso8583.NetworkSignOn
	signOn.Set(iso8583.FieldSTAN, iso8583.FieldNetworkCode)
	signOn.SetTransmissionTime(now)
	_ = signOn.SetBytes(iso8583.FieldForwarder, []byte("10001"))
	exchange(&signOn)

	var pay iso8583.Message
	pay.MTI = iso8583.MTIFinancialRequest
	pay.ProcessingCode = iso8583.ProcessingPush
	pay.Amount = 12500
	pay.Currency = 404
	pay.STAN = 42
	pay.Set(iso8583.FieldProcessingCode, iso8583.FieldAmount, iso8583.FieldCurrency, iso8583.FieldSTAN)
	pay.SetTransmissionTime(now)
	_ = pay.SetBytes(iso8583.FieldAcquirer, []byte("10001"))
	_ = pay.SetBytes(iso8583.FieldRRN, []byte("616309000042"))
	_ = pay.SetBytes(iso8583.FieldPayerAccount, []byte("0011223344"))
	_ = pay.SetBytes(iso8583.FieldPayeeAccount, []byte("msisdn:+254700000001"))
	exchange(&pay)
	fmt.Println("signed-on sessions of 10001:", srv.Sessions(10001))
	// Output:
	// 0810 STAN 1: 00 (approved)
	// 0210 STAN 42: 00 (approved)
	// signed-on sessions of 10001: 1
}
