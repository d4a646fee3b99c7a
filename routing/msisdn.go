package routing

import (
	"strconv"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// Parsing a phone number with libphonenumber costs tens of microseconds,
// nearly all of it in regular expressions that strip national trunk
// prefixes. A resolve must cost a few. Most numbers that reach the switch
// are already in E.164 form and carry no trunk prefix, and for them the
// library's answer is known without parsing: the number itself, if the
// country code exists and the length is possible for it. fastE164 answers
// those, and leaves every other case (a national number starting with 0
// or with the country's trunk prefix, a country whose prefix rule is a
// pattern rather than digits, an impossible length) to the library.
// TestFastE164MatchesLibrary checks the two agree on every calling code.

// trunkRule is what fastE164 knows of one calling code: the literal trunk
// prefixes its regions strip, or that some region's rule is a pattern.
type trunkRule struct {
	prefixes []string
	pattern  bool
}

var trunkRules = sync.OnceValue(func() map[int32]*trunkRule {
	rules := map[int32]*trunkRule{}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return rules // no fast path; the library decides everything
	}
	for _, md := range coll.GetMetadata() {
		cc := md.GetCountryCode()
		r := rules[cc]
		if r == nil {
			r = &trunkRule{}
			rules[cc] = r
		}
		p := md.GetNationalPrefixForParsing()
		if p == "" {
			p = md.GetNationalPrefix()
		}
		switch {
		case p == "":
		case isDigits(p):
			r.prefixes = append(r.prefixes, p)
		default:
			r.pattern = true
		}
	}
	return rules
})

// fastE164 returns the E.164 form of "+digits" when it can tell without
// parsing; ok is false when the library must decide.
func fastE164(digits string) (e164 string, ok bool) {
	rules := trunkRules()
	for ccLen := 1; ccLen <= 3 && ccLen < len(digits); ccLen++ {
		cc, _ := strconv.Atoi(digits[:ccLen])
		r, known := rules[int32(cc)]
		if !known {
			continue
		}
		national := digits[ccLen:]
		if r.pattern || national[0] == '0' {
			return "", false
		}
		for _, p := range r.prefixes {
			if strings.HasPrefix(national, p) {
				return "", false
			}
		}
		nn, err := strconv.ParseUint(national, 10, 64)
		if err != nil {
			return "", false
		}
		num := &phonenumbers.PhoneNumber{CountryCode: ptr(int32(cc)), NationalNumber: ptr(nn)}
		if phonenumbers.IsPossibleNumberWithReason(num) != phonenumbers.IS_POSSIBLE {
			return "", false
		}
		return "+" + digits, true
	}
	return "", false
}

func ptr[T any](v T) *T { return &v }
