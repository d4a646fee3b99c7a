package routing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/payswitch/payswitch/ledger"
)

// Router answers the two questions the flow asks before money moves:
// where an identifier is paid (Resolve), and whether and how a payment
// can go (Route). It reads the replicated State and never changes it.
// It is safe for concurrent use.
type Router struct {
	state   *State
	tokens  *Tokenizer
	limiter *Limiter
	paying  *Limiter
	audit   Auditor
	consent ConsentHook
	now     func() time.Time
}

// RouterConfig wires a Router. State, Tokenizer, Limiter and Auditor are
// required.
type RouterConfig struct {
	State     *State
	Tokenizer *Tokenizer
	Limiter   *Limiter
	// PaymentLimiter meters the lookups of payments by identifier, which
	// a busy bank makes thousands of times a second, separately from
	// plain resolves; nil means a limiter with PaymentLimiterDefaults.
	PaymentLimiter *Limiter
	Auditor        Auditor
	// Consent holds the external hooks (screening webhooks), asked after
	// the built-in mandate check; nil means none.
	Consent ConsentHook
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewRouter checks cfg and returns a Router.
func NewRouter(cfg RouterConfig) (*Router, error) {
	if cfg.State == nil || cfg.Tokenizer == nil || cfg.Limiter == nil || cfg.Auditor == nil {
		return nil, fmt.Errorf("%w: router: State, Tokenizer, Limiter and Auditor are required", ErrConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PaymentLimiter == nil {
		l, err := NewLimiter(PaymentLimiterDefaults)
		if err != nil {
			return nil, err
		}
		cfg.PaymentLimiter = l
	}
	return &Router{state: cfg.State, tokens: cfg.Tokenizer, limiter: cfg.Limiter, paying: cfg.PaymentLimiter,
		audit: cfg.Auditor, consent: cfg.Consent, now: cfg.Now}, nil
}

// PaymentLimiterDefaults meter payments by identifier: a payer sustains
// 50,000 such payments a second, or 2,000 misses, with a burst of twice
// that. Misses still cost 25 times a hit, so a participant that pays
// random numbers to learn which exist runs dry quickly.
var PaymentLimiterDefaults = LimiterConfig{Capacity: 100_000, RefillPerSecond: 50_000, HitCost: 1, MissCost: 25}

// Tokenizer returns the router's tokenizer, for the edges that link.
func (r *Router) Tokenizer() *Tokenizer { return r.tokens }

// State returns the tables the router reads.
func (r *Router) State() *State { return r.state }

// ErrUnknownIdentifier is returned by Resolve for an identifier that is
// not linked (for the purpose, or the default).
var ErrUnknownIdentifier = errors.New("routing: identifier not linked")

// ErrUnknownRequester is returned by Resolve when the requester is not a
// participant, or not an active one.
var ErrUnknownRequester = errors.New("routing: requester is not an active participant")

// Resolution is what a resolve discloses: where the identifier is paid
// and the holder's masked name. Nothing else, and never the identifier.
type Resolution struct {
	Participant uint64
	Account     string
	Name        string // masked
	Type        IDType
	// Purpose is the purpose of the entry that answered: PurposeG2P, or
	// PurposePayment for the default address.
	Purpose Purpose
}

// Resolve finds where id is paid for purpose (a G2P resolve falls back to
// the default address) on behalf of requester. It spends the requester's
// budget (a miss costs more) and records the resolve in the audit trail
// before answering; an audit failure refuses the answer.
func (r *Router) Resolve(ctx context.Context, requester uint64, id Identifier, purpose Purpose) (Resolution, error) {
	if p, ok := r.state.Participant(requester); !ok || p.Status != StatusActive {
		return Resolution{}, ErrUnknownRequester
	}
	now := r.now()
	if err := r.limiter.Allow(requester, now); err != nil {
		return Resolution{}, err
	}
	return r.lookup(ctx, r.limiter, requester, id, purpose, now)
}

// lookup finds id's entry, settles the requester's reservation on lim
// (Allow must have passed) and audits the resolve.
func (r *Router) lookup(ctx context.Context, lim *Limiter, requester uint64, id Identifier, purpose Purpose, now time.Time) (Resolution, error) {
	token := r.tokens.Token(id)
	l, ok := r.state.Lookup(token, linkPurpose(purpose))
	if !ok && linkPurpose(purpose) != PurposePayment {
		l, ok = r.state.Lookup(token, PurposePayment)
	}
	lim.Charge(requester, ok, now)
	if err := r.audit.Record(ctx, AuditRecord{Requester: requester, At: now, Type: id.Type(), Token: token, Hit: ok, Purpose: purpose}); err != nil {
		return Resolution{}, fmt.Errorf("routing: audit refused the resolve: %w", err)
	}
	if !ok {
		return Resolution{}, ErrUnknownIdentifier
	}
	return Resolution{Participant: l.Participant, Account: l.Account, Name: l.Name, Type: l.Type, Purpose: l.Purpose}, nil
}

// linkPurpose maps a resolve or payment purpose to the mapper purpose it
// reads: G2P items read the G2P address, everything else the default.
func linkPurpose(p Purpose) Purpose {
	if p == PurposeG2P {
		return PurposeG2P
	}
	return PurposePayment
}

// RouteCode is why a payment cannot be routed, as the ISO 8583 response
// code of DESIGN section 6.1; adapters translate it for their protocol.
type RouteCode string

// The route failures.
const (
	RouteFormat             RouteCode = "30" // the request itself is malformed
	RouteInvalidTransaction RouteCode = "12" // currency not served, payer pays itself, no such program
	RouteInvalidAmount      RouteCode = "13"
	RouteUnknownID          RouteCode = "14" // identifier not linked, or payee account unknown
	RouteNotPermitted       RouteCode = "57" // consent denied, mandate missing
	RouteUnavailable        RouteCode = "91" // participant suspended or closed; requester rate-limited
	RouteUnknownParticipant RouteCode = "92"
	RouteSystemError        RouteCode = "96" // the audit trail or a hook failed
)

// RouteError is a payment that cannot be routed: the response code and a
// stable snake_case reason ("payee_suspended") for logs and problems.
type RouteError struct {
	Code   RouteCode
	Reason string
	// Err is the underlying error, if any (a *RateLimitError, say).
	Err error
}

func (e *RouteError) Error() string {
	if e.Err != nil {
		return "routing: cannot route (" + string(e.Code) + " " + e.Reason + "): " + e.Err.Error()
	}
	return "routing: cannot route (" + string(e.Code) + " " + e.Reason + ")"
}

func (e *RouteError) Unwrap() error { return e.Err }

func routeErr(code RouteCode, reason string) *RouteError {
	return &RouteError{Code: code, Reason: reason}
}

// PaymentRequest is a payment as the flow receives it.
type PaymentRequest struct {
	// TransferID is the flow's ID of the payment, for consent hooks and
	// audit (printable ASCII, up to 64).
	TransferID string
	// Purpose is PurposePayment (push), PurposeG2P or PurposePull.
	Purpose Purpose
	// Payer is the paying participant and its customer's account.
	Payer Party
	// Program is the government payer's budget line for PurposeG2P; zero
	// pays from its position.
	Program uint16
	// The payee, either as Payee (participant and account) or as PayeeID
	// (an identifier to resolve). An acct identifier is the same as a
	// participant and account.
	Payee   Party
	PayeeID Identifier
	// Currency (ISO 4217 numeric) and Amount (minor units).
	Currency uint16
	Amount   uint64
	// MandateID names the mandate of a pull payment.
	MandateID string
}

// Route is where a payment goes and which ledger accounts it moves.
type Route struct {
	Payer Party
	Payee Party
	// PayeeName is the holder's masked name when the payee was resolved.
	PayeeName string
	// PayerInfo and PayeeInfo are the directory entries (shared; do not
	// modify): the flow reads the payee's MAC key and timeout from them.
	PayerInfo, PayeeInfo *Participant
	// Debit and Credit are the ledger accounts to reserve between.
	Debit, Credit ledger.ID
	// Consent is the decision that allowed the payment; its Reference
	// travels with the transfer.
	Consent Decision
}

// Route decides where req goes: it checks both participants, resolves the
// payee's identifier, asks for consent (the built-in mandate check for
// pull payments, then the configured hooks) and names the ledger accounts.
// A payment that cannot go gets a *RouteError.
//
// A payment by identifier spends the payer's payment-lookup budget (see
// PaymentLimiterDefaults), not its resolve budget; every lookup is
// audited.
func (r *Router) Route(ctx context.Context, req *PaymentRequest) (Route, error) {
	var rt Route
	if req.Amount == 0 {
		return rt, routeErr(RouteInvalidAmount, "amount_zero")
	}
	if req.Purpose != PurposePayment && req.Purpose != PurposeG2P && req.Purpose != PurposePull {
		return rt, routeErr(RouteFormat, "purpose_invalid")
	}
	payer, err := r.party(req.Payer.Participant, req.Currency, "payer")
	if err != nil {
		return rt, err
	}
	rt.Payer, rt.PayerInfo = req.Payer, payer
	rt.Debit = PositionAccount(payer.ID, req.Currency)
	if req.Program != 0 {
		if req.Purpose != PurposeG2P || !payer.HasProgram(req.Program) {
			return rt, routeErr(RouteInvalidTransaction, "program_unknown")
		}
		rt.Debit = ProgramAccount(payer.ID, req.Currency, req.Program)
	}

	rt.Payee = req.Payee
	if !req.PayeeID.IsZero() {
		if req.PayeeID.Type() == IDTypeAcct {
			p, _ := req.PayeeID.Participant()
			acct, _ := req.PayeeID.Account()
			rt.Payee = Party{Participant: p, Account: acct}
		} else {
			now := r.now()
			if err := r.paying.Allow(payer.ID, now); err != nil {
				return rt, &RouteError{Code: RouteUnavailable, Reason: "rate_limited", Err: err}
			}
			res, err := r.lookup(ctx, r.paying, payer.ID, req.PayeeID, req.Purpose, now)
			switch {
			case errors.Is(err, ErrUnknownIdentifier):
				return rt, routeErr(RouteUnknownID, "identifier_unknown")
			case err != nil:
				return rt, &RouteError{Code: RouteSystemError, Reason: "audit_failed", Err: err}
			}
			rt.Payee = Party{Participant: res.Participant, Account: res.Account}
			rt.PayeeName = res.Name
		}
	}
	if rt.Payee.Account == "" {
		return rt, routeErr(RouteUnknownID, "payee_account_missing")
	}
	payee, err := r.party(rt.Payee.Participant, req.Currency, "payee")
	if err != nil {
		return rt, err
	}
	rt.PayeeInfo = payee
	rt.Credit = PositionAccount(payee.ID, req.Currency)
	if rt.Credit == rt.Debit {
		return rt, routeErr(RouteInvalidTransaction, "payer_is_payee")
	}

	creq := Request{TransferID: req.TransferID, Purpose: req.Purpose, Payer: rt.Payer, Payee: rt.Payee,
		Amount: req.Amount, Currency: req.Currency, MandateID: req.MandateID, At: r.now()}
	if req.Purpose == PurposePull {
		d := r.checkMandate(creq)
		if !d.Allow {
			return rt, routeErr(RouteNotPermitted, d.Reason)
		}
		rt.Consent = d
	}
	if r.consent != nil {
		d, err := r.consent.Check(ctx, creq)
		if err != nil || !d.Allow {
			reason := d.Reason
			if reason == "" {
				reason = ReasonConsentDenied
			}
			return rt, &RouteError{Code: RouteNotPermitted, Reason: reason, Err: err}
		}
		rt.Consent.Reason = d.Reason
		if d.Reference != "" && rt.Consent.Reference != "" {
			rt.Consent.Reference += ";" + d.Reference
		} else if d.Reference != "" {
			rt.Consent.Reference = d.Reference
		}
	}
	rt.Consent.Allow = true
	return rt, nil
}

// party finds an active participant that serves currency.
func (r *Router) party(id uint64, currency uint16, side string) (*Participant, error) {
	p, ok := r.state.Participant(id)
	switch {
	case !ok:
		return nil, routeErr(RouteUnknownParticipant, side+"_unknown")
	case p.Status != StatusActive:
		return nil, routeErr(RouteUnavailable, side+"_"+p.Status.String())
	case !p.Serves(currency):
		return nil, routeErr(RouteInvalidTransaction, side+"_currency_not_served")
	}
	return p, nil
}

// checkMandate is the built-in consent for pull payments: the mandate
// named in the request must exist, belong to this payer's account, and
// permit this debit now. It does not use the mandate up: the flow
// proposes OpUseMandate, which checks again atomically in the state
// machine, before it reserves the funds.
func (r *Router) checkMandate(req Request) Decision {
	return MandateDecision(r.state, req)
}

// MandateDecision judges req against the mandate it names.
func MandateDecision(s *State, req Request) Decision {
	if req.MandateID == "" {
		return deny(ReasonMandateMissing)
	}
	m, ok := s.Mandate(req.MandateID)
	if !ok || m.Payer.Participant != req.Payer.Participant || m.Payer.Account != req.Payer.Account {
		return deny(ReasonMandateMissing)
	}
	if code := m.Permits(req.Payee, req.Currency, req.Amount, uint64(req.At.UnixNano())); code != CodeOK {
		return Decision{Reason: code.String(), Reference: m.ID}
	}
	return Decision{Allow: true, Reference: m.ID}
}
