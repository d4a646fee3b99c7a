package routing

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// spelling returns a generator of ways to write one identifier value:
// the letters' case flipped at random, separators the type ignores put in,
// spaces around. Every spelling normalises like the plain value.
func spelling(t *rapid.T, typ IDType, plain string) string {
	var b strings.Builder
	for i := 0; i < len(plain); i++ {
		c := plain[i]
		flip := rapid.Bool().Draw(t, "flip")
		switch {
		case flip && typ != IDTypeAcct && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case flip && typ != IDTypeAcct && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b.WriteByte(c)
		if typ == IDTypeMSISDN && i > 0 && rapid.IntRange(0, 3).Draw(t, "sep") == 0 {
			b.WriteByte(" -()"[rapid.IntRange(0, 3).Draw(t, "which")])
		}
	}
	pad := strings.Repeat(" ", rapid.IntRange(0, 2).Draw(t, "pad"))
	return pad + b.String() + pad
}

// identifierInput draws an identifier type and a value that is valid or
// nearly valid for it.
func identifierInput(t *rapid.T) (IDType, string) {
	typ := IDType(rapid.IntRange(1, 5).Draw(t, "type"))
	var v string
	switch typ {
	case IDTypeMSISDN:
		cc := rapid.SampledFrom([]string{"254", "255", "256", "1", "44", "39", "91", "234", "27", "999"}).Draw(t, "cc")
		v = "+" + cc + rapid.StringMatching(`0?[1-9][0-9]{5,11}`).Draw(t, "number")
	case IDTypeNID:
		v = rapid.StringMatching(`[A-Za-z0-9]{2,34}`).Draw(t, "nid")
	case IDTypeAlias:
		v = rapid.StringMatching(`[A-Za-z0-9._-]{1,66}@0{0,2}[0-9]{1,11}`).Draw(t, "alias")
	case IDTypeEmail:
		v = rapid.StringMatching(`[A-Za-z0-9._+-]{1,20}@([A-Za-z0-9-]{1,10}\.){1,3}[a-z]{2,4}`).Draw(t, "email")
	case IDTypeAcct:
		v = rapid.StringMatching(`0{0,2}[0-9]{1,11}/[!-~]{1,30}`).Draw(t, "acct")
	}
	if rapid.IntRange(0, 9).Draw(t, "garbage") == 0 {
		v = rapid.String().Draw(t, "any")
	}
	return typ, v
}

// TestNormalizeIdempotent: a normal form normalises to itself.
func TestNormalizeIdempotent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		typ, v := identifierInput(t)
		n, err := Normalize(typ, v)
		if err != nil {
			return
		}
		again, err := Normalize(typ, n)
		if err != nil || again != n {
			t.Fatalf("Normalize(%s, %q) = %q, then %q, %v", typ, v, n, again, err)
		}
	})
}

// TestSpellingsNormaliseAlike: every spelling of a valid value gives the
// same identifier and so the same token.
func TestSpellingsNormaliseAlike(t *testing.T) {
	tk := mustTokenizer(t, testSecret)
	rapid.Check(t, func(t *rapid.T) {
		typ, v := identifierInput(t)
		id, err := NewIdentifier(typ, v)
		if err != nil {
			return
		}
		other, err := NewIdentifier(typ, spelling(t, typ, id.Value()))
		if err != nil || other != id || tk.Token(other) != tk.Token(id) {
			t.Fatalf("a spelling of %q gives %q, %v", id.Wire(), other.Wire(), err)
		}
	})
}

// TestTokensEqualIffIdentifiersEqual compares the tokens of two drawn
// identifiers with the identifiers themselves; the small alphabets make
// equal pairs common.
func TestTokensEqualIffIdentifiersEqual(t *testing.T) {
	tk := mustTokenizer(t, testSecret)
	rapid.Check(t, func(t *rapid.T) {
		draw := func(label string) (Identifier, bool) {
			typ := IDType(rapid.IntRange(2, 3).Draw(t, label+" type"))
			v := rapid.StringMatching(`[aAbB]{4,5}`).Draw(t, label)
			if typ == IDTypeAlias {
				v += "@" + rapid.SampledFrom([]string{"1", "01", "2"}).Draw(t, label+" participant")
			}
			id, err := NewIdentifier(typ, v)
			return id, err == nil
		}
		a, okA := draw("a")
		b, okB := draw("b")
		if !okA || !okB {
			t.Fatalf("generator made an invalid identifier")
		}
		sameID, sameToken := a == b, tk.Token(a) == tk.Token(b)
		if sameID != sameToken {
			t.Fatalf("%q and %q: identifiers equal %v, tokens equal %v", a.Wire(), b.Wire(), sameID, sameToken)
		}
	})
}

// TestMaskNameShowsOnlyInitials: each word of a masked name is at most
// its first letter or digit followed by stars, and there are at most
// maskWordsMax words of at most maskWordRunesMax characters.
func TestMaskNameShowsOnlyInitials(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var name string
		if rapid.Bool().Draw(t, "any") {
			name = rapid.String().Draw(t, "name")
		} else {
			name = rapid.StringMatching(`( ?[A-Za-zÀ-ÿ'-]{1,30}){0,7} ?`).Draw(t, "name")
		}
		masked := MaskName(name)
		words := strings.Split(masked, " ")
		if masked == "" {
			words = nil
		}
		if len(words) > maskWordsMax || len(words) > len(strings.Fields(name)) {
			t.Fatalf("MaskName(%q) = %q: too many words", name, masked)
		}
		for i, w := range words {
			first, size := utf8.DecodeRuneInString(w)
			rest := w[size:]
			if first != '*' && !unicode.IsLetter(first) && !unicode.IsDigit(first) {
				t.Fatalf("MaskName(%q) = %q: word %d starts with %q", name, masked, i, first)
			}
			if strings.Trim(rest, "*") != "" || utf8.RuneCountInString(w) > maskWordRunesMax {
				t.Fatalf("MaskName(%q) = %q: word %d shows more than its initial", name, masked, i)
			}
			if first != '*' && !strings.ContainsRune(name, first) {
				t.Fatalf("MaskName(%q) = %q: initial %q not from the name", name, masked, first)
			}
		}
	})
}
