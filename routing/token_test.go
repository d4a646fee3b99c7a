package routing

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// testSecret is a fixed cluster secret for tests.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

func mustTokenizer(t testing.TB, secret []byte) *Tokenizer {
	t.Helper()
	tk, err := NewTokenizer(secret)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func mustParse(t testing.TB, s string) Identifier {
	t.Helper()
	id, err := ParseIdentifier(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestNewTokenizerSecret(t *testing.T) {
	for _, secret := range [][]byte{nil, testSecret[:31], make([]byte, 32), bytes.Repeat([]byte{1}, 1025)} {
		if _, err := NewTokenizer(secret); !errors.Is(err, ErrSecret) {
			t.Errorf("NewTokenizer(%d bytes) = %v, want ErrSecret", len(secret), err)
		}
	}
	// The secret is copied: changing the caller's slice changes nothing.
	secret := bytes.Clone(testSecret)
	tk := mustTokenizer(t, secret)
	id := mustParse(t, "nid:12345678")
	before := tk.Token(id)
	secret[0] ^= 1
	if tk.Token(id) != before {
		t.Fatal("Tokenizer shares the caller's secret")
	}
}

// TestTokenDefinition recomputes a token from its definition.
func TestTokenDefinition(t *testing.T) {
	tk := mustTokenizer(t, testSecret)
	mac := hmac.New(sha256.New, testSecret)
	mac.Write([]byte("msisdn\x00+254700000001"))
	want := mac.Sum(nil)
	got := tk.Token(mustParse(t, "msisdn:+254 700 000 001"))
	if !bytes.Equal(got[:], want) {
		t.Fatalf("token %s, want %x", got, want)
	}
	if s := got.String(); len(s) != 64 || strings.Contains(s, "254700000001") {
		t.Fatalf("Token.String() = %q", s)
	}
	parsed, err := ParseToken(strings.ToUpper(got.String()))
	if err != nil || parsed != got {
		t.Fatalf("ParseToken(String()) = %v, %v", parsed, err)
	}
	for _, bad := range []string{"", "00", strings.Repeat("g", 64)} {
		if _, err := ParseToken(bad); err == nil {
			t.Errorf("ParseToken(%q) accepted", bad)
		}
	}
}

// TestTokenSeparatesTypes checks that the type takes part in the token:
// the same text under two types gives two tokens.
func TestTokenSeparatesTypes(t *testing.T) {
	tk := mustTokenizer(t, testSecret)
	a := tk.Token(mustParse(t, "nid:ABCD1234"))
	b := tk.Token(Identifier{typ: IDTypeAlias, value: "ABCD1234"})
	if a == b || a.IsZero() || a.Compare(b) == 0 || a.Compare(a) != 0 || a.Compare(b) != -b.Compare(a) {
		t.Fatal("tokens of different types collide or compare wrongly")
	}
	other := mustTokenizer(t, bytes.Repeat([]byte{7}, 32))
	if other.Token(mustParse(t, "nid:ABCD1234")) == a {
		t.Fatal("different secrets give the same token")
	}
	if other.Fingerprint() == tk.Fingerprint() || len(tk.Fingerprint()) != 16 {
		t.Fatalf("fingerprints %q %q", tk.Fingerprint(), other.Fingerprint())
	}
	if mustTokenizer(t, testSecret).Fingerprint() != tk.Fingerprint() {
		t.Fatal("same secret, different fingerprints")
	}
}

func TestTokenOfZeroIdentifierPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	mustTokenizer(t, testSecret).Token(Identifier{})
}

// TestTokenizerNeverPrintsSecret prints a tokenizer and a webhook secret
// every way and checks the secret never shows.
func TestTokenizerNeverPrintsSecret(t *testing.T) {
	tk := mustTokenizer(t, testSecret)
	cfg := WebhookConfig{Name: "aml", Secret: Secret(testSecret)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		for _, v := range []any{tk, cfg, Secret(testSecret)} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, "0123456789") || strings.Contains(out, fmt.Sprintf("%x", testSecret[:8])) ||
				strings.Contains(out, fmt.Sprint(testSecret[:4])[1:8]) {
				t.Errorf("%s of %T leaks the secret: %s", verb, v, out)
			}
		}
	}
}

func BenchmarkToken(b *testing.B) {
	tk := mustTokenizer(b, testSecret)
	id := mustParse(b, "msisdn:+254700000001")
	b.ReportAllocs()
	for b.Loop() {
		_ = tk.Token(id)
	}
}

func BenchmarkParseIdentifier(b *testing.B) {
	for _, in := range []string{"msisdn:+254 700 000 001", "alias:jane.doe@10002", "email:Jane.Doe@example.com"} {
		b.Run(in[:strings.IndexByte(in, ':')], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseIdentifier(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
