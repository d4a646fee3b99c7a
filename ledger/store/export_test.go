package store

import (
	"fmt"
	"io"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/payswitch/payswitch/ledger"
)

// This file lets the external tests (package store_test) look inside the
// caches and shrink them. It is compiled only into the test binary, so the
// store's API stays as small as it is.

// OpenTight opens a store and then shrinks two of its bounds below what
// Validate allows. A property test holds a few dozen accounts and a few
// hundred transfers, far too few to fill a cache of 2*BatchCommandsMax
// accounts or to push a 1 KiB Bloom filter into false positives. With an
// account cache of a handful of entries every batch evicts, and with a
// one-block filter (64 bytes) most new IDs soon take the "maybe" path.
// Neither bound may change an answer, only the speed, and that is what
// the tests check. filterBytes must be at least 64, the filter's block.
func OpenTight(opts Options, accountCacheMax, filterBytes int) (*Store, error) {
	opts.FilterBytes = filterBytesMin // replaced below; no need to allocate the default 16 MiB
	s, err := Open(opts)
	if err != nil {
		return nil, err
	}
	s.opts.AccountCacheMax = accountCacheMax
	s.filter = newIDFilter(filterBytes)
	if err := s.load(); err != nil { // refill the new filter from disk
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// AccountsCached is the number of accounts in the account cache.
func (s *Store) AccountsCached() int { return len(s.accounts) }

// PendingCached reports whether pending transfer id is in the pending cache.
func (s *Store) PendingCached(id ledger.ID) bool {
	_, ok := s.pending[id]
	return ok
}

// FilterMayContain is the transfer-ID filter's answer for id.
func (s *Store) FilterMayContain(id ledger.ID) bool { return s.filter.mayContain(id) }

// CheckCaches verifies the rule that afterCommit promises: the caches only
// ever hold what is on disk. Every cached account equals its record, every
// cached pending transfer equals its record and is still pending, and both
// caches are within their bounds. Call it between batches.
func (s *Store) CheckCaches() error {
	if len(s.accounts) > s.opts.AccountCacheMax {
		return fmt.Errorf("account cache holds %d, bound %d", len(s.accounts), s.opts.AccountCacheMax)
	}
	if len(s.pending) > s.opts.PendingCacheMax {
		return fmt.Errorf("pending cache holds %d, bound %d", len(s.pending), s.opts.PendingCacheMax)
	}
	for id, cached := range s.accounts {
		stored, ok, err := s.readAccount(id)
		if err != nil {
			return err
		}
		if !ok || stored != cached {
			return fmt.Errorf("account cache has %+v, disk has %+v (found %v)", cached, stored, ok)
		}
	}
	for id, cached := range s.pending {
		stored, ok, err := s.readTransfer(id)
		if err != nil {
			return err
		}
		if !ok || stored != cached || stored.Status != ledger.StatusPending {
			return fmt.Errorf("pending cache has %+v, disk has %+v (found %v)", cached, stored, ok)
		}
	}
	return nil
}

// Snapshot is a point-in-time view of a live store, streamed in the same
// format as a checkpoint: the tests' reference for WriteCheckpointTo and a
// quick way to feed Restore.
type Snapshot struct {
	snap  *pebble.Snapshot
	Index uint64 // the applied index the snapshot holds
}

// Snapshot syncs the store and captures it; Release it when done.
func (s *Store) Snapshot() (*Snapshot, error) {
	if err := s.Sync(); err != nil {
		return nil, err
	}
	return &Snapshot{snap: s.db.NewSnapshot(), Index: s.meta.appliedIndex}, nil
}

// Release frees the snapshot.
func (sn *Snapshot) Release() { _ = sn.snap.Close() }

// WriteTo streams the snapshot to w.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) { return writeStream(sn.snap, w) }

// SetCloseFlushMax shortens how long Close waits for a NoWAL store's last
// flush.
func (s *Store) SetCloseFlushMax(d time.Duration) { s.closeFlushMax = d }
