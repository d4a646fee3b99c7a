package ledger

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// Canonical record encodings. The store writes these bytes as Pebble
// values and the state digest hashes them, so two replicas that hold the
// same records hold the same bytes. Fixed width, little-endian; the ID is
// not included because it is the key.
const (
	AccountRecordSize  = 8 + 2 + 1 + 2 + 8*5 + 8 + 8
	TransferRecordSize = transferFieldsSize + 8 + 1 + 4
)

// AppendAccountRecord appends the canonical encoding of a to dst.
func AppendAccountRecord(dst []byte, a *Account) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, a.Participant)
	dst = binary.LittleEndian.AppendUint16(dst, a.Currency)
	dst = append(dst, byte(a.Kind))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(a.Flags))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(a.Limit))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(a.DebitsPending))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(a.DebitsPosted))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(a.CreditsPending))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(a.CreditsPosted))
	dst = binary.LittleEndian.AppendUint64(dst, a.UserRef)
	return binary.LittleEndian.AppendUint64(dst, a.Timestamp)
}

// DecodeAccountRecord decodes a record written by AppendAccountRecord.
func DecodeAccountRecord(id ID, p []byte, a *Account) error {
	if len(p) != AccountRecordSize {
		return fmt.Errorf("ledger: account %s record is %d bytes, want %d", id, len(p), AccountRecordSize)
	}
	a.ID = id
	a.Participant = binary.LittleEndian.Uint64(p[0:8])
	a.Currency = binary.LittleEndian.Uint16(p[8:10])
	a.Kind = AccountKind(p[10])
	a.Flags = AccountFlags(binary.LittleEndian.Uint16(p[11:13]))
	a.Limit = Amount(binary.LittleEndian.Uint64(p[13:21]))
	a.DebitsPending = Amount(binary.LittleEndian.Uint64(p[21:29]))
	a.DebitsPosted = Amount(binary.LittleEndian.Uint64(p[29:37]))
	a.CreditsPending = Amount(binary.LittleEndian.Uint64(p[37:45]))
	a.CreditsPosted = Amount(binary.LittleEndian.Uint64(p[45:53]))
	a.UserRef = binary.LittleEndian.Uint64(p[53:61])
	a.Timestamp = binary.LittleEndian.Uint64(p[61:69])
	return nil
}

// AppendTransferRecord appends the canonical encoding of t to dst.
func AppendTransferRecord(dst []byte, t *Transfer) []byte {
	dst = appendTransferFields(dst, t)
	dst = binary.LittleEndian.AppendUint64(dst, t.Timestamp)
	dst = append(dst, byte(t.Status))
	return binary.LittleEndian.AppendUint32(dst, uint32(t.Result))
}

// DecodeTransferRecord decodes a record written by AppendTransferRecord.
func DecodeTransferRecord(id ID, p []byte, t *Transfer) error {
	if len(p) != TransferRecordSize {
		return fmt.Errorf("ledger: transfer %s record is %d bytes, want %d", id, len(p), TransferRecordSize)
	}
	t.ID = id
	decodeTransferFields(p, t)
	t.Timestamp = binary.LittleEndian.Uint64(p[82:90])
	t.Status = Status(p[90])
	t.Result = Code(binary.LittleEndian.Uint32(p[91:95]))
	return nil
}

// Digest is a hash of the whole ledger state that costs nothing to read:
// the sum, modulo 2^64, of a 64-bit hash of every account and transfer
// record, and the number of records. Because a sum does not depend on
// order, Apply keeps it incrementally (subtract a record's old hash, add
// its new one) and a full scan recomputes the same value from disk. It
// exists to compare replicas and to prove a store right, not to resist an
// adversary.
type Digest struct {
	Sum     uint64
	Records uint64
}

func (d Digest) String() string { return fmt.Sprintf("%016x/%d", d.Sum, d.Records) }

// Record tags keep an account and a transfer with equal IDs and bytes from
// hashing alike.
const (
	tagAccount  = 'a'
	tagTransfer = 't'
)

func recordHash(tag byte, id ID, record []byte) uint64 {
	var buf [1 + 16 + TransferRecordSize]byte
	buf[0] = tag
	copy(buf[1:17], id[:])
	n := copy(buf[17:], record)
	return xxhash.Sum64(buf[:17+n])
}

// AddAccount folds an account record into the digest.
func (d *Digest) AddAccount(a *Account) {
	var buf [AccountRecordSize]byte
	d.Sum += recordHash(tagAccount, a.ID, AppendAccountRecord(buf[:0], a))
	d.Records++
}

// AddTransfer folds a transfer record into the digest.
func (d *Digest) AddTransfer(t *Transfer) {
	var buf [TransferRecordSize]byte
	d.Sum += recordHash(tagTransfer, t.ID, AppendTransferRecord(buf[:0], t))
	d.Records++
}

func (d *Digest) subAccount(a *Account) {
	var buf [AccountRecordSize]byte
	d.Sum -= recordHash(tagAccount, a.ID, AppendAccountRecord(buf[:0], a))
	d.Records--
}

func (d *Digest) subTransfer(t *Transfer) {
	var buf [TransferRecordSize]byte
	d.Sum -= recordHash(tagTransfer, t.ID, AppendTransferRecord(buf[:0], t))
	d.Records--
}

// foldDigest moves the digest from the state before the batch to the
// state after it. Loaded but unchanged records leave it as it was.
func (a *applier) foldDigest() {
	out := a.out
	for i := range out.Accounts {
		w := &out.Accounts[i]
		if w.Existed {
			if w.Account == w.Old {
				continue
			}
			out.Digest.subAccount(&w.Old)
		}
		out.Digest.AddAccount(&w.Account)
	}
	for i := range out.Transfers {
		w := &out.Transfers[i]
		if w.Existed {
			if w.Transfer.Status == w.OldStatus {
				continue // only a pending transfer's status ever changes
			}
			old := w.Transfer
			old.Status = w.OldStatus
			out.Digest.subTransfer(&old)
		}
		out.Digest.AddTransfer(&w.Transfer)
	}
}

// Changed reports whether the batch changed this account.
func (w *AccountWrite) Changed() bool { return !w.Existed || w.Account != w.Old }

// Changed reports whether the batch wrote this transfer record.
func (w *TransferWrite) Changed() bool { return !w.Existed || w.Transfer.Status != w.OldStatus }
