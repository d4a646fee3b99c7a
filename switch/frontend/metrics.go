package frontend

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// reason says why the front end refused or dropped a message or closed a
// session: the label of payswitch_frontend_rejects_total. The numbers
// index tables only; the names are the stable part.
type reason uint8

const (
	reasonFrame              reason = iota // a frame header announcing 0 or more than 8192 bytes: closed
	reasonUnreadable                       // MTI or STAN unreadable: closed
	reasonMalformed                        // answered 30
	reasonMalformedResponse                // a malformed response: dropped
	reasonUnsupported                      // unknown MTI or network code: answered 12
	reasonNotSignedOn                      // answered 63
	reasonMAC                              // missing or wrong MAC: 63 or dropped
	reasonWrongParticipant                 // field 32 or 33 not the session's participant: 63
	reasonUnknownParticipant               // sign-on of an unknown participant: 92
	reasonInactive                         // sign-on of an inactive participant: 91
	reasonNotLeader                        // sign-on on a follower: 91
	reasonSessionsMax                      // too many sessions of one participant: 91
	reasonConnectionsMax                   // too many connections: closed at once
	reasonUnsignedMax                      // too many connections not signed on: closed at once
	reasonUnsignedPerHost                  // too many of them from one host: closed at once
	reasonAnswersMax                       // too many responses of one participant waiting: dropped
	reasonBadKey                           // the directory's key is unusable: 96
	reasonPanic                            // a handler or the codec panicked: 96 or closed
	reasonQueueBytes                       // over SessionQueueBytesMax: closed
	reasonIdle                             // silent for IdleTimeout: closed
	reasonSignOnTimeout                    // not signed on within SignOnTimeout: closed
	reasonCount
)

var reasonNames = [reasonCount]string{
	reasonFrame:              "frame",
	reasonUnreadable:         "unreadable",
	reasonMalformed:          "malformed",
	reasonMalformedResponse:  "malformed_response",
	reasonUnsupported:        "unsupported",
	reasonNotSignedOn:        "not_signed_on",
	reasonMAC:                "mac",
	reasonWrongParticipant:   "wrong_participant",
	reasonUnknownParticipant: "unknown_participant",
	reasonInactive:           "inactive",
	reasonNotLeader:          "not_leader",
	reasonSessionsMax:        "sessions_max",
	reasonConnectionsMax:     "connections_max",
	reasonUnsignedMax:        "unsigned_max",
	reasonUnsignedPerHost:    "unsigned_per_host",
	reasonAnswersMax:         "answers_max",
	reasonBadKey:             "bad_key",
	reasonPanic:              "panic",
	reasonQueueBytes:         "queue_bytes",
	reasonIdle:               "idle",
	reasonSignOnTimeout:      "sign_on_timeout",
}

func (r reason) String() string { return reasonNames[r] }

// mtiSlot indexes the message counters: one per MTI of the contract and
// one for the rest, so that a peer sending arbitrary MTIs cannot grow the
// label set.
func mtiSlot(t iso8583.MTI) int {
	for i, c := range contractMTIs {
		if c == t {
			return i
		}
	}
	return len(contractMTIs)
}

var contractMTIs = [...]iso8583.MTI{
	iso8583.MTIFinancialRequest, iso8583.MTIFinancialResponse,
	iso8583.MTIReversalAdvice, iso8583.MTIReversalAdviceResponse,
	iso8583.MTINetworkRequest, iso8583.MTINetworkResponse,
}

// Directions of payswitch_frontend_messages_total.
const (
	dirIn = iota
	dirOut
	dirCount
)

// Handler calls timed by payswitch_frontend_handler_seconds.
const (
	callRequest = iota
	callResponse
	callSignedOn
	callCount
)

// metrics holds the front end's collectors, each child resolved once so
// that counting a message is an atomic add.
type metrics struct {
	connected prometheus.Gauge
	signedOn  prometheus.Gauge
	messages  [dirCount][len(contractMTIs) + 1]prometheus.Counter
	rejects   [reasonCount]prometheus.Counter
	queueFull prometheus.Counter
	handler   [callCount]prometheus.Observer

	reg        prometheus.Registerer
	registered []prometheus.Collector
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	sessions := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "payswitch_frontend_sessions",
		Help: "ISO 8583 sessions: connected (all TCP connections) and signed_on.",
	}, []string{"state"})
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "payswitch_frontend_messages_total",
		Help: "ISO 8583 messages by MTI (other for MTIs outside the contract) and direction (in, out).",
	}, []string{"mti", "dir"})
	rejects := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "payswitch_frontend_rejects_total",
		Help: "Messages refused or dropped and sessions closed by the front end, by reason.",
	}, []string{"reason"})
	queueFull := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "payswitch_frontend_queue_full_total",
		Help: "Messages that found the worker queue full (requests answered 91, responses dropped).",
	})
	handler := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "payswitch_frontend_handler_seconds",
		Help:    "Time spent in Handler calls (request, response, signed_on).",
		Buckets: prometheus.ExponentialBuckets(5e-6, 4, 12),
	}, []string{"call"})
	m := &metrics{
		connected: sessions.WithLabelValues("connected"),
		signedOn:  sessions.WithLabelValues("signed_on"),
		queueFull: queueFull,
	}
	dirs := [dirCount]string{"in", "out"}
	for d := range m.messages {
		for i := range m.messages[d] {
			label := "other"
			if i < len(contractMTIs) {
				label = contractMTIs[i].String()
			}
			m.messages[d][i] = messages.WithLabelValues(label, dirs[d])
		}
	}
	for r := range m.rejects {
		m.rejects[r] = rejects.WithLabelValues(reason(r).String())
	}
	for i, call := range [callCount]string{"request", "response", "signed_on"} {
		m.handler[i] = handler.WithLabelValues(call)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{sessions, messages, rejects, queueFull, handler} {
			if err := reg.Register(c); err != nil {
				m.reg = reg
				m.unregister()
				return nil, fmt.Errorf("frontend: registering metrics: %w", err)
			}
			m.registered = append(m.registered, c)
		}
		m.reg = reg
	}
	return m, nil
}

// unregister takes the collectors off the Registerer, so that a new Server
// may register its own (Stop calls it).
func (m *metrics) unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}

func (m *metrics) message(dir int, t iso8583.MTI) { m.messages[dir][mtiSlot(t)].Inc() }
