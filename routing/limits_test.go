package routing

import (
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger"
)

// TestLimits checks how the limits relate to each other and to the
// formats they bound.
func TestLimits(t *testing.T) {
	for _, c := range []struct {
		ok   bool
		what string
	}{
		{IdentifierInputLenMax >= len("msisdn:")+emailLenMax, "the input bound admits the longest e-mail with its type"},
		{msisdnDigitsMin < msisdnDigitsMax && msisdnDigitsMax == 15, "E.164 allows at most 15 digits"},
		{nidLenMin < nidLenMax && nidLenMax <= IdentifierInputLenMax, "national ID bounds"},
		{aliasLocalLenMax+1+participantDigitsMax <= IdentifierInputLenMax, "the longest alias fits the input bound"},
		{participantDigitsMax+1+accountLenMax <= IdentifierInputLenMax, "the longest acct fits the input bound"},
		{emailLocalLenMax < emailLenMax && emailLabelLenMax < emailLenMax, "e-mail part bounds"},
		{tokenizerSecretLenMin >= len(Token{}), "a secret is at least as long as a token"},
		{tokenizerSecretLenMin < tokenizerSecretLenMax, "secret bounds"},
		{limiterCapacityDefault <= limiterCapacityMax && limiterRequestersDefault <= limiterRequestersMax, "limiter defaults within caps"},
		{limiterHitCostDefault < limiterMissCostDefault && limiterMissCostDefault <= limiterCapacityDefault, "default costs are sane"},
		{int64(limiterCapacityMax)*nanoUnits+limiterRefillPerSecondMax < 1<<62, "fixed-point levels cannot overflow"},
		{webhookBudgetMin <= webhookBudgetDefault && webhookBudgetDefault <= webhookBudgetMax, "default budget within bounds"},
		{chainHooksMax*webhookBudgetMax <= 30*time.Second, "a full chain of slow hooks still ends"},
		{referenceLenMax < webhookResponseBytesMax, "a reference fits a response"},
		{hookNameLenMax <= reasonLenMax, "hook names are short labels"},
		{bootstrapSubmitCommandsMax <= ledger.BatchCommandsMax && bootstrapSubmitCommandsMax <= 4096, "a bootstrap submit fits a ledger batch and the proposer's default bound"},
		{bootstrapFlowDepthMax >= 5 && bootstrapBlockColumnMax >= 5*8+len("debits_per_period:"), "a participants file's five levels fit the nesting bounds, even indented by 8"},
	} {
		if !c.ok {
			t.Errorf("limit relation broken: %s", c.what)
		}
	}
}
