package simulator_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/payswitch/payswitch/simulator"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// dialPayee connects the payee 10002 to sw.
func dialPayee(t *testing.T, sw *standIn, cfg simulator.BankConfig) *simulator.Bank {
	t.Helper()
	cfg.Participant = payeeParticipant
	return dial(t, sw, cfg)
}

// forward sends the payee n forwarded payments and returns the answers
// that come within wait, by RRN.
func forward(t *testing.T, sw *standIn, n int, wait time.Duration) (rrns []string, answers map[string]iso8583.Message) {
	t.Helper()
	for i := range n {
		rrn := fmt.Sprintf("FWD%09d", i)
		rrns = append(rrns, rrn)
		sw.request(0, forwarded(t, rrn, 100))
	}
	answers = make(map[string]iso8583.Message)
	deadline := time.Now().Add(wait)
	for len(answers) < n {
		m, ok := sw.awaitFromBank(time.Until(deadline))
		if !ok {
			break
		}
		answers[string(m.RRN[:])] = m
	}
	return rrns, answers
}

func TestPayeeDeclinesItsShareAndReplaysBySeed(t *testing.T) {
	codes := func(seed uint64) string {
		sw := startStandIn(t)
		b := dialPayee(t, sw, simulator.BankConfig{DeclinePercent: 30, DeclineCode: iso8583.ResponseUnknownAccount, Seed: seed})
		const n = 200
		rrns, answers := forward(t, sw, n, 3*time.Second)
		if len(answers) != n {
			t.Fatalf("%d answers to %d payments", len(answers), n)
		}
		pattern := make([]byte, 0, n)
		declined := 0
		for _, rrn := range rrns {
			m := answers[rrn]
			if m.MTI != iso8583.MTIFinancialResponse {
				t.Fatalf("answer %v", m.MTI)
			}
			switch m.ResponseCode {
			case iso8583.ResponseUnknownAccount:
				declined++
				pattern = append(pattern, 'D')
				if m.Has(iso8583.FieldApprovalCode) {
					t.Error("a decline carries an approval code")
				}
			case iso8583.ResponseApproved:
				pattern = append(pattern, 'A')
				if len(m.Bytes(iso8583.FieldApprovalCode)) != 6 {
					t.Error("an approval without a 6-character approval code")
				}
			default:
				t.Fatalf("answer code %v", m.ResponseCode)
			}
		}
		if declined < 35 || declined > 85 {
			t.Errorf("%d of %d declined at 30%%", declined, n)
		}
		st := b.Received()
		if st.Payments != n || st.Declined != declined || st.Approved != n-declined || st.MACFailures != 0 {
			t.Errorf("stats %+v", st)
		}
		if _, _, _, _, macFailures := sw.snapshot(); macFailures != 0 {
			t.Errorf("%d answers with a bad MAC", macFailures)
		}
		return string(pattern)
	}
	first, again, other := codes(7), codes(7), codes(8)
	if first != again {
		t.Errorf("seed 7 did not replay:\n%s\n%s", first, again)
	}
	if first == other {
		t.Errorf("seeds 7 and 8 made the same choices")
	}
}

func TestPayeeDrops(t *testing.T) {
	sw := startStandIn(t)
	b := dialPayee(t, sw, simulator.BankConfig{DropPercent: 100})
	_, answers := forward(t, sw, 5, 200*time.Millisecond)
	if len(answers) != 0 {
		t.Fatalf("%d answers, want none", len(answers))
	}
	if st := b.Received(); st.Payments != 5 || st.Dropped != 5 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPayeeDelaysWithoutBlockingItsSession(t *testing.T) {
	sw := startStandIn(t)
	const delay = 200 * time.Millisecond
	b := dialPayee(t, sw, simulator.BankConfig{DelayPercent: 100, Delay: delay})
	start := time.Now()
	sw.request(0, forwarded(t, "DELAYED00001", 100))
	var echo iso8583.Message
	echo.MTI = iso8583.MTINetworkRequest
	echo.NetworkCode = iso8583.NetworkEcho
	echo.Set(iso8583.FieldNetworkCode)
	echo.SetTransmissionTime(time.Now())
	_ = echo.SetBytes(iso8583.FieldForwarder, []byte("10002"))
	sw.request(0, &echo)

	first, ok := sw.awaitFromBank(2 * time.Second)
	if !ok || first.MTI != iso8583.MTINetworkResponse || time.Since(start) >= delay {
		t.Fatalf("first answer %v after %v: the echo should come before the delayed payment", first.MTI, time.Since(start))
	}
	second, ok := sw.awaitFromBank(2 * time.Second)
	if !ok || second.MTI != iso8583.MTIFinancialResponse || second.ResponseCode != iso8583.ResponseApproved {
		t.Fatalf("second answer %v %v", second.MTI, second.ResponseCode)
	}
	if waited := time.Since(start); waited < delay {
		t.Fatalf("the delayed answer came after %v, before %v", waited, delay)
	}
	if st := b.Received(); st.Delayed != 1 || st.Approved != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPayeeWithholdsALateAnswerAfterTheAdvice(t *testing.T) {
	for _, answerAfter := range []bool{false, true} {
		t.Run(fmt.Sprint("answer after reversal ", answerAfter), func(t *testing.T) {
			sw := startStandIn(t)
			b := dialPayee(t, sw, simulator.BankConfig{DelayPercent: 100, Delay: 150 * time.Millisecond, AnswerAfterReversal: answerAfter})
			payment := forwarded(t, "LATE00000001", 100)
			sw.request(0, payment)
			sw.request(0, advice(t, payment))
			got, ok := sw.awaitFromBank(time.Second)
			if !ok || got.MTI != iso8583.MTIReversalAdviceResponse || got.ResponseCode != iso8583.ResponseApproved {
				t.Fatalf("answer to the advice: %v %v", got.MTI, got.ResponseCode)
			}
			late, ok := sw.awaitFromBank(400 * time.Millisecond)
			if ok != answerAfter {
				t.Fatalf("late 0210 sent: %v (%v), want %v", ok, late.MTI, answerAfter)
			}
			withheld := 1
			if answerAfter {
				withheld = 0
			}
			if st := b.Received(); st.LateWithheld != withheld || st.Advices != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestReversalAdviceAnswered(t *testing.T) {
	sw := startStandIn(t)
	b := dialPayee(t, sw, simulator.BankConfig{})
	payment := forwarded(t, "REV000000001", 3000)
	payment.STAN = 917
	payment.Set(iso8583.FieldSTAN)
	adv := advice(t, payment)
	stan := sw.request(0, adv)
	got, ok := sw.awaitFromBank(2 * time.Second)
	if !ok || got.MTI != iso8583.MTIReversalAdviceResponse || got.STAN != stan || got.ResponseCode != iso8583.ResponseApproved {
		t.Fatalf("answer %v STAN %d code %v", got.MTI, got.STAN, got.ResponseCode)
	}
	if got.OriginalData != adv.OriginalData || got.RRN != adv.RRN || !got.Has(iso8583.FieldMAC) {
		t.Error("the 0430 does not echo the 0420 or lacks a MAC")
	}
	if _, _, _, _, macFailures := sw.snapshot(); macFailures != 0 {
		t.Fatalf("the 0430's MAC failed")
	}
	st := b.Received()
	if st.Advices != 1 || st.AdvicesAnswered != 1 || len(st.AdviceLog) != 1 {
		t.Fatalf("stats %+v", st)
	}
	logged := st.AdviceLog[0]
	if logged.RRN != "REV000000001" || logged.Acquirer != payerParticipant || logged.Amount != 3000 ||
		!logged.Original.Matches(payment) || logged.Original.STAN != 917 {
		t.Fatalf("advice log %+v", logged)
	}
}

func TestMACFailuresCounted(t *testing.T) {
	sw := startStandIn(t)
	b := dialPayee(t, sw, simulator.BankConfig{})
	sw.wrongMAC.Store(true)

	sw.request(0, forwarded(t, "BADMAC000001", 100))
	got, ok := sw.awaitFromBank(2 * time.Second)
	if !ok || got.MTI != iso8583.MTIFinancialResponse || got.ResponseCode != iso8583.ResponseSecurityViolation {
		t.Fatalf("answer to a 0200 with a wrong MAC: %v %v, want 0210 63", got.MTI, got.ResponseCode)
	}
	if st := b.Received(); st.MACFailures != 1 || st.Payments != 0 {
		t.Fatalf("stats %+v", st)
	}

	_, err := b.Pay(testContext(t), simulator.Payment{Alias: "msisdn:+1", Amount: 1})
	if err == nil || !isResponseMAC(err) {
		t.Fatalf("Pay answered with a wrong MAC: %v, want ErrResponseMAC", err)
	}
	if st := b.Received(); st.MACFailures != 2 {
		t.Fatalf("MACFailures = %d, want 2", st.MACFailures)
	}
}
