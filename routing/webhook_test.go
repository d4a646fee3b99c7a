package routing

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// screeningServer is a test screening service. It checks each request's
// signature itself (not with the package's code) and its JSON, then
// answers with status and body, after blocking until the client gives up
// when slow is set.
type screeningServer struct {
	t        *testing.T
	status   int
	body     string
	slow     bool
	requests atomic.Int64
	badSigs  atomic.Int64
	last     atomic.Value // map[string]any of the latest request
}

func (s *screeningServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.t.Errorf("server: reading the body: %v", err)
		return
	}
	mac := hmac.New(sha256.New, testSecret)
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if r.Method != http.MethodPost || !hmac.Equal([]byte(r.Header.Get(SignatureHeader)), []byte(want)) {
		s.badSigs.Add(1)
	}
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		s.t.Errorf("server: request is not JSON: %v", err)
	}
	s.last.Store(fields)
	if s.slow {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	}
	if s.status/100 == 3 {
		w.Header().Set("Location", r.URL.Path) // a redirect to itself
	}
	w.WriteHeader(s.status)
	_, _ = io.WriteString(w, s.body)
}

// newWebhook starts a screening server and a hook pointing at it.
func newWebhook(t *testing.T, srv *screeningServer, mutate func(*WebhookConfig)) (*WebhookHook, *prometheus.Registry) {
	t.Helper()
	srv.t = t
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	reg := prometheus.NewRegistry()
	cfg := WebhookConfig{Name: "aml", URL: ts.URL + "/screen", Secret: Secret(testSecret), Registerer: reg}
	if mutate != nil {
		mutate(&cfg)
	}
	h, err := NewWebhookHook(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h, reg
}

// counter returns the value of decisions_total{hook,result} in reg.
func counter(t *testing.T, reg *prometheus.Registry, hook, result string) float64 {
	t.Helper()
	for _, m := range family(t, reg, "payswitch_routing_hook_decisions_total") {
		if label(m, "hook") == hook && label(m, "result") == result {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// family returns the metrics of the named family in reg.
func family(t *testing.T, reg *prometheus.Registry, name string) []*dto.Metric {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()
		}
	}
	return nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// response is what a screeningServer answers.
type response struct {
	status int
	body   string
	slow   bool
}

func TestWebhookDecisions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		srv      response
		failOpen bool
		want     Decision
		result   string
	}{
		{"allow", response{status: 200, body: `{"allow":true,"reference":"scr-1","extra":1}`},
			false, Decision{Allow: true, Reference: "scr-1"}, resultAllow},
		{"deny with reason", response{status: 200, body: `{"allow":false,"reason":"consent_denied","reference":"c-9"}`},
			false, Decision{Reason: ReasonConsentDenied, Reference: "c-9"}, resultDeny},
		{"deny without reason", response{status: 200, body: `{"allow":false}`},
			false, Decision{Reason: ReasonScreeningDenied}, resultDeny},
		{"slow, fail closed", response{slow: true},
			false, Decision{Reason: ReasonScreeningUnavailable}, resultFailClosed},
		{"slow, fail open", response{slow: true},
			true, Decision{Allow: true, Reason: ReasonScreeningUnavailable}, resultFailOpen},
		{"5xx", response{status: 503, body: `{"allow":true}`},
			false, Decision{Reason: ReasonScreeningUnavailable}, resultFailClosed},
		{"5xx, fail open", response{status: 500},
			true, Decision{Allow: true, Reason: ReasonScreeningUnavailable}, resultFailOpen},
		{"redirect", response{status: 307},
			false, Decision{Reason: ReasonScreeningUnavailable}, resultFailClosed},
		{"not JSON", response{status: 200, body: `allow`},
			false, Decision{Reason: ReasonScreeningUnavailable}, resultFailClosed},
		{"trailing data", response{status: 200, body: `{"allow":true} {}`},
			false, Decision{Reason: ReasonScreeningUnavailable}, resultFailClosed},
		{"no allow field", response{status: 200, body: `{"reason":"x"}`},
			false, Decision{Reason: ReasonScreeningUnavailable}, resultFailClosed},
		{"bad reason", response{status: 200, body: `{"allow":false,"reason":"Not OK"}`},
			false, Decision{Reason: ReasonScreeningUnavailable}, resultFailClosed},
		{"body too long", response{status: 200, body: `{"allow":true,"x":"` + strings.Repeat("a", webhookResponseBytesMax) + `"}`},
			false, Decision{Reason: ReasonScreeningUnavailable}, resultFailClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &screeningServer{status: tc.srv.status, body: tc.srv.body, slow: tc.srv.slow}
			h, reg := newWebhook(t, srv, func(c *WebhookConfig) {
				c.FailOpen = tc.failOpen
				c.Budget = 40 * time.Millisecond
			})
			start := time.Now()
			got, err := h.Check(context.Background(), validRequest())
			if err != nil || got != tc.want {
				t.Fatalf("Check = %+v, %v; want %+v", got, err, tc.want)
			}
			if elapsed := time.Since(start); elapsed > time.Second {
				t.Fatalf("Check took %v with a 40ms budget", elapsed)
			}
			if srv.requests.Load() != 1 || srv.badSigs.Load() != 0 {
				t.Fatalf("server saw %d requests, %d badly signed", srv.requests.Load(), srv.badSigs.Load())
			}
			if n := counter(t, reg, "aml", tc.result); n != 1 {
				t.Fatalf("decisions_total{result=%q} = %v", tc.result, n)
			}
			latency := family(t, reg, "payswitch_routing_hook_latency_seconds")
			if len(latency) != 1 || latency[0].GetHistogram().GetSampleCount() != 1 {
				t.Fatalf("latency histogram: %v", latency)
			}
		})
	}
}

// TestWebhookRequestBody checks the JSON the service receives.
func TestWebhookRequestBody(t *testing.T) {
	srv := &screeningServer{status: 200, body: `{"allow":true}`}
	h, _ := newWebhook(t, srv, nil)
	req := validRequest()
	req.Purpose = PurposePull
	req.Amount = 1<<64 - 1
	req.MandateID = `m<&>"1"`
	req.Payee.Account = ""
	if _, err := h.Check(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got := srv.last.Load().(map[string]any)
	want := map[string]any{
		"version": 1.0, "hook": "aml", "transfer_id": req.TransferID, "purpose": "pull",
		"payer":        map[string]any{"participant": 10001.0, "account": "00112233"},
		"payee":        map[string]any{"participant": 10002.0},
		"amount_minor": "18446744073709551615", "currency": 404.0, "mandate_id": `m<&>"1"`,
		"at": "2026-01-02T03:04:05Z",
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("request body\n got %s\nwant %s", gotJSON, wantJSON)
	}
}

// TestWebhookRequestBound encodes the largest request there can be.
func TestWebhookRequestBound(t *testing.T) {
	h := &WebhookHook{name: strings.Repeat("n", hookNameLenMax)}
	worst := func(n int) string { return strings.Repeat(`"`, n) }
	req := Request{
		TransferID: worst(transferIDLenMax), Purpose: PurposeResolve,
		Payer:  Party{Participant: participantMax, Account: worst(accountLenMax)},
		Payee:  Party{Participant: participantMax, Account: worst(accountLenMax)},
		Amount: 1<<64 - 1, Currency: 999, MandateID: worst(mandateIDLenMax),
		At: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("x", 3600)),
	}
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	if body := h.encode(req); len(body) > webhookRequestBytesMax {
		t.Fatalf("%d bytes", len(body))
	}
}

func TestWebhookDown(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	reg := prometheus.NewRegistry()
	h, err := NewWebhookHook(WebhookConfig{Name: "aml", URL: url, Secret: Secret(testSecret), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	d, err := h.Check(context.Background(), validRequest())
	if err != nil || d != (Decision{Reason: ReasonScreeningUnavailable}) {
		t.Fatalf("Check = %+v, %v", d, err)
	}
	if counter(t, reg, "aml", resultFailClosed) != 1 {
		t.Fatal("fail_closed not counted")
	}
}

// TestWebhookCallerCanceled checks that a caller's ended context denies
// with ErrHookCanceled, even when the hook fails open.
func TestWebhookCallerCanceled(t *testing.T) {
	srv := &screeningServer{slow: true}
	h, reg := newWebhook(t, srv, func(c *WebhookConfig) { c.FailOpen = true; c.Budget = time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	d, err := h.Check(ctx, validRequest())
	if d.Allow || !errors.Is(err, ErrHookCanceled) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Check = %+v, %v", d, err)
	}
	if counter(t, reg, "aml", resultCanceled) != 1 {
		t.Fatal("canceled not counted")
	}
}

func TestWebhookInvalidRequestNotSent(t *testing.T) {
	srv := &screeningServer{status: 200, body: `{"allow":true}`}
	h, reg := newWebhook(t, srv, nil)
	req := validRequest()
	req.TransferID = ""
	d, err := h.Check(context.Background(), req)
	if d.Allow || d.Reason != ReasonRequestInvalid || !errors.Is(err, ErrRequest) || srv.requests.Load() != 0 {
		t.Fatalf("Check = %+v, %v; %d requests sent", d, err, srv.requests.Load())
	}
	if counter(t, reg, "aml", resultInvalid) != 1 {
		t.Fatal("invalid not counted")
	}
}

// TestWebhookSharedRegistry builds two hooks on one registry: they share
// the families and differ by label.
func TestWebhookSharedRegistry(t *testing.T) {
	srv := &screeningServer{status: 200, body: `{"allow":true}`}
	a, reg := newWebhook(t, srv, nil)
	b, err := NewWebhookHook(WebhookConfig{Name: "fraud_10002", URL: a.url, Secret: Secret(testSecret), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []*WebhookHook{a, b, b} {
		if _, err := h.Check(context.Background(), validRequest()); err != nil {
			t.Fatal(err)
		}
	}
	if counter(t, reg, "aml", resultAllow) != 1 || counter(t, reg, "fraud_10002", resultAllow) != 2 {
		t.Fatal("shared registry miscounts")
	}
	if b.Name() != "fraud_10002" {
		t.Fatal(b.Name())
	}
}

func TestWebhookConfigValidate(t *testing.T) {
	good := WebhookConfig{Name: "aml", URL: "https://screen.example/v1", Secret: Secret(testSecret)}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, url := range []string{"http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]:9/x"} {
		c := good
		c.URL = url
		if err := c.Validate(); err != nil {
			t.Errorf("URL %s: %v", url, err)
		}
	}
	for name, mutate := range map[string]func(*WebhookConfig){
		"name":        func(c *WebhookConfig) { c.Name = "AML!" },
		"empty name":  func(c *WebhookConfig) { c.Name = "" },
		"plain http":  func(c *WebhookConfig) { c.URL = "http://screen.example/v1" },
		"scheme":      func(c *WebhookConfig) { c.URL = "ftp://screen.example/v1" },
		"credentials": func(c *WebhookConfig) { c.URL = "https://u:p@screen.example/v1" },
		"relative":    func(c *WebhookConfig) { c.URL = "/v1" },
		"budget low":  func(c *WebhookConfig) { c.Budget = time.Microsecond },
		"budget high": func(c *WebhookConfig) { c.Budget = time.Minute },
		"short secret": func(c *WebhookConfig) {
			c.Secret = Secret("short")
		},
	} {
		c := good
		mutate(&c)
		err := c.Validate()
		if err == nil || (!errors.Is(err, ErrConfig) && !errors.Is(err, ErrSecret)) {
			t.Errorf("%s: Validate = %v", name, err)
		}
		if _, err := NewWebhookHook(c); err == nil {
			t.Errorf("%s: NewWebhookHook accepted", name)
		}
	}
	all := WebhookConfig{Budget: time.Hour}
	if err := all.Validate(); len(err.(interface{ Unwrap() []error }).Unwrap()) != 4 {
		t.Fatalf("want all 4 problems reported: %v", err)
	}
}
