package store_test

import (
	"os"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger/store"
)

// applyGenerated applies batches first..last of seed's sequence to s.
func applyGenerated(t *testing.T, s *store.Store, gen *generator, seed, first, last uint64) {
	t.Helper()
	for i := first; i <= last; i++ {
		b := gen.batchAt(seed, i)
		if _, err := s.Apply(i, &b); err != nil {
			t.Fatalf("apply index %d: %v", i, err)
		}
	}
}

// A NoWAL store holds its batches in Pebble's memtable only; Sync and a
// clean Close put them on disk, so a reopened store starts where the old
// one stopped and holds the same state.
func TestNoWALSyncAndCloseKeepEveryBatch(t *testing.T) {
	dir := t.TempDir()
	const seed = 7
	gen := newGenerator(nil, generatorLimits{commandsMax: 32, accountsMax: 100})

	s, err := store.Open(store.Options{Dir: dir, NoWAL: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	applyGenerated(t, s, gen, seed, 1, 40)
	if err := s.Sync(); err != nil {
		t.Fatalf("sync: %v", err)
	}
	applyGenerated(t, s, gen, seed, 41, 80)
	digest := s.Digest()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s, err = store.Open(store.Options{Dir: dir, NoWAL: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.AppliedIndex(); got != 80 {
		t.Fatalf("reopened at applied index %d, want 80", got)
	}
	if got := s.Digest(); got != digest {
		t.Fatalf("reopened with digest %+v, want %+v", got, digest)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("check after reopening: %v", err)
	}
}

// Pebble retries a failing flush for as long as the DB is open; Close
// must not wait for it without end, and says the batches are not on disk.
func TestNoWALCloseGivesUpOnAFailingFlush(t *testing.T) {
	dir := t.TempDir()
	gen := newGenerator(nil, generatorLimits{commandsMax: 32, accountsMax: 100})
	s, err := store.Open(store.Options{Dir: dir, NoWAL: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	applyGenerated(t, s, gen, 9, 1, 20)
	if err := os.RemoveAll(dir); err != nil { // the flush's new table cannot be created
		t.Fatal(err)
	}
	s.SetCloseFlushMax(300 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Close returned nil though its flush could not write a table")
		}
		t.Logf("Close: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return within 20 s of a failing flush")
	}
}
