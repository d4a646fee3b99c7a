// Package frontend is the switch's ISO 8583 front end (DESIGN.md 6.1,
// docs/iso8583.md): a gnet TCP server that banks connect to. It owns the
// sessions, their sign-on and MAC keys, the framing and decoding of what
// they send, and the bounds that keep one participant from hurting the
// others. What a payment means is not its business: decoded, checked
// messages go to a [Handler] (switch/flow), which answers through
// [Session.Reply] and sends through [Server.Send]. It is the only package
// that imports gnet.
//
// # Sessions
//
// One TCP connection is one [Session]. Until it signs on, it is answered
// 63 for anything but an 0800 sign-on (70=001). The sign-on names the
// participant in field 33 and carries its MAC; the answer is, in this
// order: 92 when Config.Keys does not know the participant, 63 when the
// MAC is not its key's, 91 when it is inactive, 91 when this node is not
// the Raft leader (Config.IsLeader), else 00 and the session becomes that
// participant's. A signed-on session's messages must carry a good MAC
// (63 for a request otherwise; a response is dropped), a 0200 or 0420 must
// name the session's participant in field 32 (63 otherwise), and an 0800
// must name it in 33. Echoes (301) are answered 00; a sign-off (002) is
// answered 00 and the session then reads nothing more and is closed once
// the answer is written. A participant may hold several sessions
// (sessionsPerParticipantMax); Send takes them in turn and skips a dead
// one.
//
// A malformed message is answered 30 (its response MTI, its STAN and 39
// only; 63 before sign-on unless it is an 0800) when
// [iso8583.PeekMTISTAN] can read its MTI and STAN; otherwise,
// and for a frame header announcing 0 or more than 8192 bytes, the
// session is closed: it cannot be resynchronised. A well-formed message
// lacking a field is answered 30 too, 12 when its MTI or network code is
// outside the contract.
//
// A session that sends nothing for Config.IdleTimeout is closed; a
// signed-on one is sent the switch's own MACed 0800 echo after a third of
// it, and the 0810 that answers is consumed here. When IsLeader turns
// false (polled every 100 ms) every session is closed, and the
// participants sign on again at the new leader.
//
// # Threading
//
// gnet runs a few event loops (one per CPU). An event loop never blocks
// and never runs a Handler: OnTraffic splits the frames off the inbound
// buffer, decodes each into a pooled message (Unpack copies, so nothing
// aliases gnet's buffer after the Discard) and hands it to a bounded
// queue. Config.Workers goroutines take messages from the queue and do
// everything else: the session rules, MAC checks (a session's MAC key is
// a pool of MACers, so its messages may run on several workers at once)
// and the Handler calls. Messages of one session may therefore be handled
// out of order; the protocol matches responses by STAN, and a participant
// must wait for its sign-on's answer before it sends anything else. A
// panic in a Handler is recovered, logged and answered 96.
//
// Reply, Send, Sessions and CloseSessions are safe from any goroutine. A
// reply is packed (and MACed) by its caller onto the session's outbound
// buffer; the event loop writes that buffer in one call, so the replies
// of a busy session leave together. One housekeeping goroutine polls
// IsLeader, sweeps idle sessions and sends echoes.
//
// # Back-pressure
//
// Every queue is bounded. The worker queue holds Config.QueueMax
// messages; when it is full, a request is answered 91 at once (from the
// event loop) and a response is dropped and counted, so a slow Handler
// sheds load instead of growing memory. A session owes its peer what
// waits in its outbound buffer plus what gnet holds unwritten for it;
// past Config.SessionQueueBytesMax the session is closed: a participant
// that does not read its answers cannot make the switch buffer them. The
// inbound side holds at most one partial frame per session, and at most
// connectionsMax connections are open.
//
// # Shutdown
//
// [Server.Stop] is graceful: new connections are closed as they arrive,
// nothing more is read, the workers run what is queued and the Handler
// calls in flight finish, their replies are handed to gnet, then the
// engine stops, writing what it holds (as far as each socket takes it)
// and closing every connection. Its context bounds the wait; a Handler
// still running when it ends is abandoned, not interrupted.
// [Server.CloseSessions] (leadership lost) closes the sessions at once
// and runs none of their queued messages.
//
// # Caveats
//
// The message a Handler gets is reused once the call returns: copy it to
// keep it. Reply and Send set or clear field 128 of the message they are
// given. The switch's echoes take STANs from a sequence of the session's
// own; a caller of Send chooses its STANs itself. gnet's logger is global
// to the process; the last Server started sets it.
package frontend
