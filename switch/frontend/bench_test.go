package frontend

import (
	"bufio"
	"testing"
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// approveHandler approves every request and records nothing: the trivial
// handler of the benchmarks.
type approveHandler struct{}

func (approveHandler) Request(s *Session, m *iso8583.Message) {
	approve(m)
	_ = s.Reply(m)
}
func (approveHandler) Response(*Session, *iso8583.Message) {}
func (approveHandler) SignedOn(uint64)                     {}

func startBenchServer(b *testing.B) *Server {
	srv, _ := startServer(b, func(c *Config) { c.Handler = approveHandler{} })
	return srv
}

// BenchmarkRoundTrip measures one payment at a time through a live
// server over loopback TCP: the client packs and MACs a 0200, the server
// frames, decodes, verifies the MAC and runs a handler that approves it
// and replies with its MAC, and the client reads the 0210. ns/op is the
// whole round trip, both sides and two syscalls each way included.
func BenchmarkRoundTrip(b *testing.B) {
	srv := startBenchServer(b)
	c := dial(b, srv, bankA)
	c.signOn(iso8583.ResponseApproved)
	pay := c.payment()
	frame, err := iso8583.PackFrame(nil, pay, c.mac)
	if err != nil {
		b.Fatal(err)
	}
	c.write(frame)
	c.expect(iso8583.MTIFinancialResponse, pay.STAN, iso8583.ResponseApproved, true)
	_ = c.conn.SetDeadline(time.Time{})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.conn.Write(frame); err != nil {
			b.Fatal(err)
		}
		if _, err := c.frames.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipelined keeps up to pipelineDepth payments outstanding on
// one session, as a busy bank does: ns/op is the cost per message once
// the round trip's latency is hidden.
func BenchmarkPipelined(b *testing.B) {
	const (
		pipelineDepth = 64
		burstFrames   = 16 // frames per write
	)
	srv := startBenchServer(b)
	c := dial(b, srv, bankA)
	c.signOn(iso8583.ResponseApproved)
	_ = c.conn.SetDeadline(time.Time{})
	frame, err := iso8583.PackFrame(nil, c.payment(), c.mac)
	if err != nil {
		b.Fatal(err)
	}
	burst := make([]byte, 0, len(frame)*burstFrames)
	for range burstFrames {
		burst = append(burst, frame...)
	}
	// A buffered reader spares the client two read calls per response,
	// so that the figure is mostly the server's.
	frames := iso8583.NewFrameReader(bufio.NewReaderSize(c.conn, 64<<10))
	window := make(chan struct{}, pipelineDepth) // a token per outstanding payment
	read := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for range b.N {
			if _, err := frames.Next(); err != nil {
				read <- err
				return
			}
			<-window
		}
		read <- nil
	}()
	for sent := 0; sent < b.N; {
		n := min(burstFrames, b.N-sent)
		for range n {
			window <- struct{}{}
		}
		if _, err := c.conn.Write(burst[:n*len(frame)]); err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	if err := <-read; err != nil {
		b.Fatal(err)
	}
}
