// Package engine wires one node's switch: the router over the node's
// routing tables, the payment flow, and the ISO 8583 front end that feeds
// it. `serve`, the demo, the end-to-end benchmark and the tests start the
// switch through it, so they all run the same thing.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/routing"
	"github.com/payswitch/payswitch/switch/flow"
	"github.com/payswitch/payswitch/switch/frontend"
	"github.com/payswitch/payswitch/switch/iso8583"
	"github.com/prometheus/client_golang/prometheus"
)

// Config sets up a node's switch.
type Config struct {
	Node      *replica.Node
	Tokenizer *routing.Tokenizer
	// Addr is the ISO 8583 listener, host:port ("127.0.0.1:0" picks a port).
	Addr string
	// DefaultTimeout is the payee deadline for participants without their
	// own; zero means the flow's default (10 s).
	DefaultTimeout time.Duration
	// Consent holds external consent hooks (screening webhooks); optional.
	Consent routing.ConsentHook
	// Limiter meters resolves; nil means routing's defaults.
	Limiter    *routing.Limiter
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Engine is a running switch on one node.
type Engine struct {
	Flow     *flow.Flow
	Router   *routing.Router
	Audit    *routing.AuditRing
	frontend *frontend.Server
	stopRun  context.CancelFunc
	runDone  chan struct{}
}

// auditRingCapacity is how many resolves the in-memory audit trail keeps.
const auditRingCapacity = 1 << 20

// Start builds the router, the flow and the front end, and starts them.
func Start(cfg Config) (*Engine, error) {
	if cfg.Node == nil || cfg.Tokenizer == nil {
		return nil, errors.New("engine: Node and Tokenizer are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	limiter := cfg.Limiter
	if limiter == nil {
		var err error
		if limiter, err = routing.NewLimiter(routing.LimiterConfig{}); err != nil {
			return nil, err
		}
	}
	audit, err := routing.NewAuditRing(auditRingCapacity)
	if err != nil {
		return nil, err
	}
	router, err := routing.NewRouter(routing.RouterConfig{State: cfg.Node.Routing(), Tokenizer: cfg.Tokenizer, Limiter: limiter, Auditor: audit, Consent: cfg.Consent})
	if err != nil {
		return nil, err
	}
	fl, err := flow.New(flow.Config{Node: cfg.Node, Router: router, DefaultTimeout: cfg.DefaultTimeout,
		RouteWaits: cfg.Consent != nil, Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		return nil, err
	}
	state := cfg.Node.Routing()
	fe, err := frontend.Start(frontend.Config{
		Addr: cfg.Addr,
		Keys: func(participant uint64) ([]byte, bool, bool) {
			p, ok := state.Participant(participant)
			if !ok {
				return nil, false, false
			}
			return p.MACKey, p.Status == routing.StatusActive, true
		},
		IsLeader:   cfg.Node.IsLeader,
		Handler:    handler{fl},
		Logger:     cfg.Logger,
		Registerer: cfg.Registerer,
	})
	if err != nil {
		return nil, fmt.Errorf("engine: front end: %w", err)
	}
	fl.SetSender(fe)
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{Flow: fl, Router: router, Audit: audit, frontend: fe, stopRun: cancel, runDone: make(chan struct{})}
	go func() {
		defer close(e.runDone)
		fl.Run(ctx)
	}()
	return e, nil
}

// Addr is the ISO 8583 listener's address.
func (e *Engine) Addr() string { return e.frontend.Addr() }

// Stop stops gracefully: new payments are refused (91) while those in
// progress finish (their payees' answers still come in, or their
// deadlines pass), as long as ctx allows; then the front end stops and the
// flow's background work ends.
func (e *Engine) Stop(ctx context.Context) error {
	drainErr := e.Flow.Drain(ctx)
	err := e.frontend.Stop(ctx)
	e.stopRun()
	<-e.runDone
	return errors.Join(drainErr, err)
}

// handler adapts the flow to the front end's Handler.
type handler struct{ f *flow.Flow }

func (h handler) Request(s *frontend.Session, m *iso8583.Message)  { h.f.Request(s, m) }
func (h handler) Response(s *frontend.Session, m *iso8583.Message) { h.f.Response(s.Participant(), m) }
func (h handler) SignedOn(participant uint64)                      { h.f.SignedOn(participant) }
