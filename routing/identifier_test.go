package routing

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestParseIdentifierValid has one row per accepting rule: the input and
// the normalised wire form.
func TestParseIdentifierValid(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// msisdn
		{"msisdn:+254700000001", "msisdn:+254700000001"},
		{"msisdn:+254 (700) 000-001", "msisdn:+254700000001"},
		{"MSISDN:+254700000001", "msisdn:+254700000001"},
		{"  msisdn:+254700000001   ", "msisdn:+254700000001"},
		{"msisdn: +254700000001", "msisdn:+254700000001"},
		{"msisdn:+254 0700 000 001", "msisdn:+254700000001"}, // trunk prefix dropped
		{"msisdn:+1 415-555-2671", "msisdn:+14155552671"},
		{"msisdn:+44 20 7946 0958", "msisdn:+442079460958"},
		{"msisdn:+39 06 1234 5678", "msisdn:+390612345678"}, // Italian leading zero kept
		{"msisdn:+255712345678", "msisdn:+255712345678"},
		// nid
		{"nid:12345678", "nid:12345678"},
		{"nid:ab12cd", "nid:AB12CD"},
		{"nid:ABCD", "nid:ABCD"},
		{"nid:" + strings.Repeat("9", 32), "nid:" + strings.Repeat("9", 32)},
		// alias
		{"alias:jane@10002", "alias:jane@10002"},
		{"alias:Jane.Doe_1-x@10002", "alias:jane.doe_1-x@10002"},
		{"alias:jane@0010002", "alias:jane@10002"},
		{"alias:j@1", "alias:j@1"},
		{"alias:" + strings.Repeat("a", 64) + "@99999999999", "alias:" + strings.Repeat("a", 64) + "@99999999999"},
		// email
		{"email:Jane.Doe@Example.COM", "email:jane.doe@example.com"},
		{"email:j+tag@mail.example.co.ke", "email:j+tag@mail.example.co.ke"},
		{"email:a!#$%&'*+/=?^_`{|}~-z@x-y.io", "email:a!#$%&'*+/=?^_`{|}~-z@x-y.io"},
		{"email:" + strings.Repeat("a", 64) + "@b.c", "email:" + strings.Repeat("a", 64) + "@b.c"},
		// acct
		{"acct:10002/00123456", "acct:10002/00123456"},
		{"acct:010002/AbC-9/x", "acct:10002/AbC-9/x"},
		{"acct:1/" + strings.Repeat("Z", 28), "acct:1/" + strings.Repeat("Z", 28)},
	} {
		id, err := ParseIdentifier(tc.in)
		if err != nil {
			t.Errorf("ParseIdentifier(%q): %v", tc.in, err)
			continue
		}
		if got := id.Wire(); got != tc.want {
			t.Errorf("ParseIdentifier(%q).Wire() = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestParseIdentifierInvalid has one row per rule a value can break: the
// input and the field the error must name.
func TestParseIdentifierInvalid(t *testing.T) {
	long := strings.Repeat("x", IdentifierInputLenMax+1)
	for _, tc := range []struct{ in, field string }{
		{long, "input"},
		{"msisdn+254700000001", "input"},
		{"", "input"},
		{"phone:+254700000001", "type"},
		{":+254700000001", "type"},
		// msisdn
		{"msisdn:254700000001", "msisdn"},        // no '+'
		{"msisdn:+254.700.000.001", "msisdn"},    // dots
		{"msisdn:+254 7OO 000 001", "msisdn"},    // letters
		{"msisdn:+1234567", "msisdn"},            // 7 digits
		{"msisdn:+1234567890123456", "msisdn"},   // 16 digits
		{"msisdn:+0254700000001", "msisdn"},      // country code 0
		{"msisdn:+999123456789", "msisdn"},       // no such country code
		{"msisdn:+25470000", "msisdn"},           // too short for Kenya
		{"msisdn:+254700000001;ext=1", "msisdn"}, // extension
		{"msisdn:+", "msisdn"},
		{"msisdn:+٢٥٤٧٠٠٠٠٠٠٠١", "msisdn"}, // non-ASCII digits
		// nid
		{"nid:ABC", "nid"},
		{"nid:" + strings.Repeat("9", 33), "nid"},
		{"nid:12-345678", "nid"},
		{"nid:1234 5678", "nid"},
		{"nid:ÄBCD", "nid"},
		// alias
		{"alias:jane", "alias"},
		{"alias:@10002", "alias name"},
		{"alias:" + strings.Repeat("a", 65) + "@10002", "alias name"},
		{"alias:jane+x@10002", "alias name"},
		{"alias:jane@", "participant"},
		{"alias:jane@123456789012", "participant"},
		{"alias:jane@10a02", "participant"},
		{"alias:jane@0", "participant"},
		{"alias:jane@1@2", "participant"},
		// email
		{"email:jane.example.com", "email"},
		{"email:jane@doe@example.com", "email"},
		{"email:jane doe@example.com", "email"},
		{"email:jané@example.com", "email"},
		{"email:" + strings.Repeat("a", 250) + "@b.co", "email"},
		{"email:" + strings.Repeat("a", 65) + "@b.co", "email local part"},
		{"email:@example.com", "email local part"},
		{"email:.jane@example.com", "email local part"},
		{"email:jane.@example.com", "email local part"},
		{"email:ja..ne@example.com", "email local part"},
		{"email:ja(ne)@example.com", "email local part"},
		{"email:jane@localhost", "email domain"},
		{"email:jane@example..com", "email domain"},
		{"email:jane@-example.com", "email domain"},
		{"email:jane@example-.com", "email domain"},
		{"email:jane@exa_mple.com", "email domain"},
		{"email:jane@" + strings.Repeat("a", 64) + ".com", "email domain"},
		// acct
		{"acct:10002", "acct"},
		{"acct:/00123456", "participant"},
		{"acct:000/00123456", "participant"},
		{"acct:10002/", "account"},
		{"acct:10002/" + strings.Repeat("1", 29), "account"},
		{"acct:10002/0012 3456", "account"},
		{"acct:10002/00é", "account"},
	} {
		_, err := ParseIdentifier(tc.in)
		var ie *IdentifierError
		if !errors.Is(err, ErrIdentifier) || !errors.As(err, &ie) {
			t.Errorf("ParseIdentifier(%q) = %v, want an *IdentifierError", tc.in, err)
			continue
		}
		if ie.Field != tc.field {
			t.Errorf("ParseIdentifier(%q): field %q, want %q (%v)", tc.in, ie.Field, tc.field, err)
		}
		if value := tc.in[strings.IndexByte(tc.in, ':')+1:]; len(value) > 3 && strings.Contains(err.Error(), value) {
			t.Errorf("ParseIdentifier(%q): error %q repeats the input", tc.in, err)
		}
	}
}

// TestNewIdentifierMatchesParse checks that the two constructors agree.
func TestNewIdentifierMatchesParse(t *testing.T) {
	a, err := NewIdentifier(IDTypeEmail, " Jane@Example.com ")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseIdentifier("email:jane@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("NewIdentifier and ParseIdentifier differ: %q vs %q", a.Wire(), b.Wire())
	}
	if _, err := NewIdentifier(0, "x"); !errors.Is(err, ErrIdentifier) {
		t.Fatalf("NewIdentifier(0, ...) = %v, want ErrIdentifier", err)
	}
	if _, err := Normalize(IDTypeNID, strings.Repeat("A", IdentifierInputLenMax+1)); !errors.Is(err, ErrIdentifier) {
		t.Fatalf("Normalize of an oversized value = %v, want ErrIdentifier", err)
	}
}

func TestIDType(t *testing.T) {
	for typ := IDTypeMSISDN; typ <= IDTypeAcct; typ++ {
		got, err := ParseIDType(strings.ToUpper(typ.String()))
		if err != nil || got != typ {
			t.Errorf("ParseIDType(%q) = %v, %v", typ, got, err)
		}
	}
	if IDType(0).Valid() || IDType(6).Valid() || IDType(6).String() != "IDType(6)" {
		t.Errorf("undefined IDTypes: %v %v %q", IDType(0).Valid(), IDType(6).Valid(), IDType(6))
	}
	// The numbers are stable; a change here is a format break.
	if IDTypeMSISDN != 1 || IDTypeNID != 2 || IDTypeAlias != 3 || IDTypeEmail != 4 || IDTypeAcct != 5 {
		t.Fatal("IDType numbers changed")
	}
}

func TestIdentifierParticipantAndAccount(t *testing.T) {
	for _, tc := range []struct {
		in          string
		participant uint64
		account     string
	}{
		{"alias:jane@010002", 10002, ""},
		{"acct:99999999999/A/B", 99999999999, "A/B"},
		{"msisdn:+254700000001", 0, ""},
		{"email:a@b.co", 0, ""},
	} {
		id, err := ParseIdentifier(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := id.Participant()
		if p != tc.participant || ok != (tc.participant != 0) {
			t.Errorf("%s: Participant() = %d, %v", tc.in, p, ok)
		}
		a, ok := id.Account()
		if a != tc.account || ok != (id.Type() == IDTypeAcct) {
			t.Errorf("%s: Account() = %q, %v", tc.in, a, ok)
		}
	}
	var zero Identifier
	if !zero.IsZero() || zero.Wire() != "" || zero.String() != "none" {
		t.Errorf("zero Identifier: %v %q %q", zero.IsZero(), zero.Wire(), zero.String())
	}
}

// TestIdentifierNeverPrintsRaw prints an identifier every way a log line
// might and checks that the raw value never shows.
func TestIdentifierNeverPrintsRaw(t *testing.T) {
	id, err := ParseIdentifier("msisdn:+254700000001")
	if err != nil {
		t.Fatal(err)
	}
	holder := struct{ ID Identifier }{id}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T %v"} {
		outputs = append(outputs, fmt.Sprintf(verb, id), fmt.Sprintf(verb, holder), fmt.Sprintf(verb, &holder))
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("resolve", "id", id, "holder", holder)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("resolve", "id", id)
	outputs = append(outputs, buf.String())
	for _, out := range outputs {
		if strings.Contains(out, "700000001") || strings.Contains(out, "0000") {
			t.Errorf("raw identifier leaked: %s", out)
		}
	}
	if got := fmt.Sprint(id); got != "msisdn:+2547******01" {
		t.Errorf("fmt.Sprint = %q", got)
	}
}
