package engine

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
	"github.com/payswitch/payswitch/routing"
	"github.com/payswitch/payswitch/simulator"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// TestConsentHook: an engine with a consent hook that denies payments to
// one payee (the account behind the alias msisdn:+254700000001) and
// allows the others. The denied payments get 57, never reach the payee
// and move no money; the allowed one is approved and posted. The hook
// holds the denied payments until the allowed one is through: with a
// hook, each payment is routed on a goroutine of its own, so slow
// decisions hold up only their own payments, even when there are more of
// them than the front end has workers (2 × GOMAXPROCS by default).
func TestConsentHook(t *testing.T) {
	_, leader, tk := startNodes(t, 1)
	denied := routing.Party{Participant: beta, Account: "0020000001"}
	held := 2*runtime.GOMAXPROCS(0) + 1
	var mu sync.Mutex
	var asked []routing.Request
	holding := make(chan struct{}, held)
	release := make(chan struct{})
	var releaseOnce sync.Once
	hook := routing.HookFunc(func(ctx context.Context, req routing.Request) (routing.Decision, error) {
		mu.Lock()
		asked = append(asked, req)
		mu.Unlock()
		if req.Payee != denied {
			return routing.Decision{Allow: true, Reference: "test-allowed"}, nil
		}
		holding <- struct{}{}
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		return routing.Decision{Reason: routing.ReasonConsentDenied}, nil
	})
	e := startEngineWith(t, Config{Node: leader, Tokenizer: tk, DefaultTimeout: 2 * time.Second, Consent: hook})
	// Released before the test's cleanups close the banks and the engine.
	defer releaseOnce.Do(func() { close(release) })
	a := dial(t, e, alpha, alphaKey, nil)
	b := dial(t, e, beta, betaKey, nil)
	before := positions(t, leader)

	refused := make(chan *simulator.Result, held)
	for range held {
		if err := a.PayAsync(simulator.Payment{Alias: "msisdn:+254700000001", Amount: 1_000}, func(r *simulator.Result, err error) {
			if err != nil {
				t.Errorf("a denied payment: %v", err)
			}
			refused <- r
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range held {
		select {
		case <-holding:
		case <-time.After(5 * time.Second):
			t.Fatalf("the hook holds %d of the %d payments to the alias: the held ones hold up the others", i, held)
		}
	}

	// The same payer, the same session, while the hook holds the others.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	allowed, err := a.Pay(ctx, simulator.Payment{PayeeParticipant: beta, PayeeAccount: "0020000042", Amount: 2_500})
	cancel()
	if err != nil || allowed.Code != iso8583.ResponseApproved {
		t.Fatalf("the allowed payment, while the hook holds %d denied ones: %+v %v", held, allowed, err)
	}
	releaseOnce.Do(func() { close(release) })
	var refusedRRNs []string
	for range held {
		r := <-refused
		if r == nil || r.Code != iso8583.ResponseNotPermitted {
			t.Fatalf("a denied payment: %+v, want 57", r)
		}
		refusedRRNs = append(refusedRRNs, r.RRN)
	}

	// The hook saw each payment once, the alias already resolved.
	mu.Lock()
	if len(asked) != held+1 {
		t.Errorf("the hook was asked %d times, want %d", len(asked), held+1)
	}
	for i, req := range asked {
		want := denied
		if i == held {
			want = routing.Party{Participant: beta, Account: "0020000042"}
		}
		if req.Payee != want || req.Payer.Participant != alpha || req.Purpose != routing.PurposePayment {
			t.Errorf("ask %d: %+v, want the payee %+v", i, req, want)
		}
	}
	mu.Unlock()
	if st := b.Received(); st.Payments != 1 || st.Approved != 1 {
		t.Fatalf("the payee received %+v, want only the allowed payment", st)
	}
	for _, rrn := range refusedRRNs {
		if tr, ok := transferOf(t, leader, alpha, rrn); ok {
			t.Fatalf("denied payment %s is in the ledger: %+v", rrn, tr)
		}
	}
	tr, ok := transferOf(t, leader, alpha, allowed.RRN)
	if !ok || tr.Status != ledger.StatusPosted || tr.Amount != 2_500 {
		t.Fatalf("the allowed payment is %+v in the ledger", tr)
	}

	// Only the allowed payment moved money: alpha's position paid 2,500
	// and beta's received it, nothing pending on either.
	after := positions(t, leader)
	want := before
	want[0].debitsPosted += 2_500
	want[1].creditsPosted += 2_500
	if after != want {
		t.Errorf("positions: before %+v, after %+v, want %+v", before, after, want)
	}
	if err := leader.Local(func(s *store.Store) error { return s.Check() }); err != nil {
		t.Fatal(err)
	}
}
