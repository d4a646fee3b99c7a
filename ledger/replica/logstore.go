package replica

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	walfs "github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/segment"
)

// compactedLog makes raft-wal honour raft's LogStore contract after a log
// compaction: an entry below FirstIndex is gone (raft.ErrLogNotFound).
//
// raft-wal truncates the head of its log logically: FirstIndex moves, but
// GetLog keeps returning the old entries for as long as they sit in the
// open segment (64 MiB by default). Raft sends a follower a snapshot only
// when GetLog reports an entry missing, so without this a follower that
// lost its directory, or fell far behind, replayed the whole log from
// index 1 and never installed the leader's snapshot.
type compactedLog struct {
	*raftwal.WAL // also passes on IsMonotonic (raft.MonotonicLogStore)
}

var (
	_ raft.LogStore          = compactedLog{}
	_ raft.MonotonicLogStore = compactedLog{}
)

func (l compactedLog) GetLog(index uint64, log *raft.Log) error {
	first, err := l.WAL.FirstIndex()
	if err != nil {
		return err
	}
	if index < first {
		return raft.ErrLogNotFound
	}
	return l.WAL.GetLog(index, log)
}

// lazyDeleteFS is raft-wal's file system with the deletion of old segment
// files taken off the log's write lock, and spread out in time.
//
// raft-wal deletes the segments a log compaction released while it holds
// the lock every append takes. Removing a 64 MiB file and syncing its
// directory took 40-60 ms each on the development VM, so the compaction
// after a snapshot held Raft's appends for 260 ms and payments for half a
// second. raft-wal has committed the segments' removal to its metadata
// before it deletes a file, and deletes any file its metadata does not list
// when it opens, so a deletion left undone by a crash is finished then.
// Deletions run one at a time on their own goroutine; wait waits for them.
//
// Off the lock, a deletion still stalled the log's fsyncs. In a stand-alone
// test on the development VM (ext4, mounted with discard; one fsync of
// 8 KiB a millisecond), the unlink of a 64 MiB file made one or two of the
// fsyncs behind it take 20-27 ms instead of under 2: ext4 frees, and here
// trims, a file's blocks in the journal commit that the next fsync waits
// for. So a segment is first shrunk a slice at a time, with a pause between
// slices, and unlinked empty: with 1 MiB slices 4 ms apart, no fsync of
// that test took over 10 ms. See shrinkGradually.
type lazyDeleteFS struct {
	*walfs.FS
	logger *slog.Logger

	mu      sync.Mutex // one deletion at a time
	pending sync.WaitGroup
	hurry   atomic.Bool // set by wait: no pauses between slices
}

func (f *lazyDeleteFS) Delete(dir, name string) error {
	f.pending.Add(1)
	go func() {
		defer f.pending.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		if err := shrinkGradually(filepath.Join(dir, name), &f.hurry); err != nil {
			f.logger.Warn("shrinking an old raft log segment before deleting it", "file", name, "err", err)
		}
		if err := f.FS.Delete(dir, name); err != nil {
			f.logger.Warn("deleting an old raft log segment; it goes when the node next opens", "file", name, "err", err)
		}
	}()
	return nil
}

// wait waits for the deletions started so far, which stop shrinking and
// unlink at once: the log is closing, or a test wants the files gone.
func (f *lazyDeleteFS) wait() {
	f.hurry.Store(true)
	f.pending.Wait()
	f.hurry.Store(false)
}

// The slices a segment is shrunk by before it is unlinked, and the pause
// between them (lazyDeleteFS). 64 MiB go in about a third of a second.
const (
	shrinkSliceBytes = 1 << 20
	shrinkPause      = 4 * time.Millisecond
)

// shrinkGradually truncates the file at path by shrinkSliceBytes at a time,
// pausing shrinkPause between slices, down to empty; once hurry is set it
// stops and leaves the rest to the unlink that follows. A file that
// another name links to is left whole, since truncating it would empty
// that name too (a backup made with hard links, say); so is anything but a
// regular file. It returns nil for a file already gone.
func shrinkGradually(path string, hurry *atomic.Bool) error {
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() || linkCount(info) != 1 {
		return nil
	}
	for size := info.Size(); size > 0 && !hurry.Load(); {
		size = max(size-shrinkSliceBytes, 0)
		if err := os.Truncate(path, size); err != nil {
			return err
		}
		if size > 0 {
			time.Sleep(shrinkPause)
		}
	}
	return nil
}

// openLog opens the Raft log in dir with lazy segment deletion, in
// segments of segmentSize bytes (0: raft-wal's default, 64 MiB).
func openLog(dir string, logger *slog.Logger, segmentSize int) (*raftwal.WAL, *lazyDeleteFS, error) {
	if segmentSize == 0 {
		segmentSize = raftwal.DefaultSegmentSize
	}
	files := &lazyDeleteFS{FS: walfs.New(), logger: logger}
	wal, err := raftwal.Open(dir, raftwal.WithSegmentFiler(segment.NewFiler(dir, files)), raftwal.WithSegmentSize(segmentSize))
	if err != nil {
		return nil, nil, err
	}
	return wal, files, nil
}
