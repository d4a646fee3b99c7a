package iso8583

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestAllocs asserts the zero-allocation promise of the hot path.
// Allocation counts are deterministic, so this is safe to assert; timing
// is left to the benchmarks.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	mc, err := NewMACer(sampleKey)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 0, FrameSizeMax)
	var m Message
	var stream []byte
	for _, s := range samples(t) {
		p := packSample(t, s)
		msg := s.m
		stream, _ = AppendFrame(stream, p)
		bad := bytes.Clone(p)
		bad[len(bad)/2] = 0x7F
		fr := NewFrameReader(bytes.NewReader(nil))
		for _, tc := range []struct {
			name string
			fn   func()
		}{
			{"Pack", func() { dst, _ = msg.Pack(dst[:0]) }},
			{"Unpack", func() { _ = Unpack(p, &m) }},
			{"Unpack of a bad message", func() { _ = Unpack(bad, &m) }},
			{"Unpack of garbage", func() { _ = Unpack([]byte("0200G"), &m) }},
			{"PackMAC", func() { dst, _ = PackMAC(dst[:0], &msg, mc) }},
			{"VerifyMAC", func() { _ = VerifyMAC(p, mc) }},
			{"PackFrame", func() { dst, _ = PackFrame(dst[:0], &msg, mc) }},
			{"NextFrame", func() { _, _, _ = NextFrame(stream) }},
			{"PeekMTISTAN", func() { _, _, _ = PeekMTISTAN(bad) }},
			{"CheckFields", func() { _ = msg.CheckFields() }},
			{"ResponseTo", func() { _ = m.ResponseTo(&msg) }},
			{"FrameReader", func() {
				fr.r = bytes.NewReader(stream)
				_, _ = fr.Next()
			}},
		} {
			// bytes.NewReader allocates in the FrameReader case; count it out.
			allowed := 0.0
			if tc.name == "FrameReader" {
				allowed = testing.AllocsPerRun(100, func() { fr.r = bytes.NewReader(stream) })
			}
			if n := testing.AllocsPerRun(100, tc.fn); n > allowed {
				t.Errorf("%s %s: %.1f allocations", s.name, tc.name, n)
			}
		}
	}
}

// TestUnpackAllocsOnMutations checks that no malformed input makes Unpack
// or PeekMTISTAN allocate: whatever a peer sends costs no garbage.
func TestUnpackAllocsOnMutations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	rng := rand.New(rand.NewPCG(8, 583))
	var all [][]byte
	for _, s := range samples(t) {
		all = append(all, packSample(t, s))
	}
	var m Message
	for range 300 {
		p := bytes.Clone(all[rng.IntN(len(all))])
		for range 1 + rng.IntN(4) {
			p[rng.IntN(len(p))] = byte(rng.Uint32())
		}
		p = p[:rng.IntN(len(p)+1)]
		if n := testing.AllocsPerRun(1, func() {
			_ = Unpack(p, &m)
			_, _, _ = PeekMTISTAN(p)
		}); n != 0 {
			t.Fatalf("Unpack(%q): %.0f allocations", p, n)
		}
	}
}
