package iso8583

// Pack appends the message to dst in the wire format of Spec and returns
// the extended slice. It writes the bitmap from the fields in the message
// (a secondary bitmap only when a field above 64 is present) and checks
// every field against its format as it writes it: a *FieldError names the
// first field that does not fit (a number with too many digits, a character outside
// the format, an empty variable field, a field Spec does not define). On
// error dst is returned at its original length.
//
// Pack allocates nothing when dst has room for the message.
func (m *Message) Pack(dst []byte) ([]byte, error) {
	start := len(dst)
	present := m.present
	present.clear(FieldBitmap)
	if unknown := present.andNot(definedFields); !unknown.empty() {
		return dst, fieldError(unknown.first(), reasonUnknownField)
	}
	if m.MTI > mtiMax {
		return dst, fieldError(FieldMTI, reasonTooLarge)
	}
	dst = appendDigits(dst, uint64(m.MTI), 4)
	primary := present[0]
	if present[1] != 0 {
		primary |= 1 << 63
	}
	dst = appendHex64(dst, primary)
	if present[1] != 0 {
		dst = appendHex64(dst, present[1])
	}
	var err error
	for f := range present.all() {
		if dst, err = m.packField(dst, f); err != nil {
			return dst[:start], err
		}
	}
	return dst, nil
}

// packField appends data element f of the message.
func (m *Message) packField(dst []byte, f Field) ([]byte, error) {
	fm := &formats[f]
	switch fm.kind {
	case kindUint:
		v := m.uintOf(f)
		if v >= pow10[fm.lenMax] {
			return dst, fieldError(f, reasonTooLarge)
		}
		return appendDigits(dst, v, int(fm.lenMax)), nil
	case kindText:
		v := m.text(f)
		if len(v) < int(fm.lenMin) {
			return dst, fieldError(f, reasonLength)
		}
		if !fm.class.allowsAll(v) {
			return dst, fieldError(f, reasonCharset)
		}
		if fm.prefixDigits > 0 {
			dst = appendDigits(dst, uint64(len(v)), int(fm.prefixDigits))
		}
		return append(dst, v...), nil
	case kindPair:
		c0, c1 := byte(m.ResponseCode>>8), byte(m.ResponseCode)
		if !fm.class.allows(c0) || !fm.class.allows(c1) {
			return dst, fieldError(f, reasonCharset)
		}
		return append(dst, c0, c1), nil
	default: // kindHex, the MAC
		return appendHexBytes(dst, m.MAC[:]), nil
	}
}

// Unpack decodes the message p into m, replacing all of m. It accepts
// exactly the messages that Spec accepts and that Pack would write the same
// way: digits only in n fields and length prefixes, lengths within each
// field's limits, upper-case hex bitmaps, no empty secondary bitmap, no
// field Spec does not define, and no bytes after the last field. A
// *FieldError names the first field that breaks the format; m then holds
// the fields before it (PeekMTISTAN reads MTI and STAN of such a message).
//
// Unpack copies what it keeps: m never aliases p. It allocates nothing.
func Unpack(p []byte, m *Message) error {
	*m = Message{}
	if len(p) < 4 {
		return fieldError(FieldMTI, reasonTruncated)
	}
	mti, ok := parseDigits(p[:4])
	if !ok {
		return fieldError(FieldMTI, reasonCharset)
	}
	m.MTI = MTI(mti)
	present, off, err := unpackBitmap(p, 4)
	if err != nil {
		return err
	}
	for f := range present.all() {
		if off, err = m.unpackField(p, off, f); err != nil {
			return err
		}
		m.present.set(f)
	}
	if off != len(p) {
		if present.empty() {
			return fieldError(FieldBitmap, reasonTrailing)
		}
		return fieldError(present.last(), reasonTrailing)
	}
	return nil
}

// unpackBitmap reads the bitmaps at p[off:] and returns the data elements
// they announce and the offset of the first one.
func unpackBitmap(p []byte, off int) (bitmap, int, error) {
	var present bitmap
	var ok bool
	if len(p)-off < 16 {
		return present, off, fieldError(FieldBitmap, reasonTruncated)
	}
	if present[0], ok = parseHex64(p[off : off+16]); !ok {
		return present, off, fieldError(FieldBitmap, reasonCharset)
	}
	off += 16
	if present[0]&(1<<63) != 0 {
		if len(p)-off < 16 {
			return present, off, fieldError(FieldBitmap, reasonTruncated)
		}
		if present[1], ok = parseHex64(p[off : off+16]); !ok {
			return present, off, fieldError(FieldBitmap, reasonCharset)
		}
		if present[1] == 0 {
			return present, off, fieldError(FieldBitmap, reasonEmptyBitmap)
		}
		off += 16
		present[0] &^= 1 << 63
	}
	if unknown := present.andNot(definedFields); !unknown.empty() {
		return present, off, fieldError(unknown.first(), reasonUnknownField)
	}
	return present, off, nil
}

// fieldSpan returns where the value of field f starts in p, which holds the
// field at off, and how long it is, checking the length prefix and that p
// holds the whole value; it does not look at the value.
func fieldSpan(p []byte, off int, f Field) (start, n int, err error) {
	fm := &formats[f]
	n = int(fm.lenMax)
	if fm.prefixDigits > 0 {
		digits := int(fm.prefixDigits)
		if len(p)-off < digits {
			return off, 0, fieldError(f, reasonTruncated)
		}
		length, ok := parseDigits(p[off : off+digits])
		if !ok || length < uint64(fm.lenMin) || length > uint64(fm.lenMax) {
			return off, 0, fieldError(f, reasonLength)
		}
		n = int(length)
		off += digits
	}
	if len(p)-off < n {
		return off, 0, fieldError(f, reasonTruncated)
	}
	return off, n, nil
}

// unpackField decodes field f at p[off:] into m and returns the offset
// after it.
func (m *Message) unpackField(p []byte, off int, f Field) (int, error) {
	start, n, err := fieldSpan(p, off, f)
	if err != nil {
		return off, err
	}
	v := p[start : start+n]
	fm := &formats[f]
	switch fm.kind {
	case kindUint:
		x, ok := parseDigits(v)
		if !ok {
			return off, fieldError(f, reasonCharset)
		}
		m.setUint(f, x)
	case kindText:
		if !fm.class.allowsAll(v) {
			return off, fieldError(f, reasonCharset)
		}
		m.setText(f, v)
	case kindPair:
		if !fm.class.allowsAll(v) {
			return off, fieldError(f, reasonCharset)
		}
		m.ResponseCode = ResponseCode(v[0])<<8 | ResponseCode(v[1])
	default: // kindHex, the MAC
		if !parseHexBytes(m.MAC[:], v) {
			return off, fieldError(f, reasonCharset)
		}
	}
	return start + n, nil
}

// PeekMTISTAN reads the MTI and the STAN (field 11) of a message that may be
// malformed, so that the front end can answer it with 30 (DESIGN.md 6.1).
// It needs four MTI digits, a readable bitmap with bit 11 set, readable
// lengths of the fields before 11 (their contents do not matter) and six
// STAN digits; ok is false otherwise, and the session is to be closed.
func PeekMTISTAN(p []byte) (mti MTI, stan uint32, ok bool) {
	if len(p) < 4 {
		return 0, 0, false
	}
	v, ok := parseDigits(p[:4])
	if !ok {
		return 0, 0, false
	}
	mti = MTI(v)
	if len(p) < 4+16 {
		return mti, 0, false
	}
	primary, ok := parseHex64(p[4 : 4+16])
	if !ok || !(bitmap{primary, 0}).has(FieldSTAN) {
		return mti, 0, false
	}
	off := 4 + 16
	if primary&(1<<63) != 0 {
		off += 16
	}
	before := bitmap{primary &^ (1 << 63), 0}
	for f := range before.all() {
		if f == FieldSTAN {
			break
		}
		if !definedFields.has(f) {
			return mti, 0, false
		}
		start, n, err := fieldSpan(p, off, f)
		if err != nil {
			return mti, 0, false
		}
		off = start + n
	}
	start, n, err := fieldSpan(p, off, FieldSTAN)
	if err != nil {
		return mti, 0, false
	}
	s, ok := parseDigits(p[start : start+n])
	return mti, uint32(s), ok
}

// pow10 holds the powers of ten that fit in a uint64; pow10[n] is the
// smallest number with n+1 digits.
var pow10 = func() (table [uintDigitsMax + 1]uint64) {
	table[0] = 1
	for i := 1; i < len(table); i++ {
		table[i] = table[i-1] * 10
	}
	return table
}()

// appendDigits appends v as exactly width decimal digits, zero-padded; v
// must have at most width digits.
func appendDigits(dst []byte, v uint64, width int) []byte {
	n := len(dst)
	dst = append(dst, zeros[:width]...)
	putDigits(dst[n:], v)
	return dst
}

// zeros is the padding appendDigits starts from.
const zeros = "0000000000000000000"

// putDigits writes v into all of b as decimal digits, zero-padded. It
// writes two digits per division, the cost that dominates packing numbers.
func putDigits(b []byte, v uint64) {
	i := len(b)
	for ; i >= 2; i -= 2 {
		pair := v % 100
		v /= 100
		b[i-1], b[i-2] = digitPairs[2*pair+1], digitPairs[2*pair]
	}
	if i == 1 {
		b[0] = byte('0' + v%10)
	}
}

// digitPairs holds "00" to "99" back to back.
const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// appendUint appends v in decimal without padding.
func appendUint(dst []byte, v uint64) []byte {
	width := 1
	for width < len(pow10) && v >= pow10[width] {
		width++
	}
	return appendDigits(dst, v, width)
}

// parseDigits returns the value of b, 1 to 19 ASCII digits, and true; or
// false when b is empty, too long or holds anything but digits.
func parseDigits(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > uintDigitsMax {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		v = v*10 + uint64(d)
	}
	return v, true
}

// hexDigits are the upper-case hex digits that Pack writes.
const hexDigits = "0123456789ABCDEF"

// appendHex64 appends v as 16 upper-case hex digits.
func appendHex64(dst []byte, v uint64) []byte {
	n := len(dst)
	dst = append(dst, zeros[:16]...)
	out := dst[n : n+16]
	for i := 15; i >= 0; i-- {
		out[i] = hexDigits[v&0xF]
		v >>= 4
	}
	return dst
}

// appendHexBytes appends b as upper-case hex, two digits per byte.
func appendHexBytes(dst []byte, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xF])
	}
	return dst
}

// hexValue maps an upper-case hex digit to its value and every other byte
// to 0xFF. Lower-case digits are refused: Pack writes upper case, and every
// message has one encoding.
var hexValue = func() (table [256]byte) {
	for i := range table {
		table[i] = 0xFF
	}
	for i := 0; i < len(hexDigits); i++ {
		table[hexDigits[i]] = byte(i)
	}
	return table
}()

// parseHex64 returns the value of 16 upper-case hex digits.
func parseHex64(b []byte) (uint64, bool) {
	var v uint64
	var bad byte
	for _, c := range b[:16] {
		d := hexValue[c]
		bad |= d
		v = v<<4 | uint64(d&0xF)
	}
	return v, bad&0xF0 == 0
}

// parseHexBytes decodes upper-case hex src into dst, len(src) == 2*len(dst).
func parseHexBytes(dst, src []byte) bool {
	var bad byte
	for i := range dst {
		hi, lo := hexValue[src[2*i]], hexValue[src[2*i+1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo&0xF
	}
	return bad&0xF0 == 0
}

// classTable maps each byte to the classes that allow it, built from
// charClass.allows, so that checking a value is one load per byte.
var classTable = func() (table [256]charClass) {
	for c := range table {
		for _, class := range [...]charClass{classDigits, classAlnum, classPrint, classHexUpper} {
			if class.allows(byte(c)) {
				table[c] |= class
			}
		}
	}
	return table
}()

// allowsAll reports whether every byte of b is in class c.
func (c charClass) allowsAll(b []byte) bool {
	var all charClass = 0xFF
	for _, x := range b {
		all &= classTable[x]
	}
	return all&c != 0 || len(b) == 0
}
