package iso8583

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestPackMACAndVerify(t *testing.T) {
	mc, err := NewMACer(sampleKey)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewMACer(bytes.Repeat([]byte{7}, 32))
	for _, s := range samples(t) {
		m := s.m
		m.Clear(FieldMAC)
		p, err := PackMAC([]byte("prefix"), &m, mc)
		if err != nil {
			t.Fatal(err)
		}
		p = p[len("prefix"):]
		// The contract, computed independently: HMAC-SHA256 over everything
		// before the MAC value, first 8 bytes, upper-case hex.
		h := hmac.New(sha256.New, sampleKey)
		h.Write(p[:len(p)-16])
		want := strings.ToUpper(hex.EncodeToString(h.Sum(nil)[:8]))
		if got := string(p[len(p)-16:]); got != want {
			t.Errorf("%s: MAC %s, want %s", s.name, got, want)
		}
		if got := strings.ToUpper(hex.EncodeToString(m.MAC[:])); got != want {
			t.Errorf("%s: m.MAC %s, want %s", s.name, got, want)
		}
		var back Message
		if err := Unpack(p, &back); err != nil || !back.Has(FieldMAC) {
			t.Fatalf("%s: %v", s.name, err)
		}
		if err := VerifyMAC(p, mc); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
		if err := VerifyMAC(p, other); !errors.Is(err, ErrMACMismatch) {
			t.Errorf("%s under another key: %v", s.name, err)
		}
		for _, at := range []int{0, 5, 40, len(p) - 17, len(p) - 1} {
			tampered := bytes.Clone(p)
			tampered[at] ^= 1
			if err := VerifyMAC(tampered, mc); err == nil {
				t.Errorf("%s: byte %d changed, MAC still verifies", s.name, at)
			}
		}
		if lower := strings.ToLower(want); lower != want {
			p := bytes.Clone(p)
			copy(p[len(p)-16:], lower)
			if err := VerifyMAC(p, mc); !errors.Is(err, ErrMACMismatch) {
				t.Errorf("%s: a lower-case MAC verifies: %v", s.name, err)
			}
		}
	}
}

func TestVerifyMACMissing(t *testing.T) {
	mc, _ := NewMACer(sampleKey)
	noMAC := sampleNamed(t, "0810")
	p := packSample(t, noMAC)
	for _, input := range [][]byte{p, nil, []byte("0200"), []byte("0200G0000000000000000000000000000001" + "0123456789ABCDEF")} {
		if err := VerifyMAC(input, mc); !errors.Is(err, ErrMACMissing) {
			t.Errorf("VerifyMAC(%q) = %v, want ErrMACMissing", input, err)
		}
	}
	// Bit 128 set but no secondary-bitmap bit: not a MAC.
	if err := VerifyMAC([]byte("02000000000000000000"+"0000000000000001"+"0123456789ABCDEF"), mc); !errors.Is(err, ErrMACMissing) {
		t.Errorf("no secondary bitmap: %v", err)
	}
}

func TestNewMACerKeyLength(t *testing.T) {
	for _, n := range []int{0, 15, 257} {
		if _, err := NewMACer(make([]byte, n)); !errors.Is(err, ErrMACKey) {
			t.Errorf("key of %d bytes: %v", n, err)
		}
	}
	for _, n := range []int{16, 256} {
		if _, err := NewMACer(make([]byte, n)); err != nil {
			t.Errorf("key of %d bytes: %v", n, err)
		}
	}
}

func TestPackMACError(t *testing.T) {
	mc, _ := NewMACer(sampleKey)
	m := sampleNamed(t, "0200").m
	m.Amount = 1e12
	dst, err := PackMAC([]byte("keep"), &m, mc)
	wantFieldError(t, err, FieldAmount, ErrTooLarge)
	if string(dst) != "keep" {
		t.Errorf("dst %q", dst)
	}
}
