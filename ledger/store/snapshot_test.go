package store_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
)

// TestSnapshotRestore takes a snapshot in the middle of a sequence, lets
// Apply go on while it is held, and restores it elsewhere: the restored
// store is at the snapshot's index with its digest, passes Check, and
// applying the rest of the sequence to it answers what the model answers.
// Restoring over an existing store replaces it; a damaged or truncated
// stream fails and leaves the existing store as it was.
func TestSnapshotRestore(t *testing.T) {
	const (
		seed          = 5
		batchesBefore = 20
		batchesAfter  = 10
	)
	h, g := snapshotHarness(t, seed, batchesBefore)
	defer h.close()
	snap, err := h.store.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if snap.Index != batchesBefore {
		t.Fatalf("snapshot at index %d, want %d", snap.Index, batchesBefore)
	}
	for i := uint64(batchesBefore + 1); i <= batchesBefore+batchesAfter; i++ {
		h.apply(g.batchAt(seed, i)) // the snapshot must not see these
	}
	var stream bytes.Buffer
	if _, err := snap.WriteTo(&stream); err != nil {
		t.Fatalf("write snapshot: %v", err)
	}
	snap.Release()

	// A store in the target directory already, at the end of the sequence:
	// a restore replaces it.
	dir := filepath.Join(t.TempDir(), "restored")
	replaced := newHarness(t, store.Options{Dir: dir, NoWAL: true}, tightness{}, &coverage{})
	for i := range h.batches {
		replaced.apply(h.batches[i])
	}
	replaced.close()

	damaged := bytes.Clone(stream.Bytes())
	damaged[len(damaged)/2] ^= 0x40
	for name, bad := range map[string][]byte{
		"a flipped bit": damaged,
		"truncated":     stream.Bytes()[:stream.Len()-9],
		"empty":         nil,
	} {
		if err := store.RestoreDir(store.Options{Dir: dir, Logger: quiet}, bytes.NewReader(bad)); err == nil {
			t.Fatalf("restore of a %s snapshot succeeded", name)
		}
		s, err := store.Open(store.Options{Dir: dir, Logger: quiet})
		if err != nil {
			t.Fatalf("open after a failed restore (%s): %v", name, err)
		}
		if s.AppliedIndex() != h.index || s.Digest() != h.memory.Digest() {
			t.Errorf("a failed restore (%s) changed the store: index %d digest %s", name, s.AppliedIndex(), s.Digest())
		}
		_ = s.Close()
	}

	if err := store.RestoreDir(store.Options{Dir: dir, Logger: quiet}, &stream); err != nil {
		t.Fatalf("restore: %v", err)
	}
	s, err := store.Open(store.Options{Dir: dir, NoWAL: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.AppliedIndex() != batchesBefore || s.Digest() != h.digests[batchesBefore-1] {
		t.Fatalf("restored at index %d digest %s, want %d %s", s.AppliedIndex(), s.Digest(), batchesBefore, h.digests[batchesBefore-1])
	}
	if err := s.Check(); err != nil {
		t.Fatalf("check of the restored store: %v", err)
	}
	model := ledger.NewMemory()
	for i := range batchesBefore {
		model.Apply(&h.batches[i])
	}
	for i := batchesBefore; i < len(h.batches); i++ {
		got, err := s.Apply(uint64(i+1), &h.batches[i])
		if err != nil {
			t.Fatalf("apply index %d to the restored store: %v", i+1, err)
		}
		compareOutputs(t, uint64(i+1), &h.batches[i], got, model.Apply(&h.batches[i]))
	}
	if s.Digest() != h.memory.Digest() {
		t.Fatalf("restored store ends at digest %s, the original at %s", s.Digest(), h.memory.Digest())
	}
}

// snapshotHarness is a NoWAL store with the first batches of seed's
// sequence applied, and the generator of the rest.
func snapshotHarness(t *testing.T, seed, batches uint64) (*harness, *generator) {
	h := newHarness(t, store.Options{Dir: t.TempDir(), NoWAL: true}, tightness{}, &coverage{})
	g := newGenerator(nil, generatorLimits{commandsMax: 60, accountsMax: 30})
	for i := uint64(1); i <= batches; i++ {
		h.apply(g.batchAt(seed, i))
	}
	return h, g
}

// TestCheckpointStream checkpoints a store in the middle of a sequence and
// lets Apply go on: the checkpoint's stream is the same, byte for byte, as
// the stream of a snapshot taken at the same point, and it restores to the
// store as it was then.
func TestCheckpointStream(t *testing.T) {
	const seed, batchesBefore, batchesAfter = 7, 15, 5
	h, g := snapshotHarness(t, seed, batchesBefore)
	defer h.close()
	snap, err := h.store.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	checkpoint := filepath.Join(t.TempDir(), "checkpoint")
	if err := h.store.Checkpoint(checkpoint); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	if err := h.store.Checkpoint(checkpoint); err == nil {
		t.Fatal("a second checkpoint into the same directory succeeded")
	}
	for i := uint64(batchesBefore + 1); i <= batchesBefore+batchesAfter; i++ {
		h.apply(g.batchAt(seed, i)) // the checkpoint must not see these
	}

	var fromSnapshot, fromCheckpoint bytes.Buffer
	if _, err := snap.WriteTo(&fromSnapshot); err != nil {
		t.Fatal(err)
	}
	n, err := store.WriteCheckpointTo(nil, checkpoint, &fromCheckpoint)
	if err != nil {
		t.Fatalf("stream the checkpoint: %v", err)
	}
	if n != int64(fromCheckpoint.Len()) {
		t.Fatalf("WriteCheckpointTo reports %d bytes, wrote %d", n, fromCheckpoint.Len())
	}
	if !bytes.Equal(fromCheckpoint.Bytes(), fromSnapshot.Bytes()) {
		t.Fatalf("the checkpoint streams %d bytes unlike the snapshot's %d taken at the same index", fromCheckpoint.Len(), fromSnapshot.Len())
	}

	dir := filepath.Join(t.TempDir(), "restored")
	if err := store.RestoreDir(store.Options{Dir: dir, Logger: quiet}, &fromCheckpoint); err != nil {
		t.Fatalf("restore: %v", err)
	}
	s, err := store.Open(store.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.AppliedIndex() != batchesBefore || s.Digest() != h.digests[batchesBefore-1] {
		t.Fatalf("restored at index %d digest %s, want %d %s", s.AppliedIndex(), s.Digest(), batchesBefore, h.digests[batchesBefore-1])
	}
}

// TestRestoreDirOnFS restores into a store on another file system
// (Options.FS): every file of the restore lands there, none on the OS's.
func TestRestoreDirOnFS(t *testing.T) {
	const batches = 8
	h, _ := snapshotHarness(t, 9, batches)
	defer h.close()
	snap, err := h.store.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	_, err = snap.WriteTo(&stream)
	snap.Release()
	if err != nil {
		t.Fatal(err)
	}
	mem := vfs.NewMem()
	dir := "restore-on-fs" // relative: on the OS it would land in the package directory
	opts := store.Options{Dir: dir, FS: mem, NoWAL: true, Logger: quiet}
	if err := store.RestoreDir(opts, &stream); err != nil {
		t.Fatalf("restore: %v", err)
	}
	for _, name := range []string{dir, dir + ".restore", dir + ".old"} {
		if _, err := os.Stat(name); !errors.Is(err, fs.ErrNotExist) {
			_ = os.RemoveAll(name)
			t.Errorf("the restore touched the OS file system: %s (%v)", name, err)
		}
	}
	s, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.AppliedIndex() != batches || s.Digest() != h.digests[batches-1] {
		t.Fatalf("restored at index %d digest %s, want %d %s", s.AppliedIndex(), s.Digest(), batches, h.digests[batches-1])
	}
}
