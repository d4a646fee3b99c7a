package iso8583

import (
	"sync/atomic"
)

// Original is field 90, the original data elements of a reversal advice
// (0420) and its response: which message is being reversed. On the wire it
// is 42 digits: MTI (4), STAN (6), transmission date and time (10),
// acquiring participant (11) and forwarding participant (11), each
// zero-padded; a participant that is absent is zero.
type Original struct {
	MTI              MTI
	STAN             uint32
	TransmissionTime [10]byte // MMDDhhmmss, field 7 of the original
	Acquirer         uint64   // field 32 of the original
	Forwarder        uint64   // field 33 of the original, 0 when absent
}

// The widths of the parts of field 90, and where each part starts.
const (
	originalMTIDigits         = 4
	originalSTANDigits        = 6
	originalTimeDigits        = 10
	originalParticipantDigits = 11

	originalSTANAt      = originalMTIDigits
	originalTimeAt      = originalSTANAt + originalSTANDigits
	originalAcquirerAt  = originalTimeAt + originalTimeDigits
	originalForwarderAt = originalAcquirerAt + originalParticipantDigits
	originalEnd         = originalForwarderAt + originalParticipantDigits
)

// OriginalOf returns the Original that names message orig, the message a
// reversal reverses (the 0200 as the receiver of the 0420 saw it).
func OriginalOf(orig *Message) Original {
	o := Original{MTI: orig.MTI, STAN: orig.STAN, TransmissionTime: orig.TransmissionTime}
	o.Acquirer, _ = orig.Participant(FieldAcquirer)
	o.Forwarder, _ = orig.Participant(FieldForwarder)
	return o
}

// SetOriginal sets field 90 to o and puts it in the message. It returns
// ErrOriginalData when a part has more digits than its place or the
// transmission time is not 10 digits.
func (m *Message) SetOriginal(o Original) error {
	if o.MTI > mtiMax || uint64(o.STAN) >= pow10[originalSTANDigits] ||
		o.Acquirer >= pow10[originalParticipantDigits] || o.Forwarder >= pow10[originalParticipantDigits] ||
		!classDigits.allowsAll(o.TransmissionTime[:]) {
		return ErrOriginalData
	}
	b := m.OriginalData[:]
	putDigits(b[:originalSTANAt], uint64(o.MTI))
	putDigits(b[originalSTANAt:originalTimeAt], uint64(o.STAN))
	copy(b[originalTimeAt:originalAcquirerAt], o.TransmissionTime[:])
	putDigits(b[originalAcquirerAt:originalForwarderAt], o.Acquirer)
	putDigits(b[originalForwarderAt:originalEnd], o.Forwarder)
	m.present.set(FieldOriginalData)
	return nil
}

// Original returns field 90 of the message, or ErrOriginalData when it is
// absent or not 42 digits.
func (m *Message) Original() (Original, error) {
	b := m.OriginalData[:]
	if !m.Has(FieldOriginalData) || !classDigits.allowsAll(b) {
		return Original{}, ErrOriginalData
	}
	var o Original
	mti, _ := parseDigits(b[:originalSTANAt])
	stan, _ := parseDigits(b[originalSTANAt:originalTimeAt])
	o.MTI, o.STAN = MTI(mti), uint32(stan)
	copy(o.TransmissionTime[:], b[originalTimeAt:originalAcquirerAt])
	o.Acquirer, _ = parseDigits(b[originalAcquirerAt:originalForwarderAt])
	o.Forwarder, _ = parseDigits(b[originalForwarderAt:originalEnd])
	return o, nil
}

// Matches reports whether o names message orig: same MTI, STAN,
// transmission time and participants.
func (o Original) Matches(orig *Message) bool {
	return o == OriginalOf(orig)
}

// stanMax is the largest STAN that six digits carry.
const stanMax = 999999

// STANSequence hands out the STANs of the messages one side originates on
// one session: 1 to 999999, then 1 again. A bank matches the responses to
// its requests by STAN on the session (DESIGN.md 6.1; the switch matches
// payments by 32 + 37 instead, docs/iso8583.md), so a session's pending
// requests are keyed by m.STAN; as long as a session bounds its pending
// requests far below a million, which it must anyway, a STAN is never
// reused while its request is pending. The zero value starts at 1. Safe for
// concurrent use.
type STANSequence struct {
	last atomic.Uint32
}

// Next returns the next STAN.
func (s *STANSequence) Next() uint32 {
	for {
		last := s.last.Load()
		next := last + 1
		if next > stanMax {
			next = 1
		}
		if s.last.CompareAndSwap(last, next) {
			return next
		}
	}
}
