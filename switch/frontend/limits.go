package frontend

import (
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// Limits of the front end. Each bounds memory, goroutines or time that the
// participants' bytes can cause; limits_test.go checks how they relate.
const (
	// frameBytesMax is the most a frame takes on the wire: its 2-byte
	// header and iso8583.FrameSizeMax bytes of message. NextFrame refuses a
	// longer one before it is buffered, so a session holds at most one
	// partial frame of this size in its inbound buffer.
	frameBytesMax = 2 + iso8583.FrameSizeMax

	// workersMax bounds Config.Workers: more goroutines than this only
	// trade memory for contention on a switch node.
	workersMax = 4096

	// queueMaxDefault is Config.QueueMax when it is zero: decoded messages
	// waiting for a worker. A full queue answers 91 at once, so the bound is
	// what the switch accepts to delay, not what it drops.
	queueMaxDefault = 4096
	// answersQueueFactor sizes the queue of responses (a payee's 0210, a
	// 0430, an 0810 to the switch's echo) against QueueMax. The workers
	// take responses before requests: a response finishes a payment in
	// progress, a request starts one. Under overload the requests wait (and
	// get 91 when their queue is full) while the payments already accepted
	// complete; taken in arrival order, a payee's approval queued behind
	// new payments, its payment timed out (68, a void and a reversal
	// advice: more work still) and the switch collapsed to a fraction of
	// its capacity.
	answersQueueFactor = 4
	// queueMaxMax bounds Config.QueueMax; a queued message holds about
	// 1.5 KB, so the queue costs at most about 1.5 GB.
	queueMaxMax = 1 << 20

	// sessionQueueBytesMaxDefault is Config.SessionQueueBytesMax when it
	// is zero: 4 MiB, some 20,000 responses, of a session that reads
	// nothing. sessionQueueBytesMin keeps room for several whole frames.
	sessionQueueBytesMaxDefault = 4 << 20
	sessionQueueBytesMin        = 4 * frameBytesMax
	sessionQueueBytesMaxMax     = 1 << 30

	// idleTimeoutDefault is Config.IdleTimeout when it is zero. A session
	// that sends nothing for this long is closed; the switch echoes it
	// after a third of it (echoesPerIdleTimeout), so a live participant
	// that answers echoes is never idle. idleTimeoutMin keeps the echo
	// interval above the housekeeping tick.
	idleTimeoutDefault   = 60 * time.Second
	idleTimeoutMin       = 3 * housekeepingInterval
	echoesPerIdleTimeout = 3

	// signOnTimeoutDefault is Config.SignOnTimeout when it is zero: a bank
	// signs on in its first round trip, so ten seconds is ample, and a
	// connection that does not frees its slot soon.
	signOnTimeoutDefault = 10 * time.Second
	signOnTimeoutMin     = 3 * housekeepingInterval

	// housekeepingInterval is how often one goroutine polls IsLeader (a
	// leadership loss closes every session within about this long), sweeps
	// idle sessions, sends echoes and advances the coarse clock that
	// stamps each session's last read.
	housekeepingInterval = 100 * time.Millisecond

	// connectionsMax bounds the open TCP connections, signed on or not;
	// one more is closed as soon as it is accepted.
	connectionsMax = 10000

	// unsignedMax bounds the connections not signed on yet, and
	// unsignedPerHostMax those of them from one remote IP address; one
	// more is closed as soon as it is accepted. Without them one client
	// that kept connectionsMax connections open without signing on kept
	// every bank from signing on again, as each must after a leader
	// change. A bank re-dialling all its sessions at once needs at most
	// sessionsPerParticipantMax of them.
	unsignedMax        = 2048
	unsignedPerHostMax = 2 * sessionsPerParticipantMax

	// sessionsPerParticipantMax bounds the signed-on sessions of one
	// participant; one more sign-on is answered 91.
	sessionsPerParticipantMax = 64

	// outBufferKeptMax is the largest outbound buffer a session keeps for
	// reuse after a flush; a larger one, left by a burst, goes to the
	// garbage collector rather than staying with an idle session.
	outBufferKeptMax = 64 << 10

	// stopPollInterval is how often Stop checks that the sessions'
	// outbound buffers have been handed to gnet.
	stopPollInterval = 2 * time.Millisecond
)
