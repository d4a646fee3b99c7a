package routing

import (
	"encoding/binary"
	"errors"
)

// The routing tables travel in the Raft log and rest in Pebble in one
// compact binary form: fixed-width little-endian integers and byte strings
// behind a uvarint length. Every decoder is strict (a length past its
// field's maximum, a short buffer or trailing bytes is an error) and
// allocates only the strings it returns.

// errShort and errLong are the decoder's two ways to fail; callers wrap
// them with what they were decoding.
var (
	errShort = errors.New("truncated")
	errLong  = errors.New("field longer than its maximum")
)

type encoder struct{ buf []byte }

func (e *encoder) u8(v uint8)   { e.buf = append(e.buf, v) }
func (e *encoder) u16(v uint16) { e.buf = binary.LittleEndian.AppendUint16(e.buf, v) }
func (e *encoder) u32(v uint32) { e.buf = binary.LittleEndian.AppendUint32(e.buf, v) }
func (e *encoder) u64(v uint64) { e.buf = binary.LittleEndian.AppendUint64(e.buf, v) }

func (e *encoder) bytes(p []byte) {
	e.buf = binary.AppendUvarint(e.buf, uint64(len(p)))
	e.buf = append(e.buf, p...)
}

func (e *encoder) str(s string) {
	e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// decoder reads what encoder wrote. The first failure sticks: later reads
// return zero values, and err reports it.
type decoder struct {
	p   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.p) < n {
		d.err = errShort
		return nil
	}
	b := d.p[:n]
	d.p = d.p[n:]
	return b
}

func (d *decoder) u8() uint8 {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if b := d.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// length reads a uvarint length no larger than max.
func (d *decoder) length(max int) int {
	if d.err != nil {
		return 0
	}
	n, k := binary.Uvarint(d.p)
	if k <= 0 {
		d.err = errShort
		return 0
	}
	if n > uint64(max) {
		d.err = errLong
		return 0
	}
	d.p = d.p[k:]
	return int(n)
}

func (d *decoder) str(max int) string {
	n := d.length(max)
	return string(d.take(n))
}

func (d *decoder) bytes(max int) []byte {
	n := d.length(max)
	b := d.take(n)
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// finish reports the first failure, or trailing bytes.
func (d *decoder) finish() error {
	if d.err == nil && len(d.p) != 0 {
		d.err = errors.New("trailing bytes")
	}
	return d.err
}
