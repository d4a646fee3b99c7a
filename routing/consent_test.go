package routing

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// validRequest returns a request that passes Validate.
func validRequest() Request {
	return Request{
		TransferID: "0x0000000000000000000000000000abcd",
		Purpose:    PurposePayment,
		Payer:      Party{Participant: 10001, Account: "00112233"},
		Payee:      Party{Participant: 10002, Account: "00123456"},
		Amount:     1250,
		Currency:   404,
		At:         epoch,
	}
}

func TestRequestValidate(t *testing.T) {
	if err := validRequest().Validate(); err != nil {
		t.Fatalf("valid request: %v", err)
	}
	resolve := validRequest()
	resolve.Purpose, resolve.Amount, resolve.Currency = PurposeResolve, 0, 0
	if err := resolve.Validate(); err != nil {
		t.Fatalf("resolve without amount: %v", err)
	}
	for name, mutate := range map[string]func(*Request){
		"no transfer ID":     func(r *Request) { r.TransferID = "" },
		"long transfer ID":   func(r *Request) { r.TransferID = strings.Repeat("1", 65) },
		"purpose":            func(r *Request) { r.Purpose = 9 },
		"payer participant":  func(r *Request) { r.Payer.Participant = 0 },
		"payee participant":  func(r *Request) { r.Payee.Participant = participantMax + 1 },
		"payer account":      func(r *Request) { r.Payer.Account = strings.Repeat("1", 29) },
		"payee account":      func(r *Request) { r.Payee.Account = "a\nb" },
		"zero amount":        func(r *Request) { r.Amount = 0 },
		"no currency":        func(r *Request) { r.Currency = 0 },
		"currency above 999": func(r *Request) { r.Currency = 1000 },
		"mandate":            func(r *Request) { r.MandateID = strings.Repeat("m", 129) },
		"time":               func(r *Request) { r.At = time.Time{} },
	} {
		r := validRequest()
		mutate(&r)
		if err := r.Validate(); !errors.Is(err, ErrRequest) {
			t.Errorf("%s: Validate = %v, want ErrRequest", name, err)
		}
	}
}

// recordingHook answers with a fixed decision and error and counts calls.
type recordingHook struct {
	d     Decision
	err   error
	calls int
}

func (h *recordingHook) Check(context.Context, Request) (Decision, error) {
	h.calls++
	return h.d, h.err
}

func TestChain(t *testing.T) {
	if _, err := NewChain(); !errors.Is(err, ErrConfig) {
		t.Fatalf("empty chain: %v", err)
	}
	if _, err := NewChain(make([]ConsentHook, chainHooksMax+1)...); !errors.Is(err, ErrConfig) {
		t.Fatalf("long chain: %v", err)
	}
	if _, err := NewChain(&recordingHook{}, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("nil hook: %v", err)
	}
	ctx := context.Background()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name      string
		hooks     []*recordingHook
		want      Decision
		wantErr   error
		wantCalls []int
	}{
		{"all allow, references joined, first reason kept",
			[]*recordingHook{{d: Decision{Allow: true, Reference: "c-1"}}, {d: Decision{Allow: true}},
				{d: Decision{Allow: true, Reason: ReasonScreeningUnavailable, Reference: "s-2"}},
				{d: Decision{Allow: true, Reason: "other"}}},
			Decision{Allow: true, Reason: ReasonScreeningUnavailable, Reference: "c-1;s-2"}, nil, []int{1, 1, 1, 1}},
		{"first denial ends the chain",
			[]*recordingHook{{d: Decision{Allow: true}}, {d: Decision{Reason: ReasonMandateMissing, Reference: "m"}},
				{d: Decision{Allow: true}}},
			Decision{Reason: ReasonMandateMissing, Reference: "m"}, nil, []int{1, 1, 0}},
		{"denial without reason",
			[]*recordingHook{{d: Decision{}}},
			Decision{Reason: ReasonConsentDenied}, nil, []int{1}},
		{"error denies even if the hook said allow",
			[]*recordingHook{{d: Decision{Allow: true}, err: boom}, {d: Decision{Allow: true}}},
			Decision{Reason: ReasonConsentDenied}, boom, []int{1, 0}},
	} {
		hooks := make([]ConsentHook, len(tc.hooks))
		for i, h := range tc.hooks {
			hooks[i] = h
		}
		chain, err := NewChain(hooks...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := chain.Check(ctx, validRequest())
		if got != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tc.name, got, err, tc.want, tc.wantErr)
		}
		for i, h := range tc.hooks {
			if h.calls != tc.wantCalls[i] {
				t.Errorf("%s: hook %d called %d times, want %d", tc.name, i, h.calls, tc.wantCalls[i])
			}
		}
	}
	// An invalid request reaches no hook.
	h := &recordingHook{d: Decision{Allow: true}}
	chain, _ := NewChain(h)
	bad := validRequest()
	bad.Amount = 0
	if d, err := chain.Check(ctx, bad); d.Allow || d.Reason != ReasonRequestInvalid || !errors.Is(err, ErrRequest) || h.calls != 0 {
		t.Fatalf("invalid request: %+v, %v, %d calls", d, err, h.calls)
	}
}

func TestForParticipants(t *testing.T) {
	inner := &recordingHook{d: Decision{Reason: ReasonScreeningDenied}}
	if _, err := ForParticipants(inner); !errors.Is(err, ErrConfig) {
		t.Fatalf("no participants: %v", err)
	}
	if _, err := ForParticipants(nil, 1); !errors.Is(err, ErrConfig) {
		t.Fatalf("nil hook: %v", err)
	}
	if _, err := ForParticipants(inner, 0); !errors.Is(err, ErrConfig) {
		t.Fatalf("participant 0: %v", err)
	}
	scoped, err := ForParticipants(inner, 10002, 20002)
	if err != nil {
		t.Fatal(err)
	}
	req := validRequest() // payer 10001, payee 10002
	if d, _ := scoped.Check(context.Background(), req); d.Allow || inner.calls != 1 {
		t.Fatalf("payee in scope: %+v after %d calls", d, inner.calls)
	}
	req.Payee.Participant = 30003
	if d, _ := scoped.Check(context.Background(), req); !d.Allow || inner.calls != 1 {
		t.Fatalf("out of scope: %+v after %d calls", d, inner.calls)
	}
	req.Payer.Participant = 20002
	if d, _ := scoped.Check(context.Background(), req); d.Allow || inner.calls != 2 {
		t.Fatalf("payer in scope: %+v after %d calls", d, inner.calls)
	}
}

func TestPurpose(t *testing.T) {
	want := map[Purpose]string{1: "payment", 2: "g2p", 3: "pull", 4: "resolve", 0: "Purpose(0)", 5: "Purpose(5)"}
	for p, name := range want {
		if p.String() != name || p.Valid() != (p >= 1 && p <= 4) {
			t.Errorf("Purpose %d: %q, valid %v", uint8(p), p, p.Valid())
		}
	}
}

func TestDecisionValidate(t *testing.T) {
	for _, tc := range []struct {
		d  Decision
		ok bool
	}{
		{Decision{Allow: true}, true},
		{Decision{Allow: true, Reason: "screening_unavailable", Reference: "ref 1"}, true},
		{Decision{Reason: "consent_denied"}, true},
		{Decision{}, false},
		{Decision{Reason: "Consent-Denied"}, false},
		{Decision{Reason: strings.Repeat("a", 33)}, false},
		{Decision{Allow: true, Reference: strings.Repeat("r", 65)}, false},
		{Decision{Allow: true, Reference: "r\x00"}, false},
	} {
		if err := tc.d.validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: validate = %v", tc.d, err)
		}
	}
}
