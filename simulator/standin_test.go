package simulator_test

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// testKey is the MAC key of every participant in these tests.
var testKey = []byte("simulator-test-key-0123456789abc")

// Participants of the tests: the bank under test is the payer 10001, or
// the payee 10002 when the stand-in forwards payments to it.
const (
	payerParticipant = 10001
	payeeParticipant = 10002
)

// standIn is a minimal switch for the tests: it accepts sessions, signs
// them on, answers 0200 with 0210 00 after checking the MAC, answers 0420
// and echoes, forwards nothing, and lets a test send the bank requests
// and read its answers. It verifies the MAC of everything it receives.
type standIn struct {
	errorf func(format string, args ...any) // a test's Errorf
	ln     net.Listener
	key    []byte

	signOnCode   atomic.Uint32 // field 39 of sign-on answers (00)
	answer       atomic.Bool   // answer 0200s (true)
	wrongMAC     atomic.Bool   // MAC what it sends with another key
	serviceDelay atomic.Int64  // sleep before answering each 0200, on the reader: a slow switch

	mu          sync.Mutex
	conns       []*standInConn
	signOns     []iso8583.Message
	signOffs    int
	echoes      int
	payments    []iso8583.Message // the bank's 0200s
	advices     []iso8583.Message // the bank's 0420s
	macFailures int               // messages from the bank with a bad MAC

	fromBank chan iso8583.Message // the bank's answers to the stand-in's requests
	wg       sync.WaitGroup
}

type standInConn struct {
	conn  net.Conn
	mu    sync.Mutex
	mac   *iso8583.MACer
	wrong *iso8583.MACer
	stans iso8583.STANSequence
}

// startStandIn starts a stand-in for the test and stops it at its end.
func startStandIn(t testing.TB) *standIn {
	t.Helper()
	sw, err := newStandIn(t.Errorf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sw.stop)
	return sw
}

// newStandIn starts a stand-in on a loopback port; errorf receives what
// the bank did wrong.
func newStandIn(errorf func(format string, args ...any)) (*standIn, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sw := &standIn{errorf: errorf, ln: ln, key: testKey, fromBank: make(chan iso8583.Message, 4096)}
	sw.signOnCode.Store(uint32(iso8583.ResponseApproved))
	sw.answer.Store(true)
	sw.wg.Add(1)
	go sw.accept()
	return sw, nil
}

func (sw *standIn) addr() string { return sw.ln.Addr().String() }

func (sw *standIn) stop() {
	_ = sw.ln.Close()
	sw.dropSessions()
	sw.wg.Wait()
}

// dropSessions closes every session from the switch's side.
func (sw *standIn) dropSessions() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	for _, c := range sw.conns {
		_ = c.conn.Close()
	}
}

func (sw *standIn) accept() {
	defer sw.wg.Done()
	for {
		conn, err := sw.ln.Accept()
		if err != nil {
			return
		}
		mac, _ := iso8583.NewMACer(sw.key)
		wrong, _ := iso8583.NewMACer([]byte("not-the-participant-key-at-all!!"))
		c := &standInConn{conn: conn, mac: mac, wrong: wrong}
		sw.mu.Lock()
		sw.conns = append(sw.conns, c)
		sw.mu.Unlock()
		sw.wg.Add(1)
		go sw.serve(c)
	}
}

func (sw *standIn) serve(c *standInConn) {
	defer sw.wg.Done()
	defer c.conn.Close()
	verify, _ := iso8583.NewMACer(sw.key)
	frames := iso8583.NewFrameReader(c.conn)
	var in, out iso8583.Message
	for {
		frame, err := frames.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, syscall.ECONNRESET) {
				sw.errorf("stand-in: read: %v", err)
			}
			return
		}
		if err := iso8583.Unpack(frame, &in); err != nil {
			sw.errorf("stand-in: the bank sent a malformed message: %v", err)
			continue
		}
		if err := in.CheckFields(); err != nil {
			sw.errorf("stand-in: the bank sent %v with wrong fields: %v", in.MTI, err)
		}
		macOK := true
		if iso8583.MACRequired(in.MTI) || in.Has(iso8583.FieldMAC) {
			if iso8583.VerifyMAC(frame, verify) != nil {
				macOK = false
				sw.mu.Lock()
				sw.macFailures++
				sw.mu.Unlock()
			}
		}
		if !in.MTI.IsRequest() {
			sw.fromBank <- in
			continue
		}
		code := sw.handle(&in, macOK)
		if code == 0 {
			continue
		}
		_ = out.ResponseTo(&in)
		out.ResponseCode = code
		out.Set(iso8583.FieldResponseCode)
		if out.MTI == iso8583.MTIFinancialResponse && code == iso8583.ResponseApproved {
			_ = out.SetBytes(iso8583.FieldApprovalCode, []byte("APPR01"))
		}
		sw.send(c, &out)
	}
}

// handle records a request of the bank's and returns the code to answer
// it with, or 0 for no answer.
func (sw *standIn) handle(in *iso8583.Message, macOK bool) iso8583.ResponseCode {
	if !macOK {
		return iso8583.ResponseSecurityViolation
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	switch in.MTI {
	case iso8583.MTINetworkRequest:
		switch in.NetworkCode {
		case iso8583.NetworkSignOn:
			sw.signOns = append(sw.signOns, *in)
			return iso8583.ResponseCode(sw.signOnCode.Load())
		case iso8583.NetworkSignOff:
			sw.signOffs++
		case iso8583.NetworkEcho:
			sw.echoes++
		}
		return iso8583.ResponseApproved
	case iso8583.MTIFinancialRequest:
		sw.payments = append(sw.payments, *in)
		if d := time.Duration(sw.serviceDelay.Load()); d > 0 {
			sw.mu.Unlock()
			time.Sleep(d) // serial: the next message waits, as in a saturated switch
			sw.mu.Lock()
		}
		if !sw.answer.Load() {
			return 0
		}
		return iso8583.ResponseApproved
	case iso8583.MTIReversalAdvice:
		sw.advices = append(sw.advices, *in)
		return iso8583.ResponseApproved
	}
	return iso8583.ResponseInvalidTransaction
}

// send packs m with the stand-in's MAC (or a wrong one) where required.
func (sw *standIn) send(c *standInConn, m *iso8583.Message) {
	var mc *iso8583.MACer
	if iso8583.MACRequired(m.MTI) {
		mc = c.mac
		if sw.wrongMAC.Load() {
			mc = c.wrong
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	frame, err := iso8583.PackFrame(nil, m, mc)
	if err != nil {
		sw.errorf("stand-in: pack %v: %v", m.MTI, err)
		return
	}
	_, _ = c.conn.Write(frame)
}

// request sends the bank a request of the switch's on session i under a
// fresh STAN of that session, and returns the STAN.
func (sw *standIn) request(i int, m *iso8583.Message) uint32 {
	sw.mu.Lock()
	c := sw.conns[i]
	sw.mu.Unlock()
	m.STAN = c.stans.Next()
	m.Set(iso8583.FieldSTAN)
	sw.send(c, m)
	return m.STAN
}

// forwarded returns the 0200 the switch forwards to payee 10002: a push
// payment of payer 10001 under rrn.
func forwarded(t testing.TB, rrn string, amount uint64) *iso8583.Message {
	t.Helper()
	var m iso8583.Message
	m.MTI = iso8583.MTIFinancialRequest
	m.ProcessingCode = iso8583.ProcessingPush
	m.Amount = amount
	m.Currency = 404
	m.Set(iso8583.FieldProcessingCode, iso8583.FieldAmount, iso8583.FieldCurrency)
	m.SetTransmissionTime(time.Now())
	for _, f := range []struct {
		field iso8583.Field
		value string
	}{
		{iso8583.FieldAcquirer, strconv.Itoa(payerParticipant)},
		{iso8583.FieldRRN, rrn},
		{iso8583.FieldReceiver, strconv.Itoa(payeeParticipant)},
		{iso8583.FieldPayerAccount, "0011223344"},
		{iso8583.FieldPayeeAccount, "7766554433"},
	} {
		if err := m.SetBytes(f.field, []byte(f.value)); err != nil {
			t.Fatal(err)
		}
	}
	return &m
}

// advice returns the 0420 the switch sends payee 10002 for the payment
// orig it forwarded, naming it in field 90.
func advice(t testing.TB, orig *iso8583.Message) *iso8583.Message {
	t.Helper()
	m := *orig
	m.MTI = iso8583.MTIReversalAdvice
	m.SetTransmissionTime(time.Now())
	if err := m.SetOriginal(iso8583.OriginalOf(orig)); err != nil {
		t.Fatal(err)
	}
	return &m
}

// awaitFromBank returns the bank's next answer, or false after timeout.
func (sw *standIn) awaitFromBank(timeout time.Duration) (iso8583.Message, bool) {
	select {
	case m := <-sw.fromBank:
		return m, true
	case <-time.After(timeout):
		return iso8583.Message{}, false
	}
}

// snapshot returns copies of what the stand-in recorded.
func (sw *standIn) snapshot() (payments, advices []iso8583.Message, signOffs, echoes, macFailures int) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return append([]iso8583.Message(nil), sw.payments...), append([]iso8583.Message(nil), sw.advices...),
		sw.signOffs, sw.echoes, sw.macFailures
}
