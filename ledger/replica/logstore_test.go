package replica

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
)

// raftLogStore is what Raft needs of a log store, plus Close: the two
// implementations measured in bench/RESULTS.md are raft-wal (wrapped in
// compactedLog, as node.go uses it) and the Pebble-backed pebbleLog, which
// lost the measurement and lives on only in these tests.
type raftLogStore interface {
	raft.LogStore
	raft.StableStore
	Close() error
}

type walStore struct {
	compactedLog
}

func (w walStore) Close() error { return w.WAL.Close() }

var logStoreImpls = []struct {
	name string
	open func(dir string) (raftLogStore, error)
}{
	{"raftwal", func(dir string) (raftLogStore, error) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		w, err := raftwal.Open(dir)
		if err != nil {
			return nil, err
		}
		return walStore{compactedLog{w}}, nil
	}},
	{"pebble", func(dir string) (raftLogStore, error) { return openPebbleLog(dir) }},
}

// TestLogStore holds both stores to the contract Raft relies on: entries
// read back as written, first and last index across a reopen, head and
// tail deletion, entries below the first index missing, stable keys.
func TestLogStore(t *testing.T) {
	for _, impl := range logStoreImpls {
		t.Run(impl.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "log")
			s, err := impl.open(dir)
			if err != nil {
				t.Fatal(err)
			}
			var logs []*raft.Log
			for i := uint64(1); i <= 20; i++ {
				logs = append(logs, &raft.Log{Index: i, Term: 1 + i/10, Type: raft.LogCommand, Data: []byte{byte(i), 2, 3}})
			}
			if err := s.StoreLogs(logs[:10]); err != nil {
				t.Fatal(err)
			}
			for _, l := range logs[10:] {
				if err := s.StoreLog(l); err != nil {
					t.Fatal(err)
				}
			}
			wantBounds(t, s, 1, 20)
			var got raft.Log
			if err := s.GetLog(7, &got); err != nil || got.Term != 1 || got.Data[0] != 7 {
				t.Fatalf("GetLog(7) = %+v, %v", got, err)
			}
			if err := s.GetLog(21, &got); !errors.Is(err, raft.ErrLogNotFound) {
				t.Fatalf("GetLog past the end: %v, want ErrLogNotFound", err)
			}
			// Raft compacts the head after a snapshot and truncates the tail
			// when a new leader overwrites a follower's uncommitted entries.
			if err := s.DeleteRange(1, 5); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteRange(18, 20); err != nil {
				t.Fatal(err)
			}
			wantBounds(t, s, 6, 17)
			if err := s.GetLog(3, &got); !errors.Is(err, raft.ErrLogNotFound) {
				t.Fatalf("GetLog below the first index: %v, want ErrLogNotFound", err)
			}
			if err := s.SetUint64([]byte("CurrentTerm"), 9); err != nil {
				t.Fatal(err)
			}
			if err := s.Set([]byte("LastVoteCand"), []byte("n2")); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s, err = impl.open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			wantBounds(t, s, 6, 17)
			if term, err := s.GetUint64([]byte("CurrentTerm")); err != nil || term != 9 {
				t.Fatalf("CurrentTerm after reopen = %d, %v", term, err)
			}
			if v, err := s.Get([]byte("LastVoteCand")); err != nil || string(v) != "n2" {
				t.Fatalf("LastVoteCand after reopen = %q, %v", v, err)
			}
			// Like raft-wal, a missing stable key reads as empty, not an error.
			if v, err := s.GetUint64([]byte("missing")); err != nil || v != 0 {
				t.Fatalf("missing stable key = %d, %v", v, err)
			}
			if err := s.StoreLog(&raft.Log{Index: 18, Term: 3, Type: raft.LogCommand, Data: []byte{18}}); err != nil {
				t.Fatal(err)
			}
			wantBounds(t, s, 6, 18)
		})
	}
}

func wantBounds(t *testing.T, s raftLogStore, first, last uint64) {
	t.Helper()
	f, err1 := s.FirstIndex()
	l, err2 := s.LastIndex()
	if err1 != nil || err2 != nil || f != first || l != last {
		t.Fatalf("bounds = [%d, %d] (%v, %v), want [%d, %d]", f, l, err1, err2, first, last)
	}
}

// TestLogSegmentsDeletedLazily: a log compaction returns, and appends go
// on, while the released segment files still wait to be deleted; they are
// deleted afterwards, and a file a crash left behind goes when the log is
// next opened.
func TestLogSegmentsDeletedLazily(t *testing.T) {
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	wal, fs, err := openLog(dir, logger, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<10)
	appendLogs := func(first, last uint64) {
		t.Helper()
		var logs []*raft.Log
		for i := first; i <= last; i++ {
			logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: data})
		}
		if err := wal.StoreLogs(logs); err != nil {
			t.Fatalf("append %d-%d: %v", first, last, err)
		}
	}
	for i := uint64(1); i <= 1000; i += 100 {
		appendLogs(i, i+99)
	}
	before := segmentFiles(t, dir)
	if before < 10 {
		t.Fatalf("%d segment files: the test needs many", before)
	}

	// Hold the deletions back: the compaction and the next append must not
	// wait for them.
	fs.mu.Lock()
	done := make(chan error, 1)
	go func() {
		err := compactedLog{wal}.DeleteRange(1, 800)
		if err == nil {
			appendLogs(1001, 1100)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("compaction: %v", err)
		}
	case <-time.After(10 * time.Second):
		fs.mu.Unlock()
		t.Fatal("the compaction waited for its segment files to be deleted")
	}
	if got := segmentFiles(t, dir); got < before {
		t.Fatalf("%d segment files, down from %d, while deletion was held", got, before)
	}
	fs.mu.Unlock()
	fs.wait()
	if got := segmentFiles(t, dir); got >= before {
		t.Fatalf("%d segment files after the compaction, %d before", got, before)
	}
	if first, _ := wal.FirstIndex(); first != 801 {
		t.Fatalf("first index %d after compacting to 800", first)
	}
	var l raft.Log
	if err := wal.GetLog(1100, &l); err != nil || l.Index != 1100 {
		t.Fatalf("read index 1100: %v (%d)", err, l.Index)
	}

	// A crash before a deletion: the file stays until the log reopens.
	fs.mu.Lock()
	if err := (compactedLog{wal}).DeleteRange(801, 1000); err != nil {
		t.Fatal(err)
	}
	held := segmentFiles(t, dir)
	if err := wal.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, fs2, err := openLog(dir, logger, 64<<10)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	fs2.wait() // opening deletes the leftovers, lazily too
	if got := segmentFiles(t, dir); got >= held {
		t.Fatalf("%d segment files after reopening, %d before: the leftovers stayed", got, held)
	}
	if first, _ := reopened.FirstIndex(); first != 1001 {
		t.Fatalf("first index %d after reopening, want 1001", first)
	}
	fs.mu.Unlock()
	fs.wait() // the held deletions find their files gone, and only log it
	_ = reopened.Close()
}

func segmentFiles(t *testing.T, dir string) int {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

// A segment is shrunk to nothing before it is unlinked, unless another
// name links to it: truncating would empty that name too.
func TestShrinkGradually(t *testing.T) {
	dir := t.TempDir()
	content := bytes.Repeat([]byte("segment!"), (3*shrinkSliceBytes+40)/8)
	write := func(name string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	size := func(path string) int64 {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return info.Size()
	}
	var hurry atomic.Bool

	alone := write("alone.wal")
	if err := shrinkGradually(alone, &hurry); err != nil {
		t.Fatal(err)
	}
	if got := size(alone); got != 0 {
		t.Errorf("a segment with one name: %d bytes left, want 0", got)
	}

	linked := write("linked.wal")
	backup := filepath.Join(dir, "backup.wal")
	if err := os.Link(linked, backup); err != nil {
		t.Fatal(err)
	}
	if err := shrinkGradually(linked, &hurry); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(backup); err != nil || !bytes.Equal(got, content) {
		t.Errorf("the other name of a linked segment: %d bytes (%v), want the %d written", len(got), err, len(content))
	}

	if err := shrinkGradually(filepath.Join(dir, "gone.wal"), &hurry); err != nil {
		t.Errorf("a segment already gone: %v, want nil", err)
	}
	if err := shrinkGradually(dir, &hurry); err != nil {
		t.Errorf("a directory: %v, want nil and left alone", err)
	}
}
