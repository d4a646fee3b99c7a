package replica

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/payswitch/payswitch/ledger/store"
)

// Snapshots without a copy of the ledger.
//
// Raft takes a snapshot every SnapshotInterval (30 to 60 s) so that it may
// compact its log. Streaming the whole ledger into each one rewrote the
// store every time: about 550 MB a minute into a run at 30,000 payments/s,
// which stalled payments for most of a second and grew with the ledger.
//
// Instead, a snapshot's persisted body is a reference of a few bytes to a
// Pebble checkpoint of the store in the checkpoints directory, named by the
// snapshot's ID: a flush that was due anyway, a hard link per table file,
// and the WAL written since the flush. The full stream (the format of
// store.Snapshot.WriteTo) is made only when Raft opens the snapshot to send
// it to a follower that is too far behind, or when a node restores its own
// snapshot into a lost store: checkpointSnapshots.Open writes it to a
// temporary file beside the checkpoints, so Raft gets the exact size it
// sends, and removes the file when Raft closes it.
//
// The checkpoint is cut after Raft's snapshot index, while the state
// machine goes on applying, so it may hold a few more entries than the
// snapshot's index says. That is safe: it holds whole applied batches with
// their own applied index, and the state machine skips the entries at or
// below that index when Raft replays them, as it does after every restart.
//
// The file snapshot store keeps the two newest snapshots; a checkpoint
// whose snapshot is gone, or that a crash left half made, is removed after
// every persisted snapshot and when the node opens. A checkpoint keeps the
// table files that compactions have since replaced, so the disk holds up
// to the live store plus what changed since the older kept snapshot.

// snapshotRefMagic starts a snapshot body that names a checkpoint.
const snapshotRefMagic = "PSWCKPT1"

// snapshotRefMax bounds a reference body: the magic and a snapshot ID.
const snapshotRefMax = 512

// checkpointSnapshots is Raft's snapshot store: the file snapshot store,
// whose snapshots may be references to checkpoints.
type checkpointSnapshots struct {
	*raft.FileSnapshotStore
	dir    string // the checkpoints, one directory per snapshot ID
	logger *slog.Logger

	// mu makes Open's streams and reap take turns: reap must not remove a
	// checkpoint being read, and Pebble locks the directory it opens, even
	// read-only, so two streams of one checkpoint cannot run at once.
	mu sync.Mutex
}

func newCheckpointSnapshots(files *raft.FileSnapshotStore, dir string, logger *slog.Logger) (*checkpointSnapshots, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("replica: checkpoints directory: %w", err)
	}
	s := &checkpointSnapshots{FileSnapshotStore: files, dir: dir, logger: logger}
	if err := s.reap(false); err != nil {
		return nil, err
	}
	return s, nil
}

// persist checkpoints st for the snapshot being written to sink, writes
// the reference and closes the sink. On error the sink is cancelled.
func (s *checkpointSnapshots) persist(st func(func(*store.Store) error) error, sink raft.SnapshotSink) error {
	dir := filepath.Join(s.dir, sink.ID())
	err := st(func(st *store.Store) error { return st.Checkpoint(dir) })
	if err == nil {
		_, err = io.WriteString(sink, snapshotRefMagic+sink.ID())
	}
	if err != nil {
		_ = sink.Cancel()
		_ = os.RemoveAll(dir)
		return fmt.Errorf("replica: persist snapshot %s: %w", sink.ID(), err)
	}
	if err := sink.Close(); err != nil {
		_ = os.RemoveAll(dir)
		return fmt.Errorf("replica: persist snapshot %s: %w", sink.ID(), err)
	}
	// Closing the sink reaped the older snapshots; their checkpoints go too.
	if err := s.reap(true); err != nil {
		s.logger.Warn("removing old checkpoints", "err", err)
	}
	return nil
}

// Open opens a snapshot for Raft: a full stream as is, a reference as the
// full stream made from its checkpoint.
func (s *checkpointSnapshots) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, rc, err := s.FileSnapshotStore.Open(id)
	if err != nil || meta.Size > snapshotRefMax {
		return meta, rc, err
	}
	body, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("replica: read snapshot %s: %w", id, err)
	}
	name, ok := bytes.CutPrefix(body, []byte(snapshotRefMagic))
	if !ok {
		return meta, io.NopCloser(bytes.NewReader(body)), nil
	}
	if string(name) != id || strings.ContainsAny(id, `/\`) {
		return nil, nil, fmt.Errorf("replica: snapshot %s refers to checkpoint %q", id, name)
	}
	f, n, err := s.materialize(id)
	if err != nil {
		return nil, nil, err
	}
	full := *meta
	full.Size = n
	s.logger.Info("snapshot streamed from its checkpoint", "id", id, "index", meta.Index, "bytes", n)
	return &full, f, nil
}

// materialize writes the stream of checkpoint id to a temporary file and
// returns it rewound, to be removed when closed.
func (s *checkpointSnapshots) materialize(id string) (io.ReadCloser, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.CreateTemp(s.dir, id+"-*.stream")
	if err != nil {
		return nil, 0, fmt.Errorf("replica: snapshot %s: %w", id, err)
	}
	fail := func(err error) (io.ReadCloser, int64, error) {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, 0, fmt.Errorf("replica: stream snapshot %s from its checkpoint: %w", id, err)
	}
	n, err := store.WriteCheckpointTo(nil, filepath.Join(s.dir, id), f)
	if err != nil {
		return fail(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	return removeOnClose{f}, n, nil
}

// reap removes every checkpoint (and stream file) that no kept snapshot
// names.
//
// The files of a checkpoint that the store has compacted away since have
// no other name, so removing the checkpoint frees them all at once: 70-150
// MB a snapshot at 30,000 payments/s, and the journal commit that frees
// them stalls the Raft log's fsyncs (see lazyDeleteFS). When gradual, such
// files are first shrunk a slice at a time, as old log segments are; files
// the store still holds have a second name and are left whole. Stream
// files are only unlinked: a sender may still be reading one. Raft's
// snapshot goroutine reaps gradually; opening, under no load, just removes.
func (s *checkpointSnapshots) reap(gradual bool) error {
	metas, err := s.List()
	if err != nil {
		return fmt.Errorf("replica: list snapshots: %w", err)
	}
	kept := make(map[string]bool, len(metas))
	for _, m := range metas {
		kept[m.ID] = true
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("replica: checkpoints directory: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, e := range entries {
		if kept[e.Name()] && e.IsDir() {
			continue
		}
		path := filepath.Join(s.dir, e.Name())
		if gradual && e.IsDir() {
			if err := shrinkFiles(path); err != nil {
				s.logger.Warn("shrinking an old checkpoint's files before removing them", "dir", path, "err", err)
			}
		}
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// shrinkFiles shrinks every file directly in dir with shrinkGradually.
func shrinkFiles(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var never atomic.Bool // no close waits on a reap
	var errs []error
	for _, e := range entries {
		if e.Type().IsRegular() {
			errs = append(errs, shrinkGradually(filepath.Join(dir, e.Name()), &never))
		}
	}
	return errors.Join(errs...)
}

// removeOnClose is a temporary file that goes when it is closed.
type removeOnClose struct{ *os.File }

func (f removeOnClose) Close() error {
	err := f.File.Close()
	if rerr := os.Remove(f.Name()); err == nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = rerr // reap may have removed it already
	}
	return err
}
