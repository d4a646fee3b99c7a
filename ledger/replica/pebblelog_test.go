package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
	"github.com/payswitch/payswitch/ledger/store"
)

// pebbleLog is a raft.LogStore and raft.StableStore in one Pebble DB, the
// measured alternative to raft-wal (bench/RESULTS.md). Its contract
// mirrors raft-wal's, so that either can serve a node:
//
//   - appends are contiguous: after the first entry of an empty log, each
//     entry's index is the previous one's plus one (IsMonotonic is true);
//   - DeleteRange removes a prefix or a suffix of the log, never a middle;
//   - an entry below FirstIndex is raft.ErrLogNotFound at once (what
//     compactedLog adds to raft-wal), so raft sends a snapshot instead;
//   - a stable key that was never set reads as an empty value or 0 with a
//     nil error.
//
// Every StoreLogs is one Pebble batch committed with sync. FirstIndex and
// LastIndex are answered from memory, read from the DB once at open.
//
// Keys: pebbleLogPrefix then the index big-endian (8 bytes), so the log
// sorts by index; pebbleStablePrefix then the caller's key.
type pebbleLog struct {
	db     *pebble.DB
	closed atomic.Bool

	writeMu sync.Mutex // serialises StoreLogs and DeleteRange

	mu          sync.RWMutex // guards first and last
	first, last uint64       // both 0 when the log is empty
}

const (
	pebbleLogPrefix    byte = 'l'
	pebbleStablePrefix byte = 's'
	pebbleLogKeyLen         = 9
)

var errPebbleLogClosed = errors.New("replica: pebble log is closed")

var (
	_ raft.LogStore          = (*pebbleLog)(nil)
	_ raft.StableStore       = (*pebbleLog)(nil)
	_ raft.MonotonicLogStore = (*pebbleLog)(nil)
)

// openPebbleLog opens or creates the log in dir, with the ledger store's
// Pebble options.
func openPebbleLog(dir string) (*pebbleLog, error) {
	db, err := pebble.Open(dir, store.PebbleOptions(nil))
	if err != nil {
		return nil, fmt.Errorf("replica: open pebble log %s: %w", dir, err)
	}
	l := &pebbleLog{db: db}
	if err := l.loadBounds(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return l, nil
}

// loadBounds reads the first and last log indexes from the DB.
func (l *pebbleLog) loadBounds() error {
	it, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{pebbleLogPrefix},
		UpperBound: []byte{pebbleLogPrefix + 1},
	})
	if err != nil {
		return fmt.Errorf("replica: pebble log bounds: %w", err)
	}
	var first, last uint64
	if it.First() {
		if first, err = pebbleLogKeyIndex(it.Key()); err == nil && it.Last() {
			last, err = pebbleLogKeyIndex(it.Key())
		}
	}
	if err == nil {
		err = it.Error()
	}
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("replica: pebble log bounds: %w", err)
	}
	if first > last {
		return fmt.Errorf("replica: pebble log bounds: first index %d after last %d", first, last)
	}
	l.first, l.last = first, last
	return nil
}

func pebbleLogKey(dst *[pebbleLogKeyLen]byte, index uint64) []byte {
	dst[0] = pebbleLogPrefix
	binary.BigEndian.PutUint64(dst[1:], index)
	return dst[:]
}

func pebbleLogKeyIndex(key []byte) (uint64, error) {
	if len(key) != pebbleLogKeyLen || key[0] != pebbleLogPrefix {
		return 0, fmt.Errorf("replica: malformed pebble log key %x", key)
	}
	return binary.BigEndian.Uint64(key[1:]), nil
}

func pebbleStableKey(key []byte) []byte {
	k := make([]byte, 1+len(key))
	k[0] = pebbleStablePrefix
	copy(k[1:], key)
	return k
}

func (l *pebbleLog) bounds() (first, last uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.first, l.last
}

func (l *pebbleLog) setBounds(first, last uint64) {
	l.mu.Lock()
	l.first, l.last = first, last
	l.mu.Unlock()
}

// FirstIndex implements raft.LogStore: 0 for an empty log.
func (l *pebbleLog) FirstIndex() (uint64, error) {
	if l.closed.Load() {
		return 0, errPebbleLogClosed
	}
	first, _ := l.bounds()
	return first, nil
}

// LastIndex implements raft.LogStore: 0 for an empty log.
func (l *pebbleLog) LastIndex() (uint64, error) {
	if l.closed.Load() {
		return 0, errPebbleLogClosed
	}
	_, last := l.bounds()
	return last, nil
}

// IsMonotonic implements raft.MonotonicLogStore: StoreLogs refuses gaps,
// as raft-wal does.
func (l *pebbleLog) IsMonotonic() bool { return true }

// GetLog implements raft.LogStore. A missing entry is raft.ErrLogNotFound.
// The entry never shares memory with Pebble.
func (l *pebbleLog) GetLog(index uint64, log *raft.Log) error {
	if l.closed.Load() {
		return errPebbleLogClosed
	}
	var kb [pebbleLogKeyLen]byte
	value, closer, err := l.db.Get(pebbleLogKey(&kb, index))
	if errors.Is(err, pebble.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return fmt.Errorf("replica: read log %d: %w", index, err)
	}
	err = decodePebbleLogEntry(value, log)
	if cerr := closer.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("replica: read log %d: %w", index, err)
	}
	if log.Index != index {
		return fmt.Errorf("replica: read log %d: the entry says index %d", index, log.Index)
	}
	return nil
}

// StoreLog implements raft.LogStore.
func (l *pebbleLog) StoreLog(log *raft.Log) error {
	return l.StoreLogs([]*raft.Log{log})
}

// StoreLogs implements raft.LogStore: the entries are one batch, synced
// before it returns.
func (l *pebbleLog) StoreLogs(logs []*raft.Log) error {
	if l.closed.Load() {
		return errPebbleLogClosed
	}
	if len(logs) == 0 {
		return nil
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()

	first, last := l.bounds()
	size := 0
	for i, e := range logs {
		// An empty log accepts any first index; after that, no gaps.
		if (i > 0 || last > 0) && e.Index != last+1 {
			return fmt.Errorf("replica: non-monotonic log entries: tried to append index %d after %d", e.Index, last)
		}
		last = e.Index
		size += pebbleLogKeyLen + pebbleLogEntryLen(e) + 2*binary.MaxVarintLen32 + 1
	}
	if first == 0 {
		first = logs[0].Index
	}

	b := l.db.NewBatchWithSize(size)
	defer b.Close()
	var kb [pebbleLogKeyLen]byte
	for _, e := range logs {
		n := pebbleLogEntryLen(e)
		op := b.SetDeferred(pebbleLogKeyLen, n)
		copy(op.Key, pebbleLogKey(&kb, e.Index))
		if got := len(appendPebbleLogEntry(op.Value[:0], e)); got != n {
			return fmt.Errorf("replica: log %d encoded to %d bytes, want %d", e.Index, got, n)
		}
		if err := op.Finish(); err != nil {
			return fmt.Errorf("replica: store log %d: %w", e.Index, err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("replica: store logs %d-%d: %w", logs[0].Index, last, err)
	}
	l.setBounds(first, last)
	return nil
}

// DeleteRange implements raft.LogStore for an inclusive range that is a
// prefix or a suffix of the log (or covers it), as raft-wal does; a range
// outside the log is a no-op and a middle range an error.
func (l *pebbleLog) DeleteRange(minIdx, maxIdx uint64) error {
	if l.closed.Load() {
		return errPebbleLogClosed
	}
	if minIdx > maxIdx {
		return nil
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()

	first, last := l.bounds()
	if last == 0 || maxIdx < first || minIdx > last {
		return nil
	}
	lo, hi := max(minIdx, first), min(maxIdx, last) // the entries that exist
	var newFirst, newLast uint64
	switch {
	case lo == first && hi == last:
		// The whole log: it is empty again and takes any next index.
	case lo == first:
		newFirst, newLast = hi+1, last
	case hi == last:
		newFirst, newLast = first, lo-1
	default:
		return fmt.Errorf("replica: only suffix or prefix ranges may be deleted from the log (asked %d-%d of %d-%d)",
			minIdx, maxIdx, first, last)
	}
	var start, end [pebbleLogKeyLen]byte
	endKey := pebbleLogKey(&end, hi+1)
	if hi == math.MaxUint64 {
		endKey = []byte{pebbleLogPrefix + 1}
	}
	b := l.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(pebbleLogKey(&start, lo), endKey, nil); err != nil {
		return fmt.Errorf("replica: delete logs %d-%d: %w", lo, hi, err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("replica: delete logs %d-%d: %w", lo, hi, err)
	}
	l.setBounds(newFirst, newLast)
	return nil
}

// Set implements raft.StableStore, synced.
func (l *pebbleLog) Set(key, val []byte) error {
	if l.closed.Load() {
		return errPebbleLogClosed
	}
	if err := l.db.Set(pebbleStableKey(key), val, pebble.Sync); err != nil {
		return fmt.Errorf("replica: set stable %q: %w", key, err)
	}
	return nil
}

// Get implements raft.StableStore. A key never set reads as nil with a nil
// error, as in raft-wal (raft takes both that and a "not found" error).
func (l *pebbleLog) Get(key []byte) ([]byte, error) {
	if l.closed.Load() {
		return nil, errPebbleLogClosed
	}
	value, closer, err := l.db.Get(pebbleStableKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("replica: get stable %q: %w", key, err)
	}
	out := make([]byte, len(value))
	copy(out, value)
	if err := closer.Close(); err != nil {
		return nil, fmt.Errorf("replica: get stable %q: %w", key, err)
	}
	return out, nil
}

// SetUint64 implements raft.StableStore: 8 bytes little-endian, as raft-wal
// writes them.
func (l *pebbleLog) SetUint64(key []byte, val uint64) error {
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], val)
	return l.Set(key, buf[:])
}

// GetUint64 implements raft.StableStore: 0 with a nil error for a key
// never set, as raft-wal answers.
func (l *pebbleLog) GetUint64(key []byte) (uint64, error) {
	raw, err := l.Get(key)
	if err != nil {
		return 0, err
	}
	if len(raw) == 0 {
		return 0, nil
	}
	if len(raw) != 8 {
		return 0, fmt.Errorf("replica: stable %q holds %d bytes, not a uint64", key, len(raw))
	}
	return binary.LittleEndian.Uint64(raw), nil
}

// Close closes the DB. Later calls fail with errPebbleLogClosed; a second
// Close is a no-op.
func (l *pebbleLog) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	// Wait for a write in flight: Pebble must not close under a commit.
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	return l.db.Close()
}

// A log entry's value:
//
//	uvarint index, uvarint term, uvarint type,
//	uvarint len(data), data, uvarint len(extensions), extensions,
//	appended_at: varint Unix seconds, uvarint nanoseconds (any time.Time
//	instant; the zero time decodes as time.Time{}).
//
// The key also holds the index; GetLog checks that the two agree.

func pebbleLogEntryLen(e *raft.Log) int {
	n := uvarintLen(e.Index) + uvarintLen(e.Term) + uvarintLen(uint64(e.Type)) +
		uvarintLen(uint64(len(e.Data))) + len(e.Data) +
		uvarintLen(uint64(len(e.Extensions))) + len(e.Extensions) +
		varintLen(e.AppendedAt.Unix()) + uvarintLen(uint64(e.AppendedAt.Nanosecond()))
	return n
}

func appendPebbleLogEntry(dst []byte, e *raft.Log) []byte {
	dst = binary.AppendUvarint(dst, e.Index)
	dst = binary.AppendUvarint(dst, e.Term)
	dst = binary.AppendUvarint(dst, uint64(e.Type))
	dst = binary.AppendUvarint(dst, uint64(len(e.Data)))
	dst = append(dst, e.Data...)
	dst = binary.AppendUvarint(dst, uint64(len(e.Extensions)))
	dst = append(dst, e.Extensions...)
	dst = binary.AppendVarint(dst, e.AppendedAt.Unix())
	return binary.AppendUvarint(dst, uint64(e.AppendedAt.Nanosecond()))
}

var errPebbleLogEntry = errors.New("malformed log entry")

// decodePebbleLogEntry decodes src into e, copying Data and Extensions
// (nil when empty, as raft-wal decodes them).
func decodePebbleLogEntry(src []byte, e *raft.Log) error {
	d := entryDecoder{buf: src}
	e.Index = d.uvarint()
	e.Term = d.uvarint()
	typ := d.uvarint()
	e.Data = d.bytes()
	e.Extensions = d.bytes()
	sec, nsec := d.varint(), d.uvarint()
	if d.bad || len(d.buf) != 0 || typ > math.MaxUint8 || nsec >= 1e9 {
		return errPebbleLogEntry
	}
	e.Type = raft.LogType(typ)
	e.AppendedAt = time.Unix(sec, int64(nsec))
	if e.AppendedAt.IsZero() {
		e.AppendedAt = time.Time{}
	}
	return nil
}

type entryDecoder struct {
	buf []byte
	bad bool
}

func (d *entryDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.buf, d.bad = nil, true
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *entryDecoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.buf, d.bad = nil, true
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *entryDecoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.buf)) {
		d.buf, d.bad = nil, true
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]byte, n)
	copy(out, d.buf[:n])
	d.buf = d.buf[n:]
	return out
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func varintLen(v int64) int {
	u := uint64(v) << 1
	if v < 0 {
		u = ^u
	}
	return uvarintLen(u)
}
