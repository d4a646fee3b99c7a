package replica

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// Entry sizes of the log-store benchmark. A ledger batch of 4096
// transfers encodes to about 400 KiB.
var logBenchSizes = []struct {
	name string
	size int
}{
	{"1KiB", 1 << 10},
	{"64KiB", 64 << 10},
	{"400KiB", 400 << 10},
}

// logBenchRecent is how many of the newest entries the GetLog benchmark
// reads in turn, as a leader does when it feeds followers that are close
// behind (MaxAppendEntries is 8).
const logBenchRecent = 64

// BenchmarkLogStore compares raft-wal (in compactedLog, as node.go uses
// it) with the Pebble-backed store:
//
//	<store>/store/<size>/x<n>: StoreLogs of n entries, synced as Raft
//	  requires, appending to the same log for the whole run;
//	<store>/get/<size>: GetLog of the newest logBenchRecent entries in turn.
//
// Entry data is random (incompressible), each entry a different slice of
// a random pool.
//
//	go test ./ledger/replica -run XXX -bench BenchmarkLogStore -benchtime 2s -count 3
func BenchmarkLogStore(b *testing.B) {
	for _, impl := range logStoreImpls {
		b.Run(impl.name, func(b *testing.B) {
			for _, sz := range logBenchSizes {
				for _, per := range []int{1, 8} {
					b.Run(fmt.Sprintf("store/%s/x%d", sz.name, per), func(b *testing.B) {
						benchStoreLogs(b, impl.open, sz.size, per)
					})
				}
			}
			for _, sz := range logBenchSizes {
				b.Run("get/"+sz.name, func(b *testing.B) {
					benchGetLog(b, impl.open, sz.size)
				})
			}
		})
	}
}

// logBenchData hands out entry payloads: size-byte slices at random
// offsets of a random pool much larger than one batch, so that neither
// store sees repeated data it could compress.
type logBenchData struct {
	pool []byte
	size int
	rng  *rand.Rand
}

func newLogBenchData(size int) *logBenchData {
	rng := rand.New(rand.NewPCG(1, uint64(size)))
	pool := make([]byte, 8<<20+size)
	for i := 0; i+8 <= len(pool); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			pool[i+j] = byte(v >> (8 * j))
		}
	}
	return &logBenchData{pool: pool, size: size, rng: rng}
}

func (d *logBenchData) next() []byte {
	off := d.rng.IntN(len(d.pool) - d.size + 1)
	return d.pool[off : off+d.size : off+d.size]
}

// fill points logs (reused between calls) at the next len(logs) entries
// from index on.
func (d *logBenchData) fill(logs []*raft.Log, index uint64) {
	now := time.Now()
	for i, l := range logs {
		*l = raft.Log{Index: index + uint64(i), Term: 1, Type: raft.LogCommand, Data: d.next(), AppendedAt: now}
	}
}

func newLogBenchLogs(n int) []*raft.Log {
	logs := make([]*raft.Log, n)
	for i := range logs {
		logs[i] = new(raft.Log)
	}
	return logs
}

// openLogBenchStore opens a store in a fresh directory, checks that it is
// empty, and closes it when the benchmark ends.
func openLogBenchStore(b *testing.B, open func(string) (raftLogStore, error)) raftLogStore {
	b.Helper()
	s, err := open(b.TempDir())
	if err != nil {
		b.Fatalf("open: %v", err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("close: %v", err)
		}
	})
	first, ferr := s.FirstIndex()
	last, lerr := s.LastIndex()
	if ferr != nil || lerr != nil || first != 0 || last != 0 {
		b.Fatalf("new store: FirstIndex %d, %v; LastIndex %d, %v", first, ferr, last, lerr)
	}
	return s
}

// wantLogBenchBounds fails the benchmark unless the store holds first..last.
func wantLogBenchBounds(b *testing.B, s raftLogStore, first, last uint64) {
	b.Helper()
	f, ferr := s.FirstIndex()
	l, lerr := s.LastIndex()
	if ferr != nil || lerr != nil || f != first || l != last {
		b.Fatalf("FirstIndex %d, %v; LastIndex %d, %v; want %d, %d", f, ferr, l, lerr, first, last)
	}
}

func benchStoreLogs(b *testing.B, open func(string) (raftLogStore, error), size, per int) {
	s := openLogBenchStore(b, open)
	data := newLogBenchData(size)
	logs := newLogBenchLogs(per)

	// The first append is outside the timing: raft-wal redoes its first
	// segment when a log starts at an index it did not expect.
	data.fill(logs, 1)
	if err := s.StoreLogs(logs); err != nil {
		b.Fatalf("first StoreLogs: %v", err)
	}
	wantLogBenchBounds(b, s, 1, uint64(per))
	var got raft.Log
	if err := s.GetLog(uint64(per), &got); err != nil || len(got.Data) != size {
		b.Fatalf("GetLog(%d) after the first append: %v, %d bytes", per, err, len(got.Data))
	}
	next := uint64(per) + 1

	b.SetBytes(int64(size * per))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		data.fill(logs, next)
		if err := s.StoreLogs(logs); err != nil {
			b.Fatalf("StoreLogs at %d: %v", next, err)
		}
		next += uint64(per)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "entries/s")
	wantLogBenchBounds(b, s, 1, next-1)
}

func benchGetLog(b *testing.B, open func(string) (raftLogStore, error), size int) {
	s := openLogBenchStore(b, open)
	data := newLogBenchData(size)
	logs := newLogBenchLogs(8)
	for index := uint64(1); index <= logBenchRecent; index += 8 {
		data.fill(logs, index)
		if err := s.StoreLogs(logs); err != nil {
			b.Fatalf("StoreLogs at %d: %v", index, err)
		}
	}
	wantLogBenchBounds(b, s, 1, logBenchRecent)

	var got raft.Log
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		index := uint64(i%logBenchRecent) + 1
		if err := s.GetLog(index, &got); err != nil {
			b.Fatalf("GetLog(%d): %v", index, err)
		}
		if got.Index != index || len(got.Data) != size {
			b.Fatalf("GetLog(%d) = index %d, %d bytes", index, got.Index, len(got.Data))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
