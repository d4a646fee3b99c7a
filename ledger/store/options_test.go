package store_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
)

// joined returns the problems Validate joined under ErrOptions.
func joined(err error) []error {
	outer, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return nil
	}
	for _, e := range outer.Unwrap() {
		if inner, ok := e.(interface{ Unwrap() []error }); ok {
			return inner.Unwrap()
		}
	}
	return nil
}

func TestOptionsValidate(t *testing.T) {
	accountsMin := 2 * ledger.BatchCommandsMax
	for _, tc := range []struct {
		name    string
		options store.Options
		fields  []string // the field each reported problem names, in order
	}{
		{"valid at the minimums", store.Options{Dir: "d", AccountCacheMax: accountsMin, FilterBytes: 1 << 10}, nil},
		{"valid at the maximums", store.Options{Dir: "d", AccountCacheMax: accountsMin, PendingCacheMax: 1, FilterBytes: 1 << 30}, nil},
		{"zero value: defaults are Open's job", store.Options{}, []string{"Dir", "AccountCacheMax", "FilterBytes"}},
		{"filter too large", store.Options{Dir: "d", AccountCacheMax: accountsMin, FilterBytes: 1<<30 + 1}, []string{"FilterBytes"}},
		{"account cache one short", store.Options{Dir: "d", AccountCacheMax: accountsMin - 1, FilterBytes: 1 << 10}, []string{"AccountCacheMax"}},
		{"everything wrong", store.Options{AccountCacheMax: 5, PendingCacheMax: -1, FilterBytes: 1023},
			[]string{"Dir", "AccountCacheMax", "PendingCacheMax", "FilterBytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.options.Validate()
			if len(tc.fields) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, store.ErrOptions) {
				t.Fatalf("Validate: %v, want ErrOptions", err)
			}
			problems := joined(err)
			if len(problems) != len(tc.fields) {
				t.Fatalf("Validate reported %d problems, want %d (%v): %v", len(problems), len(tc.fields), tc.fields, err)
			}
			for i, field := range tc.fields {
				if !strings.Contains(problems[i].Error(), field) {
					t.Errorf("problem %d is %q, want it to name %s", i, problems[i], field)
				}
			}
		})
	}
}

// TestOpenOptions checks that Open fills the defaults before it validates,
// and that options it refuses leave nothing on disk.
func TestOpenOptions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "never")
	_, err := store.Open(store.Options{Dir: dir, FilterBytes: 1, PendingCacheMax: -1, Logger: quiet})
	if !errors.Is(err, store.ErrOptions) || len(joined(err)) != 2 {
		t.Fatalf("Open with two bad options: %v, want ErrOptions with two problems", err)
	}
	if _, statErr := os.Stat(dir); !errors.Is(statErr, os.ErrNotExist) {
		t.Fatalf("Open with bad options created %s (%v)", dir, statErr)
	}
	s, err := store.Open(store.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatalf("Open with defaults: %v", err)
	}
	if s.AppliedIndex() != 0 || s.Digest() != (ledger.Digest{}) {
		t.Errorf("a new store is at index %d with digest %s, want 0 and zero", s.AppliedIndex(), s.Digest())
	}
	if err := s.Check(); err != nil {
		t.Errorf("check of an empty store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// TestFlushKeepsStreamsApart checks the file sizes PebbleOptions chooses:
// when several append streams grow side by side, as the ledger's transfers
// (by acquirer) and history (by account) do, no flushed L0 file overlaps
// a whole stream of older data in the base level, so compacting it does
// not rewrite that stream. With Pebble's default sizes an L0 file spans
// several streams and overlaps every older key between them.
func TestFlushKeepsStreamsApart(t *testing.T) {
	const (
		streams   = 6
		oldBytes  = 8 << 20 // per stream, compacted into the base level
		newBytes  = 1 << 20 // per stream, flushed to L0
		valueSize = 1000
	)
	opts := store.PebbleOptions(vfs.NewMem())
	opts.DisableAutomaticCompactions = true
	db, err := pebble.Open("db", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	rng := rand.New(rand.NewPCG(1, 2))
	value := make([]byte, valueSize) // random, so that compression keeps its size
	next := make([]uint64, streams)
	write := func(perStream int) {
		b := db.NewBatch()
		for s := range streams {
			for range perStream / valueSize {
				key := binary.BigEndian.AppendUint64([]byte{'t', byte(s)}, next[s])
				next[s]++
				for i := range value {
					value[i] = byte(rng.Uint32())
				}
				if err := b.Set(key, value, nil); err != nil {
					t.Fatal(err)
				}
				if b.Len() > 4<<20 {
					if err := b.Commit(pebble.NoSync); err != nil {
						t.Fatal(err)
					}
					b = db.NewBatch()
				}
			}
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			t.Fatal(err)
		}
	}
	write(oldBytes)
	if err := db.Compact(context.Background(), []byte{'t'}, []byte{'u'}, false); err != nil {
		t.Fatal(err)
	}
	write(newBytes)
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}

	levels, err := db.SSTables()
	if err != nil {
		t.Fatal(err)
	}
	var base []pebble.SSTableInfo
	for _, level := range levels[1:] {
		if len(level) > 0 {
			base = level
			break
		}
	}
	if len(levels[0]) == 0 || len(base) == 0 {
		t.Fatalf("want the flush in L0 over a base level, got %d L0 files and %d base files", len(levels[0]), len(base))
	}
	for _, f := range levels[0] {
		var overlap uint64
		for _, g := range base {
			if bytes.Compare(g.Largest.UserKey, f.Smallest.UserKey) >= 0 && bytes.Compare(g.Smallest.UserKey, f.Largest.UserKey) <= 0 {
				overlap += g.Size
			}
		}
		if overlap >= oldBytes {
			t.Errorf("L0 file %s [%x, %x] overlaps %d bytes of the base level, a whole stream (%d) or more",
				f.FileNum, f.Smallest.UserKey, f.Largest.UserKey, overlap, oldBytes)
		}
	}
}

// TestBlockCacheBesideFullMemtable: with a full-size memtable taking
// writes (Pebble charges it to the block cache), a block read from a table
// is still cached, so reading it again is a cache hit. With Pebble's
// default 8 MB cache the memtable's reservation left no room, and every
// read went to the file.
func TestBlockCacheBesideFullMemtable(t *testing.T) {
	opts := store.PebbleOptions(vfs.Default)
	db, err := pebble.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Memtables start small and double up to MemTableSize: write past the
	// sum of the smaller ones so that the next memtable is full size.
	value := make([]byte, 4<<10)
	key := func(i int) []byte { return binary.BigEndian.AppendUint32([]byte("k"), uint32(i)) }
	n := int(2*opts.MemTableSize) / len(value)
	b := db.NewBatch()
	for i := range n {
		binary.BigEndian.PutUint32(value, uint32(i))
		if err := b.Set(key(i), value, nil); err != nil {
			t.Fatal(err)
		}
		if b.Len() >= 1<<20 {
			if err := b.Commit(pebble.NoSync); err != nil {
				t.Fatal(err)
			}
			b = db.NewBatch()
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	before := db.Metrics().BlockCache
	for range 2 {
		v, closer, err := db.Get(key(n / 2))
		if err != nil {
			t.Fatal(err)
		}
		if binary.BigEndian.Uint32(v) != uint32(n/2) {
			t.Fatalf("read %x, want the value of key %d", v[:4], n/2)
		}
		closer.Close()
	}
	after := db.Metrics().BlockCache
	if after.Hits == before.Hits {
		t.Fatalf("reading a block twice: %d cache hits, %d misses, want a hit (CacheSize %d, 0 meaning Pebble's 8 MB; memtables %d bytes)",
			after.Hits-before.Hits, after.Misses-before.Misses, opts.CacheSize, db.Metrics().MemTable.Size)
	}
}
