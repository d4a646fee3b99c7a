package iso8583

import (
	"encoding/binary"
	"io"
)

// AppendFrame appends msg to dst as one frame (DESIGN.md 6.1): the length
// of msg as 2 bytes big-endian, then msg. It refuses an empty msg
// (ErrEmptyFrame) and one longer than FrameSizeMax (ErrFrameTooLarge).
func AppendFrame(dst, msg []byte) ([]byte, error) {
	if len(msg) == 0 {
		return dst, ErrEmptyFrame
	}
	if len(msg) > FrameSizeMax {
		return dst, ErrFrameTooLarge
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(msg)))
	return append(dst, msg...), nil
}

// PackFrame appends m to dst as one frame, packed in place behind its
// header, with field 128 set to the MAC when mc is not nil (PackMAC) and
// without a MAC otherwise (Pack). Errors are theirs; on error dst is
// returned at its original length. It allocates nothing when dst has room.
func PackFrame(dst []byte, m *Message, mc *MACer) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0)
	var err error
	if mc != nil {
		dst, err = PackMAC(dst, m, mc)
	} else {
		dst, err = m.Pack(dst)
	}
	if err != nil {
		return dst[:start], err
	}
	n := len(dst) - start - frameHeaderLen
	if n > FrameSizeMax {
		return dst[:start], ErrFrameTooLarge
	}
	binary.BigEndian.PutUint16(dst[start:], uint16(n))
	return dst, nil
}

// NextFrame splits the first frame off buf, the bytes received so far on a
// session: frame is the message without its header and rest what follows
// it. When buf does not yet hold a whole frame, frame and err are nil and
// rest is buf: read more and call again. A header announcing 0 bytes
// (ErrEmptyFrame) or more than FrameSizeMax (ErrFrameTooLarge) is refused
// before any more is read; the session cannot be resynchronised and must be
// closed.
//
// frame and rest alias buf; frame's capacity ends with it, so appending to
// frame never overwrites rest. In a gnet OnTraffic, peek the inbound
// buffer, take frames until NextFrame asks for more, copy or decode each
// (Unpack copies) and discard what was consumed.
func NextFrame(buf []byte) (frame, rest []byte, err error) {
	if len(buf) < frameHeaderLen {
		return nil, buf, nil
	}
	n := int(binary.BigEndian.Uint16(buf))
	switch {
	case n == 0:
		return nil, buf, ErrEmptyFrame
	case n > FrameSizeMax:
		return nil, buf, ErrFrameTooLarge
	case len(buf) < frameHeaderLen+n:
		return nil, buf, nil
	}
	end := frameHeaderLen + n
	return buf[frameHeaderLen:end:end], buf[end:], nil
}

// FrameReader reads frames from an io.Reader, for simple clients and
// tests; the switch itself frames with NextFrame. Its buffer holds one
// frame of FrameSizeMax, so reading allocates nothing. It is not safe for
// concurrent use.
type FrameReader struct {
	r   io.Reader
	buf [frameHeaderLen + FrameSizeMax]byte
}

// NewFrameReader returns a FrameReader reading from r.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: r}
}

// Next reads the next frame and returns its message, valid until the next
// call. It returns io.EOF when r ends between frames, io.ErrUnexpectedEOF
// when it ends inside one, and ErrEmptyFrame or ErrFrameTooLarge for a bad
// header, which it checks before reading the message.
func (fr *FrameReader) Next() ([]byte, error) {
	header := fr.buf[:frameHeaderLen]
	if _, err := io.ReadFull(fr.r, header); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(header))
	switch {
	case n == 0:
		return nil, ErrEmptyFrame
	case n > FrameSizeMax:
		return nil, ErrFrameTooLarge
	}
	end := frameHeaderLen + n
	if _, err := io.ReadFull(fr.r, fr.buf[frameHeaderLen:end]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return fr.buf[frameHeaderLen:end:end], nil
}
