package iso8583

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestAppendFrame(t *testing.T) {
	got, err := AppendFrame([]byte("x"), []byte("0800"))
	if err != nil || string(got) != "x\x00\x040800" {
		t.Errorf("AppendFrame = %q, %v", got, err)
	}
	if _, err := AppendFrame(nil, nil); !errors.Is(err, ErrEmptyFrame) {
		t.Errorf("empty: %v", err)
	}
	if _, err := AppendFrame(nil, make([]byte, FrameSizeMax+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("too large: %v", err)
	}
	if got, err := AppendFrame(nil, make([]byte, FrameSizeMax)); err != nil || len(got) != FrameSizeMax+2 || got[0] != 0x20 || got[1] != 0 {
		t.Errorf("largest: %d bytes, %v", len(got), err)
	}
}

func TestNextFrame(t *testing.T) {
	big := string(make([]byte, FrameSizeMax))
	for _, tc := range []struct {
		name   string
		buf    string
		frame  string
		rest   string
		err    error
		isMore bool
	}{
		{"nothing", "", "", "", nil, true},
		{"half a header", "\x00", "", "\x00", nil, true},
		{"header only", "\x00\x04", "", "\x00\x04", nil, true},
		{"short frame", "\x00\x04080", "", "\x00\x04080", nil, true},
		{"one frame", "\x00\x040800", "0800", "", nil, false},
		{"frame and more", "\x00\x040800\x00\x02ab\x00", "0800", "\x00\x02ab\x00", nil, false},
		{"largest", "\x20\x00" + big, big, "", nil, false},
		{"empty frame", "\x00\x00rest", "", "\x00\x00rest", ErrEmptyFrame, false},
		{"too large", "\x20\x01", "", "\x20\x01", ErrFrameTooLarge, false},
		{"far too large", "\xff\xff", "", "\xff\xff", ErrFrameTooLarge, false},
	} {
		frame, rest, err := NextFrame([]byte(tc.buf))
		if string(frame) != tc.frame || string(rest) != tc.rest || !errors.Is(err, tc.err) || (frame == nil && err == nil) != tc.isMore {
			t.Errorf("%s: NextFrame = %q, %q, %v", tc.name, frame, rest, err)
		}
	}
	buf := []byte("\x00\x040800\x00\x02ab")
	frame, rest, _ := NextFrame(buf)
	if cap(frame) != 4 {
		t.Errorf("frame capacity %d reaches into the rest", cap(frame))
	}
	_ = append(frame, 'Z')
	if string(rest) != "\x00\x02ab" {
		t.Errorf("appending to a frame changed the rest: %q", rest)
	}
}

func TestPackFrame(t *testing.T) {
	mc, _ := NewMACer(sampleKey)
	for _, s := range samples(t) {
		var key *MACer
		if s.mac {
			key = mc
		}
		m := s.m
		framed, err := PackFrame([]byte("x"), &m, key)
		if err != nil {
			t.Fatal(err)
		}
		frame, rest, err := NextFrame(framed[1:])
		if err != nil || len(rest) != 0 || !bytes.Equal(frame, packSample(t, s)) {
			t.Errorf("%s: PackFrame wrote %q", s.name, framed)
		}
	}
	m := sampleNamed(t, "0200").m
	m.STAN = 1e6
	for _, key := range []*MACer{nil, mc} {
		if dst, err := PackFrame([]byte("x"), &m, key); !errors.Is(err, ErrTooLarge) || string(dst) != "x" {
			t.Errorf("PackFrame of a bad message = %q, %v", dst, err)
		}
	}
}

func TestFrameReader(t *testing.T) {
	var stream []byte
	for _, msg := range []string{"0800", "a", strings.Repeat("z", FrameSizeMax)} {
		stream, _ = AppendFrame(stream, []byte(msg))
	}
	fr := NewFrameReader(bytes.NewReader(stream))
	for _, want := range []string{"0800", "a", strings.Repeat("z", FrameSizeMax)} {
		got, err := fr.Next()
		if err != nil || string(got) != want {
			t.Fatalf("Next = %d bytes, %v; want %d bytes", len(got), err, len(want))
		}
	}
	if _, err := fr.Next(); err != io.EOF {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
	for _, tc := range []struct {
		stream string
		err    error
	}{
		{"\x00", io.ErrUnexpectedEOF},
		{"\x00\x04080", io.ErrUnexpectedEOF},
		{"\x00\x04", io.ErrUnexpectedEOF},
		{"\x00\x00", ErrEmptyFrame},
		{"\x20\x01", ErrFrameTooLarge},
	} {
		if _, err := NewFrameReader(strings.NewReader(tc.stream)).Next(); !errors.Is(err, tc.err) {
			t.Errorf("%q: %v, want %v", tc.stream, err, tc.err)
		}
	}
}
