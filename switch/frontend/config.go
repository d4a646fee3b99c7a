package frontend

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// Config configures a Server. Zero fields take the documented defaults.
type Config struct {
	// Addr is the TCP address to listen on, host:port. Port 0 picks a free
	// port (see Server.Addr). TCP only. Required.
	Addr string
	// Keys looks up a participant's MAC key and whether it is active (the
	// routing directory). known is false for a participant the directory
	// does not hold. It is called on a worker at each sign-on and must not
	// block for long. Required.
	Keys func(participant uint64) (macKey []byte, active, known bool)
	// IsLeader reports whether this node leads (Raft). Only the leader
	// accepts sign-on; a follower answers 0810 with 39=91. The front end
	// polls it every 100 ms and closes every session when it turns false.
	// Default: always true (a one-node switch).
	IsLeader func() bool
	// Handler receives the payments and their answers. Required.
	Handler Handler
	// Workers is the size of the worker pool that runs every decoded
	// message, never the event loop. Default GOMAXPROCS, at least 2. The
	// handlers do not block (a payment's ledger commands are asynchronous),
	// so more workers than Ps only add wake-ups: with 8 against 4 at
	// 30,000 payments/s on two CPUs the p99 was higher in every one of
	// ten interleaved pairs (bench/RESULTS.md, 2026-11-29 (evening)).
	Workers int
	// QueueMax bounds the decoded requests waiting for a worker; responses
	// wait in a queue of their own, four times as long, which the workers
	// empty first. When its queue is full a request is answered with 39=91
	// at once and a response is dropped and counted. Default 4096.
	QueueMax int
	// SessionQueueBytesMax bounds one session's outbound bytes not yet
	// written to its socket. A session over it is closed: it does not
	// read. Default 4 MiB.
	SessionQueueBytesMax int
	// IdleTimeout closes a session that has sent nothing for this long;
	// after a third of it the switch sends a signed-on session an 0800
	// echo (70=301). Default 60 s, at least 300 ms.
	IdleTimeout time.Duration
	// SignOnTimeout closes a connection that has not signed on this long
	// after it opened. Every connection holds one of the server's
	// connection slots, and one that never signs on can keep its slot
	// past IdleTimeout by sending messages that are answered 63. Default
	// 10 s, at least 300 ms.
	SignOnTimeout time.Duration
	// Logger receives the front end's logs and gnet's. Default: discard.
	Logger *slog.Logger
	// Registerer receives the metrics (payswitch_frontend_*). Default:
	// none, the metrics are kept but not exported.
	Registerer prometheus.Registerer
}

// Handler is what the switch does with the messages of signed-on sessions.
// Every method runs on a worker goroutine, so several run at once, for
// one session as for many; a method that blocks holds its worker.
//
// The message passed in is the front end's own and is reused once the
// method returns: keep a copy (v := *m), never the pointer. The method may
// change it, typically into its response (m.ResponseTo(m)) for s.Reply.
type Handler interface {
	// Request gets each 0200 and 0420 from a signed-on session, its fields
	// checked (CheckFields), its MAC verified and its field 32 the
	// session's participant.
	Request(s *Session, m *iso8583.Message)
	// Response gets each 0210 and 0430 from a signed-on session (answers
	// to requests the switch sent), its fields checked and its MAC
	// verified.
	Response(s *Session, m *iso8583.Message)
	// SignedOn is called after a session of participant signed on and
	// its 0810 was queued, for example to resend the reversal advices it
	// is owed.
	SignedOn(participant uint64)
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.IsLeader == nil {
		c.IsLeader = func() bool { return true }
	}
	if c.Workers == 0 {
		c.Workers = max(runtime.GOMAXPROCS(0), 2)
	}
	if c.QueueMax == 0 {
		c.QueueMax = queueMaxDefault
	}
	if c.SessionQueueBytesMax == 0 {
		c.SessionQueueBytesMax = sessionQueueBytesMaxDefault
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = idleTimeoutDefault
	}
	if c.SignOnTimeout == 0 {
		c.SignOnTimeout = signOnTimeoutDefault
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem of c at once, wrapped in ErrConfig. It
// checks c as given: zero fields that have defaults are valid.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("Addr %q: %w", c.Addr, err))
	}
	if c.Keys == nil {
		errs = append(errs, errors.New("Keys is required"))
	}
	if c.Handler == nil {
		errs = append(errs, errors.New("Handler is required"))
	}
	if c.Workers < 0 || c.Workers > workersMax {
		errs = append(errs, fmt.Errorf("Workers %d: want 1 to %d (0 for the default)", c.Workers, workersMax))
	}
	if c.QueueMax < 0 || c.QueueMax > queueMaxMax {
		errs = append(errs, fmt.Errorf("QueueMax %d: want 1 to %d (0 for the default)", c.QueueMax, queueMaxMax))
	}
	if c.SessionQueueBytesMax != 0 &&
		(c.SessionQueueBytesMax < sessionQueueBytesMin || c.SessionQueueBytesMax > sessionQueueBytesMaxMax) {
		errs = append(errs, fmt.Errorf("SessionQueueBytesMax %d: want %d to %d (0 for the default)",
			c.SessionQueueBytesMax, sessionQueueBytesMin, sessionQueueBytesMaxMax))
	}
	if c.IdleTimeout != 0 && c.IdleTimeout < idleTimeoutMin {
		errs = append(errs, fmt.Errorf("IdleTimeout %v: want at least %v (0 for the default)", c.IdleTimeout, idleTimeoutMin))
	}
	if c.SignOnTimeout != 0 && c.SignOnTimeout < signOnTimeoutMin {
		errs = append(errs, fmt.Errorf("SignOnTimeout %v: want at least %v (0 for the default)", c.SignOnTimeout, signOnTimeoutMin))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	return nil
}
