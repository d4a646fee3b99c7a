package replica

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/payswitch/payswitch/ledger/store"
)

// TestSnapshotsAreCheckpoints: a snapshot persists a reference to a
// checkpoint, not a copy of the ledger; only the kept snapshots keep their
// checkpoints; and opening one streams the whole ledger, which restores to
// the node's state, with the size Raft sends.
func TestSnapshotsAreCheckpoints(t *testing.T) {
	c := startCluster(t, 1, nil)
	tn := c.nodes[0]
	c.waitLeader()
	ctx := testContext(t, 30*time.Second)
	submitOK(ctx, t, tn.node, openAccount(1), openAccount(2))
	snaps := tn.node.fsm.snapshots

	var ids []string
	for round := range 3 {
		submitEach(ctx, t, tn.node, transfers(uint64(1000*(round+1)), 20, 1, 2))
		if err := tn.node.Snapshot(ctx); err != nil {
			t.Fatalf("snapshot %d: %v", round, err)
		}
		metas, err := snaps.List()
		if err != nil || len(metas) == 0 {
			t.Fatalf("list after snapshot %d: %v, %d snapshots", round, err, len(metas))
		}
		if metas[0].Size > snapshotRefMax {
			t.Fatalf("snapshot %s persisted %d bytes: the ledger was copied, not referenced", metas[0].ID, metas[0].Size)
		}
		ids = append(ids, metas[0].ID)
	}

	dir := filepath.Join(tn.cfg.Dir, "checkpoints")
	if got, want := dirNames(t, dir), ids[1:]; !slices.Equal(got, want) {
		t.Fatalf("checkpoints %v, want those of the two kept snapshots %v", got, want)
	}

	applied, digest := tn.node.AppliedIndex(), tn.node.Digest()
	meta, rc, err := snaps.Open(ids[2])
	if err != nil {
		t.Fatalf("open snapshot: %v", err)
	}
	counted := &countingReader{r: rc}
	restored := store.Options{Dir: filepath.Join(t.TempDir(), "ledger")}
	err = store.RestoreDir(restored, counted)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("restore the streamed snapshot: %v", err)
	}
	if counted.n != meta.Size {
		t.Fatalf("streamed %d bytes, meta says %d: Raft would reject the install", counted.n, meta.Size)
	}
	st, err := store.Open(restored)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, d := st.AppliedIndex(), st.Digest(); got != applied || d != digest {
		t.Fatalf("restored index %d with %s, want the node's %d with %s", got, d, applied, digest)
	}
	if got, want := dirNames(t, dir), ids[1:]; !slices.Equal(got, want) {
		t.Fatalf("after the stream was closed the checkpoints directory holds %v, want %v", got, want)
	}

	// Two followers may need the same snapshot at once.
	sizes := make(chan error, 2)
	for range 2 {
		go func() {
			meta, rc, err := snaps.Open(ids[2])
			if err != nil {
				sizes <- err
				return
			}
			defer rc.Close()
			n, err := io.Copy(io.Discard, rc)
			if err == nil && n != meta.Size {
				err = fmt.Errorf("streamed %d bytes, meta says %d", n, meta.Size)
			}
			sizes <- err
		}()
	}
	for range 2 {
		if err := <-sizes; err != nil {
			t.Fatalf("concurrent open: %v", err)
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// Reaping a checkpoint empties the files only it names before removing
// them, leaves whole a file the store still holds under another name, and
// only unlinks a stream file, which a sender may still be reading.
func TestReapLeavesSharedFilesWhole(t *testing.T) {
	root := t.TempDir()
	files, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(root, "snapshots"), 2, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "checkpoints")
	s, err := newCheckpointSnapshots(files, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("table..."), (2*shrinkSliceBytes+24)/8)
	write := func(path string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := filepath.Join(dir, "1-10-100")
	write(filepath.Join(old, "000007.sst")) // compacted away since: only here
	live := filepath.Join(root, "ledger", "000008.sst")
	write(live)
	if err := os.Link(live, filepath.Join(old, "000008.sst")); err != nil {
		t.Fatal(err)
	}
	stream := filepath.Join(dir, "1-10-100-42.stream")
	write(stream)
	reading, err := os.Open(stream)
	if err != nil {
		t.Fatal(err)
	}
	defer reading.Close()

	if err := s.reap(true); err != nil {
		t.Fatalf("reap: %v", err)
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Errorf("after the reap, %v remain; no snapshot is kept", got)
	}
	if got, err := os.ReadFile(live); err != nil || !bytes.Equal(got, content) {
		t.Errorf("the store's own name of a shared table: %d bytes (%v), want the %d written", len(got), err, len(content))
	}
	if got, err := io.ReadAll(reading); err != nil || !bytes.Equal(got, content) {
		t.Errorf("an open stream file read %d bytes (%v) after the reap, want the %d written", len(got), err, len(content))
	}
}
