package simulator_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/payswitch/payswitch/simulator"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// dial connects a bank to sw with cfg, filling in the participant (the
// payer 10001 unless set), the key and the address, and closes it at the
// end of the test.
func dial(t *testing.T, sw *standIn, cfg simulator.BankConfig) *simulator.Bank {
	t.Helper()
	if cfg.Participant == 0 {
		cfg.Participant = payerParticipant
	}
	cfg.MACKey = testKey
	cfg.SwitchAddr = sw.addr()
	if cfg.RRNStart == 0 {
		cfg.RRNStart = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := simulator.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond for up to two seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestDialSignsOnEverySession(t *testing.T) {
	sw := startStandIn(t)
	dial(t, sw, simulator.BankConfig{Sessions: 3})
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if len(sw.signOns) != 3 || sw.macFailures != 0 {
		t.Fatalf("%d sign-ons, %d MAC failures; want 3 and 0", len(sw.signOns), sw.macFailures)
	}
	for _, m := range sw.signOns {
		if p, _ := m.Participant(iso8583.FieldForwarder); p != payerParticipant {
			t.Errorf("sign-on field 33 = %d, want %d", p, payerParticipant)
		}
		for _, f := range []iso8583.Field{iso8583.FieldTransmissionTime, iso8583.FieldSTAN, iso8583.FieldMAC} {
			if !m.Has(f) {
				t.Errorf("sign-on lacks field %d", f)
			}
		}
	}
}

func TestDialSignOnRefused(t *testing.T) {
	sw := startStandIn(t)
	sw.signOnCode.Store(uint32(iso8583.ResponseUnknownParticipant))
	_, err := simulator.Dial(testContext(t), simulator.BankConfig{
		Participant: payerParticipant, MACKey: testKey, SwitchAddr: sw.addr(), Sessions: 2,
	})
	var refused *simulator.SignOnError
	if !errors.As(err, &refused) || !errors.Is(err, simulator.ErrSignOn) {
		t.Fatalf("Dial error %v, want a *SignOnError", err)
	}
	if refused.Code != iso8583.ResponseUnknownParticipant || refused.Session != 0 {
		t.Fatalf("refused %+v, want session 0 with 92", refused)
	}
}

func TestDialValidatesConfig(t *testing.T) {
	good := simulator.BankConfig{Participant: 1, MACKey: testKey, SwitchAddr: "127.0.0.1:1"}
	for _, tc := range []struct {
		name   string
		change func(*simulator.BankConfig)
	}{
		{"no participant", func(c *simulator.BankConfig) { c.Participant = 0 }},
		{"participant of 12 digits", func(c *simulator.BankConfig) { c.Participant = 100_000_000_000 }},
		{"short key", func(c *simulator.BankConfig) { c.MACKey = []byte("short") }},
		{"no address", func(c *simulator.BankConfig) { c.SwitchAddr = "" }},
		{"too many sessions", func(c *simulator.BankConfig) { c.Sessions = simulator.SessionsMax + 1 }},
		{"negative percent", func(c *simulator.BankConfig) { c.DropPercent = -1 }},
		{"percents over 100", func(c *simulator.BankConfig) { c.DeclinePercent, c.DropPercent = 60, 41 }},
		{"delay percent without delay", func(c *simulator.BankConfig) { c.DelayPercent = 10 }},
		{"bad decline code", func(c *simulator.BankConfig) { c.DeclineCode = '0'<<8 | ' ' }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			if _, err := simulator.Dial(testContext(t), cfg); !errors.Is(err, simulator.ErrConfig) {
				t.Fatalf("Dial error %v, want ErrConfig", err)
			}
		})
	}
}

func TestPayToAccountAndAlias(t *testing.T) {
	sw := startStandIn(t)
	b := dial(t, sw, simulator.BankConfig{Sessions: 2})
	ctx := testContext(t)
	res, err := b.Pay(ctx, simulator.Payment{PayeeParticipant: payeeParticipant, PayeeAccount: "7766554433",
		PayerAccount: "0011223344", Amount: 3000})
	if err != nil || res.Code != iso8583.ResponseApproved {
		t.Fatalf("Pay: %+v, %v; want 00", res, err)
	}
	if string(res.Response.Bytes(iso8583.FieldApprovalCode)) != "APPR01" || res.Response.STAN != res.STAN || len(res.RRN) != 12 {
		t.Fatalf("result %+v does not carry the 0210", res)
	}
	alias, err := b.Pay(ctx, simulator.Payment{Alias: "msisdn:+254700000001", Amount: 12500})
	if err != nil || alias.Code != iso8583.ResponseApproved {
		t.Fatalf("Pay to alias: %+v, %v", alias, err)
	}

	payments, _, _, _, macFailures := sw.snapshot()
	if len(payments) != 2 || macFailures != 0 {
		t.Fatalf("stand-in got %d payments with %d MAC failures", len(payments), macFailures)
	}
	m := payments[0]
	if m.ProcessingCode != iso8583.ProcessingPush || m.Amount != 3000 || m.Currency != 404 ||
		string(m.RRN[:]) != res.RRN || string(m.Terminal[:]) != "SIMBANK1" {
		t.Errorf("0200 fields 3, 4, 49, 37, 41: %v %d %d %s %s", m.ProcessingCode, m.Amount, m.Currency, m.RRN[:], m.Terminal[:])
	}
	if p, _ := m.Participant(iso8583.FieldAcquirer); p != payerParticipant {
		t.Errorf("field 32 = %d", p)
	}
	if p, _ := m.Participant(iso8583.FieldReceiver); p != payeeParticipant {
		t.Errorf("field 100 = %d", p)
	}
	if string(m.Bytes(iso8583.FieldPayeeAccount)) != "7766554433" || string(m.Bytes(iso8583.FieldPayerAccount)) != "0011223344" {
		t.Errorf("fields 102, 103 = %s, %s", m.Bytes(iso8583.FieldPayerAccount), m.Bytes(iso8583.FieldPayeeAccount))
	}
	if m.Has(iso8583.FieldPAN) || m.Has(iso8583.FieldAdditionalData) || !m.Has(iso8583.FieldLocalTime) || !m.Has(iso8583.FieldLocalDate) {
		t.Error("a push payment has 12 and 13, and neither 2 nor 48")
	}
	a := payments[1]
	if a.Has(iso8583.FieldReceiver) || string(a.Bytes(iso8583.FieldPayeeAccount)) != "msisdn:+254700000001" ||
		string(a.Bytes(iso8583.FieldPayerAccount)) != "SIMPAYER" {
		t.Errorf("alias payment: 100 present %v, 103 %s, 102 %s", a.Has(iso8583.FieldReceiver),
			a.Bytes(iso8583.FieldPayeeAccount), a.Bytes(iso8583.FieldPayerAccount))
	}
	if res.RRN == alias.RRN {
		t.Error("two payments got the same RRN")
	}
}

func TestPayRefusesWhatDoesNotFit(t *testing.T) {
	sw := startStandIn(t)
	b := dial(t, sw, simulator.BankConfig{})
	for _, p := range []simulator.Payment{
		{Amount: 1}, // no payee
		{PayeeAccount: "a", Alias: "msisdn:+1", Amount: 1},
		{PayeeAccount: "a", PayeeParticipant: 1, Amount: 1_000_000_000_000},
		{PayeeAccount: "a", PayeeParticipant: 1, Amount: 1, RRN: "short"},
		{PayeeAccount: "a", PayeeParticipant: 1, Amount: 1, PayerAccount: "account\x01"},
	} {
		if _, err := b.Pay(testContext(t), p); !errors.Is(err, simulator.ErrPayment) {
			t.Errorf("Pay(%+v) error %v, want ErrPayment", p, err)
		}
	}
}

func TestPull(t *testing.T) {
	sw := startStandIn(t)
	b := dial(t, sw, simulator.BankConfig{})
	res, err := b.Pull(testContext(t), simulator.Payment{PayeeParticipant: payeeParticipant, PayeeAccount: "A1", Amount: 500}, "MANDATE-77")
	if err != nil || res.Code != iso8583.ResponseApproved {
		t.Fatalf("Pull: %+v, %v", res, err)
	}
	payments, _, _, _, _ := sw.snapshot()
	if m := payments[0]; m.ProcessingCode != iso8583.ProcessingPull || string(m.Bytes(iso8583.FieldAdditionalData)) != "MANDATE-77" {
		t.Fatalf("pull 0200: field 3 %v, 48 %q", m.ProcessingCode, m.Bytes(iso8583.FieldAdditionalData))
	}
	if _, err := b.Pull(testContext(t), simulator.Payment{Alias: "msisdn:+1", Amount: 1}, ""); !errors.Is(err, simulator.ErrPayment) {
		t.Fatalf("Pull without a mandate: %v", err)
	}
}

func TestResendIdenticalAndConflicting(t *testing.T) {
	sw := startStandIn(t)
	b := dial(t, sw, simulator.BankConfig{})
	ctx := testContext(t)
	p := simulator.Payment{RRN: b.NextRRN(), PayeeParticipant: payeeParticipant, PayeeAccount: "7766554433", Amount: 3000}
	first, err := b.Pay(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // field 7 has seconds: a rebuilt message would differ
	if _, err := b.Resend(ctx, p); err != nil {
		t.Fatal(err)
	}
	conflicting := p
	conflicting.Amount++
	if _, err := b.Resend(ctx, conflicting); err != nil {
		t.Fatal(err)
	}
	payments, _, _, _, _ := sw.snapshot()
	if len(payments) != 3 {
		t.Fatalf("%d payments", len(payments))
	}
	orig, same, other := payments[0], payments[1], payments[2]
	if same.STAN == orig.STAN {
		t.Errorf("the resend reused STAN %d", orig.STAN)
	}
	// The resend is the first 0200 but for its STAN and MAC.
	same.STAN, same.MAC = orig.STAN, orig.MAC
	if same != orig {
		t.Errorf("resend differs from the first 0200:\n%+v\n%+v", same, orig)
	}
	if other.RRN != orig.RRN || other.Amount != 3001 || other.TransmissionTime != orig.TransmissionTime {
		t.Errorf("conflicting duplicate: RRN %s amount %d", other.RRN[:], other.Amount)
	}
	if first.RRN != p.RRN {
		t.Errorf("Pay used RRN %s, not %s", first.RRN, p.RRN)
	}
	if _, err := b.Resend(ctx, simulator.Payment{RRN: "NEVERSENT000"}); !errors.Is(err, simulator.ErrUnknownPayment) {
		t.Fatalf("Resend of an unknown RRN: %v", err)
	}
}

func TestReverseNamesTheOriginal(t *testing.T) {
	sw := startStandIn(t)
	b := dial(t, sw, simulator.BankConfig{})
	ctx := testContext(t)
	paid, err := b.Pay(ctx, simulator.Payment{PayeeParticipant: payeeParticipant, PayeeAccount: "7766554433", Amount: 3000})
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Reverse(ctx, paid.RRN)
	if err != nil || res.Code != iso8583.ResponseApproved || res.Response.MTI != iso8583.MTIReversalAdviceResponse {
		t.Fatalf("Reverse: %+v, %v", res, err)
	}
	payments, advices, _, _, macFailures := sw.snapshot()
	if len(advices) != 1 || macFailures != 0 {
		t.Fatalf("%d advices, %d MAC failures", len(advices), macFailures)
	}
	adv := advices[0]
	o, err := adv.Original()
	if err != nil || !o.Matches(&payments[0]) {
		t.Fatalf("field 90 %+v (%v) does not name the 0200 %v STAN %d", o, err, payments[0].MTI, payments[0].STAN)
	}
	if adv.RRN != payments[0].RRN || adv.Amount != 3000 || adv.STAN == payments[0].STAN {
		t.Errorf("0420: RRN %s amount %d STAN %d", adv.RRN[:], adv.Amount, adv.STAN)
	}
	if _, err := b.Reverse(ctx, "NEVERSENT000"); !errors.Is(err, simulator.ErrUnknownPayment) {
		t.Fatalf("Reverse of an unknown RRN: %v", err)
	}
}

func TestNoAnswerTimesOutAndALateAnswerIsUnmatched(t *testing.T) {
	sw := startStandIn(t)
	sw.serviceDelay.Store(int64(300 * time.Millisecond))
	b := dial(t, sw, simulator.BankConfig{ResponseTimeout: 50 * time.Millisecond})
	p := simulator.Payment{PayeeParticipant: payeeParticipant, PayeeAccount: "A", Amount: 1}
	start := time.Now()
	if _, err := b.Pay(context.Background(), p); !errors.Is(err, simulator.ErrNoAnswer) {
		t.Fatalf("Pay: %v, want ErrNoAnswer", err)
	}
	if waited := time.Since(start); waited > 250*time.Millisecond {
		t.Fatalf("waited %v for a 50 ms timeout", waited)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := b.Pay(ctx, p); !errors.Is(err, simulator.ErrNoAnswer) {
		t.Fatalf("Pay with a context deadline: %v, want ErrNoAnswer", err)
	}
	eventually(t, "two late answers", func() bool { return b.Received().Unmatched == 2 })
}

func TestSessionClosedBySwitch(t *testing.T) {
	sw := startStandIn(t)
	sw.answer.Store(false)
	b := dial(t, sw, simulator.BankConfig{Sessions: 2})
	errs := make(chan error, 1)
	if err := b.PayAsync(simulator.Payment{Alias: "msisdn:+1", Amount: 1}, func(_ *simulator.Result, err error) { errs <- err }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the payment at the stand-in", func() bool { p, _, _, _, _ := sw.snapshot(); return len(p) == 1 })
	sw.dropSessions()
	if err := <-errs; !errors.Is(err, simulator.ErrSessionClosed) {
		t.Fatalf("outstanding payment: %v, want ErrSessionClosed", err)
	}
	eventually(t, "both sessions closed", func() bool {
		_, err := b.Pay(testContext(t), simulator.Payment{Alias: "msisdn:+1", Amount: 1})
		return errors.Is(err, simulator.ErrNoSession)
	})
}

func TestCloseSignsOff(t *testing.T) {
	sw := startStandIn(t)
	b := dial(t, sw, simulator.BankConfig{Sessions: 2})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, signOffs, _, macFailures := sw.snapshot(); signOffs != 2 || macFailures != 0 {
		t.Fatalf("%d sign-offs, %d MAC failures; want 2 and 0", signOffs, macFailures)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := b.Pay(testContext(t), simulator.Payment{Alias: "msisdn:+1", Amount: 1}); !errors.Is(err, simulator.ErrClosed) {
		t.Fatalf("Pay after Close: %v", err)
	}
}

func TestEchoBothWays(t *testing.T) {
	sw := startStandIn(t)
	b := dial(t, sw, simulator.BankConfig{})
	res, err := b.Echo(testContext(t))
	if err != nil || res.Code != iso8583.ResponseApproved {
		t.Fatalf("Echo: %+v, %v", res, err)
	}
	var echo iso8583.Message
	echo.MTI = iso8583.MTINetworkRequest
	echo.NetworkCode = iso8583.NetworkEcho
	echo.Set(iso8583.FieldNetworkCode)
	echo.SetTransmissionTime(time.Now())
	_ = echo.SetBytes(iso8583.FieldForwarder, []byte("10001"))
	stan := sw.request(0, &echo)
	got, ok := sw.awaitFromBank(2 * time.Second)
	if !ok || got.MTI != iso8583.MTINetworkResponse || got.STAN != stan || got.ResponseCode != iso8583.ResponseApproved {
		t.Fatalf("answer to the echo: %v STAN %d code %v", got.MTI, got.STAN, got.ResponseCode)
	}
	if got.Has(iso8583.FieldMAC) {
		t.Error("0810 carries a MAC; the contract makes it optional and the bank sends none")
	}
	if st := b.Received(); st.Echoes != 1 {
		t.Fatalf("Echoes = %d", st.Echoes)
	}
	if _, _, _, echoes, _ := sw.snapshot(); echoes != 1 {
		t.Fatalf("stand-in answered %d echoes", echoes)
	}
}

func isResponseMAC(err error) bool { return errors.Is(err, simulator.ErrResponseMAC) }
