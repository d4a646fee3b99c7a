package frontend

import (
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// signOn handles an 0800 with 70=001, in the order of docs/iso8583.md 6:
// the participant in 33 must be known (else 92) and the MAC its key's
// (else 63); then an inactive participant (91) and a follower (91) are
// refused. Only a known key's MAC earns an answer that says more than
// "unknown". A signed-on session may sign on again as the same
// participant; another participant is a security violation (63).
func (srv *Server) signOn(s *Session, j *job) {
	m := &j.msg
	participant, _ := m.Participant(iso8583.FieldForwarder) // present: CheckFields passed
	if cur := s.auth.Load(); cur != nil {
		switch {
		case cur.participant != participant:
			srv.reject(s, m, iso8583.ResponseSecurityViolation, reasonWrongParticipant)
		case cur.verify(j.raw) != nil:
			srv.reject(s, m, iso8583.ResponseSecurityViolation, reasonMAC)
		default:
			srv.answer(s, m, iso8583.ResponseApproved)
		}
		return
	}
	key, active, known := srv.cfg.Keys(participant)
	if !known {
		srv.reject(s, m, iso8583.ResponseUnknownParticipant, reasonUnknownParticipant)
		return
	}
	a, err := newAuth(participant, key)
	if err != nil {
		srv.log.Error("frontend cannot sign on: the directory's MAC key is unusable",
			"participant", participant, "err", err)
		srv.reject(s, m, iso8583.ResponseSystemError, reasonBadKey)
		return
	}
	if code, why, ok := srv.admit(s, a, j.raw, active); !ok {
		srv.reject(s, m, code, why)
		return
	}
	srv.answer(s, m, iso8583.ResponseApproved)
	srv.log.Info("frontend session signed on", "session", s.id, "participant", participant, "remote", s.remote)
	srv.signedOn(participant)
}

// admit checks the MAC, the participant's status and the leadership, and
// registers the session. The leadership is checked again after
// registering: a loss between the two would otherwise leave a session
// that CloseSessions missed.
func (srv *Server) admit(s *Session, a *auth, raw []byte, active bool) (iso8583.ResponseCode, reason, bool) {
	switch {
	case a.verify(raw) != nil:
		return iso8583.ResponseSecurityViolation, reasonMAC, false
	case !active:
		return iso8583.ResponseUnavailable, reasonInactive, false
	case !srv.cfg.IsLeader():
		return iso8583.ResponseUnavailable, reasonNotLeader, false
	}
	if err := srv.register(s, a); err != nil {
		switch {
		case errors.Is(err, ErrSessionClosed):
			// A session closed meanwhile gets no answer anyway; it is
			// counted with the usual cause of such a race, CloseSessions
			// on a leadership loss.
			return iso8583.ResponseUnavailable, reasonNotLeader, false
		case errors.Is(err, errSignedOnAlready):
			return 0, 0, true // as a sign-on that finds the session signed on
		case errors.Is(err, errSignedOnOther):
			return iso8583.ResponseSecurityViolation, reasonWrongParticipant, false
		}
		return iso8583.ResponseUnavailable, reasonSessionsMax, false
	}
	if !srv.cfg.IsLeader() {
		srv.unregister(s)
		s.auth.Store(nil)
		return iso8583.ResponseUnavailable, reasonNotLeader, false
	}
	srv.signedOnFor(s)
	return 0, 0, true
}

// signedOn calls Handler.SignedOn; a panic there is logged, not fatal.
func (srv *Server) signedOn(participant uint64) {
	defer func() {
		if r := recover(); r != nil {
			srv.metrics.rejects[reasonPanic].Inc()
			srv.log.Error("frontend panic in Handler.SignedOn", "participant", participant,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	start := time.Now()
	srv.cfg.Handler.SignedOn(participant)
	srv.metrics.handler[callSignedOn].Observe(time.Since(start).Seconds())
}
