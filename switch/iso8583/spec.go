package iso8583

import (
	"errors"
	"fmt"

	moov "github.com/moov-io/iso8583"
	"github.com/moov-io/iso8583/encoding"
	"github.com/moov-io/iso8583/field"
	"github.com/moov-io/iso8583/padding"
	"github.com/moov-io/iso8583/prefix"
)

// Spec is the message spec of DESIGN.md 6.1 for github.com/moov-io/iso8583:
// ASCII characters, a 4-digit MTI, hex-ASCII bitmaps (a secondary one when
// a field above 64 is present) and the data elements below, each with the
// format of the contract. It is the single source of truth of the wire
// format: the fast codec of this package derives its field table from it
// at start-up, and a differential fuzz test proves that both accept,
// reject and write the same bytes.
//
// Moov's own packers accept more than the contract (signs and spaces in
// numbers, any character in a text field, an empty variable field), so
// every field here packs and unpacks through wireRule, which adds those
// checks. Spec is shared and must not be modified.
var Spec = &moov.MessageSpec{
	Name: "payswitch ISO 8583 over TCP (DESIGN.md 6.1)",
	Fields: map[int]field.Field{
		0: field.NewString(fixedText(4, classDigits, "Message type indicator")),
		1: field.NewBitmap(&field.Spec{
			Length:      8,
			Description: "Bitmap",
			Enc:         encoding.BytesToASCIIHex,
			Pref:        prefix.Hex.Fixed,
		}),
		2:   field.NewString(variableText(19, prefix.ASCII.LL, classDigits, "Primary account number")),
		3:   field.NewNumeric(number(6, "Processing code")),
		4:   field.NewNumeric(number(12, "Amount, in minor units")),
		7:   field.NewString(fixedText(10, classDigits, "Transmission date and time, MMDDhhmmss UTC")),
		11:  field.NewNumeric(number(6, "System trace audit number (STAN)")),
		12:  field.NewString(fixedText(6, classDigits, "Local time, hhmmss")),
		13:  field.NewString(fixedText(4, classDigits, "Local date, MMDD")),
		32:  field.NewString(variableText(11, prefix.ASCII.LL, classDigits, "Acquiring (sending) participant")),
		33:  field.NewString(variableText(11, prefix.ASCII.LL, classDigits, "Forwarding participant")),
		37:  field.NewString(fixedText(12, classAlnum, "Retrieval reference number (RRN)")),
		38:  field.NewString(fixedText(6, classAlnum, "Approval code")),
		39:  field.NewString(fixedText(2, classAlnum, "Response code")),
		41:  field.NewString(fixedText(8, classPrint, "Terminal")),
		48:  field.NewString(variableText(999, prefix.ASCII.LLL, classPrint, "Additional data (mandate ID of a pull payment)")),
		49:  field.NewNumeric(number(3, "Currency, ISO 4217 numeric")),
		70:  field.NewNumeric(number(3, "Network management code")),
		90:  field.NewString(fixedText(42, classDigits, "Original data elements")),
		100: field.NewString(variableText(11, prefix.ASCII.LL, classDigits, "Receiving participant")),
		102: field.NewString(variableText(28, prefix.ASCII.LL, classPrint, "Payer account")),
		103: field.NewString(variableText(64, prefix.ASCII.LL, classPrint, "Payee account or alias")),
		128: field.NewBinary(&field.Spec{
			Length:      macLen,
			Description: "Message authentication code (MAC)",
			Enc:         encoding.BytesToASCIIHex,
			Pref:        prefix.ASCII.Fixed,
			Packer:      wireRule{classHexUpper},
			Unpacker:    wireRule{classHexUpper},
		}),
	},
}

// number is the spec of a fixed numeric field held as a number: digits,
// zero-padded on the left to length.
func number(length int, description string) *field.Spec {
	return &field.Spec{
		Length:      length,
		Description: description,
		Enc:         encoding.ASCII,
		Pref:        prefix.ASCII.Fixed,
		Pad:         padding.Left('0'),
		Packer:      wireRule{classDigits},
		Unpacker:    wireRule{classDigits},
	}
}

// fixedText is the spec of a field of exactly length characters of class.
// There is no padding: the value is all of the field.
func fixedText(length int, class charClass, description string) *field.Spec {
	return &field.Spec{
		Length:      length,
		Description: description,
		Enc:         encoding.ASCII,
		Pref:        prefix.ASCII.Fixed,
		Packer:      wireRule{class},
		Unpacker:    wireRule{class},
	}
}

// variableText is the spec of a field of 1 to lengthMax characters of class
// after an ASCII length prefix (LL or LLL).
func variableText(lengthMax int, pref prefix.Prefixer, class charClass, description string) *field.Spec {
	return &field.Spec{
		Length:      lengthMax,
		Description: description,
		Enc:         encoding.ASCII,
		Pref:        pref,
		Packer:      wireRule{class},
		Unpacker:    wireRule{class},
	}
}

// charClass is the set of characters a field may carry on the wire.
type charClass uint8

const (
	classDigits   charClass = 1 << iota // n: 0-9
	classAlnum                          // an: 0-9, A-Z, a-z
	classPrint                          // ans: printable ASCII, space to '~'
	classHexUpper                       // the MAC: 0-9, A-F
)

// allows reports whether the character c belongs to the class. This is the
// one definition of each format's characters; the fast codec's lookup table
// is built from it.
func (c charClass) allows(b byte) bool {
	switch c {
	case classDigits:
		return '0' <= b && b <= '9'
	case classAlnum:
		return '0' <= b && b <= '9' || 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z'
	case classPrint:
		return ' ' <= b && b <= '~'
	case classHexUpper:
		return '0' <= b && b <= '9' || 'A' <= b && b <= 'F'
	}
	return false
}

// String returns the ISO 8583 name of the class: n, an, ans; "hex" for the
// MAC's upper-case hex digits.
func (c charClass) String() string {
	switch c {
	case classDigits:
		return "n"
	case classAlnum:
		return "an"
	case classPrint:
		return "ans"
	case classHexUpper:
		return "hex"
	}
	return fmt.Sprintf("charClass(%d)", uint8(c))
}

// wireRule packs and unpacks every field of Spec but the bitmap. It takes
// moov's default steps (pad, encode, length prefix) and adds what the
// contract needs and moov leaves out: only the characters of the field's
// class, a length prefix of digits only, and no empty variable field. The
// fast codec reads the class from here, so the rule is part of the spec.
type wireRule struct {
	class charClass
}

var (
	_ field.Packer   = wireRule{}
	_ field.Unpacker = wireRule{}
)

// Pack implements field.Packer.
func (r wireRule) Pack(value []byte, spec *field.Spec) ([]byte, error) {
	if spec.Pad != nil {
		value = spec.Pad.Pad(value, spec.Length)
	}
	if len(value) < varLenMin {
		return nil, ErrLength
	}
	lengthPrefix, err := spec.Pref.EncodeLength(spec.Length, len(value))
	if err != nil {
		return nil, errors.Join(ErrLength, err)
	}
	wire, err := spec.Enc.Encode(value)
	if err != nil {
		return nil, errors.Join(ErrCharset, err)
	}
	if !r.allowsAll(wire) {
		return nil, ErrCharset
	}
	return append(lengthPrefix, wire...), nil
}

// Unpack implements field.Unpacker.
func (r wireRule) Unpack(data []byte, spec *field.Spec) ([]byte, int, error) {
	length, prefixLen, err := spec.Pref.DecodeLength(spec.Length, data)
	if err != nil {
		return nil, 0, errors.Join(ErrLength, err)
	}
	for _, c := range data[:prefixLen] {
		if !classDigits.allows(c) {
			return nil, 0, ErrLength
		}
	}
	if length < varLenMin {
		return nil, 0, ErrLength
	}
	value, read, err := spec.Enc.Decode(data[prefixLen:], length)
	if err != nil {
		wireLen := length
		if spec.Enc == encoding.BytesToASCIIHex {
			wireLen *= 2
		}
		if len(data)-prefixLen < wireLen {
			return nil, 0, errors.Join(ErrTruncated, err)
		}
		return nil, 0, errors.Join(ErrCharset, err)
	}
	if !r.allowsAll(data[prefixLen : prefixLen+read]) {
		return nil, 0, ErrCharset
	}
	if spec.Pad != nil {
		value = spec.Pad.Unpad(value)
	}
	return value, prefixLen + read, nil
}

// allowsAll reports whether every character of wire is in the rule's class.
func (r wireRule) allowsAll(wire []byte) bool {
	for _, c := range wire {
		if !r.class.allows(c) {
			return false
		}
	}
	return true
}
