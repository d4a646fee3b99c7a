package frontend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/payswitch/payswitch/internal/invariant"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// Server is the ISO 8583 front end: a gnet TCP server, its sessions and
// their worker pool. Its methods are safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	engine gnet.Engine // set in OnBoot, before Start returns
	addr   string

	work     chan *job     // decoded requests for the workers, bounded by QueueMax
	answers  chan *job     // decoded responses, which the workers take first
	quit     chan struct{} // closed by Stop: workers drain and exit, housekeeping exits
	workers  sync.WaitGroup
	keeper   sync.WaitGroup
	runDone  chan struct{} // closed when gnet.Run has returned
	runErr   error         // what gnet.Run returned; read after runDone
	stopping atomic.Bool
	stopOnce sync.Once
	engOnce  sync.Once
	// unregisterOnce takes the metrics off the Registerer when Stop
	// returns, so that a new Server may use it.
	unregisterOnce sync.Once

	// clock is a coarse clock (Unix ns) advanced by the housekeeper, so
	// that stamping each read costs an atomic store, not a time.Now.
	clock atomic.Int64
	ids   atomic.Uint64

	// The registry: every open session, and the signed-on sessions of each
	// participant for Send. Changed on sign-on, sign-off and close only.
	mu    sync.RWMutex
	all   map[*Session]struct{}
	peers map[uint64]*peer
	// unsigned counts the open connections not signed on yet, in all and
	// by remote host (addSession).
	unsigned       int
	unsignedByHost map[string]int
}

// peer is the signed-on sessions of one participant. sessions is replaced,
// never changed in place, so Send may range over a copy taken under the
// read lock.
type peer struct {
	sessions []*Session
	next     atomic.Uint32 // Send's round-robin cursor
	// answers counts the participant's responses waiting in the answers
	// queue (Server.admitAnswer).
	answers atomic.Int64
}

// Start validates cfg, starts the gnet engine on cfg.Addr, the workers
// and the housekeeping goroutine, and returns once the server listens.
func Start(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	srv := &Server{
		cfg:            cfg,
		log:            cfg.Logger,
		metrics:        m,
		work:           make(chan *job, cfg.QueueMax),
		answers:        make(chan *job, answersQueueFactor*cfg.QueueMax),
		quit:           make(chan struct{}),
		runDone:        make(chan struct{}),
		all:            make(map[*Session]struct{}),
		unsignedByHost: make(map[string]int),
		peers:          make(map[uint64]*peer),
	}
	srv.clock.Store(time.Now().UnixNano())
	booted := make(chan struct{})
	events := &eventHandler{srv: srv, booted: booted}
	go func() {
		defer close(srv.runDone)
		srv.runErr = gnet.Run(events, "tcp://"+cfg.Addr,
			gnet.WithMulticore(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			// A node restarted after a crash must get its port back while
			// the old sessions' sockets linger in TIME_WAIT.
			gnet.WithReuseAddr(true),
			gnet.WithLogger(gnetLogger{srv.log}))
		if srv.runErr != nil && !srv.stopping.Load() {
			srv.log.Error("frontend: gnet stopped", "err", srv.runErr)
		}
	}()
	select {
	case <-booted:
	case <-srv.runDone:
		m.unregister()
		if srv.runErr == nil {
			srv.runErr = errors.New("gnet stopped before it booted")
		}
		return nil, fmt.Errorf("frontend: listening on %s: %w", cfg.Addr, srv.runErr)
	}
	srv.workers.Add(cfg.Workers)
	for range cfg.Workers {
		go srv.worker()
	}
	srv.keeper.Add(1)
	go srv.housekeeper()
	srv.log.Info("frontend listening", "addr", srv.addr, "workers", cfg.Workers, "queue_max", cfg.QueueMax)
	return srv, nil
}

// listenAddr returns the address the engine's listener is bound to, read
// from a duplicate of its socket (gnet does not expose it).
func listenAddr(eng gnet.Engine) (string, error) {
	fd, err := eng.Dup()
	if err != nil {
		return "", err
	}
	defer syscall.Close(fd)
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return "", err
	}
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return net.JoinHostPort(net.IP(sa.Addr[:]).String(), strconv.Itoa(sa.Port)), nil
	case *syscall.SockaddrInet6:
		return net.JoinHostPort(net.IP(sa.Addr[:]).String(), strconv.Itoa(sa.Port)), nil
	}
	return "", fmt.Errorf("unexpected socket address %T", sa)
}

// Addr returns the address the server listens on, with the port it got
// when Config.Addr asked for port 0.
func (srv *Server) Addr() string { return srv.addr }

// Send sends m to one signed-on session of participant: the sessions take
// turns (round robin), and one that is closing or refuses the frame is
// skipped for the next, so a participant with a live session gets the
// message when another of its sessions has died. The MAC is added as for
// Session.Reply (and m's field 128 set or cleared); the STAN is the
// caller's.
//
// It returns ErrNoSession when the participant has no session that took
// m, ErrSessionQueueFull when it had some but each was over its outbound
// bound (and is now closed), or a pack error.
func (srv *Server) Send(participant uint64, m *iso8583.Message) error {
	srv.mu.RLock()
	p := srv.peers[participant]
	var sessions []*Session
	if p != nil {
		sessions = p.sessions
	}
	srv.mu.RUnlock()
	if len(sessions) == 0 {
		return ErrNoSession
	}
	full := false
	start := int(p.next.Add(1))
	for i := range sessions {
		s := sessions[(start+i)%len(sessions)]
		err := s.write(m, false)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrSessionQueueFull):
			full = true
		case errors.Is(err, ErrSessionClosed):
		default:
			return err
		}
	}
	if full {
		return ErrSessionQueueFull
	}
	return ErrNoSession
}

// Sessions returns how many signed-on sessions participant has.
func (srv *Server) Sessions(participant uint64) int {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	if p := srv.peers[participant]; p != nil {
		return len(p.sessions)
	}
	return 0
}

// CloseSessions closes every session, signed on or not, as when this node
// loses the leadership: the participants then reconnect to the new
// leader. Their queued messages are not run and nothing more is read;
// what was already handed to gnet is still written (best effort).
func (srv *Server) CloseSessions() {
	for _, s := range srv.snapshot(nil) {
		srv.closeSession(s, causeCloseSessions)
	}
}

// closeSession marks s closing and asks gnet to close its connection.
// The first cause is the one logged; a close for the outbound bound or
// idleness is also counted as a reject.
func (srv *Server) closeSession(s *Session, why cause) {
	if s.markClosing(why) {
		switch why {
		case causeQueueBytes:
			srv.metrics.rejects[reasonQueueBytes].Inc()
		case causeIdle:
			srv.metrics.rejects[reasonIdle].Inc()
		case causeSignOnTimeout:
			srv.metrics.rejects[reasonSignOnTimeout].Inc()
		}
	}
	_ = s.conn.Close() // safe from any goroutine; a second close is ignored
}

// snapshot appends every open session to dst.
func (srv *Server) snapshot(dst []*Session) []*Session {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	for s := range srv.all {
		dst = append(dst, s)
	}
	return dst
}

// addSession records a new connection, not signed on yet. It refuses it
// (and says why) beyond connectionsMax connections, beyond unsignedMax
// connections not signed on, and beyond unsignedPerHostMax of those from
// the connection's remote host. A client that opens connections and never
// signs on, or one that reopens each as soon as the sign-on timeout closes
// it, thus takes at most unsignedPerHostMax of the slots a bank needs to
// sign on again, instead of all of them.
func (srv *Server) addSession(s *Session) (reason, bool) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	switch {
	case len(srv.all) >= connectionsMax:
		return reasonConnectionsMax, false
	case srv.unsigned >= unsignedMax:
		return reasonUnsignedMax, false
	case srv.unsignedByHost[s.host] >= unsignedPerHostMax:
		return reasonUnsignedPerHost, false
	}
	srv.all[s] = struct{}{}
	s.unsigned = true
	srv.unsigned++
	srv.unsignedByHost[s.host]++
	srv.metrics.connected.Inc()
	return 0, true
}

// signedOnFor takes a registered s out of the connections not signed on
// (admit calls it once the sign-on stands).
func (srv *Server) signedOnFor(s *Session) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.leaveUnsigned(s)
}

// leaveUnsigned takes s out of the connections not signed on. Called with
// srv.mu held.
func (srv *Server) leaveUnsigned(s *Session) {
	if !s.unsigned {
		return
	}
	s.unsigned = false
	srv.unsigned--
	if n := srv.unsignedByHost[s.host] - 1; n > 0 {
		srv.unsignedByHost[s.host] = n
	} else {
		delete(srv.unsignedByHost, s.host)
	}
}

// removeSession forgets a closed connection.
func (srv *Server) removeSession(s *Session) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if _, ok := srv.all[s]; ok {
		delete(srv.all, s)
		srv.leaveUnsigned(s)
		srv.metrics.connected.Dec()
	}
}

// register adds signed-on s to the sessions of its participant. It fails
// when s is closing (ErrSessionClosed), signed on already by a concurrent
// sign-on (errSignedOnAlready, errSignedOnOther) or the participant has
// sessionsPerParticipantMax (errSessionsMax).
func (srv *Server) register(s *Session, a *auth) error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if s.closing.Load() {
		return ErrSessionClosed
	}
	if s.registered {
		// Two sign-ons of one session, run by two workers at once, both
		// found it not signed on: the second is a repeat of the first, or
		// a sign-on as another participant.
		if s.Participant() == a.participant {
			return errSignedOnAlready
		}
		return errSignedOnOther
	}
	p := srv.peers[a.participant]
	if p == nil {
		p = &peer{}
		srv.peers[a.participant] = p
	}
	if len(p.sessions) >= sessionsPerParticipantMax {
		return errSessionsMax
	}
	s.auth.Store(a)
	s.peer.Store(p)
	p.sessions = append(p.sessions[:len(p.sessions):len(p.sessions)], s)
	s.registered = true
	srv.metrics.signedOn.Inc()
	return nil
}

// Why register refuses a session: its participant already has
// sessionsPerParticipantMax signed-on sessions; it signed on meanwhile as
// the same participant; it signed on meanwhile as another.
var (
	errSessionsMax     = errors.New("frontend: participant has too many sessions")
	errSignedOnAlready = errors.New("frontend: session signed on already")
	errSignedOnOther   = errors.New("frontend: session signed on as another participant")
)

// unregister takes s out of its participant's sessions, if it is there.
func (srv *Server) unregister(s *Session) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if !s.registered {
		return
	}
	s.registered = false
	s.peer.Store(nil)
	participant := s.Participant()
	p := srv.peers[participant]
	invariant.Always(p != nil, "frontend: session %d registered without its participant %d", s.id, participant)
	kept := make([]*Session, 0, len(p.sessions))
	for _, other := range p.sessions {
		if other != s {
			kept = append(kept, other)
		}
	}
	if len(kept) == 0 {
		delete(srv.peers, participant)
	} else {
		p.sessions = kept
	}
	srv.metrics.signedOn.Dec()
}

// Stop shuts the server down gracefully: it stops accepting connections
// and reading messages, lets the workers run what is queued and wait for
// the handlers in flight, waits for their responses to reach gnet, then
// stops the engine, which writes what it buffered and closes every
// connection. When ctx ends first, Stop still stops the engine but returns
// ctx's error without waiting for it.
func (srv *Server) Stop(ctx context.Context) error {
	srv.stopOnce.Do(func() {
		srv.stopping.Store(true)
		close(srv.quit)
		srv.log.Info("frontend stopping", "addr", srv.addr)
	})
	defer srv.unregisterOnce.Do(srv.metrics.unregister)
	defer srv.stopEngine()
	if err := waitGroup(ctx, &srv.workers); err != nil {
		return fmt.Errorf("frontend: waiting for handlers: %w", err)
	}
	if err := srv.waitWritten(ctx); err != nil {
		return fmt.Errorf("frontend: waiting for responses: %w", err)
	}
	srv.stopEngine()
	select {
	case <-srv.runDone:
	case <-ctx.Done():
		return fmt.Errorf("frontend: waiting for gnet: %w", ctx.Err())
	}
	srv.keeper.Wait()
	return nil
}

// stopEngine asks gnet to stop, once. Engine.Stop polls for the end every
// 500 ms; Stop waits on gnet.Run's return instead, and the poller is
// released as soon as Run has returned.
func (srv *Server) stopEngine() {
	srv.engOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-srv.runDone
			cancel()
		}()
		go func() { _ = srv.engine.Stop(ctx) }()
	})
}

// waitWritten waits until every open session's outbound buffer has been
// handed to gnet, or ctx ends.
func (srv *Server) waitWritten(ctx context.Context) error {
	var sessions []*Session
	for {
		pending := 0
		sessions = srv.snapshot(sessions[:0])
		for _, s := range sessions {
			if !s.closing.Load() {
				pending += s.pending()
			}
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(stopPollInterval):
		}
	}
}

// waitGroup waits for wg or ctx.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
