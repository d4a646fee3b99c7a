package frontend

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// job is one received message on its way from the event loop to a
// worker: decoded, with its frame kept for the MAC check, or malformed
// with the response MTI and STAN to answer 30 with. Pooled.
type job struct {
	session *Session
	// peer, when set, is the participant whose count of queued answers
	// this job holds (Server.admitAnswer); releaseJob gives it back.
	peer *peer
	msg  iso8583.Message
	raw  []byte // the frame as received
	// A malformed request: the MTI of its answer and its STAN, and the
	// decoder's error for the log.
	malformed bool
	answerMTI iso8583.MTI
	stan      uint32
	err       error
}

// errNoSTAN marks a decoded message without field 11.
var errNoSTAN = errors.New("frontend: message without a STAN")

var jobs = sync.Pool{New: func() any { return new(job) }}

func releaseJob(j *job) {
	if j.peer != nil {
		j.peer.answers.Add(-1)
	}
	j.session, j.peer, j.malformed, j.err = nil, nil, false, nil
	jobs.Put(j)
}

// receive decodes one frame of s on the event loop and queues it. It
// returns false when the session must be closed: a message whose MTI and
// STAN cannot be read cannot be answered.
func (srv *Server) receive(s *Session, frame []byte) bool {
	j := jobs.Get().(*job)
	j.session = s
	err := iso8583.Unpack(frame, &j.msg)
	if err == nil && !j.msg.Has(iso8583.FieldSTAN) {
		// Well-formed but without a STAN: it could only be answered
		// with nothing to match it by, so it is as unreadable as garbage.
		err = errNoSTAN
	}
	if err != nil {
		mti, stan, ok := iso8583.PeekMTISTAN(frame)
		srv.metrics.message(dirIn, mti)
		if !ok {
			srv.metrics.rejects[reasonUnreadable].Inc()
			srv.log.Info("frontend closing a session: unreadable message", "session", s.id, "err", err)
			releaseJob(j)
			return false
		}
		answer, isRequest := mti.Response()
		if !isRequest {
			srv.metrics.rejects[reasonMalformedResponse].Inc()
			srv.log.Debug("frontend dropped a malformed response", "session", s.id, "mti", mti, "stan", stan, "err", err)
			releaseJob(j)
			return true
		}
		j.malformed, j.answerMTI, j.stan, j.err = true, answer, stan, err
	} else {
		j.raw = append(j.raw[:0], frame...)
		srv.metrics.message(dirIn, j.msg.MTI)
	}
	queue := srv.work
	if !j.malformed && !j.msg.MTI.IsRequest() {
		if !srv.admitAnswer(s, j) {
			releaseJob(j)
			return true
		}
		queue = srv.answers
	}
	select {
	case queue <- j:
	default:
		srv.queueFull(s, j)
	}
	return true
}

// admitAnswer decides, on the event loop, whether a response goes to the
// workers. The answers queue is shared by every participant and taken
// before requests, so one participant sending responses nobody asked for
// could otherwise fill it, and the payees' 0210s dropped behind them would
// time their payments out. So: a session that has not signed on was asked
// nothing, and its responses are dropped here; an 0810 (the answer to the
// switch's echo) has done its work once read, since any bytes keep a
// session from idling; and a participant may have at most
// answersPerParticipantMax responses waiting, beyond which its responses
// are dropped (counted) and only its own payments suffer.
func (srv *Server) admitAnswer(s *Session, j *job) bool {
	p := s.peer.Load()
	switch {
	case p == nil:
		srv.metrics.rejects[reasonNotSignedOn].Inc()
		return false
	case j.msg.MTI == iso8583.MTINetworkResponse:
		return false
	case p.answers.Add(1) > int64(srv.answersPerParticipantMax()):
		p.answers.Add(-1)
		srv.metrics.rejects[reasonAnswersMax].Inc()
		return false
	}
	j.peer = p
	return true
}

// answersPerParticipantMax is half the answers queue: a participant
// flooding it leaves the other half to the rest, and one that carries
// most of the traffic (a big bank's answers pile up behind a stall of
// the ledger) still has room for more than half a second of it.
func (srv *Server) answersPerParticipantMax() int { return max(cap(srv.answers)/2, 1) }

// queueFull answers a message that found the worker queue full, at once
// on the event loop: a request gets 91 (30 when malformed), a response is
// dropped. Both are counted.
func (srv *Server) queueFull(s *Session, j *job) {
	defer releaseJob(j)
	srv.metrics.queueFull.Inc()
	if j.malformed {
		srv.answerMalformed(s, j)
		return
	}
	srv.refuse(s, &j.msg, iso8583.ResponseUnavailable, "queue_full")
}

// worker runs queued jobs, responses before requests, until Stop closes
// quit, then runs what is left in the queues and exits.
func (srv *Server) worker() {
	defer srv.workers.Done()
	for {
		select {
		case j := <-srv.answers:
			srv.run(j)
			continue
		default:
		}
		select {
		case j := <-srv.answers:
			srv.run(j)
		case j := <-srv.work:
			srv.run(j)
		case <-srv.quit:
			for {
				select {
				case j := <-srv.answers:
					srv.run(j)
				case j := <-srv.work:
					srv.run(j)
				default:
					return
				}
			}
		}
	}
}

// run processes one job; a panic (in a Handler, say) is logged, counted
// and answered 96 when the message was a request.
func (srv *Server) run(j *job) {
	defer releaseJob(j)
	defer func() {
		if r := recover(); r != nil {
			srv.recovered(j, r)
		}
	}()
	if j.session.closing.Load() {
		return // signed off, over its bound, or leadership lost: run nothing more
	}
	if j.malformed {
		srv.answerMalformed(j.session, j)
		return
	}
	srv.process(j)
}

// recovered handles a panic of run. The request is decoded again from its
// frame, since the handler may have changed the message.
func (srv *Server) recovered(j *job, r any) {
	s := j.session
	srv.metrics.rejects[reasonPanic].Inc()
	srv.log.Error("frontend panic running a message", "session", s.id, "participant", s.Participant(),
		"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	if j.malformed || iso8583.Unpack(j.raw, &j.msg) != nil || !j.msg.MTI.IsRequest() {
		return
	}
	func() {
		defer func() { _ = recover() }() // answering must not panic the worker either
		srv.answer(s, &j.msg, iso8583.ResponseSystemError)
	}()
}

// process runs a decoded message through the session rules of
// docs/iso8583.md 6: network management first, then sign-on, fields, MAC
// and participant checks, then the Handler.
func (srv *Server) process(j *job) {
	s, m := j.session, &j.msg
	if m.MTI == iso8583.MTINetworkRequest {
		srv.network(s, j)
		return
	}
	a := s.auth.Load()
	if a == nil {
		srv.reject(s, m, iso8583.ResponseSecurityViolation, reasonNotSignedOn)
		return
	}
	if err := m.CheckFields(); err != nil {
		srv.refuseFields(s, m, err)
		return
	}
	if iso8583.MACRequired(m.MTI) && a.verify(j.raw) != nil {
		srv.reject(s, m, iso8583.ResponseSecurityViolation, reasonMAC)
		return
	}
	switch m.MTI {
	case iso8583.MTIFinancialRequest, iso8583.MTIReversalAdvice:
		if p, ok := m.Participant(iso8583.FieldAcquirer); !ok || p != a.participant {
			srv.reject(s, m, iso8583.ResponseSecurityViolation, reasonWrongParticipant)
			return
		}
		start := time.Now()
		srv.cfg.Handler.Request(s, m)
		srv.metrics.handler[callRequest].Observe(time.Since(start).Seconds())
	case iso8583.MTIFinancialResponse, iso8583.MTIReversalAdviceResponse:
		start := time.Now()
		srv.cfg.Handler.Response(s, m)
		srv.metrics.handler[callResponse].Observe(time.Since(start).Seconds())
	}
	// An 0810 never gets here: admitAnswer drops it once read.
}

// network handles an 0800: sign-on on any session; echo and sign-off on a
// signed-on one, with its MAC and its participant in field 33.
func (srv *Server) network(s *Session, j *job) {
	m := &j.msg
	if err := m.CheckFields(); err != nil {
		srv.refuseFields(s, m, err)
		return
	}
	if m.NetworkCode == iso8583.NetworkSignOn {
		srv.signOn(s, j)
		return
	}
	a := s.auth.Load()
	switch {
	case a == nil:
		srv.reject(s, m, iso8583.ResponseSecurityViolation, reasonNotSignedOn)
		return
	case a.verify(j.raw) != nil:
		srv.reject(s, m, iso8583.ResponseSecurityViolation, reasonMAC)
		return
	}
	if p, _ := m.Participant(iso8583.FieldForwarder); p != a.participant {
		srv.reject(s, m, iso8583.ResponseSecurityViolation, reasonWrongParticipant)
		return
	}
	switch m.NetworkCode {
	case iso8583.NetworkEcho:
		srv.answer(s, m, iso8583.ResponseApproved)
	case iso8583.NetworkSignOff:
		srv.signOff(s, m)
	default:
		srv.reject(s, m, iso8583.ResponseInvalidTransaction, reasonUnsupported)
	}
}

// signOff answers 0810 00, takes the session out of Send's choice and
// closes it once gnet has taken the answer.
func (srv *Server) signOff(s *Session, m *iso8583.Message) {
	if !s.markClosing(causeSignOff) {
		return // closed meanwhile
	}
	srv.log.Info("frontend session signed off", "session", s.id, "participant", s.Participant())
	_ = m.ResponseTo(m) // an 0800: a request
	m.ResponseCode = iso8583.ResponseApproved
	m.Set(iso8583.FieldResponseCode)
	if err := s.queue(m, true); err != nil {
		srv.closeSession(s, causeSignOff)
	}
}

// refuseFields answers a message that CheckFields refused: 12 for a type
// outside the contract, 63 when only its MAC is missing, 30 otherwise.
func (srv *Server) refuseFields(s *Session, m *iso8583.Message, err error) {
	var fe *iso8583.FieldError
	switch {
	case errors.Is(err, iso8583.ErrUnsupportedMTI):
		srv.reject(s, m, iso8583.ResponseInvalidTransaction, reasonUnsupported)
	case errors.As(err, &fe) && fe.Field == iso8583.FieldMAC && errors.Is(err, iso8583.ErrMissing):
		srv.reject(s, m, iso8583.ResponseSecurityViolation, reasonMAC)
	default:
		srv.log.Debug("frontend refused a message's fields", "session", s.id, "mti", m.MTI, "stan", m.STAN, "err", err)
		srv.reject(s, m, iso8583.ResponseFormatError, reasonMalformed)
	}
}

// reject counts why m was refused and answers a request with code; a
// response is dropped.
func (srv *Server) reject(s *Session, m *iso8583.Message, code iso8583.ResponseCode, why reason) {
	srv.metrics.rejects[why].Inc()
	srv.refuse(s, m, code, why.String())
}

// refuse answers request m with code, or drops a response.
func (srv *Server) refuse(s *Session, m *iso8583.Message, code iso8583.ResponseCode, why string) {
	srv.log.Debug("frontend refused a message", "session", s.id, "participant", s.Participant(),
		"mti", m.MTI, "stan", m.STAN, "code", code.String(), "reason", why)
	if m.MTI.IsRequest() {
		srv.answer(s, m, code)
	}
}

// answer makes request m its own response with code and sends it.
func (srv *Server) answer(s *Session, m *iso8583.Message, code iso8583.ResponseCode) {
	if m.ResponseTo(m) != nil {
		return
	}
	m.ResponseCode = code
	m.Set(iso8583.FieldResponseCode)
	if err := s.Reply(m); err != nil {
		srv.log.Debug("frontend answer not sent", "session", s.id, "mti", m.MTI, "stan", m.STAN, "err", err)
	}
}

// answerMalformed answers a malformed request with 30: its response MTI,
// its STAN and field 39, the only fields that can be trusted. Before
// sign-on, anything but an 0800 is answered 63, malformed or not.
func (srv *Server) answerMalformed(s *Session, j *job) {
	code, why := iso8583.ResponseFormatError, reasonMalformed
	if s.auth.Load() == nil && j.answerMTI != iso8583.MTINetworkResponse {
		code, why = iso8583.ResponseSecurityViolation, reasonNotSignedOn
	}
	srv.metrics.rejects[why].Inc()
	srv.log.Debug("frontend answered a malformed message", "session", s.id, "mti", j.answerMTI, "stan", j.stan,
		"code", code.String(), "err", j.err)
	m := &j.msg
	m.Reset()
	m.MTI = j.answerMTI
	m.STAN = j.stan
	m.ResponseCode = code
	m.Set(iso8583.FieldSTAN, iso8583.FieldResponseCode)
	if err := s.Reply(m); err != nil {
		srv.log.Debug("frontend answer not sent", "session", s.id, "mti", m.MTI, "stan", m.STAN, "err", err)
	}
}
