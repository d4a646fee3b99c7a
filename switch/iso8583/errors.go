package iso8583

import (
	"errors"
	"strconv"
	"strings"
)

// Operating errors of the package. A message that breaks the format is
// reported as a *FieldError naming the field, which wraps one of the
// sentinels of the first group; test them with errors.Is and read the field
// with errors.As.
var (
	// ErrTruncated: the message ends inside the field.
	ErrTruncated = errors.New("iso8583: message ends inside the field")
	// ErrCharset: a character outside the field's format (a letter in an n
	// field, a space in an an field, a control character in an ans field,
	// anything but upper-case hex in a bitmap or the MAC).
	ErrCharset = errors.New("iso8583: character outside the field's format")
	// ErrLength: a length prefix that is not all digits, or a length outside
	// the field's limits (an empty variable field, one longer than its
	// maximum).
	ErrLength = errors.New("iso8583: length outside the field's limits")
	// ErrTooLarge: a number with more digits than its field (Pack only).
	ErrTooLarge = errors.New("iso8583: value has more digits than the field")
	// ErrUnknownField: a bitmap bit for a field that Spec does not define
	// (bit 65, which would announce a third bitmap, is one of them).
	ErrUnknownField = errors.New("iso8583: field not in the spec")
	// ErrEmptyBitmap: a secondary bitmap with no field set. Pack never
	// writes one, and every message has exactly one encoding.
	ErrEmptyBitmap = errors.New("iso8583: secondary bitmap present but empty")
	// ErrTrailing: bytes after the last field; the FieldError names that
	// field (the bitmap when there is none).
	ErrTrailing = errors.New("iso8583: bytes after the last field")
	// ErrMissing: CheckFields found a field the message type requires
	// absent.
	ErrMissing = errors.New("iso8583: mandatory field missing")
	// ErrNotAllowed: CheckFields found a field the message type does not
	// carry.
	ErrNotAllowed = errors.New("iso8583: field not carried by this message type")
	// ErrUnsupportedMTI: CheckFields does not know the message type; the
	// FieldError names FieldMTI.
	ErrUnsupportedMTI = errors.New("iso8583: message type not in the contract")
)

// Errors of framing, MACs and helpers.
var (
	// ErrEmptyFrame: a frame header announcing 0 bytes. The session is
	// beyond repair: close it.
	ErrEmptyFrame = errors.New("iso8583: empty frame")
	// ErrFrameTooLarge: a frame header announcing more than FrameSizeMax
	// bytes, or a message too long to frame. The session is beyond repair:
	// close it.
	ErrFrameTooLarge = errors.New("iso8583: frame longer than 8192 bytes")
	// ErrMACKey: NewMACer got a key shorter than 16 or longer than 256 bytes.
	ErrMACKey = errors.New("iso8583: MAC key must be 16 to 256 bytes")
	// ErrMACMissing: VerifyMAC got a message without field 128.
	ErrMACMissing = errors.New("iso8583: MAC missing")
	// ErrMACMismatch: field 128 is not the MAC of the message under the key.
	ErrMACMismatch = errors.New("iso8583: MAC mismatch")
	// ErrNotText: SetBytes got a field that is not held as text (3, 4, 11,
	// 39, 49, 70, 128, the MTI) or that Spec does not define.
	ErrNotText = errors.New("iso8583: not a text field")
	// ErrNotRequest: ResponseTo got a message that is not a request or an
	// advice (its MTI's function digit is odd).
	ErrNotRequest = errors.New("iso8583: not a request")
	// ErrOriginalData: Original got a field 90 that is absent or not 42
	// digits, or SetOriginal a value too large for its digits.
	ErrOriginalData = errors.New("iso8583: original data elements malformed")
)

// FieldError says which field of a message broke the format and how, so
// that the front end can answer 30 and log the field number. It never holds
// the field's content: a PAN or an account must not reach a log.
type FieldError struct {
	// Field is the failing field: a data element, FieldMTI or FieldBitmap.
	Field Field
	// Err is one of the sentinels ErrTruncated, ErrCharset, ErrLength,
	// ErrTooLarge, ErrUnknownField, ErrEmptyBitmap, ErrTrailing,
	// ErrMissing, ErrNotAllowed or ErrUnsupportedMTI.
	Err error
}

// Error returns "iso8583: field 4 (Amount, in minor units): value has more
// digits than the field".
func (e *FieldError) Error() string {
	return "iso8583: field " + strconv.Itoa(int(e.Field)) + " (" + e.Field.String() + "): " +
		strings.TrimPrefix(e.Err.Error(), "iso8583: ")
}

// Unwrap returns the sentinel.
func (e *FieldError) Unwrap() error { return e.Err }

var _ error = (*FieldError)(nil)

// reason indexes the sentinels that a FieldError may wrap.
type reason uint8

const (
	reasonTruncated reason = iota
	reasonCharset
	reasonLength
	reasonTooLarge
	reasonUnknownField
	reasonEmptyBitmap
	reasonTrailing
	reasonMissing
	reasonNotAllowed
	reasonUnsupportedMTI
	reasonCount
)

// reasonErrors maps each reason to its sentinel.
var reasonErrors = [reasonCount]error{
	reasonTruncated:      ErrTruncated,
	reasonCharset:        ErrCharset,
	reasonLength:         ErrLength,
	reasonTooLarge:       ErrTooLarge,
	reasonUnknownField:   ErrUnknownField,
	reasonEmptyBitmap:    ErrEmptyBitmap,
	reasonTrailing:       ErrTrailing,
	reasonMissing:        ErrMissing,
	reasonNotAllowed:     ErrNotAllowed,
	reasonUnsupportedMTI: ErrUnsupportedMTI,
}

// fieldErrors holds every FieldError there can be, made once, so that
// rejecting a malformed message allocates nothing: a peer that sends
// garbage in a loop costs the switch no garbage collection. The entries are
// read-only; callers get pointers to them.
var fieldErrors = func() (table [fieldNumberMax + 1][reasonCount]FieldError) {
	for f := range table {
		for r := range table[f] {
			table[f][r] = FieldError{Field: Field(f), Err: reasonErrors[r]}
		}
	}
	return table
}()

// fieldError returns the FieldError of field f (0 to 128) for reason r.
func fieldError(f Field, r reason) error {
	return &fieldErrors[f][r]
}
