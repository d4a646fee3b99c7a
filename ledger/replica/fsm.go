package replica

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
	"github.com/payswitch/payswitch/routing"
)

// entryResponse is what the FSM returns for one applied log entry: the
// results of its commands in order, or why none were applied.
type entryResponse struct {
	results []ledger.Result
	routing []routing.Result
	err     error
}

// fsm applies committed log entries to the ledger store and the routing
// tables. It is the only place where replicated state changes. An entry is
// a ledger batch or a routing entry (routing.IsEntry); a routing entry's
// table writes and the ledger accounts it creates go to the store in one
// atomic commit with the applied index. hashicorp/raft calls ApplyBatch,
// Snapshot and Restore from one goroutine; queries from other goroutines
// take mu for reading so that Restore can swap the store underneath them.
type fsm struct {
	opts   store.Options
	logger *slog.Logger

	mu    sync.RWMutex
	store *store.Store
	// routing is never replaced, only reloaded, so that the routers that
	// read it keep one pointer.
	routing *routing.State

	applied atomic.Uint64 // the last log index applied (or skipped as applied)
	// current is store, for the metrics that read the store's atomic
	// counters (Pacing) without waiting for mu, which an apply or a
	// restore may hold for long.
	current     atomic.Pointer[store.Store]
	batch       ledger.Batch // decode buffer, reused
	routingCmds []routing.Command
	aux         []store.Write
	onApply     func(index uint64)
	// snapshots persists Snapshot's snapshots; set before Raft starts.
	snapshots *checkpointSnapshots
}

var _ raft.BatchingFSM = (*fsm)(nil)

func openFSM(opts store.Options, logger *slog.Logger) (*fsm, error) {
	st, err := store.Open(opts)
	if err != nil {
		return nil, err
	}
	f := &fsm{opts: opts, logger: logger, store: st, routing: routing.NewState()}
	f.current.Store(st)
	if err := f.routing.Load(st.ScanAux); err != nil {
		_ = st.Close()
		return nil, err
	}
	f.applied.Store(st.AppliedIndex())
	return f, nil
}

// ApplyBatch applies each command entry as one ledger batch. Entries at or
// below the store's applied index are already in it (the log is replayed
// after a restart) and are skipped.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	responses := make([]any, len(logs))
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		responses[i] = f.applyEntry(l)
	}
	if n := len(logs); n > 0 {
		last := logs[n-1].Index
		if last > f.applied.Load() {
			f.applied.Store(last)
		}
		if f.onApply != nil {
			f.onApply(last)
		}
	}
	return responses
}

func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

func (f *fsm) applyEntry(l *raft.Log) *entryResponse {
	if routing.IsEntry(l.Data) {
		return f.applyRouting(l)
	}
	if err := ledger.DecodeBatch(l.Data, &f.batch); err != nil {
		// Every replica decodes the same bytes the same way, so all of them
		// skip this entry alike. Only our own proposer writes entries, so
		// this means a bug or a version mismatch: say so loudly.
		f.logger.Error("undecodable log entry skipped", "index", l.Index, "err", err)
		return &entryResponse{err: err}
	}
	f.mu.RLock()
	out, err := f.store.Apply(l.Index, &f.batch)
	f.mu.RUnlock()
	switch {
	case errors.Is(err, store.ErrIndexApplied):
		return &entryResponse{err: err}
	case err != nil:
		// The disk failed under us. Raft cannot be told, and going on would
		// let this replica diverge: stop the process; a restart replays the
		// log from the last durable index.
		f.logger.Error("ledger store failed; stopping the node", "index", l.Index, "err", err)
		panic(fmt.Errorf("replica: apply index %d: %w", l.Index, err))
	}
	return &entryResponse{results: slices.Clone(out.Results)}
}

// applyRouting applies a routing entry: the tables change in memory, and
// their writes go to the store together with the ledger accounts of
// onboarded participants, in one commit.
func (f *fsm) applyRouting(l *raft.Log) *entryResponse {
	ts, cmds, err := routing.DecodeEntry(l.Data, f.routingCmds)
	f.routingCmds = cmds
	if err != nil {
		f.logger.Error("undecodable routing entry skipped", "index", l.Index, "err", err)
		return &entryResponse{err: err}
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if l.Index <= f.store.AppliedIndex() {
		// Replayed after a restart: the tables were loaded with it.
		return &entryResponse{err: store.ErrIndexApplied}
	}
	// Time never runs backwards in the state: a new leader's clock may lag
	// the old one's. Every replica clamps alike.
	ts = max(ts, f.store.LastTimestamp()+1)
	out, err := f.routing.Apply(ts, cmds, f.store)
	if err != nil {
		f.logger.Error("routing apply failed; stopping the node", "index", l.Index, "err", err)
		panic(fmt.Errorf("replica: apply routing index %d: %w", l.Index, err))
	}
	f.batch.Timestamp = ts
	f.batch.Commands = append(f.batch.Commands[:0], out.Accounts...)
	aux := f.aux[:0]
	for _, w := range out.Writes {
		aux = append(aux, store.Write{Key: w.Key, Value: w.Value, Delete: w.Delete})
	}
	f.aux = aux
	lout, err := f.store.ApplyWith(l.Index, &f.batch, aux)
	if err != nil {
		f.logger.Error("ledger store failed; stopping the node", "index", l.Index, "err", err)
		panic(fmt.Errorf("replica: apply routing index %d: %w", l.Index, err))
	}
	for i, r := range lout.Results {
		if r.Code != ledger.OK {
			// Onboarding checked the accounts before, so this is a bug.
			f.logger.Error("routing: ledger account not created", "index", l.Index, "account", f.batch.Commands[i].Account.ID, "code", r.Code)
		}
	}
	return &entryResponse{routing: slices.Clone(out.Results)}
}

// Snapshot notes the applied index; Persist checkpoints the store
// (snapshots.go), which flushes it to disk first. Raft compacts its log up
// to the snapshot only after Persist, so the log keeps every entry the
// store (which keeps no WAL) might lose in a crash until the flush holds
// it. Nothing here waits for the disk: Snapshot runs on the goroutine that
// applies entries.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if f.snapshots == nil {
		return nil, errors.New("replica: no snapshot store")
	}
	return &fsmSnapshot{fsm: f, index: f.applied.Load()}, nil
}

// Restore replaces the whole state with a snapshot from the leader.
func (f *fsm) Restore(r io.ReadCloser) error {
	defer r.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	// Close flushes the store (it keeps no WAL): if the restore fails, the
	// old store reopens below at the index this replica had applied.
	if err := f.store.Close(); err != nil {
		f.logger.Warn("closing the store before restore", "err", err)
	}
	restoreErr := store.RestoreDir(f.opts, r)
	st, err := store.Open(f.opts)
	if err != nil {
		panic(fmt.Errorf("replica: reopen the store after restore: %w", err))
	}
	f.store = st
	f.current.Store(st)
	if err := f.routing.Load(st.ScanAux); err != nil {
		panic(fmt.Errorf("replica: reload the routing tables after restore: %w", err))
	}
	f.applied.Store(st.AppliedIndex())
	if restoreErr != nil {
		return restoreErr
	}
	f.logger.Info("restored ledger from snapshot", "applied_index", st.AppliedIndex(), "digest", st.Digest().String())
	return nil
}

// withStore runs fn with the current store, which Restore may otherwise
// swap out.
func (f *fsm) withStore(fn func(*store.Store) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return fn(f.store)
}

func (f *fsm) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.store.Close()
}

type fsmSnapshot struct {
	fsm   *fsm
	index uint64 // the applied index when Raft asked; the checkpoint may be later
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.fsm.snapshots.persist(s.fsm.withStore, sink); err != nil {
		return err
	}
	s.fsm.logger.Info("snapshot persisted as a checkpoint", "id", sink.ID(), "index", s.index)
	return nil
}

func (s *fsmSnapshot) Release() {}
