package iso8583

// Limits of the package. Each one bounds memory or work that a peer's bytes
// can cause; limits_test.go checks how they relate to each other and to
// Spec.
const (
	// FrameSizeMax is the most bytes one frame may carry after its 2-byte
	// length header (DESIGN.md 6.1). NextFrame and FrameReader refuse a
	// longer frame before reading it, so a peer cannot make the switch
	// buffer more than this per message. Every message the contract allows
	// is far shorter (see messageSizeMax in the tests).
	FrameSizeMax = 8192

	// frameHeaderLen is the size of the big-endian length before each frame.
	frameHeaderLen = 2

	// fieldNumberMax is the highest data element with a bit in the primary
	// and secondary bitmaps.
	fieldNumberMax = 128

	// varLenMin is the fewest characters a variable-length field may hold:
	// an empty field says nothing that leaving the field out does not, so
	// the contract never carries one.
	varLenMin = 1

	// uintDigitsMax is the widest numeric field held in an integer (the
	// amount, n12); 19 digits always fit in a uint64.
	uintDigitsMax = 19

	// macKeyLenMin and macKeyLenMax bound a participant's MAC key in bytes.
	// 16 bytes is the least that gives HMAC-SHA256 a 128-bit key; the
	// maximum only stops absurd configuration.
	macKeyLenMin = 16
	macKeyLenMax = 256

	// macLen is how many bytes of the HMAC-SHA256 the MAC keeps; it travels
	// as twice as many upper-case hex characters (macHexLen).
	macLen    = 8
	macHexLen = 2 * macLen
)
