package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/payswitch/payswitch/internal/invariant"
	"github.com/payswitch/payswitch/ledger"
)

// Store is the ledger on Pebble. Apply is for one goroutine at a time
// (the replica's apply loop, or a standalone writer); the query methods
// are safe to call concurrently with it and with each other.
type Store struct {
	opts Options
	db   *pebble.DB
	sync *pebble.WriteOptions

	// Owned by the Apply goroutine.
	accounts map[ledger.ID]ledger.Account  // hot accounts, never ahead of the last commit
	pending  map[ledger.ID]ledger.Transfer // open pending transfers
	filter   *idFilter
	out      ledger.Output
	view     view
	failed   error

	mu   sync.Mutex // guards meta for readers
	meta meta
}

// Open opens or creates the store in opts.Dir. It reads the meta record
// and rebuilds the transfer-ID filter by scanning the transfer keys.
func Open(opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	db, err := pebble.Open(opts.Dir, PebbleOptions(opts.FS))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", opts.Dir, err)
	}
	s := &Store{
		opts:     opts,
		db:       db,
		sync:     pebble.Sync,
		accounts: make(map[ledger.ID]ledger.Account, 1024),
		pending:  make(map[ledger.ID]ledger.Transfer, 1024),
		filter:   newIDFilter(opts.FilterBytes),
	}
	if opts.NoSync {
		s.sync = pebble.NoSync
	}
	s.view.s = s
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	opts.Logger.Info("ledger store open", "dir", opts.Dir, "applied_index", s.meta.appliedIndex,
		"records", s.meta.digest.Records, "sync", !opts.NoSync)
	return s, nil
}

func (s *Store) load() error {
	value, closer, err := s.db.Get(metaKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return fmt.Errorf("store: read meta: %w", err)
	default:
		ok := s.meta.decode(value)
		_ = closer.Close()
		if !ok {
			return fmt.Errorf("%w: meta record of %d bytes", ErrCorrupt, len(value))
		}
	}
	iter, err := s.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixTransfer},
		UpperBound: []byte{prefixTransfer + 1},
	})
	if err != nil {
		return fmt.Errorf("store: scan transfer IDs: %w", err)
	}
	for valid := iter.First(); valid; valid = iter.Next() {
		var id ledger.ID
		copy(id[:], iter.Key()[1:])
		s.filter.add(id)
	}
	return iter.Close()
}

// Close closes the Pebble DB. The store must not be used afterwards.
func (s *Store) Close() error {
	return s.db.Close()
}

// AppliedIndex is the log index of the last batch in the store.
func (s *Store) AppliedIndex() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.appliedIndex
}

// Digest is the state digest after the last applied batch. Reading it
// costs nothing: Apply keeps it current.
func (s *Store) Digest() ledger.Digest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.digest
}

// LastTimestamp is the timestamp of the last applied event.
func (s *Store) LastTimestamp() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.lastTimestamp
}

// Apply applies batch b as log index index and persists the result in
// one atomic Pebble batch together with the new applied index, so a crash
// leaves either all of the batch or none of it. An index at or below the
// applied index returns ErrIndexApplied and changes nothing, so a replayed
// log is safe. The returned Output is valid until the next Apply.
func (s *Store) Apply(index uint64, b *ledger.Batch) (*ledger.Output, error) {
	if s.failed != nil {
		return nil, fmt.Errorf("%w: %w", ErrFailed, s.failed)
	}
	if index <= s.meta.appliedIndex {
		return nil, fmt.Errorf("%w: %d <= %d", ErrIndexApplied, index, s.meta.appliedIndex)
	}
	s.view.err = nil
	ledger.Apply(&s.view, b, s.meta.digest, &s.out)
	if s.view.err != nil {
		// A read failed, so Apply saw a wrong view: drop its output.
		return nil, s.fail(s.view.err)
	}
	next := meta{appliedIndex: index, lastTimestamp: s.out.LastTimestamp, digest: s.out.Digest}
	batch := s.db.NewBatch()
	s.writeOutput(batch, &next)
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(batch.Repr())
	}
	err := batch.Commit(s.sync)
	_ = batch.Close()
	if err != nil {
		return nil, s.fail(fmt.Errorf("store: commit index %d: %w", index, err))
	}
	s.afterCommit(&next)
	return &s.out, nil
}

func (s *Store) fail(err error) error {
	s.failed = err
	s.opts.Logger.Error("ledger store failed; reopen to recover", "err", err)
	return fmt.Errorf("%w: %w", ErrFailed, err)
}

// writeOutput encodes the batch's changes into b. Keys and values are
// written straight into the batch's buffer (SetDeferred), with no copies.
func (s *Store) writeOutput(b *pebble.Batch, next *meta) {
	out := &s.out
	for i := range out.Accounts {
		w := &out.Accounts[i]
		if !w.Changed() {
			continue
		}
		op := b.SetDeferred(recordKeySize, ledger.AccountRecordSize)
		putRecordKey(op.Key, prefixAccount, w.Account.ID)
		ledger.AppendAccountRecord(op.Value[:0], &w.Account)
		_ = op.Finish()
	}
	for i := range out.Transfers {
		w := &out.Transfers[i]
		if !w.Changed() {
			continue
		}
		t := &w.Transfer
		op := b.SetDeferred(recordKeySize, ledger.TransferRecordSize)
		putRecordKey(op.Key, prefixTransfer, t.ID)
		ledger.AppendTransferRecord(op.Value[:0], t)
		_ = op.Finish()
		s.writeIndexes(b, w)
	}
	op := b.SetDeferred(len(metaKey), metaValueSize)
	copy(op.Key, metaKey)
	next.encode(op.Value)
	_ = op.Finish()
}

// writeIndexes keeps the history and expiry indexes in step with a
// written transfer record.
func (s *Store) writeIndexes(b *pebble.Batch, w *ledger.TransferWrite) {
	t := &w.Transfer
	if !w.Existed && t.Status != ledger.StatusRejected {
		for _, account := range [2]ledger.ID{t.DebitAccount, t.CreditAccount} {
			op := b.SetDeferred(historyKeySize, 16)
			putHistoryKey(op.Key, account, t.Timestamp)
			copy(op.Value, t.ID[:])
			_ = op.Finish()
		}
	}
	if t.Flags&ledger.Pending == 0 || t.Timeout == 0 {
		return
	}
	if !w.Existed && t.Status == ledger.StatusPending {
		op := b.SetDeferred(expiryKeySize, 16)
		putExpiryKey(op.Key, t.Deadline(), t.Timestamp)
		copy(op.Value, t.ID[:])
		_ = op.Finish()
	} else if w.Existed && w.OldStatus == ledger.StatusPending && t.Status != ledger.StatusPending {
		var key [expiryKeySize]byte
		putExpiryKey(key[:], t.Deadline(), t.Timestamp)
		_ = b.Delete(key[:], nil)
	}
}

// afterCommit brings the in-memory state up to the batch just committed:
// caches only ever hold what is on disk.
func (s *Store) afterCommit(next *meta) {
	out := &s.out
	for i := range out.Accounts {
		w := &out.Accounts[i]
		s.accounts[w.Account.ID] = w.Account
	}
	for i := range out.Transfers {
		w := &out.Transfers[i]
		t := &w.Transfer
		if !w.Existed {
			s.filter.add(t.ID)
		}
		switch {
		case t.Status == ledger.StatusPending && len(s.pending) < s.opts.PendingCacheMax:
			s.pending[t.ID] = *t
		case t.Status != ledger.StatusPending && w.Existed && w.OldStatus == ledger.StatusPending:
			delete(s.pending, t.ID)
		}
	}
	s.evictAccounts()
	s.mu.Lock()
	s.meta = *next
	s.mu.Unlock()
}

// evictAccounts trims the account cache to its bound. Go's map iteration
// starts at a random place, which makes this a cheap random eviction; it
// happens between batches, never while Apply reads the cache.
func (s *Store) evictAccounts() {
	over := len(s.accounts) - s.opts.AccountCacheMax
	for id := range s.accounts {
		if over <= 0 {
			break
		}
		delete(s.accounts, id)
		over--
	}
}

// view serves ledger.Apply from the caches, falling back to Pebble reads.
// Pebble reads in Go are synchronous, so a separate prefetch pass would
// only walk the same maps twice; a failed read is kept in err and voids the
// whole batch.
type view struct {
	s   *Store
	err error
}

var _ ledger.View = (*view)(nil)

func (v *view) LastTimestamp() uint64 { return v.s.meta.lastTimestamp }

func (v *view) Account(id ledger.ID) (ledger.Account, bool) {
	if a, ok := v.s.accounts[id]; ok {
		return a, true
	}
	a, ok, err := v.s.readAccount(id)
	if err != nil {
		v.err = err
		return ledger.Account{}, false
	}
	if ok {
		v.s.accounts[id] = a // read from disk, so the cache still agrees with it
	}
	return a, ok
}

func (v *view) Transfer(id ledger.ID) (ledger.Transfer, bool) {
	if t, ok := v.s.pending[id]; ok {
		return t, true
	}
	if !v.s.filter.mayContain(id) {
		if invariant.Enabled {
			_, found, _ := v.s.readTransfer(id)
			invariant.Always(!found, "filter said transfer %s is new but it is stored", id)
		}
		return ledger.Transfer{}, false
	}
	t, ok, err := v.s.readTransfer(id)
	if err != nil {
		v.err = err
		return ledger.Transfer{}, false
	}
	return t, ok
}

func (v *view) DuePending(now uint64, limit int, dst []ledger.ID) []ledger.ID {
	var lower, upper [expiryKeySize]byte
	putExpiryKey(lower[:], 0, 0)
	putExpiryKey(upper[:], now+1, 0)
	iter, err := v.s.db.NewIter(&pebble.IterOptions{LowerBound: lower[:], UpperBound: upper[:]})
	if err != nil {
		v.err = err
		return dst
	}
	for valid := iter.First(); valid && limit > 0; valid = iter.Next() {
		var id ledger.ID
		copy(id[:], iter.Value())
		dst = append(dst, id)
		limit--
	}
	if err := iter.Close(); err != nil {
		v.err = err
	}
	return dst
}

// Account reads an account from disk.
func (s *Store) Account(id ledger.ID) (ledger.Account, bool, error) {
	return s.readAccount(id)
}

// Transfer reads a transfer record from disk.
func (s *Store) Transfer(id ledger.ID) (ledger.Transfer, bool, error) {
	return s.readTransfer(id)
}

func (s *Store) readAccount(id ledger.ID) (ledger.Account, bool, error) {
	var a ledger.Account
	var key [recordKeySize]byte
	putRecordKey(key[:], prefixAccount, id)
	found, err := s.get(key[:], func(p []byte) error { return ledger.DecodeAccountRecord(id, p, &a) })
	return a, found, err
}

func (s *Store) readTransfer(id ledger.ID) (ledger.Transfer, bool, error) {
	var t ledger.Transfer
	var key [recordKeySize]byte
	putRecordKey(key[:], prefixTransfer, id)
	found, err := s.get(key[:], func(p []byte) error { return ledger.DecodeTransferRecord(id, p, &t) })
	return t, found, err
}

func (s *Store) get(key []byte, decode func([]byte) error) (bool, error) {
	value, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: get %x: %w", key, err)
	}
	defer closer.Close()
	if err := decode(value); err != nil {
		return false, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return true, nil
}

var _ io.Closer = (*Store)(nil)

// keyID reads the 16-byte ID that follows a one-byte prefix.
func keyID(key []byte) ledger.ID {
	var id ledger.ID
	copy(id[:], key[1:17])
	return id
}

func beUint64(p []byte) uint64 { return binary.BigEndian.Uint64(p) }
