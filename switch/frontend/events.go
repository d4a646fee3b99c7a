package frontend

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"

	"github.com/panjf2000/gnet/v2"
	gnetlogging "github.com/panjf2000/gnet/v2/pkg/logging"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// eventHandler is the server's side of gnet. Its methods run on the event
// loops and never block: OnTraffic splits frames, decodes them and hands
// them to the workers; nothing else happens there but the at-once answers
// of a full queue.
type eventHandler struct {
	gnet.BuiltinEventEngine
	srv    *Server
	booted chan struct{}
}

var _ gnet.EventHandler = (*eventHandler)(nil)

// OnBoot records the engine and the address it listens on.
func (e *eventHandler) OnBoot(eng gnet.Engine) gnet.Action {
	addr, err := listenAddr(eng)
	if err != nil {
		e.srv.log.Error("frontend cannot read its listening address", "err", err)
		return gnet.Shutdown
	}
	e.srv.engine, e.srv.addr = eng, addr
	close(e.booted)
	return gnet.None
}

// OnOpen makes a session of the connection, or refuses it while the
// server stops or has connectionsMax.
func (e *eventHandler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	srv := e.srv
	if srv.stopping.Load() {
		return nil, gnet.Close
	}
	s := &Session{srv: srv, conn: c, loop: c.EventLoop(), id: srv.ids.Add(1), remote: c.RemoteAddr().String(), host: hostOf(c.RemoteAddr())}
	s.flushTask = gnet.RunnableFunc(s.flush)
	s.opened = srv.clock.Load()
	s.lastRead.Store(s.opened)
	if why, ok := srv.addSession(s); !ok {
		srv.metrics.rejects[why].Inc()
		srv.log.Warn("frontend refused a connection: too many", "remote", s.remote, "reason", why.String(),
			"connections_max", connectionsMax, "unsigned_max", unsignedMax, "unsigned_per_host_max", unsignedPerHostMax)
		return nil, gnet.Close
	}
	c.SetContext(s)
	srv.log.Debug("frontend session opened", "session", s.id, "remote", s.remote)
	return nil, gnet.None
}

// hostOf is what unsignedPerHostMax counts a remote TCP address by: its
// IPv4 address, or the /64 of its IPv6 address (one client commonly holds
// a whole /64); any other address counts as itself.
func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		if t.IP.To4() == nil && len(t.IP) == net.IPv6len {
			return t.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
		}
		return t.IP.String()
	}
	if a == nil {
		return ""
	}
	return a.String()
}

// OnClose forgets the session.
func (e *eventHandler) OnClose(c gnet.Conn, err error) gnet.Action {
	s, ok := c.Context().(*Session)
	if !ok {
		return gnet.None
	}
	s.closedOnLoop = true
	s.markClosing(causePeer)
	e.srv.removeSession(s)
	e.srv.log.Info("frontend session closed", "session", s.id, "remote", s.remote,
		"participant", s.Participant(), "cause", cause(s.why.Load()).String(), "err", err)
	return gnet.None
}

// OnTraffic takes every whole frame the connection has received, decodes
// each and queues it for the workers, then discards what it took. A frame
// header the session cannot recover from, or a message whose MTI and STAN
// cannot be read, closes the session.
func (e *eventHandler) OnTraffic(c gnet.Conn) (action gnet.Action) {
	srv := e.srv
	s, ok := c.Context().(*Session)
	if !ok {
		return gnet.Close
	}
	defer func() {
		if r := recover(); r != nil {
			srv.metrics.rejects[reasonPanic].Inc()
			srv.log.Error("frontend panic decoding a session's input", "session", s.id, "panic", fmt.Sprint(r),
				"stack", string(debug.Stack()))
			s.markClosing(causePanic)
			action = gnet.Close
		}
	}()
	if srv.stopping.Load() || s.closing.Load() {
		_, _ = c.Discard(-1) // read nothing more: drop it
		return gnet.None
	}
	s.lastRead.Store(srv.clock.Load())
	// One Peek for all the frames: each Peek of a buffer that wraps
	// copies it, and the frames alias it until the Discard.
	buf, _ := c.Peek(-1)
	consumed := 0
	for {
		frame, rest, err := iso8583.NextFrame(buf)
		if err != nil {
			srv.metrics.rejects[reasonFrame].Inc()
			srv.log.Info("frontend closing a session: bad frame header", "session", s.id, "err", err)
			s.markClosing(causeFrame)
			return gnet.Close
		}
		if frame == nil {
			break
		}
		if !srv.receive(s, frame) {
			s.markClosing(causeUnreadable)
			return gnet.Close
		}
		consumed += len(buf) - len(rest)
		buf = rest
	}
	if consumed > 0 {
		_, _ = c.Discard(consumed)
	}
	return gnet.None
}

// gnetLogger hands gnet's logs to the server's slog.Logger; gnet's info
// lines (its launch banner) go to debug. It never exits the process, not
// even on Fatalf.
type gnetLogger struct{ log *slog.Logger }

var _ gnetlogging.Logger = gnetLogger{}

func (g gnetLogger) logf(level slog.Level, format string, args []any) {
	if g.log.Enabled(context.Background(), level) {
		g.log.Log(context.Background(), level, "gnet: "+fmt.Sprintf(format, args...))
	}
}

func (g gnetLogger) Debugf(format string, args ...any) { g.logf(slog.LevelDebug, format, args) }
func (g gnetLogger) Infof(format string, args ...any)  { g.logf(slog.LevelDebug, format, args) }
func (g gnetLogger) Warnf(format string, args ...any)  { g.logf(slog.LevelWarn, format, args) }
func (g gnetLogger) Errorf(format string, args ...any) { g.logf(slog.LevelError, format, args) }
func (g gnetLogger) Fatalf(format string, args ...any) { g.logf(slog.LevelError, format, args) }
