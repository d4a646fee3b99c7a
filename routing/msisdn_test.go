package routing

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// TestFastE164MatchesLibrary: wherever the fast path answers, the library
// answers the same; and the fast path answers for most numbers of the
// common form, or it would be pointless.
func TestFastE164MatchesLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fast, checked := 0, 0
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		for range 300 {
			n := 4 + rng.IntN(11)
			digits := strconv.Itoa(cc)
			for i := range n {
				d := rng.IntN(10)
				if i == 0 && rng.IntN(4) > 0 {
					d = 1 + rng.IntN(9) // mostly no leading zero, as in E.164 input
				}
				digits += strconv.Itoa(d)
			}
			if len(digits) > msisdnDigitsMax || len(digits) < msisdnDigitsMin {
				continue
			}
			checked++
			got, ok := fastE164(digits)
			if !ok {
				continue
			}
			fast++
			want, err := canonicalE164("+" + digits)
			if err != nil || want != got {
				t.Fatalf("+%s: fast path says %q, the library %q (%v)", digits, got, want, err)
			}
		}
	}
	if fast < checked/5 {
		t.Fatalf("the fast path answered %d of %d numbers", fast, checked)
	}
	t.Logf("fast path answered %d of %d random numbers", fast, checked)
}

func BenchmarkParseMSISDN(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseIdentifier("msisdn:+254712345678"); err != nil {
			b.Fatal(err)
		}
	}
}
