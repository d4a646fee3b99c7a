package routing

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// routerFixture is a directory with: 101 and 102 active banks in KES,
// 103 suspended, 104 serving only UGX, 900 a government payer with program
// 1; identifiers linked at 102 (one with a separate G2P address at 101);
// a mandate from 101 to 102.
type routerFixture struct {
	state  *State
	tokens *Tokenizer
	audit  *AuditRing
	now    time.Time
}

func newRouterFixture(t *testing.T) *routerFixture {
	t.Helper()
	tk, err := NewTokenizer([]byte("router test secret, 32 bytes ok!"))
	if err != nil {
		t.Fatal(err)
	}
	s, f := NewState(), newFakeLedger()
	gov := Participant{ID: 900, Name: "Treasury", Kind: KindGovernment, Connection: ConnREST, Currencies: []uint16{kes}, Programs: []uint16{1}}
	apply(t, s, f, 1,
		Command{Op: OpPutParticipant, Participant: bank(101, kes)},
		Command{Op: OpPutParticipant, Participant: bank(102, kes)},
		Command{Op: OpPutParticipant, Participant: bank(103, kes)},
		Command{Op: OpPutParticipant, Participant: bank(104, ugx)},
		Command{Op: OpPutParticipant, Participant: gov},
	)
	now := time.Unix(5_000, 0)
	l := func(raw string, at uint64, purpose Purpose, account string) Command {
		id, err := ParseIdentifier(raw)
		if err != nil {
			t.Fatal(err)
		}
		lk := link(tk.Token(id), at, account)
		lk.Purpose, lk.Type = purpose, id.Type()
		return Command{Op: OpLink, Requester: at, Link: lk}
	}
	res := apply(t, s, f, 2,
		l("msisdn:+254700000001", 102, PurposePayment, "ACC-1"),
		l("msisdn:+254700000001", 101, PurposeG2P, "BEN-1"),
		l("nid:KE123456", 102, PurposePayment, "ACC-2"),
		l("msisdn:+254700000003", 103, PurposePayment, "ACC-3"),
		l("alias:shop@102", 102, PurposePayment, "SHOP-1"),
		Command{Op: OpPutMandate, Requester: 101, Mandate: mandate("MND-1", 101, 102)},
		Command{Op: OpSetStatus, Participant: Participant{ID: 103}, Status: StatusSuspended},
	)
	for i, r := range res {
		if r.Code != CodeOK {
			t.Fatalf("fixture command %d: %s", i, r.Code)
		}
	}
	ring, _ := NewAuditRing(1024)
	return &routerFixture{state: s, tokens: tk, audit: ring, now: now}
}

func (fx *routerFixture) router(t *testing.T, lim LimiterConfig, hook ConsentHook) *Router {
	t.Helper()
	limiter, err := NewLimiter(lim)
	if err != nil {
		t.Fatal(err)
	}
	paying, err := NewLimiter(lim)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRouter(RouterConfig{State: fx.state, Tokenizer: fx.tokens, Limiter: limiter, PaymentLimiter: paying, Auditor: fx.audit, Consent: hook, Now: func() time.Time { return fx.now }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustID(t *testing.T, raw string) Identifier {
	t.Helper()
	id, err := ParseIdentifier(raw)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRouteCodes: every way a payment cannot be routed, and the ways it
// can, with the accounts it moves.
func TestRouteCodes(t *testing.T) {
	fx := newRouterFixture(t)
	deny := HookFunc(func(_ context.Context, req Request) (Decision, error) {
		if req.Amount == 666 {
			return Decision{Reason: ReasonScreeningDenied}, nil
		}
		return Decision{Allow: true, Reference: "screen-ok"}, nil
	})
	r := fx.router(t, LimiterConfig{}, deny)
	payer := Party{Participant: 101, Account: "111"}
	cases := []struct {
		name   string
		req    PaymentRequest
		code   RouteCode
		reason string
		credit Party
	}{
		{"by participant and account", PaymentRequest{Purpose: PurposePayment, Payer: payer, Payee: Party{Participant: 102, Account: "X"}, Currency: kes, Amount: 10}, "", "", Party{Participant: 102, Account: "X"}},
		{"by msisdn", PaymentRequest{Purpose: PurposePayment, Payer: payer, PayeeID: mustID(t, "msisdn:+254700000001"), Currency: kes, Amount: 10}, "", "", Party{Participant: 102, Account: "ACC-1"}},
		{"by alias", PaymentRequest{Purpose: PurposePayment, Payer: payer, PayeeID: mustID(t, "alias:shop@102"), Currency: kes, Amount: 10}, "", "", Party{Participant: 102, Account: "SHOP-1"}},
		{"by acct identifier", PaymentRequest{Purpose: PurposePayment, Payer: payer, PayeeID: mustID(t, "acct:102/Z9"), Currency: kes, Amount: 10}, "", "", Party{Participant: 102, Account: "Z9"}},
		{"unknown payer", PaymentRequest{Purpose: PurposePayment, Payer: Party{Participant: 555, Account: "1"}, Payee: Party{Participant: 102, Account: "X"}, Currency: kes, Amount: 10}, RouteUnknownParticipant, "payer_unknown", Party{}},
		{"unknown payee", PaymentRequest{Purpose: PurposePayment, Payer: payer, Payee: Party{Participant: 556, Account: "X"}, Currency: kes, Amount: 10}, RouteUnknownParticipant, "payee_unknown", Party{}},
		{"unknown identifier", PaymentRequest{Purpose: PurposePayment, Payer: payer, PayeeID: mustID(t, "msisdn:+254700000099"), Currency: kes, Amount: 10}, RouteUnknownID, "identifier_unknown", Party{}},
		{"suspended payee by identifier", PaymentRequest{Purpose: PurposePayment, Payer: payer, PayeeID: mustID(t, "msisdn:+254700000003"), Currency: kes, Amount: 10}, RouteUnavailable, "payee_suspended", Party{}},
		{"suspended payer", PaymentRequest{Purpose: PurposePayment, Payer: Party{Participant: 103, Account: "1"}, Payee: Party{Participant: 102, Account: "X"}, Currency: kes, Amount: 10}, RouteUnavailable, "payer_suspended", Party{}},
		{"payee does not serve the currency", PaymentRequest{Purpose: PurposePayment, Payer: payer, Payee: Party{Participant: 104, Account: "X"}, Currency: kes, Amount: 10}, RouteInvalidTransaction, "payee_currency_not_served", Party{}},
		{"payer does not serve the currency", PaymentRequest{Purpose: PurposePayment, Payer: payer, Payee: Party{Participant: 104, Account: "X"}, Currency: ugx, Amount: 10}, RouteInvalidTransaction, "payer_currency_not_served", Party{}},
		{"zero amount", PaymentRequest{Purpose: PurposePayment, Payer: payer, Payee: Party{Participant: 102, Account: "X"}, Currency: kes}, RouteInvalidAmount, "amount_zero", Party{}},
		{"pays itself", PaymentRequest{Purpose: PurposePayment, Payer: payer, Payee: Party{Participant: 101, Account: "Y"}, Currency: kes, Amount: 10}, RouteInvalidTransaction, "payer_is_payee", Party{}},
		{"screening denies", PaymentRequest{Purpose: PurposePayment, Payer: payer, Payee: Party{Participant: 102, Account: "X"}, Currency: kes, Amount: 666}, RouteNotPermitted, ReasonScreeningDenied, Party{}},
		{"pull without mandate", PaymentRequest{Purpose: PurposePull, Payer: payer, Payee: Party{Participant: 102, Account: "X"}, Currency: kes, Amount: 10}, RouteNotPermitted, ReasonMandateMissing, Party{}},
		{"pull under mandate", PaymentRequest{Purpose: PurposePull, Payer: payer, Payee: Party{Participant: 102, Account: "X"}, Currency: kes, Amount: 10, MandateID: "MND-1"}, "", "", Party{Participant: 102, Account: "X"}},
		{"pull above the mandate", PaymentRequest{Purpose: PurposePull, Payer: payer, Payee: Party{Participant: 102, Account: "X"}, Currency: kes, Amount: 10_001, MandateID: "MND-1"}, RouteNotPermitted, "mandate_amount_exceeded", Party{}},
		{"pull from another account", PaymentRequest{Purpose: PurposePull, Payer: Party{Participant: 101, Account: "222"}, Payee: Party{Participant: 102, Account: "X"}, Currency: kes, Amount: 10, MandateID: "MND-1"}, RouteNotPermitted, ReasonMandateMissing, Party{}},
		{"G2P uses the benefits address", PaymentRequest{Purpose: PurposeG2P, Payer: Party{Participant: 900, Account: "P"}, Program: 1, PayeeID: mustID(t, "msisdn:+254700000001"), Currency: kes, Amount: 10}, "", "", Party{Participant: 101, Account: "BEN-1"}},
		{"G2P falls back to the default", PaymentRequest{Purpose: PurposeG2P, Payer: Party{Participant: 900, Account: "P"}, Program: 1, PayeeID: mustID(t, "nid:KE123456"), Currency: kes, Amount: 10}, "", "", Party{Participant: 102, Account: "ACC-2"}},
		{"G2P from an unknown program", PaymentRequest{Purpose: PurposeG2P, Payer: Party{Participant: 900, Account: "P"}, Program: 7, PayeeID: mustID(t, "nid:KE123456"), Currency: kes, Amount: 10}, RouteInvalidTransaction, "program_unknown", Party{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.TransferID = "T-1"
			rt, err := r.Route(context.Background(), &tc.req)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("route: %v", err)
				}
				if rt.Payee != tc.credit {
					t.Fatalf("payee %+v, want %+v", rt.Payee, tc.credit)
				}
				debit := PositionAccount(tc.req.Payer.Participant, tc.req.Currency)
				if tc.req.Program != 0 {
					debit = ProgramAccount(tc.req.Payer.Participant, tc.req.Currency, tc.req.Program)
				}
				if rt.Debit != debit || rt.Credit != PositionAccount(tc.credit.Participant, tc.req.Currency) {
					t.Fatalf("accounts %s → %s", rt.Debit, rt.Credit)
				}
				if !rt.Consent.Allow || rt.Consent.Reference == "" {
					t.Fatalf("consent %+v: want an allowance with the hooks' reference", rt.Consent)
				}
				return
			}
			var re *RouteError
			if !errors.As(err, &re) || re.Code != tc.code || re.Reason != tc.reason {
				t.Fatalf("got %v, want %s %s", err, tc.code, tc.reason)
			}
		})
	}
}

// TestResolve: hits, G2P fallback, misses, and what the audit trail keeps.
func TestResolve(t *testing.T) {
	fx := newRouterFixture(t)
	r := fx.router(t, LimiterConfig{}, nil)
	ctx := context.Background()
	res, err := r.Resolve(ctx, 101, mustID(t, "msisdn:+254700000001"), PurposePayment)
	if err != nil || res.Participant != 102 || res.Account != "ACC-1" || res.Name != "A*** O***" {
		t.Fatalf("resolve: %+v %v", res, err)
	}
	if res, err := r.Resolve(ctx, 101, mustID(t, "msisdn:+254700000001"), PurposeG2P); err != nil || res.Account != "BEN-1" {
		t.Fatalf("G2P resolve: %+v %v", res, err)
	}
	if _, err := r.Resolve(ctx, 101, mustID(t, "msisdn:+254700000002"), PurposePayment); !errors.Is(err, ErrUnknownIdentifier) {
		t.Fatalf("miss: %v", err)
	}
	if _, err := r.Resolve(ctx, 103, mustID(t, "msisdn:+254700000001"), PurposePayment); !errors.Is(err, ErrUnknownRequester) {
		t.Fatalf("suspended requester: %v", err)
	}
	recs := fx.audit.Records()
	if len(recs) != 3 || !recs[0].Hit || recs[2].Hit || recs[0].Requester != 101 || recs[0].Token != fx.tokens.Token(mustID(t, "msisdn:+254700000001")) {
		t.Fatalf("audit records %+v", recs)
	}
}

// TestResolveRateLimitConcurrent: many goroutines of one requester cannot
// get more resolves than the bucket allows, every reservation is settled
// exactly, and another requester is not affected.
//
// How many of the concurrent resolves pass depends on how they interleave
// near the end of the budget: each holds a miss's cost until it settles,
// so one may be refused while another holds the difference it is about to
// hand back. What cannot vary is the total: the resolves that pass
// afterwards, one at a time, make up exactly what the bucket allows.
func TestResolveRateLimitConcurrent(t *testing.T) {
	fx := newRouterFixture(t)
	// The clock stands still, so nothing refills. A resolve needs a miss's
	// worth in the bucket and a hit nets its own cost, so 500 - 10 + 1
	// hits pass in all; misses cost MissCost each.
	r := fx.router(t, LimiterConfig{Capacity: 500, RefillPerSecond: 1, HitCost: 1, MissCost: 10}, nil)
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	hit := mustID(t, "msisdn:+254700000001")
	for range 16 {
		wg.Go(func() {
			for range 100 {
				_, err := r.Resolve(context.Background(), 101, hit, PurposePayment)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrRateLimited):
					limited.Add(1)
				default:
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load() > 491 || ok.Load()+limited.Load() != 1600 {
		t.Fatalf("%d resolves passed and %d were limited; want at most 491 passed, 1600 in all", ok.Load(), limited.Load())
	}
	after := 0
	for ; after <= 491; after++ {
		_, err := r.Resolve(context.Background(), 101, hit, PurposePayment)
		if errors.Is(err, ErrRateLimited) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if total := int(ok.Load()) + after; total != 491 {
		t.Fatalf("%d resolves passed concurrently and %d after, %d in all; want 491", ok.Load(), after, total)
	}
	// Misses: 102's 500 units buy 50.
	misses := 0
	for range 100 {
		if _, err := r.Resolve(context.Background(), 102, mustID(t, "nid:NOPE1234"), PurposePayment); errors.Is(err, ErrUnknownIdentifier) {
			misses++
		}
	}
	if misses != 50 {
		t.Fatalf("%d misses answered, want 50", misses)
	}
	// Payments by identifier have their own budget (here as small): once
	// spent, the payment is refused as rate-limited.
	for range 50 {
		_, _ = r.Route(context.Background(), &PaymentRequest{TransferID: "T", Purpose: PurposePayment, Payer: Party{Participant: 101, Account: "1"},
			PayeeID: mustID(t, "nid:NOPE1234"), Currency: kes, Amount: 1})
	}
	_, err := r.Route(context.Background(), &PaymentRequest{TransferID: "T", Purpose: PurposePayment, Payer: Party{Participant: 101, Account: "1"},
		PayeeID: hit, Currency: kes, Amount: 1})
	var re *RouteError
	if !errors.As(err, &re) || re.Code != RouteUnavailable || !errors.Is(err, ErrRateLimited) {
		t.Fatalf("payment by identifier with no budget left: %v", err)
	}
}

// TestRouteFailsClosed: a screening webhook that is slow or down denies
// the payment (57), unless configured to fail open.
func TestRouteFailsClosed(t *testing.T) {
	fx := newRouterFixture(t)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	for _, tc := range []struct {
		name     string
		url      string
		failOpen bool
		allow    bool
	}{
		{"slow", slow.URL, false, false},
		{"down", downURL, false, false},
		{"slow, fail open", slow.URL, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hook, err := NewWebhookHook(WebhookConfig{Name: "aml", URL: tc.url, Secret: Secret("webhook secret of thirty-two b!!"), Budget: 20 * time.Millisecond, FailOpen: tc.failOpen})
			if err != nil {
				t.Fatal(err)
			}
			r := fx.router(t, LimiterConfig{}, hook)
			rt, err := r.Route(context.Background(), &PaymentRequest{TransferID: "T-9", Purpose: PurposePayment, Payer: Party{Participant: 101, Account: "1"},
				Payee: Party{Participant: 102, Account: "X"}, Currency: kes, Amount: 5})
			if tc.allow {
				if err != nil || rt.Consent.Reason != ReasonScreeningUnavailable {
					t.Fatalf("fail-open route: %+v %v", rt.Consent, err)
				}
				return
			}
			var re *RouteError
			if !errors.As(err, &re) || re.Code != RouteNotPermitted || re.Reason != ReasonScreeningUnavailable {
				t.Fatalf("got %v, want 57 screening_unavailable", err)
			}
		})
	}
}
