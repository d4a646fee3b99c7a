package store

import (
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"slices"

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
	var lower, upper [historyKeySize]byte
	putHistoryKey(lower[:], account, after+1)
	putHistoryKey(upper[:], account, ^uint64(0))
	if after == ^uint64(0) {
		return nil, nil
	}
	ids, err := s.scanIDs(lower[:], upper[:], limit)
	if err != nil {
		return nil, err
	}
	return s.readTransfers(ids)
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
	ids, err := s.scanIDs(lower[:], []byte{prefixExpiry + 1}, limit)
	if err != nil {
		return nil, err
	}
	return s.readTransfers(ids)
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

func (s *Store) scanIDs(lower, upper []byte, limit int) ([]ledger.ID, error) {
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
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

func (s *Store) readTransfers(ids []ledger.ID) ([]ledger.Transfer, error) {
	out := make([]ledger.Transfer, 0, len(ids))
	for _, id := range ids {
		t, ok, err := s.readTransfer(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: index names transfer %s, which has no record", ErrCorrupt, id)
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
	// The number of index entries the records imply; each one is also
	// looked up as it is found. With the counts of the index tables this
	// proves the indexes equal to the records without holding either in
	// memory.
	historyWant, expiryWant int
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
				err = c.transfer(snap, keyID(iter.Key()), iter.Value())
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
	c.countIndex(snap, prefixHistory, c.historyWant)
	c.countIndex(snap, prefixExpiry, c.expiryWant)
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

func (c *checker) transfer(snap *pebble.Snapshot, id ledger.ID, value []byte) error {
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
		c.expectEntry(snap, key[:], id)
		c.historyWant++
	}
	if t.Status == ledger.StatusPending && t.Timeout != 0 {
		var xk [expiryKeySize]byte
		putExpiryKey(xk[:], t.Deadline(), t.Timestamp)
		c.expectEntry(snap, xk[:], id)
		c.expiryWant++
	}
	return nil
}

// expectEntry checks that an index entry exists and names the transfer.
func (c *checker) expectEntry(snap *pebble.Snapshot, key []byte, id ledger.ID) {
	value, closer, err := snap.Get(key)
	if err != nil {
		c.problem(fmt.Errorf("index entry %x for transfer %s: %w", key, id, err))
		return
	}
	defer closer.Close()
	var got ledger.ID
	copy(got[:], value)
	if got != id {
		c.problem(fmt.Errorf("index entry %x names %s, want %s", key, got, id))
	}
}

// countIndex checks that an index table holds exactly the entries the
// records imply: each implied entry was found, so equal counts leave no
// room for a stray one.
func (c *checker) countIndex(snap *pebble.Snapshot, prefix byte, want int) {
	iter, err := snap.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		c.problem(err)
		return
	}
	defer iter.Close()
	seen := 0
	for valid := iter.First(); valid; valid = iter.Next() {
		seen++
	}
	if seen != want {
		c.problem(fmt.Errorf("index %c has %d entries, the records imply %d", prefix, seen, want))
	}
}
