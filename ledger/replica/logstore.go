package replica

import (
	"log/slog"
	"sync"

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
// files taken off the log's write lock.
//
// raft-wal deletes the segments a log compaction released while it holds
// the lock every append takes. Removing a 64 MiB file and syncing its
// directory took 40-60 ms each on the development VM, so the compaction
// after a snapshot held Raft's appends for 260 ms and payments for half a
// second. raft-wal has committed the segments' removal to its metadata
// before it deletes a file, and deletes any file its metadata does not list
// when it opens, so a deletion left undone by a crash is finished then.
// Deletions run one at a time on their own goroutine; wait waits for them.
type lazyDeleteFS struct {
	*walfs.FS
	logger *slog.Logger

	mu      sync.Mutex // one deletion at a time
	pending sync.WaitGroup
}

func (f *lazyDeleteFS) Delete(dir, name string) error {
	f.pending.Add(1)
	go func() {
		defer f.pending.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		if err := f.FS.Delete(dir, name); err != nil {
			f.logger.Warn("deleting an old raft log segment; it goes when the node next opens", "file", name, "err", err)
		}
	}()
	return nil
}

// wait waits for the deletions started so far.
func (f *lazyDeleteFS) wait() { f.pending.Wait() }

// openLog opens the Raft log in dir with lazy segment deletion, in
// segments of segmentSize bytes (0: raft-wal's default, 64 MiB).
func openLog(dir string, logger *slog.Logger, segmentSize int) (*raftwal.WAL, *lazyDeleteFS, error) {
	if segmentSize == 0 {
		segmentSize = raftwal.DefaultSegmentSize
	}
	fs := &lazyDeleteFS{FS: walfs.New(), logger: logger}
	wal, err := raftwal.Open(dir, raftwal.WithSegmentFiler(segment.NewFiler(dir, fs)), raftwal.WithSegmentSize(segmentSize))
	if err != nil {
		return nil, nil, err
	}
	return wal, fs, nil
}
