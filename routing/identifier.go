package routing

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
	"github.com/payswitch/payswitch/internal/invariant"
)

// IDType is the kind of an identifier. The numbers are stable: they may be
// stored and must never be renumbered. The names are the wire form's prefix
// and take part in the token, so they must never change either.
type IDType uint8

// The identifier types, in the order the issue lists them.
const (
	// IDTypeMSISDN is a mobile number in E.164 form: "+254700000001".
	IDTypeMSISDN IDType = 1
	// IDTypeNID is a national ID number: upper-case letters and digits.
	IDTypeNID IDType = 2
	// IDTypeAlias is a payment address hosted by a participant, like a
	// VPA: "jane.doe@10002".
	IDTypeAlias IDType = 3
	// IDTypeEmail is an e-mail address, lower-cased.
	IDTypeEmail IDType = 4
	// IDTypeAcct names an account directly: "10002/00123456". It needs no
	// mapper to route, but it is tokenised like the others for the audit.
	IDTypeAcct IDType = 5
)

// idTypeNames is the read-only table of wire names, indexed by IDType.
var idTypeNames = [...]string{
	IDTypeMSISDN: "msisdn",
	IDTypeNID:    "nid",
	IDTypeAlias:  "alias",
	IDTypeEmail:  "email",
	IDTypeAcct:   "acct",
}

// Valid reports whether t is one of the defined types.
func (t IDType) Valid() bool { return t >= IDTypeMSISDN && t <= IDTypeAcct }

// String returns the wire name ("msisdn"), or "IDType(N)" for an undefined
// value.
func (t IDType) String() string {
	if t.Valid() {
		return idTypeNames[t]
	}
	return "IDType(" + strconv.Itoa(int(t)) + ")"
}

// ParseIDType reads a wire name, ignoring ASCII case.
func ParseIDType(s string) (IDType, error) {
	for t := IDTypeMSISDN; t <= IDTypeAcct; t++ {
		if strings.EqualFold(s, idTypeNames[t]) {
			return t, nil
		}
	}
	return 0, identifierError(0, "type", "want one of msisdn, nid, alias, email, acct")
}

// Identifier is a validated, normalised identifier. The only ways to get
// one are ParseIdentifier and NewIdentifier, so two Identifiers are equal
// (==) exactly when they name the same thing; the zero value is "no
// identifier". It is a small value type, safe to copy and to share.
//
// An Identifier holds a raw identifier. Printing it with any fmt verb, or
// logging it with slog, yields the masked form (MaskIdentifier); only Value
// and Wire give the raw text, for tokenising and forwarding at the edge.
type Identifier struct {
	typ   IDType
	value string
}

// ParseIdentifier reads the wire form "type:value" (ISO 8583 field 103,
// e.g. "msisdn:+254700000001", "alias:jane@10002", "acct:10002/00123456"),
// validates it and normalises the value by type (see Normalize). The
// type name is matched ignoring ASCII case, and spaces around the whole
// input, such as ISO field padding, are ignored.
func ParseIdentifier(s string) (Identifier, error) {
	if len(s) > IdentifierInputLenMax {
		return Identifier{}, identifierError(0, "input", "longer than "+strconv.Itoa(IdentifierInputLenMax)+" bytes")
	}
	typeName, value, ok := strings.Cut(strings.Trim(s, " "), ":")
	if !ok {
		return Identifier{}, identifierError(0, "input", "want type:value")
	}
	t, err := ParseIDType(typeName)
	if err != nil {
		return Identifier{}, err
	}
	return NewIdentifier(t, value)
}

// NewIdentifier validates and normalises value as an identifier of type t,
// for protocols that carry the two apart (GET /v1/parties/{type}/{value}).
func NewIdentifier(t IDType, value string) (Identifier, error) {
	normalized, err := Normalize(t, value)
	if err != nil {
		return Identifier{}, err
	}
	return Identifier{typ: t, value: normalized}, nil
}

// Normalize validates value as an identifier of type t and returns its
// normal form. It is idempotent: the normal form normalises to itself.
// Spaces around value are ignored for every type. The rules:
//
//   - msisdn: '+', then the country code and subscriber number, 8 to 15
//     digits in all; spaces, dashes and parentheses between digits are
//     dropped, as is a national trunk prefix written after the country code
//     ("+254 0700..." is "+254700..."). The country code must exist and the
//     length must be possible for it (libphonenumber metadata). Result:
//     E.164, "+254700000001".
//   - nid: 4 to 32 ASCII letters and digits, no separators; upper-cased.
//   - alias: name@participant; the name is 1 to 64 of [a-z0-9._-] after
//     lower-casing; the participant is 1 to 11 digits, not zero, written
//     without leading zeros in the result.
//   - email: one '@', at most 254 bytes, ASCII only, lower-cased; a local
//     part of 1 to 64 of the RFC 5322 atom characters and dots (no leading,
//     trailing or double dot); a domain of two or more labels of [a-z0-9-]
//     that neither start nor end with '-'.
//   - acct: participant/account; the participant as for alias; the account
//     1 to 28 printable ASCII characters without spaces, kept as written.
//
// Errors are *IdentifierError values wrapping ErrIdentifier.
func Normalize(t IDType, value string) (string, error) {
	if len(value) > IdentifierInputLenMax {
		return "", identifierError(t, "input", "longer than "+strconv.Itoa(IdentifierInputLenMax)+" bytes")
	}
	value = strings.Trim(value, " ")
	switch t {
	case IDTypeMSISDN:
		return normalizeMSISDN(value)
	case IDTypeNID:
		return normalizeNID(value)
	case IDTypeAlias:
		return normalizeAlias(value)
	case IDTypeEmail:
		return normalizeEmail(value)
	case IDTypeAcct:
		return normalizeAcct(value)
	}
	return "", identifierError(0, "type", "want one of msisdn, nid, alias, email, acct")
}

// Type returns the identifier's type; zero for the zero Identifier.
func (id Identifier) Type() IDType { return id.typ }

// Value returns the normalised raw value. It is personal data: tokenise
// it, forward it to the participant that needs it, and never log or store
// it.
func (id Identifier) Value() string { return id.value }

// Wire returns the normalised wire form "type:value". Like Value, it is
// personal data.
func (id Identifier) Wire() string {
	if id.IsZero() {
		return ""
	}
	return id.typ.String() + ":" + id.value
}

// IsZero reports whether id is the zero Identifier.
func (id Identifier) IsZero() bool { return id.typ == 0 }

// Participant returns the participant an alias or acct identifier names,
// and false for the other types.
func (id Identifier) Participant() (uint64, bool) {
	var digits string
	switch id.typ {
	case IDTypeAlias:
		digits = id.value[strings.LastIndexByte(id.value, '@')+1:]
	case IDTypeAcct:
		digits, _, _ = strings.Cut(id.value, "/")
	default:
		return 0, false
	}
	p, err := strconv.ParseUint(digits, 10, 64)
	invariant.Always(err == nil && p != 0, "routing: normalised %s identifier has no participant", id.typ)
	return p, true
}

// Account returns the account of an acct identifier, and false for the
// other types.
func (id Identifier) Account() (string, bool) {
	if id.typ != IDTypeAcct {
		return "", false
	}
	_, account, _ := strings.Cut(id.value, "/")
	return account, true
}

// String returns the masked form, MaskIdentifier(id).
func (id Identifier) String() string { return MaskIdentifier(id) }

// GoString returns the masked form too, so that %#v does not leak.
func (id Identifier) GoString() string { return MaskIdentifier(id) }

// Format writes the masked form for every verb, so that no fmt verb (%d,
// %x, %+v...) can print the raw value through reflection.
func (id Identifier) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(MaskIdentifier(id))) }

// LogValue makes slog log the masked form.
func (id Identifier) LogValue() slog.Value { return slog.StringValue(MaskIdentifier(id)) }

var (
	_ fmt.Formatter  = Identifier{}
	_ fmt.Stringer   = Identifier{}
	_ slog.LogValuer = Identifier{}
)

// normalizeMSISDN implements the msisdn rule of Normalize.
func normalizeMSISDN(v string) (string, error) {
	if !strings.HasPrefix(v, "+") {
		return "", identifierError(IDTypeMSISDN, "msisdn", "want '+' and the country code first")
	}
	var digits [msisdnDigitsMax]byte
	n := 0
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch {
		case '0' <= c && c <= '9':
			if n == msisdnDigitsMax {
				return "", identifierError(IDTypeMSISDN, "msisdn", "more than 15 digits")
			}
			digits[n] = c
			n++
		case c == ' ' || c == '-' || c == '(' || c == ')':
		default:
			return "", identifierError(IDTypeMSISDN, "msisdn", "want only digits after '+' (spaces, dashes and parentheses allowed)")
		}
	}
	if n < msisdnDigitsMin {
		return "", identifierError(IDTypeMSISDN, "msisdn", "fewer than 8 digits")
	}
	if digits[0] == '0' {
		return "", identifierError(IDTypeMSISDN, "msisdn", "country code cannot start with 0")
	}
	if e164, ok := fastE164(string(digits[:n])); ok {
		return e164, nil
	}
	plain := "+" + string(digits[:n])
	e164, err := canonicalE164(plain)
	if err != nil || e164 == plain {
		return e164, err
	}
	// The library dropped a trunk prefix. A second pass must change
	// nothing, or the result would not be a normal form.
	again, err := canonicalE164(e164)
	if err != nil || again != e164 {
		return "", identifierError(IDTypeMSISDN, "msisdn", "no stable E.164 form")
	}
	return e164, nil
}

// canonicalE164 parses "+digits" with libphonenumber and formats it as
// E.164, checking the country code and that the length is possible.
func canonicalE164(plusDigits string) (string, error) {
	num, err := phonenumbers.Parse(plusDigits, "ZZ")
	if err != nil {
		if err == phonenumbers.ErrInvalidCountryCode {
			return "", identifierError(IDTypeMSISDN, "msisdn", "unknown country code")
		}
		return "", identifierError(IDTypeMSISDN, "msisdn", "not a phone number")
	}
	if phonenumbers.IsPossibleNumberWithReason(num) != phonenumbers.IS_POSSIBLE {
		return "", identifierError(IDTypeMSISDN, "msisdn", "wrong length for the country code")
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	if len(e164) < 1+msisdnDigitsMin || len(e164) > 1+msisdnDigitsMax || !isDigits(e164[1:]) {
		return "", identifierError(IDTypeMSISDN, "msisdn", "want 8 to 15 digits in E.164 form")
	}
	return e164, nil
}

// normalizeNID implements the nid rule of Normalize.
func normalizeNID(v string) (string, error) {
	if len(v) < nidLenMin || len(v) > nidLenMax {
		return "", identifierError(IDTypeNID, "nid", "want 4 to 32 letters and digits")
	}
	b := []byte(v)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			return "", identifierError(IDTypeNID, "nid", "want letters and digits only, no separators")
		}
	}
	return string(b), nil
}

// normalizeAlias implements the alias rule of Normalize.
func normalizeAlias(v string) (string, error) {
	name, participant, ok := strings.Cut(v, "@")
	if !ok {
		return "", identifierError(IDTypeAlias, "alias", "want name@participant")
	}
	if len(name) == 0 || len(name) > aliasLocalLenMax {
		return "", identifierError(IDTypeAlias, "alias name", "want 1 to 64 characters")
	}
	b := []byte(name)
	for i, c := range b {
		switch {
		case 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return "", identifierError(IDTypeAlias, "alias name", "want only a-z, 0-9, '.', '_' and '-'")
		}
	}
	p, err := normalizeParticipant(IDTypeAlias, participant)
	if err != nil {
		return "", err
	}
	return string(b) + "@" + p, nil
}

// normalizeAcct implements the acct rule of Normalize.
func normalizeAcct(v string) (string, error) {
	participant, account, ok := strings.Cut(v, "/")
	if !ok {
		return "", identifierError(IDTypeAcct, "acct", "want participant/account")
	}
	p, err := normalizeParticipant(IDTypeAcct, participant)
	if err != nil {
		return "", err
	}
	if len(account) == 0 || len(account) > accountLenMax {
		return "", identifierError(IDTypeAcct, "account", "want 1 to 28 characters")
	}
	for i := 0; i < len(account); i++ {
		if c := account[i]; c <= ' ' || c > '~' {
			return "", identifierError(IDTypeAcct, "account", "want printable ASCII without spaces")
		}
	}
	return p + "/" + account, nil
}

// normalizeParticipant checks a participant number of an alias or acct
// identifier and returns it without leading zeros, so that "010002" and
// "10002" name, and tokenise as, the same participant.
func normalizeParticipant(t IDType, s string) (string, error) {
	if len(s) == 0 || len(s) > participantDigitsMax || !isDigits(s) {
		return "", identifierError(t, "participant", "want 1 to 11 digits")
	}
	p, err := strconv.ParseUint(s, 10, 64)
	if err != nil || p == 0 {
		return "", identifierError(t, "participant", "zero is not a participant")
	}
	return strconv.FormatUint(p, 10), nil
}

// isDigits reports whether s is non-empty and all ASCII digits.
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// normalizeEmail implements the email rule of Normalize.
func normalizeEmail(v string) (string, error) {
	if len(v) == 0 || len(v) > emailLenMax {
		return "", identifierError(IDTypeEmail, "email", "want 1 to 254 bytes")
	}
	b := []byte(v)
	at := -1
	for i, c := range b {
		switch {
		case c <= ' ' || c > '~':
			return "", identifierError(IDTypeEmail, "email", "want printable ASCII without spaces")
		case 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		case c == '@':
			if at >= 0 {
				return "", identifierError(IDTypeEmail, "email", "want exactly one '@'")
			}
			at = i
		}
	}
	if at < 0 {
		return "", identifierError(IDTypeEmail, "email", "want exactly one '@'")
	}
	if err := checkEmailLocal(b[:at]); err != nil {
		return "", err
	}
	if err := checkEmailDomain(b[at+1:]); err != nil {
		return "", err
	}
	return string(b), nil
}

// checkEmailLocal checks a lower-cased local part: atom characters and
// dots, with no dot first, last or twice in a row.
func checkEmailLocal(local []byte) error {
	if len(local) == 0 || len(local) > emailLocalLenMax {
		return identifierError(IDTypeEmail, "email local part", "want 1 to 64 characters")
	}
	for i, c := range local {
		if c == '.' {
			if i == 0 || i == len(local)-1 || local[i-1] == '.' {
				return identifierError(IDTypeEmail, "email local part", "no leading, trailing or double dot")
			}
			continue
		}
		if !isAlnumLower(c) && !strings.ContainsRune("!#$%&'*+/=?^_`{|}~-", rune(c)) {
			return identifierError(IDTypeEmail, "email local part", "want letters, digits, dots and !#$%&'*+/=?^_`{|}~-")
		}
	}
	return nil
}

// checkEmailDomain checks a lower-cased domain: two or more dot-separated
// labels of letters, digits and inner hyphens.
func checkEmailDomain(domain []byte) error {
	labels := 0
	for label := range strings.SplitSeq(string(domain), ".") {
		labels++
		if len(label) == 0 || len(label) > emailLabelLenMax {
			return identifierError(IDTypeEmail, "email domain", "want labels of 1 to 63 characters")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return identifierError(IDTypeEmail, "email domain", "a label cannot start or end with '-'")
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlnumLower(c) && c != '-' {
				return identifierError(IDTypeEmail, "email domain", "want only a-z, 0-9 and '-' in labels")
			}
		}
	}
	if labels < 2 {
		return identifierError(IDTypeEmail, "email domain", "want at least two labels")
	}
	return nil
}

// isAlnumLower reports whether c is an ASCII digit or lower-case letter.
func isAlnumLower(c byte) bool {
	return ('a' <= c && c <= 'z') || ('0' <= c && c <= '9')
}
