package frontend

import (
	"strconv"
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// housekeeper is the one goroutine of periodic work: every
// housekeepingInterval it advances the coarse clock, watches IsLeader
// (closing every session when it turns false) and sweeps the sessions for
// idleness and echoes. It exits when Stop closes quit.
func (srv *Server) housekeeper() {
	defer srv.keeper.Done()
	ticker := time.NewTicker(housekeepingInterval)
	defer ticker.Stop()
	leader := srv.cfg.IsLeader()
	var sessions []*Session // reused by every sweep
	for {
		select {
		case <-srv.quit:
			return
		case now := <-ticker.C:
			srv.clock.Store(now.UnixNano())
			wasLeader := leader
			leader = srv.cfg.IsLeader()
			if wasLeader && !leader {
				srv.log.Warn("frontend lost the leadership: closing every session")
				srv.CloseSessions()
			}
			sessions = srv.sweep(now, sessions[:0])
		}
	}
}

// sweep closes the sessions silent for IdleTimeout and the connections
// not signed on within SignOnTimeout, and echoes the signed-on sessions
// silent for a third of IdleTimeout (and not echoed for as long). It
// returns sessions for reuse.
func (srv *Server) sweep(now time.Time, sessions []*Session) []*Session {
	sessions = srv.snapshot(sessions)
	idle := srv.cfg.IdleTimeout.Nanoseconds()
	signOn := srv.cfg.SignOnTimeout.Nanoseconds()
	echoAfter := idle / echoesPerIdleTimeout
	t := now.UnixNano()
	for i, s := range sessions {
		sessions[i] = nil // hold no closed session until the next sweep
		if s.closing.Load() {
			continue
		}
		silent := t - s.lastRead.Load()
		signedOn := s.auth.Load() != nil
		switch {
		case silent >= idle:
			srv.log.Info("frontend closing an idle session", "session", s.id, "participant", s.Participant())
			srv.closeSession(s, causeIdle)
		case !signedOn && t-s.opened >= signOn:
			srv.log.Info("frontend closing a connection that did not sign on in time", "session", s.id, "remote", s.remote, "timeout", srv.cfg.SignOnTimeout)
			srv.closeSession(s, causeSignOnTimeout)
		case silent >= echoAfter && t-s.lastEcho.Load() >= echoAfter && signedOn:
			s.lastEcho.Store(t)
			srv.echo(s, now)
		}
	}
	return sessions[:0]
}

// echo sends s the switch's own 0800 echo (70=301), with its MAC. Its 0810
// is consumed by the front end; the answer itself is what keeps the
// session from going idle.
func (srv *Server) echo(s *Session, now time.Time) {
	var m iso8583.Message
	m.MTI = iso8583.MTINetworkRequest
	m.STAN = s.stans.Next()
	m.NetworkCode = iso8583.NetworkEcho
	m.Set(iso8583.FieldSTAN, iso8583.FieldNetworkCode)
	m.SetTransmissionTime(now)
	var digits [20]byte
	if err := m.SetBytes(iso8583.FieldForwarder, strconv.AppendUint(digits[:0], s.Participant(), 10)); err != nil {
		srv.log.Error("frontend cannot echo: participant does not fit field 33", "session", s.id, "err", err)
		return
	}
	if err := s.Reply(&m); err != nil {
		srv.log.Debug("frontend echo not sent", "session", s.id, "err", err)
	}
}
