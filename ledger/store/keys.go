package store

import (
	"bytes"
	"encoding/binary"
	"sync"

	"github.com/payswitch/payswitch/ledger"
)

// Key layout. Every key starts with a one-byte prefix naming its table;
// numbers are big-endian so that byte order is numeric order.
//
//	m                                   → meta: applied index, last timestamp, digest
//	a | account ID (16)                 → ledger.AppendAccountRecord (69 bytes)
//	t | transfer ID (16)                → ledger.AppendTransferRecord (95 bytes)
//	h | account ID (16) | timestamp (8) → history group: an account's transfers in time order
//	                                      (one key per account per batch; see historyEntrySize)
//	x | deadline (8) | timestamp (8)    → transfer ID (16): pending transfers in expiry order
//	r | ...                             → the aux table: another state machine's records
//	                                      (routing), written by ApplyWith, opaque here
//
// Accounts and transfers are the state (the digest hashes them); h and x
// are indexes derived from it, checked by Store.Check. A transfer that was
// rejected has a record but no index entries.
const (
	prefixMeta     byte = 'm'
	prefixAccount  byte = 'a'
	prefixTransfer byte = 't'
	prefixHistory  byte = 'h'
	prefixExpiry   byte = 'x'

	// PrefixAux starts every key of the aux table (see ApplyWith).
	PrefixAux byte = 'r'

	recordKeySize  = 1 + 16
	historyKeySize = 1 + 16 + 8
	expiryKeySize  = 1 + 8 + 8
	metaValueSize  = 8 + 8 + 8 + 8

	// A history group holds the transfers of one batch that moved money on
	// one account, in time order: each entry is its timestamp (8 bytes,
	// big-endian) and its transfer ID (16). The key carries the group's
	// first timestamp. A hot account touched by a thousand transfers of a
	// batch costs one key instead of a thousand, which matters because
	// Pebble's memtable insert per key is the largest cost of a batch.
	historyEntrySize = 8 + 16
	// historyGroupMax bounds a group's value: at most every transfer of a
	// batch, each on both sides of nothing else.
	historyGroupMax = historyEntrySize * 2 * ledger.BatchCommandsMax
)

var metaKey = []byte{prefixMeta}

func putRecordKey(dst []byte, prefix byte, id ledger.ID) {
	dst[0] = prefix
	copy(dst[1:17], id[:])
}

func recordKey(prefix byte, id ledger.ID) []byte {
	k := make([]byte, recordKeySize)
	putRecordKey(k, prefix, id)
	return k
}

func putHistoryKey(dst []byte, account ledger.ID, timestamp uint64) {
	dst[0] = prefixHistory
	copy(dst[1:17], account[:])
	binary.BigEndian.PutUint64(dst[17:25], timestamp)
}

func putExpiryKey(dst []byte, deadline, timestamp uint64) {
	dst[0] = prefixExpiry
	binary.BigEndian.PutUint64(dst[1:9], deadline)
	binary.BigEndian.PutUint64(dst[9:17], timestamp)
}

// meta is the store's own record, written with every batch.
type meta struct {
	appliedIndex  uint64
	lastTimestamp uint64
	digest        ledger.Digest
}

func (m *meta) encode(dst []byte) {
	binary.LittleEndian.PutUint64(dst[0:8], m.appliedIndex)
	binary.LittleEndian.PutUint64(dst[8:16], m.lastTimestamp)
	binary.LittleEndian.PutUint64(dst[16:24], m.digest.Sum)
	binary.LittleEndian.PutUint64(dst[24:32], m.digest.Records)
}

func (m *meta) decode(p []byte) bool {
	if len(p) != metaValueSize {
		return false
	}
	m.appliedIndex = binary.LittleEndian.Uint64(p[0:8])
	m.lastTimestamp = binary.LittleEndian.Uint64(p[8:16])
	m.digest.Sum = binary.LittleEndian.Uint64(p[16:24])
	m.digest.Records = binary.LittleEndian.Uint64(p[24:32])
	return true
}

// Every key must fit the 32-byte sort key of batchWrites; these fail to
// compile otherwise.
var (
	_ = [sortKeyBytes - historyKeySize]byte{}
	_ = [sortKeyBytes - recordKeySize]byte{}
	_ = [sortKeyBytes - expiryKeySize]byte{}
)

// expiryFloor is a lower bound of the live keys of the expiry index, so
// that its scans seek past the deleted ones. A pending transfer's expiry
// key is deleted when it is resolved, usually within milliseconds; until
// Pebble compacts them away those deletions stay in the memtable, and a
// scan from the start of the index stepped over every one of them (about
// a million at 30,000 payments/s, on every expiry check).
//
// A batch lowers the floor to the least key it adds, right after its
// commit. A scan raises the floor to the first live key it found, unless
// a batch lowered the floor after the scan took its bound: such a batch
// may have committed after the scan's iterator was made, or below the
// scan's bound, and its key is then missing from what the scan saw. A
// scan that took its bound after a batch's lowering made its iterator
// after that batch's commit, and saw its keys. So every live key stays at
// or above the floor. The floor starts at the beginning of the index: the
// first scan after Open is a full one. (A concurrent scan may miss a key
// whose batch has committed but not yet lowered the floor; such a key is
// a new pending transfer, due only after its timeout, and the next check
// sees it.)
type expiryFloor struct {
	mu   sync.Mutex
	key  [expiryKeySize]byte // an expiry key, prefix included
	adds uint64              // batches that lowered the floor
}

// reset puts the floor at the start of the index; Open calls it.
func (f *expiryFloor) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.key = [expiryKeySize]byte{prefixExpiry}
}

// bound returns the key scans start at and the count of batches that
// lowered it so far, to hand back to raise.
func (f *expiryFloor) bound() (key [expiryKeySize]byte, adds uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.key, f.adds
}

// lower makes the floor at most the key (without prefix) a batch adds.
func (f *expiryFloor) lower(rest [expiryKeySize - 1]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.adds++
	if bytes.Compare(rest[:], f.key[1:]) < 0 {
		copy(f.key[1:], rest[:])
	}
}

// raise moves the floor up to first, the least live key a scan found,
// unless a batch lowered the floor after the scan took its bound.
func (f *expiryFloor) raise(first []byte, adds uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.adds == adds && len(first) == expiryKeySize && bytes.Compare(first, f.key[:]) > 0 {
		copy(f.key[:], first)
	}
}
