package routing

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/payswitch/payswitch/internal/invariant"
	"github.com/prometheus/client_golang/prometheus"
)

// SignatureHeader carries the signature of a webhook's body:
// "sha256=" followed by the lower-case hex HMAC-SHA256 of the exact body
// bytes under the secret shared with the service. The body holds the time
// of the request ("at"), so the service can refuse replays.
const SignatureHeader = "X-Payswitch-Signature"

// Secret is key material in configuration. It prints and logs as
// "[redacted]" whatever the verb, so a logged configuration leaks nothing.
type Secret []byte

// String returns "[redacted]".
func (Secret) String() string { return "[redacted]" }

// Format writes "[redacted]" for every verb.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "[redacted]") }

// LogValue makes slog log "[redacted]".
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// WebhookConfig configures a WebhookHook.
type WebhookConfig struct {
	// Name labels the hook in metrics and logs: 1 to 32 of [a-z0-9_-],
	// such as "aml" or "fraud_10002". Required.
	Name string
	// URL receives the POST: https, or plain http only to a loopback
	// address (a sidecar, a test), because the body names accounts.
	// Required.
	URL string
	// Secret signs each body (SignatureHeader): 32 to 1024 bytes, shared
	// with the service. Required.
	Secret Secret
	// Budget is the most time one call may take, response body included.
	// Default 150 ms; 1 ms to 2 s.
	Budget time.Duration
	// FailOpen allows the movement, with reason screening_unavailable, when
	// the service cannot decide in time. Default false: such a movement is
	// denied with that reason.
	FailOpen bool
	// Client sends the requests. Default: a client with Go's default
	// transport. Redirects are never followed, on any client: a 3xx means
	// the service is unavailable.
	Client *http.Client
	// Registerer receives the hook's metrics (see NewWebhookHook). Several
	// hooks may share one. Default: nil, the metrics are kept but not
	// registered.
	Registerer prometheus.Registerer
	// Logger receives a warning for each call that failed, with the hook's
	// name and the cause. Default: nil, which discards.
	Logger *slog.Logger
}

// withDefaults returns c with zero fields set to their defaults.
func (c WebhookConfig) withDefaults() WebhookConfig {
	if c.Budget == 0 {
		c.Budget = webhookBudgetDefault
	}
	if c.Client == nil {
		c.Client = &http.Client{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem of c after defaults are applied, joined
// into one error wrapping ErrConfig (ErrSecret for the secret); nil if
// there is none.
func (c WebhookConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: webhook: "+format, append([]any{ErrConfig}, args...)...))
	}
	if !isHookName(c.Name) {
		bad("Name: want 1 to %d of [a-z0-9_-]", hookNameLenMax)
	}
	if err := checkWebhookURL(c.URL); err != nil {
		bad("URL: %v", err)
	}
	if err := checkSecret(c.Secret); err != nil {
		errs = append(errs, fmt.Errorf("webhook: Secret: %w", err))
	}
	if c.Budget < webhookBudgetMin || c.Budget > webhookBudgetMax {
		bad("Budget %v outside %v..%v", c.Budget, webhookBudgetMin, webhookBudgetMax)
	}
	return errors.Join(errs...)
}

// checkWebhookURL accepts an absolute https URL, or an http URL whose host
// is a loopback address or "localhost", without credentials or fragment.
func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.User != nil || u.Fragment != "" || u.Host == "" {
		return errors.New("want scheme://host/path, without credentials or fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return errors.New("plain http only to a loopback address")
	}
	return errors.New("want https")
}

// isHookName reports whether s is 1 to hookNameLenMax of [a-z0-9_-].
func isHookName(s string) bool {
	if len(s) == 0 || len(s) > hookNameLenMax {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnumLower(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// Values of the result label of payswitch_routing_hook_decisions_total.
const (
	resultAllow      = "allow"       // the service allowed
	resultDeny       = "deny"        // the service denied
	resultFailOpen   = "fail_open"   // the service failed; allowed by setting
	resultFailClosed = "fail_closed" // the service failed; denied
	resultCanceled   = "canceled"    // the caller's context ended first
	resultInvalid    = "invalid"     // the request was malformed; not sent
)

// WebhookHook is a ConsentHook that asks an HTTP service, such as a fraud
// or AML screening service, within a strict latency budget. It is
// immutable after NewWebhookHook and safe for concurrent use.
//
// # Protocol
//
// The hook POSTs a JSON object to the URL, signed with SignatureHeader:
//
//	{"version":1,"hook":"aml","transfer_id":"...","purpose":"payment",
//	 "payer":{"participant":10001,"account":"..."},
//	 "payee":{"participant":10002,"account":"..."},
//	 "amount_minor":"1250","currency":404,"mandate_id":"...",
//	 "at":"2026-01-02T03:04:05.000000006Z"}
//
// The amount is a string of minor units so that no JSON reader rounds it;
// empty accounts and mandate IDs are left out. The service answers 200
// with at most 4096 bytes of JSON:
//
//	{"allow":false,"reason":"screening_denied","reference":"case-981"}
//
// "allow" is required; "reason" is a code of [a-z0-9_] (a denial without
// one gets screening_denied); "reference" is up to 64 printable ASCII
// characters; other fields are ignored.
//
// # Failures
//
// A call that does not finish within the budget, a transport error, a
// status other than 200 (redirects included), or a body that is too long,
// not JSON or breaks the rules above is a failure: the hook denies with
// reason screening_unavailable, or allows with that reason when FailOpen
// is set, and logs the cause. If the caller's own context ends first, the
// hook denies and returns ErrHookCanceled whatever FailOpen says.
//
// # Metrics
//
// payswitch_routing_hook_decisions_total{hook,result} counts decisions by
// result: allow, deny, fail_open, fail_closed, canceled, invalid.
// payswitch_routing_hook_latency_seconds{hook} is a histogram of the time
// each call took, whatever its result.
type WebhookHook struct {
	name     string
	url      string
	secret   []byte
	budget   time.Duration
	failOpen bool
	client   *http.Client
	logger   *slog.Logger

	decisions *prometheus.CounterVec
	latency   prometheus.Observer
}

// NewWebhookHook builds a WebhookHook from cfg, after defaults, and
// registers its metrics on cfg.Registerer. Hooks sharing a registerer
// share the metric families and differ by the hook label.
func NewWebhookHook(cfg WebhookConfig) (*WebhookHook, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	decisions, latency, err := hookMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	client := *cfg.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &WebhookHook{
		name:      cfg.Name,
		url:       cfg.URL,
		secret:    bytes.Clone(cfg.Secret),
		budget:    cfg.Budget,
		failOpen:  cfg.FailOpen,
		client:    &client,
		logger:    cfg.Logger,
		decisions: decisions,
		latency:   latency.WithLabelValues(cfg.Name),
	}, nil
}

// hookMetrics returns the metric families of webhook hooks, registered on
// reg, or the families already registered there by an earlier hook.
func hookMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, *prometheus.HistogramVec, error) {
	decisions, err := registerOnce(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "payswitch_routing_hook_decisions_total",
		Help: "Consent webhook decisions, by hook and result.",
	}, []string{"hook", "result"}))
	if err != nil {
		return nil, nil, err
	}
	latency, err := registerOnce(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "payswitch_routing_hook_latency_seconds",
		Help:    "Time of each consent webhook call, whatever its result.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 12),
	}, []string{"hook"}))
	if err != nil {
		return nil, nil, err
	}
	return decisions, latency, nil
}

// registerOnce registers c on reg, or returns the equal collector that is
// already registered there. A nil reg registers nothing.
func registerOnce[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	if err != nil {
		return c, fmt.Errorf("%w: webhook metrics: %w", ErrConfig, err)
	}
	return c, nil
}

// Name returns the hook's name, its metric label.
func (h *WebhookHook) Name() string { return h.name }

// Check asks the service about req; see the type's documentation.
func (h *WebhookHook) Check(ctx context.Context, req Request) (Decision, error) {
	if err := req.Validate(); err != nil {
		h.decisions.WithLabelValues(h.name, resultInvalid).Inc()
		return deny(ReasonRequestInvalid), err
	}
	body := h.encode(req)
	start := time.Now()
	d, cause := h.call(ctx, body)
	elapsed := time.Since(start)
	h.latency.Observe(elapsed.Seconds())
	switch {
	case cause == nil && d.Allow:
		h.decisions.WithLabelValues(h.name, resultAllow).Inc()
		return d, nil
	case cause == nil:
		h.decisions.WithLabelValues(h.name, resultDeny).Inc()
		return d, nil
	case ctx.Err() != nil:
		h.decisions.WithLabelValues(h.name, resultCanceled).Inc()
		return deny(ReasonScreeningUnavailable), fmt.Errorf("%w: hook %s: %w", ErrHookCanceled, h.name, context.Cause(ctx))
	}
	h.logger.LogAttrs(ctx, slog.LevelWarn, "consent webhook failed",
		slog.String("hook", h.name), slog.String("cause", cause.Error()),
		slog.Duration("latency", elapsed), slog.Bool("fail_open", h.failOpen))
	if h.failOpen {
		h.decisions.WithLabelValues(h.name, resultFailOpen).Inc()
		return Decision{Allow: true, Reason: ReasonScreeningUnavailable}, nil
	}
	h.decisions.WithLabelValues(h.name, resultFailClosed).Inc()
	return deny(ReasonScreeningUnavailable), nil
}

// webhookParty and webhookRequest are the JSON the hook sends.
type webhookParty struct {
	Participant uint64 `json:"participant"`
	Account     string `json:"account,omitempty"`
}

type webhookRequest struct {
	Version     int          `json:"version"`
	Hook        string       `json:"hook"`
	TransferID  string       `json:"transfer_id"`
	Purpose     string       `json:"purpose"`
	Payer       webhookParty `json:"payer"`
	Payee       webhookParty `json:"payee"`
	AmountMinor string       `json:"amount_minor"`
	Currency    uint16       `json:"currency"`
	MandateID   string       `json:"mandate_id,omitempty"`
	At          string       `json:"at"`
}

// webhookResponse is the JSON the hook accepts; Allow is a pointer so
// that a missing field is told apart from false.
type webhookResponse struct {
	Allow     *bool  `json:"allow"`
	Reason    string `json:"reason"`
	Reference string `json:"reference"`
}

// encode returns the body for a validated request. HTML escaping is off,
// so a printable ASCII field grows at most twice, which keeps the body
// under webhookRequestBytesMax.
func (h *WebhookHook) encode(req Request) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(webhookRequest{
		Version:     1,
		Hook:        h.name,
		TransferID:  req.TransferID,
		Purpose:     req.Purpose.String(),
		Payer:       webhookParty{req.Payer.Participant, req.Payer.Account},
		Payee:       webhookParty{req.Payee.Participant, req.Payee.Account},
		AmountMinor: strconv.FormatUint(req.Amount, 10),
		Currency:    req.Currency,
		MandateID:   req.MandateID,
		At:          req.At.UTC().Format(time.RFC3339Nano),
	})
	invariant.Always(err == nil, "routing: encoding a webhook request: %v", err)
	invariant.Always(buf.Len() <= webhookRequestBytesMax, "routing: webhook request of %d bytes", buf.Len())
	return buf.Bytes()
}

// call sends one signed request within the budget and decodes the
// decision; any error is a failure of the service.
func (h *WebhookHook) call(ctx context.Context, body []byte) (Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, h.budget)
	defer cancel()
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return Decision{}, err
	}
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set(SignatureHeader, signBody(h.secret, body))
	resp, err := h.client.Do(httpReq)
	if err != nil {
		return Decision{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return Decision{}, fmt.Errorf("status %d", resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, webhookResponseBytesMax+1))
	if err != nil {
		return Decision{}, fmt.Errorf("reading the body: %w", err)
	}
	if len(raw) > webhookResponseBytesMax {
		return Decision{}, fmt.Errorf("body longer than %d bytes", webhookResponseBytesMax)
	}
	return decodeDecision(raw)
}

// decodeDecision reads a service's answer.
func decodeDecision(raw []byte) (Decision, error) {
	var wire webhookResponse
	if err := json.Unmarshal(raw, &wire); err != nil {
		return Decision{}, fmt.Errorf("body is not a JSON object: %w", err)
	}
	if wire.Allow == nil {
		return Decision{}, errors.New(`body has no "allow"`)
	}
	d := Decision{Allow: *wire.Allow, Reason: wire.Reason, Reference: wire.Reference}
	if !d.Allow && d.Reason == "" {
		d.Reason = ReasonScreeningDenied
	}
	if err := d.validate(); err != nil {
		return Decision{}, fmt.Errorf("body breaks the protocol: %w", err)
	}
	return d, nil
}

// signBody returns the SignatureHeader value for body.
func signBody(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	_, _ = mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

var _ ConsentHook = (*WebhookHook)(nil)
