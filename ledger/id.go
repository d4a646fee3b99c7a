package ledger

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
)

// ID is a 128-bit identifier chosen by the client for accounts and transfers.
// It is stored big-endian so that byte order and numeric order agree, which
// keeps Pebble keys sorted by ID. The zero ID is reserved and always invalid.
type ID [16]byte

// NewID builds an ID from its high and low 64-bit halves.
func NewID(hi, lo uint64) ID {
	var id ID
	binary.BigEndian.PutUint64(id[0:8], hi)
	binary.BigEndian.PutUint64(id[8:16], lo)
	return id
}

// IDFromUint64 builds the ID whose numeric value is v.
func IDFromUint64(v uint64) ID { return NewID(0, v) }

// Hi returns the high 64 bits.
func (id ID) Hi() uint64 { return binary.BigEndian.Uint64(id[0:8]) }

// Lo returns the low 64 bits.
func (id ID) Lo() uint64 { return binary.BigEndian.Uint64(id[8:16]) }

// IsZero reports whether id is the reserved zero ID.
func (id ID) IsZero() bool { return id == ID{} }

// String prints the ID as a decimal number when it fits in 64 bits, which is
// how people type small IDs, and as 32 hex digits with a 0x prefix otherwise.
func (id ID) String() string {
	if id.Hi() == 0 {
		return fmt.Sprintf("%d", id.Lo())
	}
	return "0x" + hex.EncodeToString(id[:])
}

// ParseID reads an ID written as a decimal number (up to 2^128-1) or as up
// to 32 hex digits prefixed with 0x. The zero ID is rejected.
func ParseID(s string) (ID, error) {
	var id ID
	if rest, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		if len(rest) == 0 || len(rest) > 32 {
			return id, fmt.Errorf("%w: %q: want 1 to 32 hex digits after 0x", ErrInvalidID, s)
		}
		b, err := hex.DecodeString(strings.Repeat("0", 32-len(rest)) + rest)
		if err != nil {
			return id, fmt.Errorf("%w: %q: not hex", ErrInvalidID, s)
		}
		copy(id[:], b)
	} else {
		n, ok := new(big.Int).SetString(s, 10)
		if !ok || n.Sign() < 0 || n.BitLen() > 128 || strings.HasPrefix(s, "+") {
			return id, fmt.Errorf("%w: %q: want a decimal number below 2^128 or 0x-prefixed hex", ErrInvalidID, s)
		}
		n.FillBytes(id[:])
	}
	if id.IsZero() {
		return id, fmt.Errorf("%w: zero is reserved", ErrInvalidID)
	}
	return id, nil
}
