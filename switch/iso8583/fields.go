package iso8583

import (
	"math/bits"
	"strconv"
	"strings"

	"github.com/moov-io/iso8583/encoding"
	"github.com/moov-io/iso8583/field"

	"github.com/payswitch/payswitch/internal/invariant"
)

// Field is a data element number: 2 to 128, as in the bitmap. 0 stands for
// the MTI and 1 for the bitmap itself, as in moov-io/iso8583, so that a
// FieldError can name every part of a message.
type Field uint8

// The fields of DESIGN.md 6.1. Spec holds their formats.
const (
	FieldMTI              Field = 0   // n4, message type indicator
	FieldBitmap           Field = 1   // hex-ASCII primary (and secondary) bitmap
	FieldPAN              Field = 2   // n..19 LLVAR
	FieldProcessingCode   Field = 3   // n6
	FieldAmount           Field = 4   // n12, minor units
	FieldTransmissionTime Field = 7   // n10 MMDDhhmmss
	FieldSTAN             Field = 11  // n6
	FieldLocalTime        Field = 12  // n6 hhmmss
	FieldLocalDate        Field = 13  // n4 MMDD
	FieldAcquirer         Field = 32  // n..11 LLVAR, the sending participant
	FieldForwarder        Field = 33  // n..11 LLVAR, the participant of a session (sign-on)
	FieldRRN              Field = 37  // an12
	FieldApprovalCode     Field = 38  // an6
	FieldResponseCode     Field = 39  // an2
	FieldTerminal         Field = 41  // ans8
	FieldAdditionalData   Field = 48  // ans..999 LLLVAR, mandate ID of a pull payment
	FieldCurrency         Field = 49  // n3, ISO 4217 numeric
	FieldNetworkCode      Field = 70  // n3
	FieldOriginalData     Field = 90  // n42
	FieldReceiver         Field = 100 // n..11 LLVAR, the receiving participant
	FieldPayerAccount     Field = 102 // ans..28 LLVAR
	FieldPayeeAccount     Field = 103 // ans..64 LLVAR, account or alias
	FieldMAC              Field = 128 // an16, 8 bytes as upper-case hex
)

// kind is how the fast codec holds a field in a Message. It follows from the
// moov field type in Spec; only field 39 is special (see kindPair).
type kind uint8

const (
	kindNone kind = iota // not a data element of Spec
	kindUint             // moov Numeric: zero-padded digits, held in an unsigned integer
	kindText             // moov String: the characters, held in a byte array
	kindPair             // field 39, a String of two characters held in a ResponseCode
	kindHex              // moov Binary in hex-ASCII: the MAC's bytes
)

// format is what the fast codec knows of one field, all of it read from
// Spec by buildFormats.
type format struct {
	kind         kind
	class        charClass
	prefixDigits uint8  // 0 for a fixed field, 2 for LLVAR, 3 for LLLVAR
	lenMin       uint16 // fewest characters of the value on the wire
	lenMax       uint16 // most characters of the value on the wire
	description  string
}

// formats is the fast codec's field table, indexed by Field, and
// definedFields the data elements it holds (2 to 128; never the bitmap
// indicator bits 1 and 65). Both are built once from Spec and only read
// afterwards.
var (
	formats       = buildFormats()
	definedFields = definedBitmap(&formats)
)

// buildFormats reads Spec into the fast codec's table. A field of Spec that
// the fast codec cannot handle is a programmer error and panics at start-up,
// so the two codecs can never silently disagree about a field.
func buildFormats() (table [fieldNumberMax + 1]format) {
	for id, fl := range Spec.Fields {
		invariant.Always(0 <= id && id <= fieldNumberMax, "spec field %d out of range", id)
		if id == int(FieldBitmap) {
			_, ok := fl.(*field.Bitmap)
			invariant.Always(ok, "spec field 1 must be the bitmap")
			continue
		}
		table[id] = formatOf(id, fl)
	}
	mti := table[FieldMTI]
	invariant.Always(mti.kind == kindText && mti.class == classDigits && mti.prefixDigits == 0 && mti.lenMax == 4,
		"spec field 0 must be the n4 MTI")
	table[FieldMTI].kind = kindUint
	return table
}

// formatOf derives the format of one data element from its moov field.
func formatOf(id int, fl field.Field) format {
	spec := fl.Spec()
	rule, ok := spec.Unpacker.(wireRule)
	invariant.Always(ok && spec.Packer == rule, "spec field %d must pack and unpack with wireRule", id)
	fm := format{class: rule.class, description: spec.Description}
	switch spec.Pref.Inspect() {
	case "ASCII.Fixed":
	case "ASCII.LL":
		fm.prefixDigits = 2
	case "ASCII.LLL":
		fm.prefixDigits = 3
	default:
		invariant.Always(false, "spec field %d: unsupported prefix %s", id, spec.Pref.Inspect())
	}
	fm.lenMax = uint16(spec.Length)
	switch fl.(type) {
	case *field.Numeric:
		fm.kind = kindUint
		zeroPadded := spec.Pad != nil && string(spec.Pad.Pad([]byte("1"), 2)) == "01"
		invariant.Always(fm.prefixDigits == 0 && spec.Length <= uintDigitsMax && zeroPadded && spec.Enc == encoding.ASCII,
			"spec field %d: a Numeric must be fixed, zero-padded ASCII of at most %d digits", id, uintDigitsMax)
	case *field.String:
		fm.kind = kindText
		if Field(id) == FieldResponseCode {
			fm.kind = kindPair
		}
		invariant.Always(spec.Pad == nil && spec.Enc == encoding.ASCII, "spec field %d: a String must be unpadded ASCII", id)
	case *field.Binary:
		fm.kind = kindHex
		fm.lenMax *= 2
		invariant.Always(spec.Enc == encoding.BytesToASCIIHex && fm.prefixDigits == 0 && Field(id) == FieldMAC,
			"spec field %d: only the MAC is Binary", id)
	default:
		invariant.Always(false, "spec field %d: unsupported type %T", id, fl)
	}
	fm.lenMin = fm.lenMax
	if fm.prefixDigits > 0 {
		fm.lenMin = varLenMin
	}
	invariant.Always(fm.kind != kindPair || fm.lenMax == 2, "spec field 39 must be two characters")
	return fm
}

// definedBitmap returns the data elements of the table.
func definedBitmap(table *[fieldNumberMax + 1]format) (b bitmap) {
	for f := FieldPAN; ; f++ {
		if table[f].kind != kindNone {
			b.set(f)
		}
		if f == fieldNumberMax {
			return b
		}
	}
}

// String returns the field's description from Spec ("Amount, in minor
// units"), or "field N" for a number Spec does not define.
func (f Field) String() string {
	if f <= fieldNumberMax && f == FieldBitmap {
		return "Bitmap"
	}
	if f <= fieldNumberMax && formats[f].kind != kindNone {
		return formats[f].description
	}
	return "field " + strconv.Itoa(int(f))
}

// Format returns the field's format in ISO 8583 notation, such as "n6",
// "n..19 LLVAR" or "ans..999 LLLVAR", or "" for a number Spec does not
// define. The MAC is "an16" (upper-case hex digits), as in DESIGN.md.
func (f Field) Format() string {
	if f > fieldNumberMax || formats[f].kind == kindNone {
		return ""
	}
	fm := formats[f]
	class := fm.class.String()
	if fm.kind == kindHex {
		class = "an"
	}
	switch fm.prefixDigits {
	case 2:
		return class + ".." + strconv.Itoa(int(fm.lenMax)) + " LLVAR"
	case 3:
		return class + ".." + strconv.Itoa(int(fm.lenMax)) + " LLLVAR"
	}
	return class + strconv.Itoa(int(fm.lenMax))
}

// Fields returns every data element of Spec in ascending order (2 to 128),
// without the MTI and the bitmap.
func Fields() []Field {
	var fields []Field
	for f := range definedFields.all() {
		fields = append(fields, f)
	}
	return fields
}

// bitmap holds one bit per field, in wire order: field 1 is the most
// significant bit of b[0], field 128 the least significant bit of b[1].
type bitmap [2]uint64

// bitOf returns the word and the mask of field f (1 to 128).
func bitOf(f Field) (int, uint64) {
	return int(f-1) / 64, 1 << (63 - uint(f-1)%64)
}

// inBitmap reports whether f has a bit (1 to 128).
func inBitmap(f Field) bool { return f-1 < fieldNumberMax }

func (b *bitmap) set(f Field) {
	if inBitmap(f) {
		w, mask := bitOf(f)
		b[w] |= mask
	}
}

func (b *bitmap) clear(f Field) {
	if inBitmap(f) {
		w, mask := bitOf(f)
		b[w] &^= mask
	}
}

func (b bitmap) has(f Field) bool {
	if !inBitmap(f) {
		return false
	}
	w, mask := bitOf(f)
	return b[w]&mask != 0
}

func (b bitmap) andNot(o bitmap) bitmap { return bitmap{b[0] &^ o[0], b[1] &^ o[1]} }

func (b bitmap) empty() bool { return b[0]|b[1] == 0 }

// first returns the lowest field of a non-empty bitmap.
func (b bitmap) first() Field {
	if b[0] != 0 {
		return Field(bits.LeadingZeros64(b[0]) + 1)
	}
	return Field(bits.LeadingZeros64(b[1]) + 65)
}

// last returns the highest field of a non-empty bitmap.
func (b bitmap) last() Field {
	if b[1] != 0 {
		return Field(128 - bits.TrailingZeros64(b[1]))
	}
	return Field(64 - bits.TrailingZeros64(b[0]))
}

// all yields the fields of the bitmap in ascending order.
func (b bitmap) all() func(yield func(Field) bool) {
	return func(yield func(Field) bool) {
		for w := range b {
			for word := b[w]; word != 0; {
				i := bits.LeadingZeros64(word)
				word &^= 1 << (63 - i)
				if !yield(Field(w*64 + i + 1)) {
					return
				}
			}
		}
	}
}

// String lists the fields of the bitmap, "2 3 4".
func (b bitmap) String() string {
	var s strings.Builder
	for f := range b.all() {
		if s.Len() > 0 {
			s.WriteByte(' ')
		}
		s.WriteString(strconv.Itoa(int(f)))
	}
	return s.String()
}
