package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Snapshot streams. A snapshot is every key of the store at one applied
// index, read from a checkpoint (Checkpoint, WriteCheckpointTo) so that
// Apply may go on while it is written out:
//
//	magic "PSWSNAP1"
//	repeated: uvarint key length (> 0), key, uvarint value length, value
//	uvarint 0, then 8 bytes little-endian: xxhash64 of all preceding bytes
//
// Restore verifies the checksum and the digest before the new state
// replaces the old one.
const snapshotMagic = "PSWSNAP1"

// snapshotKeyMax and snapshotValueMax bound what Restore allocates for one
// entry, whatever the stream says.
const (
	snapshotKeyMax   = 128 // routing keys reach 2 + 64 (a mandate ID)
	snapshotValueMax = historyGroupMax
)

// Sync makes every applied batch durable. A store with a WAL syncs it
// after every batch anyway; one opened with NoWAL flushes its memtables,
// which takes as long as writing them out (a 64 MiB memtable: a few
// hundred milliseconds here) and holds up no Apply meanwhile.
func (s *Store) Sync() error {
	if s.opts.NoWAL {
		if err := s.db.Flush(); err != nil {
			return fmt.Errorf("store: sync: flush: %w", err)
		}
		return nil
	}
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	return nil
}

// Checkpoint writes a consistent copy of the store into dir, which must not
// exist, without reading the data: the memtable is flushed first, then
// Pebble hard-links the immutable table files (copying them only across
// file systems) and copies the little WAL written since the flush (a NoWAL
// store has none: its copy ends at the flush). It may run on any goroutine
// while Apply goes on; the copy holds every batch applied before the call
// and perhaps a few more, with their applied index, never part of one.
// WriteCheckpointTo streams it in the snapshot format.
//
// The cost is a memtable flush that was due anyway, a link per table file,
// and the disk space of the tables that later compactions replace, for as
// long as the checkpoint is kept.
func (s *Store) Checkpoint(dir string) error {
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("store: flush before checkpoint: %w", err)
	}
	if err := s.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("store: checkpoint %s: %w", dir, err)
	}
	return nil
}

// WriteCheckpointTo streams the checkpoint in dir (made by Checkpoint, on
// the file system fs, nil for the OS) to w in the snapshot format. It
// opens the checkpoint read-only and changes nothing in it.
func WriteCheckpointTo(fs vfs.FS, dir string, w io.Writer) (int64, error) {
	opts := PebbleOptions(fs)
	opts.ReadOnly = true
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return 0, fmt.Errorf("store: open checkpoint %s: %w", dir, err)
	}
	n, err := writeStream(db, w)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("store: close checkpoint %s: %w", dir, cerr)
	}
	return n, err
}

// writeStream writes every key r holds to w in the snapshot format.
func writeStream(r pebble.Reader, w io.Writer) (int64, error) {
	h := xxhash.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 1<<20)
	written := int64(0)
	put := func(p []byte) error {
		n, err := bw.Write(p)
		written += int64(n)
		return err
	}
	if err := put([]byte(snapshotMagic)); err != nil {
		return written, err
	}
	iter, err := r.NewIter(nil)
	if err != nil {
		return written, err
	}
	var lenBuf [binary.MaxVarintLen64]byte
	for valid := iter.First(); valid; valid = iter.Next() {
		key, value := iter.Key(), iter.Value()
		for _, part := range [][]byte{key, value} {
			n := binary.PutUvarint(lenBuf[:], uint64(len(part)))
			if err := put(lenBuf[:n]); err != nil {
				_ = iter.Close()
				return written, err
			}
			if err := put(part); err != nil {
				_ = iter.Close()
				return written, err
			}
		}
	}
	if err := iter.Close(); err != nil {
		return written, err
	}
	if err := put([]byte{0}); err != nil {
		return written, err
	}
	if err := bw.Flush(); err != nil {
		return written, err
	}
	var sum [8]byte
	binary.LittleEndian.PutUint64(sum[:], h.Sum64())
	n, err := w.Write(sum[:])
	return written + int64(n), err
}

// RestoreDir replaces the store in opts.Dir, on opts.FS, with the snapshot
// read from r. The store in that directory must be closed. The snapshot is
// written to a fresh Pebble DB beside it, verified (checksum, digest,
// Check), synced, and only then renamed into place, so a failure at any
// point leaves the old state as it was.
func RestoreDir(opts Options, r io.Reader) error {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return err
	}
	fs := opts.FS
	if fs == nil {
		fs = vfs.Default
	}
	tmp := opts.Dir + ".restore"
	if err := fs.RemoveAll(tmp); err != nil {
		return err
	}
	if err := writeSnapshotDB(fs, tmp, r); err != nil {
		_ = fs.RemoveAll(tmp)
		return err
	}
	verify := opts
	verify.Dir = tmp
	st, err := Open(verify)
	if err != nil {
		_ = fs.RemoveAll(tmp)
		return err
	}
	err = st.Check()
	_ = st.Close()
	if err != nil {
		_ = fs.RemoveAll(tmp)
		return fmt.Errorf("store: restored snapshot fails its check: %w", err)
	}
	old := opts.Dir + ".old"
	if err := fs.RemoveAll(old); err != nil {
		return err
	}
	if _, err := fs.Stat(opts.Dir); err == nil {
		if err := fs.Rename(opts.Dir, old); err != nil {
			return err
		}
	}
	if err := fs.Rename(tmp, opts.Dir); err != nil {
		return err
	}
	if err := syncDir(fs, fs.PathDir(opts.Dir)); err != nil {
		return err
	}
	return fs.RemoveAll(old)
}

func syncDir(fs vfs.FS, dir string) error {
	f, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// writeSnapshotDB decodes a snapshot stream into a new Pebble DB at dir on
// fs.
func writeSnapshotDB(fs vfs.FS, dir string, r io.Reader) error {
	db, err := pebble.Open(dir, PebbleOptions(fs))
	if err != nil {
		return err
	}
	err = copySnapshot(db, r)
	if err == nil {
		err = db.Flush()
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// hashReader hashes exactly the bytes its reader hands out.
type hashReader struct {
	r *bufio.Reader
	h *xxhash.Digest
}

func (hr *hashReader) ReadByte() (byte, error) {
	b, err := hr.r.ReadByte()
	if err == nil {
		_, _ = hr.h.Write([]byte{b})
	}
	return b, err
}

func (hr *hashReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	_, _ = hr.h.Write(p[:n])
	return n, err
}

var errSnapshotFormat = errors.New("store: malformed snapshot")

func copySnapshot(db *pebble.DB, r io.Reader) error {
	hr := &hashReader{r: bufio.NewReaderSize(r, 1<<20), h: xxhash.New()}
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(hr, magic); err != nil || string(magic) != snapshotMagic {
		return fmt.Errorf("%w: bad magic", errSnapshotFormat)
	}
	batch := db.NewBatch()
	defer batch.Close()
	key := make([]byte, snapshotKeyMax)
	value := make([]byte, snapshotValueMax)
	for entries := 0; ; entries++ {
		keyLen, err := binary.ReadUvarint(hr)
		if err != nil {
			return fmt.Errorf("%w: entry %d: %w", errSnapshotFormat, entries, err)
		}
		if keyLen == 0 {
			break
		}
		if keyLen > snapshotKeyMax {
			return fmt.Errorf("%w: entry %d: key of %d bytes", errSnapshotFormat, entries, keyLen)
		}
		if _, err := io.ReadFull(hr, key[:keyLen]); err != nil {
			return fmt.Errorf("%w: entry %d: %w", errSnapshotFormat, entries, err)
		}
		valueLen, err := binary.ReadUvarint(hr)
		if err != nil || valueLen > snapshotValueMax {
			return fmt.Errorf("%w: entry %d: value length %d: %v", errSnapshotFormat, entries, valueLen, err)
		}
		if _, err := io.ReadFull(hr, value[:valueLen]); err != nil {
			return fmt.Errorf("%w: entry %d: %w", errSnapshotFormat, entries, err)
		}
		_ = batch.Set(key[:keyLen], value[:valueLen], nil)
		if batch.Len() >= 4<<20 {
			if err := batch.Commit(pebble.NoSync); err != nil {
				return err
			}
			batch.Reset()
		}
	}
	want := hr.h.Sum64()
	var sum [8]byte
	if _, err := io.ReadFull(hr.r, sum[:]); err != nil {
		return fmt.Errorf("%w: checksum: %w", errSnapshotFormat, err)
	}
	if got := binary.LittleEndian.Uint64(sum[:]); got != want {
		return fmt.Errorf("%w: checksum %016x, computed %016x", errSnapshotFormat, got, want)
	}
	if _, err := hr.r.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: bytes after the checksum", errSnapshotFormat)
	}
	return batch.Commit(pebble.Sync)
}
