package simulator

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// session is one TCP session of a Bank to the switch. Three goroutines
// touch it: its reader, which decodes everything the switch sends,
// answers the switch's requests and completes the bank's; its writer,
// which sends the frames that senders queue; and the senders (any
// goroutine calling request, and the payee's timers).
type session struct {
	bank    *Bank
	index   int
	conn    net.Conn
	pending *pending

	// The write side. Senders pack their frames into wbuf under wmu and
	// kick the writer, which takes the whole buffer and writes it in one
	// system call: under load many frames go out together.
	wmu     sync.Mutex
	wcond   sync.Cond // signalled when the writer takes wbuf and at close
	wbuf    []byte
	wmac    *iso8583.MACer // packs every outgoing MAC; guarded by wmu
	wclosed error          // non-nil once the session is closed
	kick    chan struct{}  // capacity 1: there is something to write

	// Owned by the reader goroutine.
	kickDue bool // an answer is queued and the writer not kicked yet
	rmac    *iso8583.MACer
	in      iso8583.Message
	out     iso8583.Message
	rng     *rand.Rand // the payee's decisions on this session

	signedOn   atomic.Bool
	closed     atomic.Bool
	done       chan struct{} // closed when the session closes
	closeOnce  sync.Once
	goroutines sync.WaitGroup
}

// newSession starts the reader and writer of a connected session.
func newSession(b *Bank, index int, conn net.Conn) (*session, error) {
	wmac, err := iso8583.NewMACer(b.cfg.MACKey)
	if err != nil {
		return nil, err
	}
	rmac, err := iso8583.NewMACer(b.cfg.MACKey)
	if err != nil {
		return nil, err
	}
	s := &session{
		bank:    b,
		index:   index,
		conn:    conn,
		pending: newPending(),
		wmac:    wmac,
		kick:    make(chan struct{}, 1),
		rmac:    rmac,
		rng:     rand.New(rand.NewPCG(b.cfg.Seed, uint64(index)+1)),
		done:    make(chan struct{}),
	}
	s.wcond.L = &s.wmu
	s.goroutines.Add(2)
	go s.readLoop()
	go s.writeLoop()
	return s, nil
}

// usable reports whether payments may go out on the session.
func (s *session) usable() bool { return s.signedOn.Load() && !s.closed.Load() }

// request sends m, a request without its STAN, as c: it gives m a free
// STAN, enters c and queues m. When request returns an error, c.done is
// never called; otherwise it is called exactly once.
func (s *session) request(m *iso8583.Message, c *call) error {
	return s.requestKick(m, c, true)
}

// requestKick is request, without kicking the writer unless kick: a
// caller that sends a burst kicks it once at the end (wake).
func (s *session) requestKick(m *iso8583.Message, c *call, kick bool) error {
	c.session = s.index
	stan, err := s.pending.add(c)
	if err != nil {
		return err
	}
	m.STAN = stan
	m.Set(iso8583.FieldSTAN)
	err = s.enqueue(m)
	if err == nil && kick {
		s.wake()
	}
	if err != nil {
		if s.pending.remove(c) {
			return err
		}
		// The session closed in between and has failed c already.
	}
	return nil
}

// send packs m (with the bank's MAC when its type requires one) and
// queues it for the writer, which it kicks. It waits while writeBufferMax
// bytes are queued, which only a switch that stops reading causes, for at
// most writeTimeout, after which the writer closes the session.
func (s *session) send(m *iso8583.Message) error {
	if err := s.enqueue(m); err != nil {
		return err
	}
	s.wake()
	return nil
}

// reply is send for the reader goroutine's answers: the reader kicks the
// writer once it has handled every frame it has read, so that the answers
// to a burst of requests leave in one write.
func (s *session) reply(m *iso8583.Message) error {
	err := s.enqueue(m)
	if err == nil {
		s.kickDue = true
	}
	return err
}

// enqueue is send without the kick.
func (s *session) enqueue(m *iso8583.Message) error {
	var mc *iso8583.MACer
	if iso8583.MACRequired(m.MTI) {
		mc = s.wmac
	}
	s.wmu.Lock()
	for len(s.wbuf) >= writeBufferMax && s.wclosed == nil {
		s.wake() // a frame queued without a kick must not wait forever
		s.wcond.Wait()
	}
	if s.wclosed != nil {
		err := s.wclosed
		s.wmu.Unlock()
		return err
	}
	var err error
	s.wbuf, err = iso8583.PackFrame(s.wbuf, m, mc)
	s.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("simulator: pack %v: %w", m.MTI, err)
	}
	return nil
}

// packFrame packs m as one frame into a new slice, to be sent later by
// sendFrame (a delayed answer).
func (s *session) packFrame(m *iso8583.Message) ([]byte, error) {
	var mc *iso8583.MACer
	if iso8583.MACRequired(m.MTI) {
		mc = s.wmac
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return iso8583.PackFrame(nil, m, mc)
}

// sendFrame queues a frame that packFrame made.
func (s *session) sendFrame(frame []byte) error {
	s.wmu.Lock()
	for len(s.wbuf) >= writeBufferMax && s.wclosed == nil {
		s.wcond.Wait()
	}
	if s.wclosed != nil {
		err := s.wclosed
		s.wmu.Unlock()
		return err
	}
	s.wbuf = append(s.wbuf, frame...)
	s.wmu.Unlock()
	s.wake()
	return nil
}

func (s *session) wake() {
	select {
	case s.kick <- struct{}{}:
	default: // already kicked: the writer will take this frame too
	}
}

// writeLoop sends what senders queue until the session closes.
func (s *session) writeLoop() {
	defer s.goroutines.Done()
	var out []byte
	for {
		select {
		case <-s.kick:
		case <-s.done:
			return
		}
		s.wmu.Lock()
		out, s.wbuf = s.wbuf, out[:0]
		s.wcond.Broadcast()
		s.wmu.Unlock()
		if len(out) == 0 {
			continue
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := s.conn.Write(out); err != nil {
			s.close(fmt.Errorf("write: %w", err))
			return
		}
	}
}

// readLoop decodes and handles what the switch sends until the session
// closes.
func (s *session) readLoop() {
	defer s.goroutines.Done()
	br := bufio.NewReaderSize(s.conn, readBufferSize)
	frames := iso8583.NewFrameReader(br)
	for {
		frame, err := frames.Next()
		if err != nil {
			s.close(fmt.Errorf("read: %w", err))
			return
		}
		s.handle(frame)
		if s.kickDue && br.Buffered() == 0 { // about to wait for more
			s.kickDue = false
			s.wake()
		}
	}
}

// close closes the session once, for cause: later sends fail, the
// connection is closed (which ends the reader) and every outstanding
// request fails with ErrSessionClosed wrapping cause.
func (s *session) close(cause error) {
	var failed []*call
	var err error
	s.closeOnce.Do(func() {
		err = fmt.Errorf("%w: session %d: %w", ErrSessionClosed, s.index, cause)
		s.closed.Store(true)
		s.wmu.Lock()
		s.wclosed = err
		s.wcond.Broadcast()
		s.wmu.Unlock()
		close(s.done)
		_ = s.conn.Close()
		failed = s.pending.close(err)
		if !errors.Is(cause, ErrClosed) {
			s.bank.logger.Warn("session closed", "session", s.index, "error", cause)
		}
	})
	// Outside the Once, so that a callback reaching close again cannot
	// deadlock on it.
	for _, c := range failed {
		c.done(c, nil, err)
	}
}

// handle deals with one frame from the switch: an answer to one of the
// bank's requests or a request of the switch's.
func (s *session) handle(frame []byte) {
	counters := &s.bank.counters
	if err := iso8583.Unpack(frame, &s.in); err != nil {
		counters.malformed.Add(1)
		s.bank.logger.Warn("malformed message from the switch", "session", s.index, "error", err)
		if mti, stan, ok := iso8583.PeekMTISTAN(frame); ok && !mti.IsRequest() {
			if c := s.pending.take(stan, mti); c != nil {
				c.done(c, nil, fmt.Errorf("%w: %w", ErrMalformedResponse, err))
			}
		}
		return
	}
	macErr := s.verifyMAC(frame)
	fieldsErr := s.in.CheckFields()
	if fieldsErr != nil {
		counters.malformed.Add(1)
		s.bank.logger.Warn("message from the switch lacks or has extra fields", "session", s.index,
			"mti", s.in.MTI.String(), "stan", s.in.STAN, "error", fieldsErr)
	}
	if s.in.MTI.IsRequest() {
		s.serve(macErr, fieldsErr)
		return
	}
	c := s.pending.take(s.in.STAN, s.in.MTI)
	if c == nil {
		counters.unmatched.Add(1)
		return
	}
	var err error
	switch {
	case macErr != nil:
		err = fmt.Errorf("%w: %w", ErrResponseMAC, macErr)
	case fieldsErr != nil:
		err = fmt.Errorf("%w: %w", ErrMalformedResponse, fieldsErr)
	}
	c.done(c, &s.in, err)
}

// verifyMAC checks the MAC of the message in s.in, decoded from frame,
// when its type requires one or it carries one.
func (s *session) verifyMAC(frame []byte) error {
	if !iso8583.MACRequired(s.in.MTI) && !s.in.Has(iso8583.FieldMAC) {
		return nil
	}
	err := iso8583.VerifyMAC(frame, s.rmac)
	if err != nil {
		s.bank.counters.macFailures.Add(1)
		s.bank.logger.Warn("MAC failure on a message from the switch", "session", s.index,
			"mti", s.in.MTI.String(), "stan", s.in.STAN, "error", err)
	}
	return err
}

// serve answers a request of the switch's, in s.in.
func (s *session) serve(macErr, fieldsErr error) {
	req := &s.in
	switch {
	case errors.Is(fieldsErr, iso8583.ErrUnsupportedMTI):
		s.answer(req, iso8583.ResponseInvalidTransaction)
	case macErr != nil:
		s.answer(req, iso8583.ResponseSecurityViolation)
	case fieldsErr != nil:
		s.answer(req, iso8583.ResponseFormatError)
	case req.MTI == iso8583.MTIFinancialRequest:
		s.bank.servePayment(s, req)
	case req.MTI == iso8583.MTIReversalAdvice:
		s.bank.serveAdvice(s, req)
	case req.MTI == iso8583.MTINetworkRequest && req.NetworkCode == iso8583.NetworkEcho:
		if s.answer(req, iso8583.ResponseApproved) == nil {
			s.bank.counters.echoes.Add(1)
		}
	default:
		// A sign-on or sign-off from the switch, or a code the contract
		// does not define: a bank does not take those.
		s.answer(req, iso8583.ResponseInvalidTransaction)
	}
}

// answer sends the response to req with code, and no approval code.
func (s *session) answer(req *iso8583.Message, code iso8583.ResponseCode) error {
	if err := s.out.ResponseTo(req); err != nil {
		return err
	}
	s.out.ResponseCode = code
	s.out.Set(iso8583.FieldResponseCode)
	return s.reply(&s.out)
}

// approval builds in s.out the approval of req: 39 = 00 and a fresh
// approval code in 38.
func (s *session) approval(req *iso8583.Message) *iso8583.Message {
	_ = s.out.ResponseTo(req) // req is an 0200, a request
	s.out.ResponseCode = iso8583.ResponseApproved
	s.out.Set(iso8583.FieldResponseCode)
	var code [6]byte
	v := s.rng.Uint64()
	for i := range code {
		code[i] = base36Digit(v % 36)
		v /= 36
	}
	_ = s.out.SetBytes(iso8583.FieldApprovalCode, code[:]) // six letters or digits always fit
	return &s.out
}
