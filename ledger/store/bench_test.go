package store_test

import (
	"math/rand/v2"
	"testing"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
)

// BenchmarkApply measures Store.Apply on real Pebble on disk, NoWAL (the
// replica's setting; a synced run measures the disk's fsync instead), with
// batches of 4,096 single-phase transfers on a skewed workload: every
// transfer has one side among 10 hot accounts (the big banks and wallets
// a switch funnels through) and the other among 10,000 cold ones. Every
// transfer succeeds, so the benchmark times the path that moves money:
// a new ID per transfer, two account reads (hot ones from the cache), two
// records, four index entries.
func BenchmarkApply(b *testing.B) {
	const (
		hotCount      = 10
		coldCount     = 10_000
		batchCommands = 4096
	)
	s, err := store.Open(store.Options{Dir: b.TempDir(), NoWAL: true, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	account := func(i int) ledger.ID { return ledger.NewID(1, uint64(i+1)) }

	// Accounts without flags, so that no balance rule refuses a transfer.
	var index uint64
	timestamp := timestampStart
	var creates []ledger.Command
	for i := range hotCount + coldCount {
		creates = append(creates, ledger.Command{Op: ledger.OpCreateAccount, Account: ledger.Account{
			ID: account(i), Participant: uint64(i + 1), Currency: 404, Kind: ledger.KindPosition,
		}})
	}
	for start := 0; start < len(creates); start += ledger.BatchCommandsMax {
		index++
		batch := ledger.Batch{Timestamp: timestamp, Commands: creates[start:min(start+ledger.BatchCommandsMax, len(creates))]}
		out, err := s.Apply(index, &batch)
		if err != nil {
			b.Fatal(err)
		}
		requireAllOK(b, out)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	batch := ledger.Batch{Commands: make([]ledger.Command, batchCommands)}
	for i := range batch.Commands {
		hot, cold := account(rng.IntN(hotCount)), account(hotCount+rng.IntN(coldCount))
		debit, credit := hot, cold
		if rng.IntN(2) == 0 {
			debit, credit = cold, hot
		}
		batch.Commands[i] = ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
			DebitAccount: debit, CreditAccount: credit, Amount: ledger.Amount(1 + rng.IntN(10_000)),
			Currency: 404, Code: 1,
		}}
	}
	// next gives the batch fresh transfer IDs and a later timestamp, so
	// that every iteration posts new transfers rather than retries.
	var transferID uint64
	next := func() {
		for i := range batch.Commands {
			transferID++
			batch.Commands[i].Transfer.ID = ledger.IDFromUint64(transferID)
		}
		index++
		timestamp += 1e6
		batch.Timestamp = timestamp
	}
	next() // one batch to warm the caches, and to check the workload succeeds
	out, err := s.Apply(index, &batch)
	if err != nil {
		b.Fatal(err)
	}
	requireAllOK(b, out)

	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		next()
		if out, err = s.Apply(index, &batch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	requireAllOK(b, out)
	b.ReportMetric(float64(b.N*batchCommands)/b.Elapsed().Seconds(), "transfers/s")
}

func requireAllOK(b *testing.B, out *ledger.Output) {
	b.Helper()
	for i, r := range out.Results {
		if r.Code != ledger.OK {
			b.Fatalf("command %d: %s", i, r.Code)
		}
	}
}
