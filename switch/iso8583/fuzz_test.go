package iso8583

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzUnpack feeds Unpack, PeekMTISTAN, CheckFields and VerifyMAC arbitrary
// bytes: none may panic, an accepted message packs back to its input, and
// PeekMTISTAN reads what Unpack reads. Unpack allocates nothing whatever
// the input (TestAllocs checks it on the samples and their mutations), so
// hostile input cannot grow memory. Run it with -fuzz FuzzUnpack
// -fuzztime 20000x.
func FuzzUnpack(f *testing.F) {
	for _, s := range samples(f) {
		f.Add(packSample(f, s))
	}
	f.Add([]byte("0200C000000000000000"))
	mc, err := NewMACer(sampleKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) > differentialInputCap {
			return
		}
		var m Message
		err := Unpack(p, &m)
		mti, stan, peeked := PeekMTISTAN(p)
		_ = VerifyMAC(p, mc)
		_ = m.CheckFields()
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field > fieldNumberMax {
				t.Fatalf("Unpack(%q): %v", p, err)
			}
			return
		}
		if q, err := m.Pack(nil); err != nil || !bytes.Equal(p, q) {
			t.Fatalf("Pack(Unpack(%q)) = %q, %v", p, q, err)
		}
		if mti != m.MTI || peeked != m.Has(FieldSTAN) || stan != m.STAN {
			t.Fatalf("PeekMTISTAN(%q) = %v %d %v; Unpack read %v %d", p, mti, stan, peeked, m.MTI, m.STAN)
		}
	})
}

// FuzzNextFrame splits arbitrary bytes into frames with NextFrame and with
// a FrameReader: both must see the same frames and stop the same way, and
// framing the frames again must give back the bytes consumed. Run it with
// -fuzz FuzzNextFrame -fuzztime 20000x.
func FuzzNextFrame(f *testing.F) {
	var stream []byte
	for _, s := range samples(f) {
		stream, _ = AppendFrame(stream, packSample(f, s))
	}
	f.Add(stream)
	f.Add([]byte("\x00\x00"))
	f.Add([]byte("\x20\x01"))
	f.Add([]byte("\x00\x05abc"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4*FrameSizeMax {
			return
		}
		fr := NewFrameReader(bytes.NewReader(data))
		var reframed []byte
		buf := data
		for {
			frame, rest, err := NextFrame(buf)
			read, readErr := fr.Next()
			if err != nil {
				if !errors.Is(readErr, err) || !bytes.Equal(rest, buf) {
					t.Fatalf("NextFrame: %v; FrameReader: %v", err, readErr)
				}
				break
			}
			if frame == nil {
				wantErr := io.ErrUnexpectedEOF
				if len(buf) == 0 {
					wantErr = io.EOF
				}
				if readErr != wantErr || !bytes.Equal(rest, buf) {
					t.Fatalf("NextFrame wants more of %q; FrameReader: %v", buf, readErr)
				}
				break
			}
			if readErr != nil || !bytes.Equal(frame, read) || len(frame) == 0 || len(frame) > FrameSizeMax {
				t.Fatalf("NextFrame %q; FrameReader %q, %v", frame, read, readErr)
			}
			reframed, err = AppendFrame(reframed, frame)
			if err != nil {
				t.Fatal(err)
			}
			buf = rest
		}
		if !bytes.Equal(reframed, data[:len(data)-len(buf)]) {
			t.Fatalf("the frames of %q frame back to %q", data, reframed)
		}
	})
}
