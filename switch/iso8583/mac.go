package iso8583

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"hash"
)

// MACer computes the MAC of DESIGN.md 6.1 with one participant's key: the
// first 8 bytes of HMAC-SHA256 over the packed message up to, not
// including, the MAC value, with bit 128 set; on the wire, 16 upper-case hex
// characters in field 128. It holds one HMAC made at NewMACer and reused,
// so PackMAC and VerifyMAC allocate nothing.
//
// A MACer is not safe for concurrent use: keep one per session (each
// session belongs to one participant and has one key).
type MACer struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// NewMACer returns a MACer for key, which must be 16 to 256 bytes
// (ErrMACKey otherwise).
func NewMACer(key []byte) (*MACer, error) {
	if len(key) < macKeyLenMin || len(key) > macKeyLenMax {
		return nil, ErrMACKey
	}
	return &MACer{h: hmac.New(sha256.New, key)}, nil
}

// Sum returns the MAC of p: the first 8 bytes of HMAC-SHA256(key, p).
func (mc *MACer) Sum(p []byte) (mac [macLen]byte) {
	mc.h.Reset()
	mc.h.Write(p)
	copy(mac[:], mc.h.Sum(mc.sum[:0]))
	return mac
}

// MACRequired reports whether messages of type t must carry a MAC: 0800,
// 0200, 0210, 0420 and 0430 (DESIGN.md 6.1).
func MACRequired(t MTI) bool {
	r := requirementOf(t)
	return r != nil && r.mandatory.has(FieldMAC)
}

// PackMAC appends m to dst with field 128 set to the MAC of mc's key, and
// stores that MAC in m.MAC. Errors are those of Pack.
func PackMAC(dst []byte, m *Message, mc *MACer) ([]byte, error) {
	start := len(dst)
	m.present.set(FieldMAC)
	dst, err := m.Pack(dst)
	if err != nil {
		return dst, err
	}
	// Field 128 is the highest field, so its 16 characters end the message.
	body := dst[start : len(dst)-macHexLen]
	m.MAC = mc.Sum(body)
	appendHexBytes(dst[len(dst)-macHexLen:len(dst)-macHexLen], m.MAC[:])
	return dst, nil
}

// VerifyMAC checks field 128 of the packed message p against mc's key, in
// constant time. Call it on a message that Unpack accepted: it relies on
// the MAC being the last 16 characters. It returns ErrMACMissing when bit
// 128 is not set and ErrMACMismatch when the MAC is wrong.
func VerifyMAC(p []byte, mc *MACer) error {
	if len(p) < 4+32+macHexLen {
		return ErrMACMissing
	}
	primary, ok1 := parseHex64(p[4:20])
	secondary, ok2 := parseHex64(p[20:36])
	if !ok1 || !ok2 || !(bitmap{primary, secondary}).has(FieldMAC) || !(bitmap{primary, 0}).has(FieldBitmap) {
		return ErrMACMissing
	}
	body := p[:len(p)-macHexLen]
	mac := mc.Sum(body)
	var want [macHexLen]byte
	appendHexBytes(want[:0], mac[:])
	if subtle.ConstantTimeCompare(want[:], p[len(p)-macHexLen:]) != 1 {
		return ErrMACMismatch
	}
	return nil
}
