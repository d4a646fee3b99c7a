package store_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
)

// TestQueriesDuringApply runs the query methods, which the store documents
// as safe to call concurrently with Apply, while one goroutine applies
// batches that reserve and void pending transfers. Every answer must be
// one consistent state of the ledger: a pending listing holds only pending
// transfers in expiry order, a history is in time order, Check passes, and
// the applied index never goes back. Run it with -race as well.
func TestQueriesDuringApply(t *testing.T) {
	const (
		batchesCount    = 600
		pendingPerBatch = 16
	)
	s, err := store.Open(store.Options{Dir: t.TempDir(), NoWAL: true, PendingCacheMax: 8, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first := ledger.Batch{Timestamp: timestampStart, Commands: createAccounts(accountA, accountB)}
	if _, err := s.Apply(1, &first); err != nil {
		t.Fatal(err)
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	// Stop the readers before the deferred Close, also when Apply fails.
	defer func() {
		stop.Store(true)
		wg.Wait()
	}()
	var pages, checks atomic.Int64
	reader := func(name string, query func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if err := query(); err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
			}
		}()
	}
	reader("pending transfers", func() error {
		got, err := s.PendingTransfers(0, 0, store.PageMax)
		if err != nil {
			return err
		}
		pages.Add(1)
		for i := range got {
			if got[i].Status != ledger.StatusPending {
				return fmt.Errorf("lists transfer %s with status %s", got[i].ID, got[i].Status)
			}
			if i > 0 && ledger.ComparePendingOrder(got[i-1], got[i]) >= 0 {
				return fmt.Errorf("lists %s before %s", got[i-1].ID, got[i].ID)
			}
		}
		return nil
	})
	reader("account transfers", func() error {
		got, err := s.AccountTransfers(accountA, 0, store.PageMax)
		for i := 1; err == nil && i < len(got); i++ {
			if got[i-1].Timestamp >= got[i].Timestamp {
				return fmt.Errorf("lists %s before %s", got[i-1].ID, got[i].ID)
			}
		}
		return err
	})
	reader("check", func() error {
		before := s.AppliedIndex()
		err := s.Check()
		if after := s.AppliedIndex(); after < before {
			return fmt.Errorf("applied index went back from %d to %d", before, after)
		}
		checks.Add(1)
		return err
	})

	id := uint64(0)
	for index := uint64(2); index <= batchesCount && !t.Failed(); index++ {
		b := ledger.Batch{Timestamp: timestampStart + index*1e6}
		for range pendingPerBatch {
			id++
			b.Commands = append(b.Commands, pending(id, accountA, accountB, 1, 60))
			if id > pendingPerBatch {
				b.Commands = append(b.Commands, resolve(1<<32+id, id-pendingPerBatch, ledger.VoidPending))
			}
		}
		if _, err := s.Apply(index, &b); err != nil {
			t.Fatalf("apply index %d: %v", index, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d pending pages and %d checks ran during %d batches", pages.Load(), checks.Load(), batchesCount)
	if pages.Load() < 2 || checks.Load() < 1 {
		t.Errorf("readers barely ran: %d pages, %d checks", pages.Load(), checks.Load())
	}
}

// TestNextDeadlineDuringApply asks for the next deadline without pause
// while batches that open, resolve and expire pending transfers are
// applied, and requires the right answer after every batch. The asking
// moves the store's expiry floor up concurrently with the batches that
// lower it; a floor left above a live key would hide that key's deadline
// from every later scan. Run it with -race as well.
func TestNextDeadlineDuringApply(t *testing.T) {
	var cover coverage
	h := newHarness(t, store.Options{Dir: t.TempDir(), NoWAL: true, Logger: quiet}, tightness{accountCacheMax: 1 << 20, filterBytes: 1 << 20}, &cover)
	defer h.close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var scans atomic.Int64
	defer func() { // before h.close, also when the test fails
		stop.Store(true)
		wg.Wait()
	}()
	wg.Go(func() {
		for !stop.Load() {
			if _, _, err := h.store.NextDeadline(); err != nil {
				t.Errorf("next deadline: %v", err)
				return
			}
			scans.Add(1)
		}
	})
	g := newGenerator(pcgSource{rand.New(rand.NewPCG(7, 11))}, generatorLimits{commandsMax: 40, accountsMax: 24})
	for range 400 {
		h.apply(g.batch())
		h.checkNextDeadline()
	}
	stop.Store(true)
	wg.Wait()
	if cover.expired == 0 || scans.Load() == 0 {
		t.Fatalf("nothing expired (%+v) or no concurrent scan (%d)", cover, scans.Load())
	}
}
