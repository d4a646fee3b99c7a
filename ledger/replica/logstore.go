package replica

import (
	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
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
