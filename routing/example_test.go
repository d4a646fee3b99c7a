package routing_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/payswitch/payswitch/routing"
)

// Example shows a resolve at the edge: parse, tokenise, ration, audit,
// and what may be shown or logged.
func Example() {
	tokenizer, err := routing.NewTokenizer([]byte("an example secret of 32 bytes!!!"))
	if err != nil {
		panic(err)
	}
	limiter, err := routing.NewLimiter(routing.LimiterConfig{Capacity: 50, RefillPerSecond: 1, HitCost: 1, MissCost: 25})
	if err != nil {
		panic(err)
	}
	audit, err := routing.NewAuditRing(1024)
	if err != nil {
		panic(err)
	}

	id, err := routing.ParseIdentifier("msisdn:+254 (700) 000-001")
	if err != nil {
		panic(err)
	}
	const requester = 10001
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for range 3 {
		if err := limiter.Allow(requester, now); err != nil {
			var rl *routing.RateLimitError
			fmt.Println("refused:", errors.As(err, &rl), rl.RetryAfter)
			break
		}
		token := tokenizer.Token(id)
		hit := false // the mapper would look the token up here
		limiter.Charge(requester, hit, now)
		_ = audit.Record(context.Background(), routing.AuditRecord{
			Requester: requester, At: now, Type: id.Type(), Token: token, Hit: hit, Purpose: routing.PurposeResolve,
		})
	}
	fmt.Println("logged as:", id)
	fmt.Println("audited:", audit.Total())
	fmt.Println("shown as:", routing.MaskName("Jane Wanjiku Doe"))
	// Output:
	// refused: true 25s
	// logged as: msisdn:+2547******01
	// audited: 2
	// shown as: J*** W****** D**
}

// ExampleChain wires consent first and then a participant's own rule, so
// the second never sees a movement the first refused.
func ExampleChain() {
	consent := routing.HookFunc(func(_ context.Context, req routing.Request) (routing.Decision, error) {
		if req.Purpose == routing.PurposePull && req.MandateID == "" {
			return routing.Decision{Reason: routing.ReasonMandateMissing}, nil
		}
		return routing.Decision{Allow: true, Reference: "consent-77"}, nil
	})
	limit := routing.HookFunc(func(_ context.Context, req routing.Request) (routing.Decision, error) {
		if req.Amount > 1_000_000 {
			return routing.Decision{Reason: routing.ReasonScreeningDenied, Reference: "big"}, nil
		}
		return routing.Decision{Allow: true}, nil
	})
	scoped, err := routing.ForParticipants(limit, 10002)
	if err != nil {
		panic(err)
	}
	chain, err := routing.NewChain(consent, scoped)
	if err != nil {
		panic(err)
	}
	req := routing.Request{
		TransferID: "t-1", Purpose: routing.PurposePayment, Amount: 1250, Currency: 404,
		Payer: routing.Party{Participant: 10001}, Payee: routing.Party{Participant: 10002, Account: "00123456"},
		At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	for _, amount := range []uint64{1250, 5_000_000} {
		req.Amount = amount
		d, err := chain.Check(context.Background(), req)
		fmt.Printf("%d: %+v %v\n", amount, d, err)
	}
	req.Purpose = routing.PurposePull
	d, _ := chain.Check(context.Background(), req)
	fmt.Printf("pull: %+v\n", d)
	// Output:
	// 1250: {Allow:true Reason: Reference:consent-77} <nil>
	// 5000000: {Allow:false Reason:screening_denied Reference:big} <nil>
	// pull: {Allow:false Reason:mandate_missing Reference:}
}
