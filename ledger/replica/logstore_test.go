package replica

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

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
