package pgbaseline

import (
	"context"
	"flag"
	"fmt"
	"testing"
)

var (
	benchCold     = flag.Int("pgbaseline.cold", 100_000, "cold position accounts of the benchmark workloads (bench's default)")
	benchClients  = flag.Int("pgbaseline.clients", 0, "clients; 0 for the default")
	benchPipeline = flag.Int("pgbaseline.pipeline", 0, "transfers per round trip; 0 for the default")
)

// benchDBs keeps each shape's set-up database across the rounds of one
// benchmark, which testing runs first with b.N = 1: set-up is slow and not
// what is measured. TestMain closes them.
var benchDBs = map[string]*DB{}

func benchDB(b *testing.B, name string, w testWorkload, opts Options) *DB {
	if db := benchDBs[name]; db != nil {
		return db
	}
	srv := testServer(b)
	ctx := context.Background() // b.Context ends with the round
	url, err := srv.CreateDatabase(ctx, fmt.Sprintf("bench_%d", databases.Add(1)))
	if err != nil {
		b.Fatal(err)
	}
	db, err := Open(ctx, url, opts)
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Setup(ctx, w.setup()); err != nil {
		db.Close()
		b.Fatal(err)
	}
	benchDBs[name] = db
	return db
}

// BenchmarkRun measures the baseline on bench's workload shapes with
// b.N transfers in batches of 4,096, e.g.
//
//	go test ./bench/pgbaseline -run '^$' -bench . -benchtime 20000x
//
// uniform picks every account alike; skewed sends 80% of debits and
// credits to 8 hot accounts, as bench's default workload does; two-phase
// is skewed with half the transfers pending and posted by the next batch.
func BenchmarkRun(b *testing.B) {
	shapes := []struct {
		name string
		w    testWorkload
	}{
		{"uniform", testWorkload{cold: *benchCold}},
		{"skewed", testWorkload{hot: 8, cold: *benchCold, hotPercent: 80}},
		{"two-phase", testWorkload{hot: 8, cold: *benchCold, hotPercent: 80, pendingPercent: 50}},
	}
	opts := Options{Clients: *benchClients, Pipeline: *benchPipeline}
	for _, shape := range shapes {
		b.Run(shape.name, func(b *testing.B) {
			db := benchDB(b, shape.name, shape.w, opts)
			w := shape.w
			w.seed = uint64(b.N) // each round sends new transfer IDs
			batches := w.batches(b.N, 4096)
			b.ResetTimer()
			res, err := db.Run(b.Context(), batchSeq(batches), nil)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if n := res.RejectedTotal(); n != 0 {
				b.Fatalf("%d transfers rejected: %v", n, res.Rejected)
			}
			b.ReportMetric(res.TPS, "transfers/s")
			if testing.Verbose() {
				fmt.Println(shape.name, res.Line())
			}
		})
	}
}
