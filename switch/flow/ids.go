package flow

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"time"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// A payment's ledger transfers have IDs derived from its end-to-end key
// (field 32, the acquirer, and 37, the RRN), so that the ledger's
// idempotency is the switch's de-duplication and any leader can find a
// payment from a message alone. The ID packs, without loss:
//
//	hi: tag (8 bits) | acquirer (37 bits) | RRN bits 64..71
//	lo: RRN bits 0..63
//
// where the RRN's 12 letters and digits are read as a base-62 number
// (below 62^12 < 2^72) and the acquirer is below 10^11 < 2^37. The tag
// tells the payment's three transfers apart.
const (
	tagPayment = 0xA0 // the pending transfer: the reservation
	tagPost    = 0xA1 // its post_pending
	tagVoid    = 0xA2 // its void_pending
)

// Processing kinds, stored in the pending transfer's Code.
const (
	codePush = 1
	codePull = 2
)

func transferID(tag byte, key iso8583.PaymentKey) ledger.ID {
	var hi, lo uint64
	for _, c := range key.RRN {
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'A' && c <= 'Z':
			d = uint64(c-'A') + 10
		case c >= 'a' && c <= 'z':
			d = uint64(c-'a') + 36
		}
		// (hi, lo) = (hi, lo) * 62 + d
		carry, newLo := bits.Mul64(lo, 62)
		newLo, c2 := bits.Add64(newLo, d, 0)
		hi = hi*62 + carry + c2
		lo = newLo
	}
	return ledger.NewID(uint64(tag)<<56|key.Acquirer<<8|hi&0xFF, lo)
}

// keyOf is the inverse of transferID: the payment key of a transfer ID
// of any of the three tags, and whether the ID is a payment's at all.
func keyOf(id ledger.ID) (iso8583.PaymentKey, bool) {
	hi, lo := id.Hi(), id.Lo()
	tag := byte(hi >> 56)
	if tag != tagPayment && tag != tagPost && tag != tagVoid {
		return iso8583.PaymentKey{}, false
	}
	key := iso8583.PaymentKey{Acquirer: hi >> 8 & (1<<48 - 1)}
	rh, rl := hi&0xFF, lo
	for i := len(key.RRN) - 1; i >= 0; i-- {
		// (rh, rl), d = (rh, rl) / 62, (rh, rl) % 62
		qh := rh / 62
		q, r := bits.Div64(rh%62, rl, 62)
		rh, rl = qh, q
		switch {
		case r < 10:
			key.RRN[i] = byte('0' + r)
		case r < 36:
			key.RRN[i] = byte('A' + r - 10)
		default:
			key.RRN[i] = byte('a' + r - 36)
		}
	}
	return key, true
}

// contentHash identifies a payment request's business content: the
// fields that say who pays whom what. A resend must match it; a message
// with the same key and another hash is a conflicting duplicate (94).
// Transmission time, STAN, local time and date and the MAC change from one
// send to the next and do not count. Participant numbers (32, 100) count
// by value, as everywhere else: 010001 is 10001.
func contentHash(m *iso8583.Message) ledger.ID {
	h := sha256.New()
	var num [8]byte
	binary.BigEndian.PutUint64(num[:], uint64(m.ProcessingCode))
	h.Write(num[:])
	binary.BigEndian.PutUint64(num[:], m.Amount)
	h.Write(num[:])
	binary.BigEndian.PutUint64(num[:], uint64(m.Currency))
	h.Write(num[:])
	for _, f := range [...]iso8583.Field{iso8583.FieldPAN, iso8583.FieldAcquirer, iso8583.FieldRRN, iso8583.FieldTerminal,
		iso8583.FieldAdditionalData, iso8583.FieldReceiver, iso8583.FieldPayerAccount, iso8583.FieldPayeeAccount} {
		if !m.Has(f) {
			h.Write([]byte{0})
			continue
		}
		var b []byte
		switch f {
		case iso8583.FieldRRN:
			b = m.RRN[:]
		case iso8583.FieldTerminal:
			b = m.Terminal[:]
		case iso8583.FieldAcquirer, iso8583.FieldReceiver:
			v, _ := m.Participant(f)
			binary.BigEndian.PutUint64(num[:], v)
			b = num[:]
		default:
			b = m.Bytes(f)
		}
		h.Write([]byte{1, byte(len(b) >> 8), byte(len(b))})
		h.Write(b)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	var id ledger.ID
	copy(id[:], sum[:16])
	if id.IsZero() {
		id[15] = 1
	}
	return id
}

// forwardSTAN is the STAN of the 0200 the switch forwards for a payment
// reserved at ledger timestamp ts, and forwardTime its field 7: both
// derived from the reservation, so that whichever node sends the reversal
// advice later names the forwarded message in field 90 exactly. The cost
// is that a forwarded STAN is not checked against the ones outstanding on
// the payee's session and may repeat one (docs/iso8583.md section 6 tells
// banks to identify payments by 32 + 37); making it unique would need the
// forwarding node to record it in the replicated state, a second write
// per payment.
func forwardSTAN(ts uint64) uint32 { return uint32(ts%999_999) + 1 }

func forwardTime(ts uint64) [10]byte {
	t := time.Unix(0, int64(ts)).UTC()
	_, month, day := t.Date()
	hour, minute, second := t.Clock()
	var out [10]byte
	for i, v := range [5]int{int(month), day, hour, minute, second} {
		out[2*i], out[2*i+1] = byte('0'+v/10), byte('0'+v%10)
	}
	return out
}

// approvalRef packs a 6-character approval code into a transfer's
// UserRef, and approvalCode reads it back.
func approvalRef(code [6]byte) ledger.ID {
	var id ledger.ID
	copy(id[10:], code[:])
	return id
}

func approvalCode(id ledger.ID) [6]byte {
	var c [6]byte
	copy(c[:], id[10:])
	return c
}

// responseCodeValue stores a response code in a void's Code field, and
// responseCodeOf reads it back.
func responseCodeValue(c iso8583.ResponseCode) uint16 { return uint16(c) }

func responseCodeOf(v uint16) iso8583.ResponseCode { return iso8583.ResponseCode(v) }

// PaymentTransferID is the ledger ID of the reservation of the payment
// that acquirer sent with rrn (12 letters or digits): where a payment's
// outcome can be checked in the ledger.
func PaymentTransferID(acquirer uint64, rrn string) ledger.ID {
	var key iso8583.PaymentKey
	key.Acquirer = acquirer
	copy(key.RRN[:], rrn)
	return transferID(tagPayment, key)
}
