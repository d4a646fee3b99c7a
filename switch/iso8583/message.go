package iso8583

import (
	"time"
)

// Message is one ISO 8583 message of the contract, held without strings or
// pointers so that Pack and Unpack allocate nothing. Scalars and fixed
// fields are plain struct fields; variable-length fields (2, 32, 33, 48,
// 100, 102, 103) live in fixed arrays read with Bytes and written with
// SetBytes. A field is in the message when its bit is set (Has, Set, Clear):
// assigning a struct field does not set its bit.
//
// A Message is a value of about 1.3 KB: reuse one per goroutine rather than
// allocating one per message. It is not safe for concurrent use.
type Message struct {
	// MTI is the message type, 0200 held as 200.
	MTI MTI
	// present holds the bits of the data elements in the message.
	present bitmap

	ProcessingCode ProcessingCode // field 3
	Amount         uint64         // field 4, minor units, at most 12 digits
	STAN           uint32         // field 11, at most 6 digits
	Currency       uint16         // field 49, ISO 4217 numeric
	NetworkCode    NetworkCode    // field 70
	ResponseCode   ResponseCode   // field 39

	TransmissionTime [10]byte // field 7, MMDDhhmmss UTC
	LocalTime        [6]byte  // field 12, hhmmss
	LocalDate        [4]byte  // field 13, MMDD
	RRN              [12]byte // field 37
	ApprovalCode     [6]byte  // field 38
	Terminal         [8]byte  // field 41
	OriginalData     [42]byte // field 90; see Original and SetOriginal
	MAC              [8]byte  // field 128; written by PackMAC

	// The variable-length fields and how many bytes of each are used.
	pan            [19]byte
	acquirer       [11]byte
	forwarder      [11]byte
	receiver       [11]byte
	payerAccount   [28]byte
	payeeAccount   [64]byte
	additionalData [999]byte
	panLen         uint16
	acquirerLen    uint16
	forwarderLen   uint16
	receiverLen    uint16
	payerLen       uint16
	payeeLen       uint16
	additionalLen  uint16
}

// Has reports whether field f is in the message.
func (m *Message) Has(f Field) bool { return m.present.has(f) }

// Set puts fields in the message, for fields written by assignment
// (m.STAN = 42; m.Set(FieldSTAN)). Setting a field that Spec does not define
// makes Pack fail with ErrUnknownField; FieldMTI and FieldBitmap are
// ignored (Pack writes them always).
func (m *Message) Set(fields ...Field) {
	for _, f := range fields {
		if f != FieldBitmap {
			m.present.set(f)
		}
	}
}

// Clear takes fields out of the message; their values stay but are not
// packed.
func (m *Message) Clear(fields ...Field) {
	for _, f := range fields {
		m.present.clear(f)
	}
}

// Fields yields the data elements of the message in ascending order.
func (m *Message) Fields() func(yield func(Field) bool) { return m.present.all() }

// Reset empties the message.
func (m *Message) Reset() { *m = Message{} }

// Bytes returns the value of text field f (any field but 3, 4, 11, 39, 49,
// 70 and 128), or nil when f is not in the message. The slice aliases m: it
// is valid until m changes.
func (m *Message) Bytes(f Field) []byte {
	if !m.Has(f) {
		return nil
	}
	return m.text(f)
}

// SetBytes sets text field f to a copy of b and puts it in the message.
// It checks b against the field's format, so Pack cannot fail on it later:
// a *FieldError wraps ErrLength for a wrong length (a fixed field takes
// exactly its length) or ErrCharset for a character outside the format.
// It returns ErrNotText for a field that is not held as text: assign those
// struct fields and Set them.
func (m *Message) SetBytes(f Field, b []byte) error {
	if f > fieldNumberMax || formats[f].kind != kindText {
		return ErrNotText
	}
	fm := &formats[f]
	if len(b) < int(fm.lenMin) || len(b) > int(fm.lenMax) {
		return fieldError(f, reasonLength)
	}
	if !fm.class.allowsAll(b) {
		return fieldError(f, reasonCharset)
	}
	m.setText(f, b)
	m.present.set(f)
	return nil
}

// slot returns the storage of text field f (its whole array) and, for a
// variable-length field, the count of bytes used. It is the one place that
// binds field numbers to struct fields; start-up checks that every text
// field of Spec has a slot as long as its maximum.
func (m *Message) slot(f Field) (storage []byte, used *uint16) {
	switch f {
	case FieldPAN:
		return m.pan[:], &m.panLen
	case FieldTransmissionTime:
		return m.TransmissionTime[:], nil
	case FieldLocalTime:
		return m.LocalTime[:], nil
	case FieldLocalDate:
		return m.LocalDate[:], nil
	case FieldAcquirer:
		return m.acquirer[:], &m.acquirerLen
	case FieldForwarder:
		return m.forwarder[:], &m.forwarderLen
	case FieldRRN:
		return m.RRN[:], nil
	case FieldApprovalCode:
		return m.ApprovalCode[:], nil
	case FieldTerminal:
		return m.Terminal[:], nil
	case FieldAdditionalData:
		return m.additionalData[:], &m.additionalLen
	case FieldOriginalData:
		return m.OriginalData[:], nil
	case FieldReceiver:
		return m.receiver[:], &m.receiverLen
	case FieldPayerAccount:
		return m.payerAccount[:], &m.payerLen
	case FieldPayeeAccount:
		return m.payeeAccount[:], &m.payeeLen
	}
	return nil, nil
}

// text returns the value of text field f, present or not.
func (m *Message) text(f Field) []byte {
	storage, used := m.slot(f)
	if used != nil {
		return storage[:*used]
	}
	return storage
}

// setText stores b, which fits, as the value of text field f.
func (m *Message) setText(f Field, b []byte) {
	storage, used := m.slot(f)
	copy(storage, b)
	if used != nil {
		*used = uint16(len(b))
	}
}

// uintOf returns the value of numeric field f (kindUint).
func (m *Message) uintOf(f Field) uint64 {
	switch f {
	case FieldMTI:
		return uint64(m.MTI)
	case FieldProcessingCode:
		return uint64(m.ProcessingCode)
	case FieldAmount:
		return m.Amount
	case FieldSTAN:
		return uint64(m.STAN)
	case FieldCurrency:
		return uint64(m.Currency)
	case FieldNetworkCode:
		return uint64(m.NetworkCode)
	}
	return 0
}

// setUint stores v, which fits the field's digits, in numeric field f.
func (m *Message) setUint(f Field, v uint64) {
	switch f {
	case FieldMTI:
		m.MTI = MTI(v)
	case FieldProcessingCode:
		m.ProcessingCode = ProcessingCode(v)
	case FieldAmount:
		m.Amount = v
	case FieldSTAN:
		m.STAN = uint32(v)
	case FieldCurrency:
		m.Currency = uint16(v)
	case FieldNetworkCode:
		m.NetworkCode = NetworkCode(v)
	}
}

// ResponseTo makes m the response to req: the MTI plus 10 and every data
// element of req echoed, except 38, 39 and 128, which belong to the
// responder (DESIGN.md 6.1). The caller then sets 39 (and 38 on an
// approval) and packs with its own MAC. m may be req. It returns
// ErrNotRequest, and leaves m alone, when req is not a request or advice.
func (m *Message) ResponseTo(req *Message) error {
	mti, ok := req.MTI.Response()
	if !ok {
		return ErrNotRequest
	}
	if m != req {
		*m = *req
	}
	m.MTI = mti
	m.present.clear(FieldApprovalCode)
	m.present.clear(FieldResponseCode)
	m.present.clear(FieldMAC)
	m.ApprovalCode = [6]byte{}
	m.ResponseCode = 0
	m.MAC = [macLen]byte{}
	return nil
}

// SetTransmissionTime sets field 7 to t in UTC, MMDDhhmmss.
func (m *Message) SetTransmissionTime(t time.Time) {
	t = t.UTC()
	_, month, day := t.Date()
	hour, minute, second := t.Clock()
	putDigits(m.TransmissionTime[0:2], uint64(month))
	putDigits(m.TransmissionTime[2:4], uint64(day))
	putDigits(m.TransmissionTime[4:6], uint64(hour))
	putDigits(m.TransmissionTime[6:8], uint64(minute))
	putDigits(m.TransmissionTime[8:10], uint64(second))
	m.present.set(FieldTransmissionTime)
}

// SetLocalTime sets fields 12 (hhmmss) and 13 (MMDD) to t in its own
// location.
func (m *Message) SetLocalTime(t time.Time) {
	_, month, day := t.Date()
	hour, minute, second := t.Clock()
	putDigits(m.LocalTime[0:2], uint64(hour))
	putDigits(m.LocalTime[2:4], uint64(minute))
	putDigits(m.LocalTime[4:6], uint64(second))
	putDigits(m.LocalDate[0:2], uint64(month))
	putDigits(m.LocalDate[2:4], uint64(day))
	m.present.set(FieldLocalTime)
	m.present.set(FieldLocalDate)
}

// Participant returns the number in participant field f (32, 33 or 100)
// and true, or 0 and false when f is absent or not such a field. Leading
// zeros do not count: "0010002" is participant 10002, as everywhere in the
// switch.
func (m *Message) Participant(f Field) (uint64, bool) {
	if (f != FieldAcquirer && f != FieldForwarder && f != FieldReceiver) || !m.Has(f) {
		return 0, false
	}
	return parseDigits(m.text(f))
}

// PaymentKey identifies a payment end to end (DESIGN.md 6.1): the acquiring
// participant (32) and its retrieval reference number (37). A resend of a
// 0200 has the same key; the switch de-duplicates on it.
type PaymentKey struct {
	Acquirer uint64
	RRN      [12]byte
}

// PaymentKey returns the message's PaymentKey and true, or false when field
// 32 or 37 is absent.
func (m *Message) PaymentKey() (PaymentKey, bool) {
	acquirer, ok := m.Participant(FieldAcquirer)
	if !ok || !m.Has(FieldRRN) {
		return PaymentKey{}, false
	}
	return PaymentKey{Acquirer: acquirer, RRN: m.RRN}, true
}
