package flow

import (
	"testing"

	"github.com/payswitch/payswitch/switch/iso8583"
	"pgregory.net/rapid"
)

// TestTransferIDRoundTrip: the key packs into an ID without loss, for
// every tag, and different keys never share an ID.
func TestTransferIDRoundTrip(t *testing.T) {
	const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	rapid.Check(t, func(rt *rapid.T) {
		var key iso8583.PaymentKey
		key.Acquirer = rapid.Uint64Range(1, 99_999_999_999).Draw(rt, "acquirer")
		for i := range key.RRN {
			key.RRN[i] = alnum[rapid.IntRange(0, len(alnum)-1).Draw(rt, "c")]
		}
		for _, tag := range []byte{tagPayment, tagPost, tagVoid} {
			id := transferID(tag, key)
			back, ok := keyOf(id)
			if !ok || back != key || byte(id.Hi()>>56) != tag {
				rt.Fatalf("key %+v tag %x: id %s back %+v %v", key, tag, id, back, ok)
			}
		}
	})
	a := iso8583.PaymentKey{Acquirer: 1, RRN: [12]byte([]byte("zzzzzzzzzzzz"))}
	b := iso8583.PaymentKey{Acquirer: 2, RRN: [12]byte([]byte("000000000000"))}
	if transferID(tagPayment, a) == transferID(tagPayment, b) {
		t.Fatal("the largest RRN of one acquirer overlaps the next acquirer")
	}
}

// TestContentHashParticipantsByValue: a resend that writes a participant
// number with leading zeros is the same payment; another number, or
// another account, is not.
func TestContentHashParticipantsByValue(t *testing.T) {
	build := func(acquirer, receiver, payee string) *iso8583.Message {
		m := &iso8583.Message{MTI: iso8583.MTIFinancialRequest, ProcessingCode: iso8583.ProcessingPush, Amount: 100, Currency: 404}
		copy(m.RRN[:], "ABC123456789")
		m.Set(iso8583.FieldProcessingCode, iso8583.FieldAmount, iso8583.FieldRRN, iso8583.FieldCurrency)
		for f, v := range map[iso8583.Field]string{iso8583.FieldAcquirer: acquirer, iso8583.FieldReceiver: receiver,
			iso8583.FieldPayerAccount: "1", iso8583.FieldPayeeAccount: payee} {
			if err := m.SetBytes(f, []byte(v)); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
	first := contentHash(build("10001", "10002", "77"))
	for _, tc := range []struct {
		acquirer, receiver, payee string
		same                      bool
	}{
		{"010001", "10002", "77", true},
		{"10001", "0000010002", "77", true},
		{"10001", "10003", "77", false},
		{"10002", "10002", "77", false},
		{"10001", "10002", "077", false}, // accounts are text
	} {
		if got := contentHash(build(tc.acquirer, tc.receiver, tc.payee)) == first; got != tc.same {
			t.Errorf("32=%s 100=%s 103=%s: same content %v, want %v", tc.acquirer, tc.receiver, tc.payee, got, tc.same)
		}
	}
}
