package routing

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strconv"
	"sync"

	"github.com/payswitch/payswitch/internal/invariant"
)

// Token stands for an identifier wherever the switch keeps or logs one: in
// Raft commands, in Pebble, in the audit trail. It is an HMAC of the
// normalised identifier, so equal identifiers give equal tokens and nobody
// without the cluster secret can compute or reverse one. A Token is a
// comparable value: it can key a Go map, and its bytes, big-endian as
// stored, key a sorted store; Compare gives that order.
type Token [32]byte

// String returns the 64 lower-case hex digits of the token. The token is
// not personal data by itself, so this is safe to log.
func (t Token) String() string { return hex.EncodeToString(t[:]) }

// IsZero reports whether t is the zero Token, which no identifier has in
// practice and which marks "no token".
func (t Token) IsZero() bool { return t == Token{} }

// Compare orders tokens by their bytes: -1, 0 or +1.
func (t Token) Compare(u Token) int { return bytes.Compare(t[:], u[:]) }

// ParseToken reads the 64 hex digits String writes, in either case.
func ParseToken(s string) (Token, error) {
	var t Token
	if len(s) != 2*len(t) {
		return t, fmt.Errorf("routing: token: want %d hex digits, got %d characters", 2*len(t), len(s))
	}
	if _, err := hex.Decode(t[:], []byte(s)); err != nil {
		return Token{}, fmt.Errorf("routing: token: not hex")
	}
	return t, nil
}

// Tokenizer turns identifiers into tokens with the cluster secret. It is
// immutable after NewTokenizer and safe for concurrent use.
//
// Every node of a cluster must hold the same secret, or a resolve on a new
// leader misses everything the old one linked: compare Fingerprint across
// nodes (and against the one recorded in the replicated state) at start.
type Tokenizer struct {
	secret      []byte
	fingerprint string
	macs        sync.Pool // of hash.Hash: HMAC-SHA256 keyed with secret, reused
}

// fingerprintLabel is the message whose MAC is a secret's fingerprint. It
// cannot collide with a token's message, which starts with a type name and
// a zero byte.
const fingerprintLabel = "payswitch routing tokenizer fingerprint v1"

// NewTokenizer builds a Tokenizer from the cluster secret, which must be
// 32 to 1024 bytes and not all zero bytes. The secret is copied.
func NewTokenizer(secret []byte) (*Tokenizer, error) {
	if err := checkSecret(secret); err != nil {
		return nil, err
	}
	t := &Tokenizer{secret: bytes.Clone(secret)}
	mac := hmac.New(sha256.New, t.secret)
	_, _ = io.WriteString(mac, fingerprintLabel)
	t.fingerprint = hex.EncodeToString(mac.Sum(nil)[:8])
	return t, nil
}

// checkSecret checks a secret's length and that it is not all zero bytes,
// which is what an unset configuration value usually looks like.
func checkSecret(secret []byte) error {
	if len(secret) < tokenizerSecretLenMin || len(secret) > tokenizerSecretLenMax {
		return fmt.Errorf("%w: want %d to %d bytes, got %d", ErrSecret,
			tokenizerSecretLenMin, tokenizerSecretLenMax, len(secret))
	}
	if bytes.Count(secret, []byte{0}) == len(secret) {
		return fmt.Errorf("%w: all %d bytes are zero", ErrSecret, len(secret))
	}
	return nil
}

// Token returns HMAC-SHA256(secret, type || 0x00 || value), where type is
// the wire name ("msisdn") and value the normalised value. The zero byte
// keeps type and value apart, so no two identifiers share a message.
// Passing the zero Identifier is a programmer error and panics.
func (t *Tokenizer) Token(id Identifier) Token {
	invariant.Always(id.typ.Valid(), "routing: Token of identifier with type %s", id.typ)
	mac, ok := t.macs.Get().(hash.Hash)
	if !ok {
		mac = hmac.New(sha256.New, t.secret)
	}
	mac.Reset()
	_, _ = io.WriteString(mac, id.typ.String())
	_, _ = mac.Write([]byte{0})
	_, _ = io.WriteString(mac, id.value)
	var out Token
	sum := mac.Sum(out[:0])
	t.macs.Put(mac)
	invariant.Always(len(sum) == len(out), "routing: HMAC-SHA256 gave %d bytes", len(sum))
	return out
}

// Fingerprint returns 16 hex digits that identify the secret without
// revealing it: nodes with the same secret have the same fingerprint.
func (t *Tokenizer) Fingerprint() string { return t.fingerprint }

// String names the tokenizer by fingerprint and never shows the secret.
func (t *Tokenizer) String() string {
	return "Tokenizer(" + t.fingerprint + ", " + strconv.Itoa(len(t.secret)) + "-byte secret)"
}

// Format writes String for every fmt verb, so that no verb (%#v, %d...)
// prints the secret through reflection.
func (t *Tokenizer) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, t.String()) }

var _ fmt.Formatter = (*Tokenizer)(nil)
