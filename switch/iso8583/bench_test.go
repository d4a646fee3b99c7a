package iso8583

import (
	"bytes"
	"testing"

	moov "github.com/moov-io/iso8583"
)

// benchmarkPack packs sample name, checking the setup before the timer.
func benchmarkPack(b *testing.B, name string) {
	m := sampleNamed(b, name).m
	dst := make([]byte, 0, FrameSizeMax)
	want := packSample(b, sample{m: m})
	if got, err := m.Pack(dst); err != nil || !bytes.Equal(got, want) {
		b.Fatalf("Pack = %q, %v", got, err)
	}
	b.SetBytes(int64(len(want)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		dst, _ = m.Pack(dst[:0])
	}
}

// benchmarkUnpack unpacks sample name, checking the setup before the timer.
func benchmarkUnpack(b *testing.B, name string) {
	p := packSample(b, sampleNamed(b, name))
	var m Message
	if err := Unpack(p, &m); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = Unpack(p, &m)
	}
}

func BenchmarkPack0200(b *testing.B)   { benchmarkPack(b, "0200") }
func BenchmarkUnpack0200(b *testing.B) { benchmarkUnpack(b, "0200") }
func BenchmarkPack0210(b *testing.B)   { benchmarkPack(b, "0210") }
func BenchmarkUnpack0210(b *testing.B) { benchmarkUnpack(b, "0210") }
func BenchmarkPack0800(b *testing.B)   { benchmarkPack(b, "0800") }
func BenchmarkUnpack0800(b *testing.B) { benchmarkUnpack(b, "0800") }

// BenchmarkMoovPack0200 packs the same 0200 with moov-io/iso8583, from its
// values, as an application of moov would.
func BenchmarkMoovPack0200(b *testing.B) {
	m := sampleNamed(b, "0200").m
	want := packSample(b, sample{m: m})
	if got, err := moovPack(&m); err != nil || !bytes.Equal(got, want) {
		b.Fatalf("moov Pack = %q, %v", got, err)
	}
	b.SetBytes(int64(len(want)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, _ = moovPack(&m)
	}
}

// BenchmarkMoovUnpack0200 unpacks the same 0200 with moov-io/iso8583.
func BenchmarkMoovUnpack0200(b *testing.B) {
	p := packSample(b, sampleNamed(b, "0200"))
	if err := moov.NewMessage(Spec).Unpack(p); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = moov.NewMessage(Spec).Unpack(p)
	}
}

// BenchmarkMAC computes and writes the MAC of a 0200 (PackMAC less Pack is
// the MAC's own cost).
func BenchmarkMAC(b *testing.B) {
	mc, err := NewMACer(sampleKey)
	if err != nil {
		b.Fatal(err)
	}
	m := sampleNamed(b, "0200").m
	dst := make([]byte, 0, FrameSizeMax)
	if dst, err = PackMAC(dst, &m, mc); err != nil || VerifyMAC(dst, mc) != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		dst, _ = PackMAC(dst[:0], &m, mc)
	}
}

// BenchmarkVerifyMAC checks the MAC of a 0200.
func BenchmarkVerifyMAC(b *testing.B) {
	mc, err := NewMACer(sampleKey)
	if err != nil {
		b.Fatal(err)
	}
	p := packSample(b, sampleNamed(b, "0200"))
	if err := VerifyMAC(p, mc); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = VerifyMAC(p, mc)
	}
}

// BenchmarkNextFrame splits the framed samples off a buffer.
func BenchmarkNextFrame(b *testing.B) {
	var stream []byte
	for _, s := range samples(b) {
		stream, _ = AppendFrame(stream, packSample(b, s))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for buf := stream; len(buf) > 0; {
			_, buf, _ = NextFrame(buf)
		}
	}
}
