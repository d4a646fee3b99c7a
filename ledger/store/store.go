package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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
	pace *pacer
	sync *pebble.WriteOptions

	// Owned by the Apply goroutine.
	accounts map[ledger.ID]ledger.Account  // hot accounts, never ahead of the last commit
	pending  map[ledger.ID]ledger.Transfer // open pending transfers
	filter   *idFilter
	out      ledger.Output
	writes   batchWrites
	view     view
	failed   error

	mu   sync.Mutex // guards meta for readers
	meta meta

	// expiry bounds where the scans of the expiry index start.
	expiry expiryFloor

	closed atomic.Bool
	// closeFlushMax is closeFlushMax; tests shorten it.
	closeFlushMax time.Duration
}

// Open opens or creates the store in opts.Dir. It reads the meta record
// and rebuilds the transfer-ID filter by scanning the transfer keys.
func Open(opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	db, pace, err := openPebble(opts.Dir, opts.FS, opts.NoWAL)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", opts.Dir, err)
	}
	s := &Store{
		opts:     opts,
		db:       db,
		pace:     pace,
		sync:     pebble.Sync,
		accounts: make(map[ledger.ID]ledger.Account, 1024),
		pending:  make(map[ledger.ID]ledger.Transfer, 1024),
		filter:   newIDFilter(opts.FilterBytes),

		closeFlushMax: closeFlushMax,
	}
	if opts.NoWAL {
		s.sync = pebble.NoSync
	}
	s.view.s = s
	s.writes.keep = opts.OnCommit != nil
	s.expiry.reset()
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	opts.Logger.Info("ledger store open", "dir", opts.Dir, "applied_index", s.meta.appliedIndex,
		"records", s.meta.digest.Records, "wal", !opts.NoWAL)
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

// Close closes the Pebble DB, flushing a NoWAL store's memtables first so
// that a restart finds every batch applied before (and its owner need not
// replay them). Later calls to Apply and the queries return ErrClosed; a
// second Close returns ErrClosed too.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	var flushErr error
	if s.opts.NoWAL {
		flushErr = s.flushBeforeClose()
	}
	return errors.Join(flushErr, s.db.Close())
}

// closeFlushMax bounds the wait for a NoWAL store's last flush. Pebble
// retries a failing flush (a full disk, a removed directory) for as long
// as the DB is open, so an unbounded wait would hang the close; a healthy
// flush of four full memtables takes a few seconds at the paced rate.
const closeFlushMax = 30 * time.Second

// flushBeforeClose flushes the memtables, waiting at most closeFlushMax.
// Whatever it does not flush, the owner's log replays after a restart.
func (s *Store) flushBeforeClose() error {
	flushed, err := s.db.AsyncFlush()
	if err != nil {
		return fmt.Errorf("store: flush before close: %w", err)
	}
	timer := time.NewTimer(s.closeFlushMax)
	defer timer.Stop()
	select {
	case <-flushed:
		return nil
	case <-timer.C:
		return fmt.Errorf("store: flush before close: not done within %v; the batches since the last flush are not on disk", s.closeFlushMax)
	}
}

// Pacing reports how much Pebble's table writes were paced since Open.
func (s *Store) Pacing() PaceStats { return s.pace.stats() }

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
	return s.ApplyWith(index, b, nil)
}

// ApplyWith is Apply with extra writes from another state machine that
// shares the log (the routing tables), committed in the same atomic batch.
// Every extra key must start with PrefixAux and appear at most once; the
// ledger's own checks and digest ignore that table.
func (s *Store) ApplyWith(index uint64, b *ledger.Batch, aux []Write) (*ledger.Output, error) {
	for i := range aux {
		if len(aux[i].Key) < 2 || aux[i].Key[0] != PrefixAux {
			return nil, fmt.Errorf("store: aux write %d: key outside the aux table", i)
		}
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
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
	for i := range aux {
		if aux[i].Delete {
			_ = batch.Delete(aux[i].Key, nil)
		} else {
			_ = batch.Set(aux[i].Key, aux[i].Value, nil)
		}
	}
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(s.writes.produced, batch.Repr())
	}
	err := batch.Commit(s.sync)
	_ = batch.Close()
	if err != nil {
		return nil, s.fail(fmt.Errorf("store: commit index %d: %w", index, err))
	}
	if s.writes.addsExpiry { // after the keys became visible: see expiryFloor
		s.expiry.lower(s.writes.minExpiry)
	}
	s.afterCommit(&next)
	return &s.out, nil
}

func (s *Store) fail(err error) error {
	s.failed = err
	s.opts.Logger.Error("ledger store failed; reopen to recover", "err", err)
	return fmt.Errorf("%w: %w", ErrFailed, err)
}

// writeOutput encodes the batch's changes into b, in key order: Pebble's
// memtable skiplist inserts a sorted run much faster than scattered keys,
// because each insert starts from the previous one's position.
func (s *Store) writeOutput(b *pebble.Batch, next *meta) {
	w := &s.writes
	w.reset()
	out := &s.out
	for i := range out.Accounts {
		aw := &out.Accounts[i]
		if !aw.Changed() {
			continue
		}
		key, value := w.add(recordKeySize, ledger.AccountRecordSize)
		putRecordKey(key, prefixAccount, aw.Account.ID)
		ledger.AppendAccountRecord(value[:0], &aw.Account)
	}
	for i := range out.Transfers {
		tw := &out.Transfers[i]
		if !tw.Changed() {
			continue
		}
		key, value := w.add(recordKeySize, ledger.TransferRecordSize)
		putRecordKey(key, prefixTransfer, tw.Transfer.ID)
		ledger.AppendTransferRecord(value[:0], &tw.Transfer)
		w.indexes(tw)
	}
	w.historyGroups()
	key, value := w.add(len(metaKey), metaValueSize)
	copy(key, metaKey)
	next.encode(value)
	w.sortAndWrite(b)
}

// batchWrites collects one batch's writes in an arena so that they can be
// sorted before they go to Pebble. It is reused across batches.
type batchWrites struct {
	arena []byte
	ops   []writeOp
	// History entries of the batch, grouped by account in order of first
	// touch; each group becomes one key.
	groupIndex map[ledger.ID]int
	groups     []historyGroup
	// minExpiry is the least expiry key (without its prefix) the batch
	// adds, when addsExpiry.
	minExpiry  [expiryKeySize - 1]byte
	addsExpiry bool
	// produced lists the writes in the order the state machine produced
	// them, before sorting; kept only when Options.OnCommit is set.
	produced []Write
	keep     bool
}

type historyGroup struct {
	account ledger.ID
	entries []byte // historyEntrySize each, ascending timestamps
}

type writeOp struct {
	// sortKey is the key as four big-endian words, zero-padded: every key
	// is at most 32 bytes and each table's keys have one length, so
	// comparing words orders keys exactly as bytes.Compare would, without
	// a byte loop.
	sortKey  [4]uint64
	start    int32 // key at arena[start:start+keyLen], value right after it
	keyLen   uint8
	valueLen uint32
	del      bool
}

const sortKeyBytes = 32

func (w *batchWrites) reset() {
	w.addsExpiry = false
	w.arena = w.arena[:0]
	w.ops = w.ops[:0]
	if w.groupIndex == nil {
		w.groupIndex = make(map[ledger.ID]int, 256)
	}
	clear(w.groupIndex)
	for i := range w.groups {
		w.groups[i].entries = w.groups[i].entries[:0]
	}
	w.groups = w.groups[:0]
}

// history adds a transfer to the account's group. Transfers arrive in
// timestamp order, so each group stays sorted.
func (w *batchWrites) history(account ledger.ID, t *ledger.Transfer) {
	i, ok := w.groupIndex[account]
	if !ok {
		i = len(w.groups)
		w.groupIndex[account] = i
		if i < cap(w.groups) {
			w.groups = w.groups[:i+1]
			w.groups[i].account = account
		} else {
			w.groups = append(w.groups, historyGroup{account: account})
		}
	}
	g := &w.groups[i]
	g.entries = binary.BigEndian.AppendUint64(g.entries, t.Timestamp)
	g.entries = append(g.entries, t.ID[:]...)
}

// historyGroups adds one key per account group.
func (w *batchWrites) historyGroups() {
	for i := range w.groups {
		g := &w.groups[i]
		key, value := w.add(historyKeySize, len(g.entries))
		putHistoryKey(key, g.account, binary.BigEndian.Uint64(g.entries[0:8]))
		copy(value, g.entries)
	}
}

// add reserves a key and a value in the arena and returns them to fill.
func (w *batchWrites) add(keyLen, valueLen int) (key, value []byte) {
	start := len(w.arena)
	w.arena = append(w.arena, make([]byte, keyLen+valueLen)...)
	w.ops = append(w.ops, writeOp{start: int32(start), keyLen: uint8(keyLen), valueLen: uint32(valueLen)})
	return w.arena[start : start+keyLen], w.arena[start+keyLen : start+keyLen+valueLen]
}

// indexes adds the history and expiry index writes of a transfer record.
func (w *batchWrites) indexes(tw *ledger.TransferWrite) {
	t := &tw.Transfer
	if !tw.Existed && t.Status != ledger.StatusRejected {
		w.history(t.DebitAccount, t)
		w.history(t.CreditAccount, t)
	}
	if t.Flags&ledger.Pending == 0 || t.Timeout == 0 {
		return
	}
	if !tw.Existed && t.Status == ledger.StatusPending {
		key, value := w.add(expiryKeySize, 16)
		putExpiryKey(key, t.Deadline(), t.Timestamp)
		copy(value, t.ID[:])
		if !w.addsExpiry || bytes.Compare(key[1:], w.minExpiry[:]) < 0 {
			copy(w.minExpiry[:], key[1:])
			w.addsExpiry = true
		}
	} else if tw.Existed && tw.OldStatus == ledger.StatusPending && t.Status != ledger.StatusPending {
		key, _ := w.add(expiryKeySize, 0)
		putExpiryKey(key, t.Deadline(), t.Timestamp)
		w.ops[len(w.ops)-1].del = true
	}
}

func (w *batchWrites) key(op *writeOp) []byte {
	return w.arena[op.start : op.start+int32(op.keyLen)]
}

func compareWriteOps(x, y writeOp) int {
	for i := range x.sortKey {
		if x.sortKey[i] != y.sortKey[i] {
			if x.sortKey[i] < y.sortKey[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func (w *batchWrites) sortAndWrite(b *pebble.Batch) {
	if w.keep {
		w.produced = w.produced[:0]
		for i := range w.ops {
			op := &w.ops[i]
			end := op.start + int32(op.keyLen)
			w.produced = append(w.produced, Write{Key: w.key(op), Value: w.arena[end : end+int32(op.valueLen)], Delete: op.del})
		}
	}
	for i := range w.ops {
		op := &w.ops[i]
		var padded [sortKeyBytes]byte
		copy(padded[:], w.key(op))
		for j := range op.sortKey {
			op.sortKey[j] = binary.BigEndian.Uint64(padded[8*j:])
		}
	}
	slices.SortFunc(w.ops, compareWriteOps)
	for i := range w.ops {
		op := &w.ops[i]
		key := w.key(op)
		if op.del {
			_ = b.Delete(key, nil)
			continue
		}
		d := b.SetDeferred(len(key), int(op.valueLen))
		copy(d.Key, key)
		end := op.start + int32(op.keyLen)
		copy(d.Value, w.arena[end:end+int32(op.valueLen)])
		_ = d.Finish()
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
	var upper [expiryKeySize]byte
	lower, _ := v.s.expiry.bound()
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
	if s.closed.Load() {
		return false, ErrClosed
	}
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
