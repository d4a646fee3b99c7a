package iso8583

import (
	"testing"
	"time"
)

// sampleKey is the MAC key of every sample: the 32 bytes 00 01 02 ... 1F.
var sampleKey = func() []byte {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	return key
}()

// sample is one example message of the contract; docs/iso8583.md shows
// each one, and the tests, the fuzz corpora and the benchmarks use them.
type sample struct {
	name  string
	title string
	m     Message
	mac   bool // packed with PackMAC under sampleKey
}

// mustSet is SetBytes for values the test knows to be valid.
func mustSet(tb testing.TB, m *Message, f Field, v string) {
	tb.Helper()
	if err := m.SetBytes(f, []byte(v)); err != nil {
		tb.Fatalf("SetBytes(%d, %q): %v", f, v, err)
	}
}

// samples returns one message of each type: a bank signs on, pays 125.00
// KES to a phone number's account and is approved; a later payment to an
// account at another bank is forwarded there, times out, and the switch
// sends that bank the reversal advice.
func samples(tb testing.TB) []sample {
	tb.Helper()
	at := time.Date(2026, 6, 12, 9, 30, 15, 0, time.UTC)

	var signOn Message
	signOn.MTI = MTINetworkRequest
	signOn.SetTransmissionTime(at)
	signOn.STAN = 1
	signOn.NetworkCode = NetworkSignOn
	signOn.Set(FieldSTAN, FieldNetworkCode)
	mustSet(tb, &signOn, FieldForwarder, "10001")

	var signOnResponse Message
	if err := signOnResponse.ResponseTo(&signOn); err != nil {
		tb.Fatal(err)
	}
	signOnResponse.ResponseCode = ResponseApproved
	signOnResponse.Set(FieldResponseCode)

	var payment Message
	payment.MTI = MTIFinancialRequest
	payment.ProcessingCode = ProcessingPush
	payment.Amount = 12500
	payment.STAN = 42
	payment.Currency = 404
	payment.Set(FieldProcessingCode, FieldAmount, FieldSTAN, FieldCurrency)
	payment.SetTransmissionTime(at.Add(5 * time.Second))
	eat := time.FixedZone("EAT", 3*3600)
	payment.SetLocalTime(at.Add(5 * time.Second).In(eat))
	mustSet(tb, &payment, FieldAcquirer, "10001")
	mustSet(tb, &payment, FieldRRN, "616309000042")
	mustSet(tb, &payment, FieldTerminal, "MOBILE01")
	mustSet(tb, &payment, FieldPayerAccount, "0011223344")
	mustSet(tb, &payment, FieldPayeeAccount, "msisdn:+254700000001")

	var paymentResponse Message
	if err := paymentResponse.ResponseTo(&payment); err != nil {
		tb.Fatal(err)
	}
	paymentResponse.ResponseCode = ResponseApproved
	paymentResponse.Set(FieldResponseCode)
	mustSet(tb, &paymentResponse, FieldApprovalCode, "A7F3K2")

	// A second payment, to account 7766554433 at bank 10002, as the switch
	// forwards it on that bank's session: the payer's 0200 with the
	// switch's STAN (917) and field 7, both derived from the reservation,
	// the resolved payee in 100 and 103, no field 33, and the switch's MAC
	// under the payee's key (switch/flow's reserved).
	forwarded := payment
	forwarded.STAN = 917
	mustSet(tb, &forwarded, FieldRRN, "616309000043")
	forwarded.Amount = 3000
	forwarded.SetLocalTime(at.Add(19 * time.Second).In(eat))
	forwarded.SetTransmissionTime(at.Add(20 * time.Second))
	mustSet(tb, &forwarded, FieldReceiver, "10002")
	mustSet(tb, &forwarded, FieldPayeeAccount, "7766554433")

	// Bank 10002 did not answer by the deadline; the switch sends it the
	// reversal advice. The advice carries exactly the fields that
	// switch/flow's adviceMessage writes (TestDocAdviceFields there
	// compares them with this dump in docs/iso8583.md): 3, 4, 7, 11, 32,
	// 37, 49, 90 naming the forwarded 0200, 100 the bank it goes to, and
	// the MAC. Its STAN comes from the switch's own sequence of advices.
	var reversal Message
	reversal.MTI = MTIReversalAdvice
	reversal.ProcessingCode = ProcessingPush
	reversal.Amount = forwarded.Amount
	reversal.STAN = 31
	reversal.Currency = forwarded.Currency
	reversal.RRN = forwarded.RRN
	reversal.Set(FieldProcessingCode, FieldAmount, FieldSTAN, FieldRRN, FieldCurrency)
	reversal.SetTransmissionTime(at.Add(50 * time.Second))
	mustSet(tb, &reversal, FieldAcquirer, "10001")
	mustSet(tb, &reversal, FieldReceiver, "10002")
	if err := reversal.SetOriginal(OriginalOf(&forwarded)); err != nil {
		tb.Fatal(err)
	}

	var reversalResponse Message
	if err := reversalResponse.ResponseTo(&reversal); err != nil {
		tb.Fatal(err)
	}
	reversalResponse.ResponseCode = ResponseApproved
	reversalResponse.Set(FieldResponseCode)

	return []sample{
		{"0800", "0800 sign-on (participant 10001 to the switch)", signOn, true},
		{"0810", "0810 sign-on approved (switch to participant)", signOnResponse, false},
		{"0200", "0200 push payment of 125.00 KES to an alias (payer bank to the switch)", payment, true},
		{"0210", "0210 approved (switch to payer bank)", paymentResponse, true},
		{"0200-forwarded", "0200 a second payment, 30.00 KES to account 7766554433, as forwarded (switch to payee bank 10002)", forwarded, true},
		{"0420", "0420 reversal advice of a timed-out payment (switch to payee bank)", reversal, true},
		{"0430", "0430 reversal acknowledged (payee bank to the switch)", reversalResponse, true},
	}
}

// sampleNamed returns the sample of the given name.
func sampleNamed(tb testing.TB, name string) sample {
	tb.Helper()
	for _, s := range samples(tb) {
		if s.name == name {
			return s
		}
	}
	tb.Fatalf("no sample %s", name)
	return sample{}
}

// packSample packs s as it travels (with its MAC when it has one).
func packSample(tb testing.TB, s sample) []byte {
	tb.Helper()
	m := s.m
	var p []byte
	var err error
	if s.mac {
		mc, merr := NewMACer(sampleKey)
		if merr != nil {
			tb.Fatal(merr)
		}
		p, err = PackMAC(nil, &m, mc)
	} else {
		p, err = m.Pack(nil)
	}
	if err != nil {
		tb.Fatalf("pack %s: %v", s.name, err)
	}
	return p
}
