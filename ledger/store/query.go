package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"slices"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"
	"github.com/payswitch/payswitch/ledger"
)

// PageMax bounds one page of a query.
const PageMax = 1000

// AccountTransfers returns up to limit transfers that moved money on the
// account, in time order, starting after the timestamp after (0 for the
// first page). Pass the last returned Timestamp to get the next page.
func (s *Store) AccountTransfers(account ledger.ID, after uint64, limit int) ([]ledger.Transfer, error) {
	limit = min(max(limit, 1), PageMax)
	var lower, upper, seek [historyKeySize]byte
	putHistoryKey(lower[:], account, 0)
	putHistoryKey(upper[:], account, ^uint64(0))
	snap := s.db.NewSnapshot()
	defer snap.Close()
	iter, err := snap.NewIter(&pebble.IterOptions{LowerBound: lower[:], UpperBound: upper[:]})
	if err != nil {
		return nil, fmt.Errorf("store: scan history: %w", err)
	}
	// The group holding the first entry after the cursor starts at or
	// before it: start from the last group that begins at or before after.
	putHistoryKey(seek[:], account, after+1)
	valid := iter.SeekLT(seek[:])
	if !valid {
		valid = iter.First()
	}
	var ids []ledger.ID
	for ; valid && len(ids) < limit; valid = iter.Next() {
		entries := iter.Value()
		if len(entries)%historyEntrySize != 0 {
			_ = iter.Close()
			return nil, fmt.Errorf("%w: history group %x of %d bytes", ErrCorrupt, iter.Key(), len(entries))
		}
		for ; len(entries) > 0 && len(ids) < limit; entries = entries[historyEntrySize:] {
			if binary.BigEndian.Uint64(entries[0:8]) <= after {
				continue
			}
			var id ledger.ID
			copy(id[:], entries[8:historyEntrySize])
			ids = append(ids, id)
		}
	}
	if err := iter.Close(); err != nil {
		return nil, err
	}
	return readTransfers(snap, ids)
}

// PendingTransfers returns up to limit pending transfers in expiry order
// (deadline, then timestamp), starting after the given cursor, which is the
// Deadline and Timestamp of the last transfer of the previous page (zeros
// for the first page). Pending transfers without a timeout never expire and
// are not listed.
func (s *Store) PendingTransfers(afterDeadline, afterTimestamp uint64, limit int) ([]ledger.Transfer, error) {
	limit = min(max(limit, 1), PageMax)
	var lower [expiryKeySize]byte
	putExpiryKey(lower[:], afterDeadline, afterTimestamp)
	if afterDeadline != 0 || afterTimestamp != 0 {
		lower = nextKey(lower)
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	ids, err := scanIDs(snap, lower[:], []byte{prefixExpiry + 1}, limit)
	if err != nil {
		return nil, err
	}
	return readTransfers(snap, ids)
}

// nextKey returns the smallest key greater than k of the same length.
func nextKey(k [expiryKeySize]byte) [expiryKeySize]byte {
	for i := len(k) - 1; i > 0; i-- {
		k[i]++
		if k[i] != 0 {
			break
		}
	}
	return k
}

// scanIDs and readTransfers read one snapshot, so that a page is one state
// of the ledger even while Apply runs: read from the live DB, a transfer
// posted between the index scan and the record read was listed as pending
// with its new status.
func scanIDs(snap *pebble.Snapshot, lower, upper []byte, limit int) ([]ledger.ID, error) {
	iter, err := snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("store: scan: %w", err)
	}
	var ids []ledger.ID
	for valid := iter.First(); valid && len(ids) < limit; valid = iter.Next() {
		var id ledger.ID
		copy(id[:], iter.Value())
		ids = append(ids, id)
	}
	return ids, iter.Close()
}

func readTransfers(snap *pebble.Snapshot, ids []ledger.ID) ([]ledger.Transfer, error) {
	out := make([]ledger.Transfer, 0, len(ids))
	var key [recordKeySize]byte
	for _, id := range ids {
		putRecordKey(key[:], prefixTransfer, id)
		value, closer, err := snap.Get(key[:])
		if errors.Is(err, pebble.ErrNotFound) {
			return nil, fmt.Errorf("%w: index names transfer %s, which has no record", ErrCorrupt, id)
		}
		if err != nil {
			return nil, fmt.Errorf("store: get %x: %w", key, err)
		}
		var t ledger.Transfer
		err = ledger.DecodeTransferRecord(id, value, &t)
		_ = closer.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// Check reads the whole store and verifies it: the digest recomputed from
// disk equals the incremental one; for each currency, debits equal credits
// (the sum of all balances is zero), pending and posted alike; no account
// breaks its balance rule; every transfer's index entries exist and no
// index entry lacks its transfer. It costs a full scan: tests and the
// operator's `check` command use it, never the hot path.
func (s *Store) Check() error {
	snap := s.db.NewSnapshot()
	defer snap.Close()
	var stored meta
	if v, closer, err := snap.Get(metaKey); err == nil {
		stored.decode(v)
		_ = closer.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return err
	}
	var c checker
	c.sums = map[uint16]*currencySums{}
	if err := c.scan(snap); err != nil {
		return err
	}
	var problems []error
	if c.digest != stored.digest {
		problems = append(problems, fmt.Errorf("digest from disk %s, incremental %s", c.digest, stored.digest))
	}
	problems = append(problems, c.problems...)
	for _, cur := range slices.Sorted(maps.Keys(c.sums)) {
		sum := c.sums[cur]
		if sum.debitsPosted != sum.creditsPosted || sum.debitsPending != sum.creditsPending {
			problems = append(problems, fmt.Errorf("currency %d: debits %v/%v != credits %v/%v (posted/pending)",
				cur, sum.debitsPosted, sum.debitsPending, sum.creditsPosted, sum.creditsPending))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %w", ErrCorrupt, errors.Join(problems...))
	}
	return nil
}

// RecomputeDigest hashes every record on disk from scratch.
func (s *Store) RecomputeDigest() (ledger.Digest, error) {
	snap := s.db.NewSnapshot()
	defer snap.Close()
	c := checker{sums: map[uint16]*currencySums{}}
	err := c.scan(snap)
	return c.digest, err
}

type uint128 struct{ hi, lo uint64 }

func (u *uint128) add(v ledger.Amount) {
	var carry uint64
	u.lo, carry = bits.Add64(u.lo, uint64(v), 0)
	u.hi += carry
}

type currencySums struct {
	debitsPosted, debitsPending, creditsPosted, creditsPending uint128
}

type checker struct {
	digest   ledger.Digest
	sums     map[uint16]*currencySums
	problems []error
	// The index entries the records imply, as an order-independent sum of
	// entry hashes and a count, per index table. A scan of each table must
	// give the same sum and count: equal multisets of entries, to within a
	// hash collision, from two sequential scans and no memory.
	history, expiry indexSum
}

type indexSum struct {
	sum   uint64
	count int
}

func (s *indexSum) add(key, value []byte) {
	s.sum += xxhash.Sum64(key) ^ mix64(xxhash.Sum64(value))
	s.count++
}

// mix64 decorrelates the value hash from the key hash before they are
// combined (the splitmix64 finaliser).
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// problemsMax bounds the problems one Check reports.
const problemsMax = 20

func (c *checker) problem(err error) {
	if len(c.problems) < problemsMax {
		c.problems = append(c.problems, err)
	}
}

func (c *checker) scan(snap *pebble.Snapshot) error {
	for _, prefix := range []byte{prefixAccount, prefixTransfer} {
		iter, err := snap.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
		if err != nil {
			return err
		}
		for valid := iter.First(); valid; valid = iter.Next() {
			if prefix == prefixAccount {
				err = c.account(keyID(iter.Key()), iter.Value())
			} else {
				err = c.transfer(keyID(iter.Key()), iter.Value())
			}
			if err != nil {
				_ = iter.Close()
				return err
			}
		}
		if err := iter.Close(); err != nil {
			return err
		}
	}
	c.compareHistory(snap)
	c.compareIndex(snap, prefixExpiry, c.expiry)
	return nil
}

func (c *checker) account(id ledger.ID, value []byte) error {
	var a ledger.Account
	if err := ledger.DecodeAccountRecord(id, value, &a); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	c.digest.AddAccount(&a)
	sum := c.sums[a.Currency]
	if sum == nil {
		sum = &currencySums{}
		c.sums[a.Currency] = sum
	}
	sum.debitsPosted.add(a.DebitsPosted)
	sum.debitsPending.add(a.DebitsPending)
	sum.creditsPosted.add(a.CreditsPosted)
	sum.creditsPending.add(a.CreditsPending)
	if !ledger.WithinRules(&a) {
		c.problem(fmt.Errorf("account %s breaks its balance rule: %+v", id, a))
	}
	return nil
}

func (c *checker) transfer(id ledger.ID, value []byte) error {
	var t ledger.Transfer
	if err := ledger.DecodeTransferRecord(id, value, &t); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	c.digest.AddTransfer(&t)
	if t.Status == ledger.StatusRejected {
		return nil
	}
	var key [historyKeySize]byte
	for _, account := range [2]ledger.ID{t.DebitAccount, t.CreditAccount} {
		putHistoryKey(key[:], account, t.Timestamp)
		c.history.add(key[:], id[:])
	}
	if t.Status == ledger.StatusPending && t.Timeout != 0 {
		var xk [expiryKeySize]byte
		putExpiryKey(xk[:], t.Deadline(), t.Timestamp)
		c.expiry.add(xk[:], id[:])
	}
	return nil
}

// compareHistory expands every history group into its entries and
// compares them with what the records imply. A group's key must carry its
// first entry's timestamp and its entries must ascend.
func (c *checker) compareHistory(snap *pebble.Snapshot) {
	iter, err := snap.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixHistory}, UpperBound: []byte{prefixHistory + 1}})
	if err != nil {
		c.problem(err)
		return
	}
	defer iter.Close()
	var got indexSum
	var key [historyKeySize]byte
	for valid := iter.First(); valid; valid = iter.Next() {
		groupKey, entries := iter.Key(), iter.Value()
		if len(groupKey) != historyKeySize || len(entries) == 0 || len(entries)%historyEntrySize != 0 {
			c.problem(fmt.Errorf("history group %x holds %d bytes", groupKey, len(entries)))
			continue
		}
		account := keyID(groupKey)
		first := binary.BigEndian.Uint64(groupKey[17:25])
		previous := uint64(0)
		for ; len(entries) > 0; entries = entries[historyEntrySize:] {
			ts := binary.BigEndian.Uint64(entries[0:8])
			if (previous == 0 && ts != first) || (previous != 0 && ts <= previous) {
				c.problem(fmt.Errorf("history group %x: entry at %d out of order", groupKey, ts))
			}
			previous = ts
			putHistoryKey(key[:], account, ts)
			got.add(key[:], entries[8:historyEntrySize])
		}
	}
	if got != c.history {
		c.problem(fmt.Errorf("history holds %d entries (hash %016x), the records imply %d (hash %016x)",
			got.count, got.sum, c.history.count, c.history.sum))
	}
}

// compareIndex scans one index table and compares it with what the
// records imply.
func (c *checker) compareIndex(snap *pebble.Snapshot, prefix byte, want indexSum) {
	iter, err := snap.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		c.problem(err)
		return
	}
	defer iter.Close()
	var got indexSum
	for valid := iter.First(); valid; valid = iter.Next() {
		got.add(iter.Key(), iter.Value())
	}
	if got != want {
		c.problem(fmt.Errorf("index %c holds %d entries (hash %016x), the records imply %d (hash %016x)",
			prefix, got.count, got.sum, want.count, want.sum))
	}
}

// NextDeadline reports the earliest deadline of a pending transfer, if any
// is pending with a timeout. The leader reads it to propose expiry only
// when something is due.
func (s *Store) NextDeadline() (uint64, bool, error) {
	lower, adds := s.expiry.bound()
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower[:], UpperBound: []byte{prefixExpiry + 1}})
	if err != nil {
		return 0, false, err
	}
	defer iter.Close()
	if !iter.First() {
		return 0, false, iter.Error()
	}
	s.expiry.raise(iter.Key(), adds)
	return binary.BigEndian.Uint64(iter.Key()[1:9]), true, nil
}

// ScanAux calls fn with every key and value of the aux table in key order,
// from a consistent snapshot. The slices are valid only during the call.
func (s *Store) ScanAux(fn func(key, value []byte) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	iter, err := snap.NewIter(&pebble.IterOptions{LowerBound: []byte{PrefixAux}, UpperBound: []byte{PrefixAux + 1}})
	if err != nil {
		return err
	}
	for valid := iter.First(); valid; valid = iter.Next() {
		if err := fn(iter.Key(), iter.Value()); err != nil {
			_ = iter.Close()
			return err
		}
	}
	return iter.Close()
}
