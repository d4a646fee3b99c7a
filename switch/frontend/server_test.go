package frontend

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// Send takes the sessions of a participant in turn, and skips one that
// has closed.
func TestSendRoundRobinAndFailover(t *testing.T) {
	srv, _ := startServer(t, nil)
	first, second := dial(t, srv, bankB), dial(t, srv, bankB)
	first.signOn(iso8583.ResponseApproved)
	second.signOn(iso8583.ResponseApproved)
	payer := dial(t, srv, bankA)

	// Four sends alternate between the two sessions: each gets two, in
	// order, and every one carries the MAC under bank B's key.
	var stans []uint32
	for range 4 {
		pay := payer.payment()
		if err := srv.Send(bankB, pay); err != nil {
			t.Fatalf("Send: %v", err)
		}
		stans = append(stans, pay.STAN)
	}
	a1, a2 := first.recv(true), first.recv(true)
	b1, b2 := second.recv(true), second.recv(true)
	odd, even := [2]uint32{stans[0], stans[2]}, [2]uint32{stans[1], stans[3]}
	gotFirst, gotSecond := [2]uint32{a1.STAN, a2.STAN}, [2]uint32{b1.STAN, b2.STAN}
	if !(gotFirst == odd && gotSecond == even) && !(gotFirst == even && gotSecond == odd) {
		t.Fatalf("first got STANs %v, second %v: want %v and %v, one each", gotFirst, gotSecond, odd, even)
	}

	_ = first.conn.Close()
	eventually(t, "one session left", func() bool { return srv.Sessions(bankB) == 1 })
	for range 3 {
		pay := payer.payment()
		if err := srv.Send(bankB, pay); err != nil {
			t.Fatalf("Send after failover: %v", err)
		}
		second.expect(iso8583.MTIFinancialRequest, pay.STAN, 0, true)
	}
}

// Send to a participant without a session fails with ErrNoSession, as
// after its last session closed.
func TestSendNoSession(t *testing.T) {
	srv, _ := startServer(t, nil)
	var m iso8583.Message
	m.MTI = iso8583.MTIFinancialRequest
	if err := srv.Send(bankB, &m); !errors.Is(err, ErrNoSession) {
		t.Fatalf("Send = %v, want ErrNoSession", err)
	}
	c := dial(t, srv, bankB)
	c.signOn(iso8583.ResponseApproved)
	srv.CloseSessions()
	if err := srv.Send(bankB, c.payment()); !errors.Is(err, ErrNoSession) {
		t.Fatalf("Send after CloseSessions = %v, want ErrNoSession", err)
	}
	c.expectClosed()
}

// When IsLeader turns false, every session is closed within about
// housekeepingInterval, and a new sign-on is refused with 91.
func TestLeadershipLoss(t *testing.T) {
	var leader atomic.Bool
	leader.Store(true)
	srv, _ := startServer(t, func(c *Config) { c.IsLeader = leader.Load })
	a, b := dial(t, srv, bankA), dial(t, srv, bankB)
	a.signOn(iso8583.ResponseApproved)
	b.signOn(iso8583.ResponseApproved)
	leader.Store(false)
	a.expectClosed()
	b.expectClosed()
	eventually(t, "sessions gone", func() bool { return srv.Sessions(bankA)+srv.Sessions(bankB) == 0 })
	c := dial(t, srv, bankA)
	c.signOn(iso8583.ResponseUnavailable)
	leader.Store(true)
	c.signOn(iso8583.ResponseApproved)
}

// With the only worker busy and the queue full, a request is answered 91
// at once; the queued ones are answered once the worker is free.
func TestQueueFull(t *testing.T) {
	h := &testHandler{entered: make(chan struct{}, 8), gate: make(chan struct{})}
	srv, _ := startServer(t, func(c *Config) { c.Workers, c.QueueMax, c.Handler = 1, 1, h })
	c := dial(t, srv, bankA)
	c.signOn(iso8583.ResponseApproved)

	busy := c.payment()
	c.send(busy)
	select {
	case <-h.entered: // the worker holds the first payment
	case <-time.After(ioTimeout):
		t.Fatal("handler not entered")
	}
	queued, refused := c.payment(), c.payment()
	var both []byte
	for _, m := range []*iso8583.Message{queued, refused} {
		both, _ = iso8583.PackFrame(both, m, c.mac)
	}
	c.write(both) // one read on the server: the second finds the queue full
	c.expect(iso8583.MTIFinancialResponse, refused.STAN, iso8583.ResponseUnavailable, true)
	close(h.gate)
	c.expect(iso8583.MTIFinancialResponse, busy.STAN, iso8583.ResponseApproved, true)
	c.expect(iso8583.MTIFinancialResponse, queued.STAN, iso8583.ResponseApproved, true)
}

// The workers take responses before requests: with the only worker busy,
// a response that arrives after six queued requests is run first.
func TestResponsesBeforeRequests(t *testing.T) {
	const queued = 6
	h := &testHandler{entered: make(chan struct{}, queued+2), gate: make(chan struct{})}
	srv, _ := startServer(t, func(c *Config) { c.Workers, c.QueueMax, c.Handler = 1, queued, h })
	c := dial(t, srv, bankA)
	c.signOn(iso8583.ResponseApproved)

	busy := c.payment()
	c.send(busy)
	select {
	case <-h.entered:
	case <-time.After(ioTimeout):
		t.Fatal("handler not entered")
	}
	var frames []byte
	for range queued {
		frames, _ = iso8583.PackFrame(frames, c.payment(), c.mac)
	}
	answer := c.payment()
	approve(answer) // a payee's 0210 to a payment the switch forwarded
	frames, _ = iso8583.PackFrame(frames, answer, c.mac)
	c.write(frames)
	eventually(t, "the requests and the response queued", func() bool { return len(srv.work) == queued && len(srv.answers) == 1 })
	close(h.gate)
	eventually(t, "everything run", func() bool { requests, responses, _ := h.counts(); return requests == queued+1 && responses == 1 })
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.mtis) < 2 || h.mtis[1] != iso8583.MTIFinancialResponse {
		t.Fatalf("run in the order %v: the response was not run right after the busy request", h.mtis)
	}
}

// A session that reads nothing is closed once the switch owes it more
// than SessionQueueBytesMax; Send then reports it.
func TestSlowReaderClosed(t *testing.T) {
	srv, _ := startServer(t, func(c *Config) { c.SessionQueueBytesMax = sessionQueueBytesMin })
	c := dial(t, srv, bankB)
	c.signOn(iso8583.ResponseApproved)
	pay := c.payment() // any 0200 will do

	// The kernel's socket buffers take the first megabytes; the bound
	// applies to what the switch holds beyond them.
	const sendsMax = 200000
	deadline := time.Now().Add(ioTimeout)
	var err error
	sends := 0
	for ; sends < sendsMax && time.Now().Before(deadline); sends++ {
		if err = srv.Send(bankB, pay); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrSessionQueueFull) && !errors.Is(err, ErrNoSession) {
		t.Fatalf("after %d sends: Send = %v, want ErrSessionQueueFull or ErrNoSession", sends, err)
	}
	t.Logf("closed after %d sends (%v)", sends, err)
	eventually(t, "session gone", func() bool { return srv.Sessions(bankB) == 0 })
	if err := srv.Send(bankB, pay); !errors.Is(err, ErrNoSession) {
		t.Errorf("Send after close = %v, want ErrNoSession", err)
	}
}

// Stop waits for a handler in flight, whose answer still reaches the
// client, then closes the connection.
func TestStopWaitsForHandler(t *testing.T) {
	h := &testHandler{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	srv, err := Start(Config{Addr: "127.0.0.1:0", Keys: directory, Handler: h, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, srv, bankA)
	c.signOn(iso8583.ResponseApproved)
	pay := c.payment()
	c.send(pay)
	<-h.entered

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		stopped <- srv.Stop(ctx)
	}()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned %v with a handler in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	// New connections are refused meanwhile.
	late := dial(t, srv, bankB)
	late.expectClosed()

	close(h.gate)
	c.expect(iso8583.MTIFinancialResponse, pay.STAN, iso8583.ResponseApproved, true)
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	c.expectClosed()
}

// Stop gives up when its context ends before a handler does.
func TestStopDeadline(t *testing.T) {
	h := &testHandler{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	srv, err := Start(Config{Addr: "127.0.0.1:0", Keys: directory, Handler: h, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, srv, bankA)
	c.signOn(iso8583.ResponseApproved)
	c.send(c.payment())
	<-h.entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want DeadlineExceeded", err)
	}
	close(h.gate)
	c.expectClosed()
}
