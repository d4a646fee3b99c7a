package frontend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// The participants of the tests: two active banks and a suspended one.
const (
	bankA     uint64 = 10001
	bankB     uint64 = 10002
	bankGone  uint64 = 10003 // inactive
	bankNever uint64 = 99999 // unknown to the directory
)

// ioTimeout bounds every read and write of a test client.
const ioTimeout = 5 * time.Second

func keyOf(participant uint64) []byte {
	return bytes.Repeat([]byte{byte(participant), byte(participant >> 8)}, 16)
}

// directory is the tests' Keys.
func directory(participant uint64) (key []byte, active, known bool) {
	switch participant {
	case bankA, bankB:
		return keyOf(participant), true, true
	case bankGone:
		return keyOf(participant), false, true
	}
	return nil, false, false
}

// testHandler approves every 0200 (and acknowledges every 0420) and
// records what it was given. With gate set, Request announces itself on
// entered and waits for gate (at most ioTimeout).
type testHandler struct {
	mu        sync.Mutex
	requests  []iso8583.Message
	responses []iso8583.Message
	signedOn  []uint64
	mtis      []iso8583.MTI // of requests and responses, in the order run

	entered chan struct{}
	gate    chan struct{}
	// answerGate, when set, makes Response wait for it (at most ioTimeout).
	answerGate chan struct{}
	// panicSTAN makes Request panic for the message with this STAN.
	panicSTAN uint32
}

func (h *testHandler) Request(s *Session, m *iso8583.Message) {
	h.mu.Lock()
	h.requests = append(h.requests, *m)
	h.mtis = append(h.mtis, m.MTI)
	h.mu.Unlock()
	if h.entered != nil {
		h.entered <- struct{}{}
	}
	if h.gate != nil {
		select {
		case <-h.gate:
		case <-time.After(ioTimeout):
		}
	}
	if h.panicSTAN != 0 && m.STAN == h.panicSTAN {
		panic("test handler panics")
	}
	approve(m)
	_ = s.Reply(m)
}

func (h *testHandler) Response(_ *Session, m *iso8583.Message) {
	if h.answerGate != nil {
		select {
		case <-h.answerGate:
		case <-time.After(ioTimeout):
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.responses = append(h.responses, *m)
	h.mtis = append(h.mtis, m.MTI)
}

func (h *testHandler) SignedOn(participant uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.signedOn = append(h.signedOn, participant)
}

func (h *testHandler) counts() (requests, responses, signedOn int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.requests), len(h.responses), len(h.signedOn)
}

// approve turns request m into its approval.
func approve(m *iso8583.Message) {
	_ = m.ResponseTo(m)
	m.ResponseCode = iso8583.ResponseApproved
	m.Set(iso8583.FieldResponseCode)
	if m.MTI == iso8583.MTIFinancialResponse {
		_ = m.SetBytes(iso8583.FieldApprovalCode, []byte("A1B2C3"))
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("FRONTEND_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	out := os.Stderr
	if dir := os.Getenv("FRONTEND_TEST_LOG_DIR"); dir != "" {
		f, err := os.Create(fmt.Sprintf("%s/frontend-%d.log", dir, os.Getpid()))
		if err == nil {
			out = f
		}
	}
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startServer starts a server on a free port with the tests' directory and
// a testHandler, after mod has changed its config, and stops it when the
// test ends.
func startServer(t testing.TB, mod func(*Config)) (*Server, *testHandler) {
	t.Helper()
	h := &testHandler{}
	cfg := Config{Addr: "127.0.0.1:0", Keys: directory, Handler: h, Logger: testLogger()}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return srv, h
}

// client is a participant's side of a session, written plainly with
// net.Conn and iso8583.FrameReader, as a bank would.
type client struct {
	t           testing.TB
	conn        net.Conn
	frames      *iso8583.FrameReader
	mac         *iso8583.MACer
	participant uint64
	stan        uint32
}

func dial(t testing.TB, srv *Server, participant uint64) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.Addr(), ioTimeout)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &client{t: t, conn: conn, frames: iso8583.NewFrameReader(conn), participant: participant}
	c.useKey(keyOf(participant))
	return c
}

func (c *client) useKey(key []byte) {
	mc, err := iso8583.NewMACer(key)
	if err != nil {
		c.t.Fatalf("NewMACer: %v", err)
	}
	c.mac = mc
}

// send packs m, with a MAC when its MTI requires one.
func (c *client) send(m *iso8583.Message) {
	c.t.Helper()
	var mc *iso8583.MACer
	if iso8583.MACRequired(m.MTI) {
		mc = c.mac
	}
	frame, err := iso8583.PackFrame(nil, m, mc)
	if err != nil {
		c.t.Fatalf("PackFrame %v: %v", m.MTI, err)
	}
	c.write(frame)
}

func (c *client) write(b []byte) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// recv reads one message, checks its fields (and its MAC when the MTI
// requires one and wantMAC) and returns it.
func (c *client) recv(wantMAC bool) *iso8583.Message {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	frame, err := c.frames.Next()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	m := new(iso8583.Message)
	if err := iso8583.Unpack(frame, m); err != nil {
		c.t.Fatalf("unpack: %v", err)
	}
	if wantMAC && iso8583.MACRequired(m.MTI) {
		if err := iso8583.VerifyMAC(frame, c.mac); err != nil {
			c.t.Fatalf("%v STAN %d: MAC: %v", m.MTI, m.STAN, err)
		}
	}
	return m
}

// expect reads one message and checks its MTI, STAN and response code.
func (c *client) expect(mti iso8583.MTI, stan uint32, code iso8583.ResponseCode, wantMAC bool) *iso8583.Message {
	c.t.Helper()
	m := c.recv(wantMAC)
	if m.MTI != mti || m.STAN != stan || m.ResponseCode != code {
		c.t.Fatalf("got %v STAN %d 39=%v, want %v STAN %d 39=%v", m.MTI, m.STAN, m.ResponseCode, mti, stan, code)
	}
	return m
}

// expectClosed reads until the server closes the connection, skipping at
// most a few frames sent before it did.
func (c *client) expectClosed() {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	for range 64 {
		_, err := c.frames.Next()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open after %v", ioTimeout)
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) {
			c.t.Logf("connection ended with %v", err)
		}
		return
	}
	c.t.Fatalf("connection still open after 64 frames")
}

func (c *client) nextSTAN() uint32 {
	c.stan++
	return c.stan
}

// network returns an 0800 of this client with network code code.
func (c *client) network(code iso8583.NetworkCode) *iso8583.Message {
	m := new(iso8583.Message)
	m.MTI = iso8583.MTINetworkRequest
	m.STAN = c.nextSTAN()
	m.NetworkCode = code
	m.Set(iso8583.FieldSTAN, iso8583.FieldNetworkCode)
	m.SetTransmissionTime(time.Date(2026, 6, 12, 9, 30, 15, 0, time.UTC))
	mustSet(c.t, m, iso8583.FieldForwarder, strconv.FormatUint(c.participant, 10))
	return m
}

// signOn signs on and checks the answer.
func (c *client) signOn(want iso8583.ResponseCode) {
	c.t.Helper()
	m := c.network(iso8583.NetworkSignOn)
	c.send(m)
	c.expect(iso8583.MTINetworkResponse, m.STAN, want, false)
}

// payment returns a 0200 push payment of this client to bank B.
func (c *client) payment() *iso8583.Message {
	m := new(iso8583.Message)
	m.MTI = iso8583.MTIFinancialRequest
	m.ProcessingCode = iso8583.ProcessingPush
	m.Amount = 12500
	m.Currency = 404
	m.STAN = c.nextSTAN()
	m.Set(iso8583.FieldProcessingCode, iso8583.FieldAmount, iso8583.FieldCurrency, iso8583.FieldSTAN)
	m.SetTransmissionTime(time.Date(2026, 6, 12, 9, 30, 20, 0, time.UTC))
	mustSet(c.t, m, iso8583.FieldAcquirer, strconv.FormatUint(c.participant, 10))
	mustSet(c.t, m, iso8583.FieldRRN, fmt.Sprintf("6163%08d", m.STAN))
	mustSet(c.t, m, iso8583.FieldPayerAccount, "0011223344")
	mustSet(c.t, m, iso8583.FieldReceiver, strconv.FormatUint(bankB, 10))
	mustSet(c.t, m, iso8583.FieldPayeeAccount, "7766554433")
	return m
}

func mustSet(t testing.TB, m *iso8583.Message, f iso8583.Field, v string) {
	t.Helper()
	if err := m.SetBytes(f, []byte(v)); err != nil {
		t.Fatalf("SetBytes(%d, %q): %v", f, v, err)
	}
}

// eventually polls cond every 10 ms until it holds or ioTimeout passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, ioTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
