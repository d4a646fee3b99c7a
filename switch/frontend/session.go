package frontend

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/payswitch/payswitch/internal/invariant"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// Session is one TCP connection of a participant (docs/iso8583.md 1):
// opened by the participant, signed on as one participant, closed by
// either side. Its methods are safe for concurrent use.
type Session struct {
	srv    *Server
	conn   gnet.Conn
	id     uint64 // a number of the server's, for logs
	remote string // the peer's address, for logs
	host   string // the peer's IP address, for unsignedPerHostMax
	// unsigned is set while the session counts among the connections not
	// signed on (Server.addSession); guarded by Server.mu.
	unsigned bool

	// auth is set by the sign-on (and taken back when the leadership is
	// lost during it); nil before. A session keeps it after sign-off, but
	// is then closing and reads nothing more.
	auth atomic.Pointer[auth]
	// peer is the participant's entry in the registry while the session
	// is registered; nil before and after.
	peer atomic.Pointer[peer]
	// closing is set once the session must read, run and write nothing
	// more; why says why (the first cause wins).
	closing atomic.Bool
	why     atomic.Uint32

	// loop is the connection's event loop, and flushTask (s.flush) what
	// write schedules on it.
	loop      gnet.EventLoop
	flushTask gnet.Runnable
	// The outbound buffer: frames replied but not yet handed to gnet,
	// whether a flush is scheduled, whether to close after it, and the
	// buffer the last flush gave back for reuse. Guarded by outMu.
	outMu      sync.Mutex
	out        []byte
	spare      []byte
	flushing   bool
	closeAfter bool
	// buffered is gnet's outbound buffer of the connection as the last
	// flush saw it; with out it makes what the session owes its peer
	// (Config.SessionQueueBytesMax).
	buffered atomic.Int64
	// closedOnLoop is set by OnClose; read and written on the event loop
	// only.
	closedOnLoop bool

	// lastRead and lastEcho are the server's coarse clock (Unix ns) when
	// the session last received bytes and when the switch last echoed it.
	lastRead atomic.Int64
	lastEcho atomic.Int64
	// opened is the coarse clock when the connection opened, for
	// Config.SignOnTimeout.
	opened int64

	// stans numbers the switch's own echoes on this session.
	stans iso8583.STANSequence

	// registered is true while the session is in its participant's list
	// for Send; guarded by the server's registry lock.
	registered bool
}

// auth is what a sign-on establishes: the participant and its MAC key, as
// a pool of MACers because a MACer serves one goroutine at a time and a
// session's messages run on several workers at once.
type auth struct {
	participant uint64
	macers      sync.Pool
}

// newAuth returns the auth of participant with key, or the error of
// iso8583.NewMACer for a key it refuses.
func newAuth(participant uint64, key []byte) (*auth, error) {
	first, err := iso8583.NewMACer(key)
	if err != nil {
		return nil, err
	}
	key = bytes.Clone(key) // the directory may reuse its slice
	a := &auth{participant: participant}
	a.macers.New = func() any {
		mc, err := iso8583.NewMACer(key)
		invariant.Always(err == nil, "frontend: MAC key accepted once, refused later: %v", err)
		return mc
	}
	a.macers.Put(first)
	return a, nil
}

// verify checks the MAC of the packed message p.
func (a *auth) verify(p []byte) error {
	mc := a.macers.Get().(*iso8583.MACer)
	err := iso8583.VerifyMAC(p, mc)
	a.macers.Put(mc)
	return err
}

// Participant returns the participant the session signed on as, or 0
// before its sign-on.
func (s *Session) Participant() uint64 {
	if a := s.auth.Load(); a != nil {
		return a.participant
	}
	return 0
}

// Reply sends m on the session: it packs it, with field 128 set to the MAC
// under the session's key when the MTI requires one (iso8583.MACRequired)
// and the session is signed on, and without field 128 otherwise, onto the
// session's outbound buffer, which the event loop writes. It returns once
// the frame is queued, not written. m is not retained; Reply sets or
// clears its field 128.
//
// It returns ErrSessionClosed when the session is closing, and
// ErrSessionQueueFull (closing the session) when the frame would take its
// outbound bytes over Config.SessionQueueBytesMax. A pack error (a field
// that does not fit its format) is the codec's. Safe from any goroutine.
func (s *Session) Reply(m *iso8583.Message) error {
	return s.write(m, false)
}

// write packs m onto the session's outbound buffer and, unless a flush is
// already due, asks the event loop to flush it. Frames that workers reply
// while the loop is busy thus leave in one write system call. closeAfter
// closes the connection once the loop has written the buffer (after a
// sign-off).
func (s *Session) write(m *iso8583.Message, closeAfter bool) error {
	if s.closing.Load() {
		return ErrSessionClosed
	}
	return s.queue(m, closeAfter)
}

// queue is write without the closing check, for the sign-off's answer,
// which is written after the session stopped taking anything else.
func (s *Session) queue(m *iso8583.Message, closeAfter bool) error {
	limit := s.srv.cfg.SessionQueueBytesMax
	s.outMu.Lock()
	before := len(s.out)
	out, err := s.pack(s.out, m)
	if err != nil {
		s.outMu.Unlock()
		return fmt.Errorf("frontend: packing %v: %w", m.MTI, err)
	}
	if len(out)+int(s.buffered.Load()) > limit {
		s.out = out[:before]
		s.outMu.Unlock()
		s.srv.closeSession(s, causeQueueBytes)
		return ErrSessionQueueFull
	}
	s.out = out
	s.closeAfter = s.closeAfter || closeAfter
	schedule := !s.flushing
	s.flushing = true
	s.outMu.Unlock()
	// Counted before the flush is scheduled: once it is, the peer may read
	// the frame (and a test or a scrape may look) before this goroutine
	// runs again.
	s.srv.metrics.message(dirOut, m.MTI)
	if schedule {
		if err := s.loop.Execute(context.Background(), s.flushTask); err != nil {
			return fmt.Errorf("%w: %w", ErrSessionClosed, err)
		}
	}
	return nil
}

// pack appends m to dst as a frame, with a MAC when the MTI requires one
// and the session has a key.
func (s *Session) pack(dst []byte, m *iso8583.Message) ([]byte, error) {
	a := s.auth.Load()
	if a == nil || !iso8583.MACRequired(m.MTI) {
		m.Clear(iso8583.FieldMAC)
		return iso8583.PackFrame(dst, m, nil)
	}
	mc := a.macers.Get().(*iso8583.MACer)
	dst, err := iso8583.PackFrame(dst, m, mc)
	a.macers.Put(mc)
	return dst, err
}

// flush runs on the session's event loop: it takes the outbound buffer,
// hands it to gnet (which writes what the socket takes and keeps the rest
// in its own buffer), then settles the session's outbound accounting with
// a fresh look at gnet's buffer, which only the event loop may take, and
// closes a session that does not read.
//
// It writes only while closedOnLoop is false: OnClose sets it on this same
// loop before gnet closes the descriptor, so a flush never writes to a
// descriptor that a newer connection has reused.
func (s *Session) flush(context.Context) error {
	s.outMu.Lock()
	buf, closeAfter := s.out, s.closeAfter
	s.out, s.spare = s.spare[:0], nil
	s.flushing = false
	s.outMu.Unlock()
	if !s.closedOnLoop && len(buf) > 0 {
		_, _ = s.conn.Write(buf) // a failed write closes the connection (OnClose)
	}
	if !s.closedOnLoop {
		buffered := s.conn.OutboundBuffered()
		s.buffered.Store(int64(buffered))
		switch {
		case buffered > s.srv.cfg.SessionQueueBytesMax:
			s.srv.closeSession(s, causeQueueBytes)
		case closeAfter:
			_ = s.conn.Close()
		}
	}
	if cap(buf) <= outBufferKeptMax {
		s.outMu.Lock()
		s.spare = buf[:0]
		s.outMu.Unlock()
	}
	return nil
}

// pending returns the bytes replied but not yet handed to gnet.
func (s *Session) pending() int {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	return len(s.out)
}

// markClosing makes the session read, run and write nothing more and
// takes it out of Send's choice. It reports whether this call did it.
func (s *Session) markClosing(why cause) bool {
	if !s.closing.CompareAndSwap(false, true) {
		return false
	}
	s.why.Store(uint32(why))
	s.srv.unregister(s)
	return true
}

// cause says why a session closed, for its last log line.
type cause uint8

const (
	causePeer           cause = iota // the participant closed it, or the socket failed
	causeSignOff                     // signed off
	causeCloseSessions               // CloseSessions, such as on leadership loss
	causeStop                        // the server stops
	causeFrame                       // a frame header announcing 0 or over 8192 bytes
	causeUnreadable                  // a message whose MTI or STAN cannot be read
	causePanic                       // decoding its input panicked
	causeQueueBytes                  // over SessionQueueBytesMax
	causeIdle                        // silent for IdleTimeout
	causeSignOnTimeout               // not signed on within SignOnTimeout
	causeConnectionsMax              // too many connections
	causeCount
)

var causeNames = [causeCount]string{
	causePeer:           "peer",
	causeSignOff:        "sign_off",
	causeCloseSessions:  "close_sessions",
	causeStop:           "stop",
	causeFrame:          "frame",
	causeUnreadable:     "unreadable",
	causePanic:          "panic",
	causeQueueBytes:     "queue_bytes",
	causeIdle:           "idle",
	causeSignOnTimeout:  "sign_on_timeout",
	causeConnectionsMax: "connections_max",
}

func (c cause) String() string { return causeNames[c] }
