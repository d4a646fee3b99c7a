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
