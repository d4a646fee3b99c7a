package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// fakeClock is a pacer's clock and sleep: sleeping moves the clock.
type fakeClock struct {
	t      time.Time
	sleeps []time.Duration
}

func testPacer(bytesPerSecond int) (*pacer, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)}
	p := newPacer(bytesPerSecond)
	p.now = func() time.Time { return c.t }
	p.sleep = func(d time.Duration) { c.sleeps = append(c.sleeps, d); c.t = c.t.Add(d) }
	return p, c
}

func (c *fakeClock) slept() (total time.Duration) {
	for _, d := range c.sleeps {
		total += d
	}
	return total
}

// writeFile creates name on fs and writes n bytes to it in 32 KiB writes,
// as Pebble's buffered table writer does.
func writeFile(t *testing.T, fs vfs.FS, name string, n int) {
	t.Helper()
	f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 32<<10)
	for n > 0 {
		w := min(n, len(block))
		if _, err := f.Write(block[:w]); err != nil {
			t.Fatal(err)
		}
		n -= w
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPacerKeepsRate: 8 MiB of table written at a pace of 1 MiB/s takes
// 7 s of sleep (the first MiB is the burst), in sleeps of a chunk each,
// not one per write.
func TestPacerKeepsRate(t *testing.T) {
	p, clock := testPacer(1 << 20)
	fs := pacedFS{FS: vfs.NewMem(), p: p}
	writeFile(t, fs, "000001.sst", 8<<20)

	if got, want := clock.slept(), 7*time.Second; got != want {
		t.Errorf("slept %v, want %v", got, want)
	}
	if got, want := len(clock.sleeps), (7<<20)/paceChunk; got != want {
		t.Errorf("%d sleeps, want %d (one per %d-byte chunk past the burst)", got, want, paceChunk)
	}
	st := p.stats()
	if st.TableBytes != 8<<20 || st.Waited != clock.slept() {
		t.Errorf("stats %+v, want %d bytes and %v waited", st, 8<<20, clock.slept())
	}
}

// TestPacerOnlyTables: the WAL, the MANIFEST and the other files Pebble
// writes are never paced nor counted; only .sst files are.
func TestPacerOnlyTables(t *testing.T) {
	p, clock := testPacer(1 << 20)
	fs := pacedFS{FS: vfs.NewMem(), p: p}
	for _, name := range []string{"000002.log", "MANIFEST-000001", "OPTIONS-000003", "marker.format-version.000001.024"} {
		writeFile(t, fs, name, 4<<20)
	}
	if len(clock.sleeps) != 0 || p.stats().TableBytes != 0 {
		t.Fatalf("non-table files paced: %d sleeps, %+v", len(clock.sleeps), p.stats())
	}
	writeFile(t, fs, "000004.sst", 4<<20)
	if len(clock.sleeps) == 0 || p.stats().TableBytes != 4<<20 {
		t.Fatalf("table file not paced: %d sleeps, %+v", len(clock.sleeps), p.stats())
	}
}

// TestPacerOffWhileStalled: while a write stall is in progress the jobs
// run flat out; when it ends they keep the pace again.
func TestPacerOffWhileStalled(t *testing.T) {
	p, clock := testPacer(1 << 20)
	fs := pacedFS{FS: vfs.NewMem(), p: p}
	l := p.listener()
	l.WriteStallBegin(pebble.WriteStallBeginInfo{Reason: "memtable count limit reached"})
	writeFile(t, fs, "000001.sst", 8<<20)
	if len(clock.sleeps) != 0 {
		t.Fatalf("paced during a write stall: %v", clock.sleeps)
	}
	l.WriteStallEnd()
	writeFile(t, fs, "000002.sst", 4<<20)
	if clock.slept() == 0 {
		t.Fatal("not paced after the stall ended")
	}
}

// TestPacerOffWhileBehind: while Pebble reports it is behind, nothing is
// paced, and the pacer asks at most once per paceCheckEvery.
func TestPacerOffWhileBehind(t *testing.T) {
	p, clock := testPacer(1 << 20)
	fs := pacedFS{FS: vfs.NewMem(), p: p}
	behind, asked := true, 0
	p.setBehind(func() bool { asked++; return behind })

	writeFile(t, fs, "000001.sst", 8<<20)
	if len(clock.sleeps) != 0 {
		t.Fatalf("paced while behind: %v", clock.sleeps)
	}
	if asked != 1 {
		t.Errorf("asked %d times within one check interval, want 1", asked)
	}

	// Caught up: the answer is kept until the interval has passed.
	behind = false
	writeFile(t, fs, "000002.sst", 2<<20)
	if len(clock.sleeps) != 0 {
		t.Fatalf("paced before the next check: %v", clock.sleeps)
	}
	clock.t = clock.t.Add(paceCheckEvery)
	writeFile(t, fs, "000003.sst", 4<<20)
	if clock.slept() == 0 {
		t.Fatal("not paced after catching up")
	}
	if asked < 2 {
		t.Errorf("asked %d times, want a second check after the interval", asked)
	}
}

// TestOpenPebblePaces: a DB opened as the store opens its own counts its
// flushes' table bytes and knows when it is behind.
func TestOpenPebblePaces(t *testing.T) {
	db, p, err := openPebble(t.TempDir(), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if pebbleBehind(db) {
		t.Fatal("an empty DB reports it is behind")
	}
	// Random values, so that the table does not compress below them.
	rng := rand.New(rand.NewPCG(1, 2))
	value := make([]byte, 1<<10)
	b := db.NewBatch()
	for i := range 4096 {
		for j := range value {
			value[j] = byte(rng.Uint32())
		}
		if err := b.Set(fmt.Appendf(nil, "k%08d", i), value, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := p.stats().TableBytes; got < 1<<20 {
		t.Fatalf("a flush of 4 MiB of keys wrote %d table bytes through the pacer", got)
	}
	if p.behind.Load() == nil {
		t.Fatal("OpenPebble did not install the behind check")
	}
}

// TestTableWritebackInChunks: a table file hands each writebackChunk to
// writeback as soon as it is written, in order and without gaps, and
// leaves a shorter tail to the file's final sync; other files never.
func TestTableWritebackInChunks(t *testing.T) {
	p, _ := testPacer(1 << 30)
	fs := pacedFS{FS: vfs.NewMem(), p: p}
	type span struct{ off, n int64 }
	var got []span
	record := func(_ vfs.File, off, n int64) error {
		got = append(got, span{off, n})
		return nil
	}
	f, err := fs.Create("000001.sst", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	pf, ok := f.(*pacedFile)
	if !ok {
		t.Fatalf("a table file is a %T, not paced", f)
	}
	pf.writeback = record
	block := make([]byte, 48<<10)
	for range 7 { // 336 KiB: chunks end at the writes that pass 144 and 288 KiB
		if _, err := f.Write(block); err != nil {
			t.Fatal(err)
		}
	}
	want := []span{{0, 144 << 10}, {144 << 10, 144 << 10}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("writebacks %v, want %v", got, want)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	m, err := fs.Create("MANIFEST-000001", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*pacedFile); ok {
		t.Fatal("the MANIFEST is written back in chunks too")
	}
	_ = m.Close()
}
