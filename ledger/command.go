package ledger

import (
	"encoding/binary"
	"fmt"
)

// Op is the kind of a command.
type Op uint8

const (
	OpCreateAccount  Op = 1
	OpCreateTransfer Op = 2
	OpSetLimit       Op = 3 // change an account's Limit
	OpExpire         Op = 4 // void pending transfers whose deadline has passed
)

var opNames = [...]string{"", "create_account", "create_transfer", "set_limit", "expire"}

func (o Op) String() string {
	if o >= OpCreateAccount && o <= OpExpire {
		return opNames[o]
	}
	return fmt.Sprintf("op_%d", uint8(o))
}

// Command is one state change request. Only the part selected by Op is read:
// Account for OpCreateAccount; Transfer for OpCreateTransfer; Account.ID and
// Account.Limit for OpSetLimit; nothing for OpExpire, which uses the batch's
// timestamp as "now" and voids at most ExpireTransfersMax transfers.
type Command struct {
	Op       Op
	Account  Account
	Transfer Transfer
}

// Result is the outcome of one command.
type Result struct {
	Code Code
	// Timestamp is the command's event timestamp; for an idempotent retry
	// (Exists) it is the timestamp of the original.
	Timestamp uint64
	// Expired and More report an expire command's work: how many pending
	// transfers it voided, and whether more were due than it could void.
	Expired uint32
	More    bool
}

// Encoded sizes. The encoding is fixed-width little-endian, one command
// after another behind a header; it is what the Raft log carries, so the
// layout is versioned and never changed in place.
const (
	batchVersion     = 1
	batchHeaderSize  = 1 + 4 + 8 // version, count, timestamp
	accountBodySize  = 16 + 8 + 2 + 1 + 2 + 8 + 8
	transferBodySize = 16 + 16 + 16 + 8 + 16 + 4 + 2 + 2 + 2 + 16
	setLimitBodySize = 16 + 8
	expireBodySize   = 0
	commandSizeMax   = 1 + transferBodySize
	batchEncodedMax  = batchHeaderSize + BatchCommandsMax*commandSizeMax
)

// Batch is a list of commands applied together at one timestamp, the unit
// that one Raft entry or one standalone commit carries.
type Batch struct {
	// Timestamp is the leader's clock when it sealed the batch, in ns since
	// the Unix epoch. The state machine never reads a clock of its own.
	Timestamp uint64
	Commands  []Command
}

// EncodedSize is the length of b's encoding.
func (b *Batch) EncodedSize() int {
	n := batchHeaderSize
	for i := range b.Commands {
		switch b.Commands[i].Op {
		case OpCreateAccount:
			n += 1 + accountBodySize
		case OpCreateTransfer:
			n += 1 + transferBodySize
		case OpSetLimit:
			n += 1 + setLimitBodySize
		default:
			n += 1 + expireBodySize
		}
	}
	return n
}

// AppendEncoded appends the binary encoding of b to dst.
func (b *Batch) AppendEncoded(dst []byte) ([]byte, error) {
	if len(b.Commands) > BatchCommandsMax {
		return dst, fmt.Errorf("%w: %d commands, at most %d", ErrBatchTooLarge, len(b.Commands), BatchCommandsMax)
	}
	dst = append(dst, batchVersion)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(b.Commands)))
	dst = binary.LittleEndian.AppendUint64(dst, b.Timestamp)
	for i := range b.Commands {
		c := &b.Commands[i]
		dst = append(dst, byte(c.Op))
		switch c.Op {
		case OpCreateAccount:
			dst = appendAccountBody(dst, &c.Account)
		case OpCreateTransfer:
			dst = appendTransferBody(dst, &c.Transfer)
		case OpSetLimit:
			dst = append(dst, c.Account.ID[:]...)
			dst = binary.LittleEndian.AppendUint64(dst, uint64(c.Account.Limit))
		case OpExpire:
		default:
			return dst, fmt.Errorf("%w: command %d has unknown op %d", ErrBatchMalformed, i, c.Op)
		}
	}
	return dst, nil
}

func appendAccountBody(dst []byte, a *Account) []byte {
	dst = append(dst, a.ID[:]...)
	dst = binary.LittleEndian.AppendUint64(dst, a.Participant)
	dst = binary.LittleEndian.AppendUint16(dst, a.Currency)
	dst = append(dst, byte(a.Kind))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(a.Flags))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(a.Limit))
	return binary.LittleEndian.AppendUint64(dst, a.UserRef)
}

func appendTransferBody(dst []byte, t *Transfer) []byte {
	dst = append(dst, t.ID[:]...)
	return appendTransferFields(dst, t)
}

// transferFieldsSize is the encoded size of a transfer's client fields,
// which the command body (after the ID) and the stored record (before the
// ledger's own fields) share.
const transferFieldsSize = 16 + 16 + 8 + 16 + 4 + 2 + 2 + 2 + 16

func appendTransferFields(dst []byte, t *Transfer) []byte {
	dst = append(dst, t.DebitAccount[:]...)
	dst = append(dst, t.CreditAccount[:]...)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(t.Amount))
	dst = append(dst, t.PendingID[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, t.Timeout)
	dst = binary.LittleEndian.AppendUint16(dst, t.Currency)
	dst = binary.LittleEndian.AppendUint16(dst, t.Code)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(t.Flags))
	return append(dst, t.UserRef[:]...)
}

// decodeTransferFields reads what appendTransferFields wrote; p holds at
// least transferFieldsSize bytes.
func decodeTransferFields(p []byte, t *Transfer) {
	copy(t.DebitAccount[:], p[0:16])
	copy(t.CreditAccount[:], p[16:32])
	t.Amount = Amount(binary.LittleEndian.Uint64(p[32:40]))
	copy(t.PendingID[:], p[40:56])
	t.Timeout = binary.LittleEndian.Uint32(p[56:60])
	t.Currency = binary.LittleEndian.Uint16(p[60:62])
	t.Code = binary.LittleEndian.Uint16(p[62:64])
	t.Flags = TransferFlags(binary.LittleEndian.Uint16(p[64:66]))
	copy(t.UserRef[:], p[66:82])
}

// DecodeBatch decodes an encoded batch into b, reusing b.Commands' storage.
// It checks every length before reading, so no input makes it panic or
// allocate more than BatchCommandsMax commands; it reports any malformation
// as ErrBatchMalformed and leaves b's content unspecified then.
func DecodeBatch(data []byte, b *Batch) error {
	if len(data) < batchHeaderSize {
		return fmt.Errorf("%w: %d bytes, header needs %d", ErrBatchMalformed, len(data), batchHeaderSize)
	}
	if data[0] != batchVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrBatchMalformed, data[0], batchVersion)
	}
	count := binary.LittleEndian.Uint32(data[1:5])
	if count > BatchCommandsMax {
		return fmt.Errorf("%w: %d commands, at most %d", ErrBatchTooLarge, count, BatchCommandsMax)
	}
	b.Timestamp = binary.LittleEndian.Uint64(data[5:13])
	if b.Timestamp > TimestampMax {
		return fmt.Errorf("%w: timestamp %d is past %d", ErrBatchMalformed, b.Timestamp, uint64(TimestampMax))
	}
	b.Commands = b.Commands[:0]
	rest := data[batchHeaderSize:]
	for i := uint32(0); i < count; i++ {
		if len(rest) < 1 {
			return fmt.Errorf("%w: command %d: truncated", ErrBatchMalformed, i)
		}
		op := Op(rest[0])
		rest = rest[1:]
		var size int
		switch op {
		case OpCreateAccount:
			size = accountBodySize
		case OpCreateTransfer:
			size = transferBodySize
		case OpSetLimit:
			size = setLimitBodySize
		case OpExpire:
			size = expireBodySize
		default:
			return fmt.Errorf("%w: command %d: unknown op %d", ErrBatchMalformed, i, op)
		}
		if len(rest) < size {
			return fmt.Errorf("%w: command %d (%s): %d bytes, want %d", ErrBatchMalformed, i, op, len(rest), size)
		}
		b.Commands = append(b.Commands, Command{Op: op})
		decodeBody(&b.Commands[len(b.Commands)-1], rest[:size])
		rest = rest[size:]
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrBatchMalformed, len(rest))
	}
	return nil
}

func decodeBody(c *Command, p []byte) {
	switch c.Op {
	case OpCreateAccount:
		a := &c.Account
		copy(a.ID[:], p[0:16])
		a.Participant = binary.LittleEndian.Uint64(p[16:24])
		a.Currency = binary.LittleEndian.Uint16(p[24:26])
		a.Kind = AccountKind(p[26])
		a.Flags = AccountFlags(binary.LittleEndian.Uint16(p[27:29]))
		a.Limit = Amount(binary.LittleEndian.Uint64(p[29:37]))
		a.UserRef = binary.LittleEndian.Uint64(p[37:45])
	case OpCreateTransfer:
		t := &c.Transfer
		copy(t.ID[:], p[0:16])
		decodeTransferFields(p[16:], t)
	case OpSetLimit:
		copy(c.Account.ID[:], p[0:16])
		c.Account.Limit = Amount(binary.LittleEndian.Uint64(p[16:24]))
	}
}
