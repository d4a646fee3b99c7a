package routing

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/money"
)

// ParticipantKind says what a participant is. The numbers are stable.
type ParticipantKind uint8

// The participant kinds.
const (
	KindBank       ParticipantKind = 1
	KindWallet     ParticipantKind = 2
	KindGovernment ParticipantKind = 3 // a government payer: has program accounts
)

// ParticipantStatus is where a participant stands. The numbers are stable.
type ParticipantStatus uint8

// The participant statuses. A suspended participant can neither send nor
// receive new payments (its payments in flight finish); a closed one never
// returns.
const (
	StatusActive    ParticipantStatus = 1
	StatusSuspended ParticipantStatus = 2
	StatusClosed    ParticipantStatus = 3
)

// Connection is how a participant talks to the switch. The numbers are
// stable.
type Connection uint8

// The connection kinds.
const (
	ConnISO8583  Connection = 1 // ISO 8583 over TCP
	ConnISO20022 Connection = 2 // ISO 20022 over HTTP
	ConnREST     Connection = 3 // REST JSON with webhooks
)

var (
	kindNames       = [...]string{"", "bank", "wallet", "government"}
	statusNames     = [...]string{"", "active", "suspended", "closed"}
	connectionNames = [...]string{"", "iso8583", "iso20022", "rest"}
)

func enumName(names []string, v uint8, what string) string {
	if v > 0 && int(v) < len(names) {
		return names[v]
	}
	return what + "(" + strconv.Itoa(int(v)) + ")"
}

func enumParse(names []string, s, what string) (uint8, error) {
	for i, n := range names {
		if i > 0 && n == s {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown %s %q (want one of %v)", ErrConfig, what, s, names[1:])
}

func (k ParticipantKind) String() string   { return enumName(kindNames[:], uint8(k), "kind") }
func (s ParticipantStatus) String() string { return enumName(statusNames[:], uint8(s), "status") }
func (c Connection) String() string        { return enumName(connectionNames[:], uint8(c), "connection") }

// Valid reports whether k is defined.
func (k ParticipantKind) Valid() bool { return k >= KindBank && k <= KindGovernment }

// Valid reports whether s is defined.
func (s ParticipantStatus) Valid() bool { return s >= StatusActive && s <= StatusClosed }

// Valid reports whether c is defined.
func (c Connection) Valid() bool { return c >= ConnISO8583 && c <= ConnREST }

// ParseParticipantKind reads "bank", "wallet" or "government".
func ParseParticipantKind(s string) (ParticipantKind, error) {
	v, err := enumParse(kindNames[:], s, "participant kind")
	return ParticipantKind(v), err
}

// ParseParticipantStatus reads "active", "suspended" or "closed".
func ParseParticipantStatus(s string) (ParticipantStatus, error) {
	v, err := enumParse(statusNames[:], s, "participant status")
	return ParticipantStatus(v), err
}

// ParseConnection reads "iso8583", "iso20022" or "rest".
func ParseConnection(s string) (Connection, error) {
	v, err := enumParse(connectionNames[:], s, "connection")
	return Connection(v), err
}

// Participant is one connected institution, as the directory holds it.
// Secrets are held as the switch needs them: the MAC key as it is (the
// switch computes MACs with it), the API key only as its SHA-256 hash
// (the switch only verifies it).
type Participant struct {
	// ID is the participant's number, 1 to 11 digits, as in ISO 8583 fields
	// 32 and 100.
	ID     uint64
	Name   string // 1 to 64 printable characters
	Kind   ParticipantKind
	Status ParticipantStatus
	// Connection is how it connects.
	Connection Connection
	// Currencies are the ISO 4217 numeric codes it sends and receives, 1 to
	// CurrenciesMax of them, ascending, no duplicates. Each has a position
	// and a settlement account in the ledger.
	Currencies []uint16
	// Programs are a government payer's budget lines, each a program
	// account per currency; 1 to 9999, ascending, no duplicates. Only
	// KindGovernment has programs.
	Programs []uint16
	// WebhookURL receives incoming credits and notifications of a REST
	// participant; optional, http or https.
	WebhookURL string
	// MACKey keys the ISO 8583 MAC (field 128): 16 to 64 bytes; required
	// for ConnISO8583.
	MACKey []byte
	// APIKeyHash is the SHA-256 of the participant's HTTP API key; zero
	// when it has none.
	APIKeyHash [32]byte
	// PaymentTimeoutMs is how long the switch waits for this participant
	// to answer a payment as payee, in milliseconds; zero means the
	// switch's default.
	PaymentTimeoutMs uint32
	// Created and Updated are the state machine's timestamps (ns).
	Created, Updated uint64
}

// Limits of the directory, bounding what one command can hold.
const (
	participantNameLenMax = 64
	CurrenciesMax         = 16
	ProgramsMax           = 64
	programMax            = 9999
	webhookURLLenMax      = 256
	macKeyLenMin          = 16
	macKeyLenMax          = 64
	paymentTimeoutMsMax   = 120_000
)

// Validate reports every problem of p's client fields (not Status or the
// timestamps), joined; nil when there is none.
func (p *Participant) Validate() error {
	var errs []error
	bad := func(field, rule string) {
		errs = append(errs, &FieldError{Field: field, Rule: rule})
	}
	if p.ID == 0 || p.ID > participantMax {
		bad("id", "want 1 to 11 digits")
	}
	if !isDisplayText(p.Name, participantNameLenMax) {
		bad("name", "want 1 to 64 printable characters")
	}
	if !p.Kind.Valid() {
		bad("kind", "want bank, wallet or government")
	}
	if !p.Connection.Valid() {
		bad("connection", "want iso8583, iso20022 or rest")
	}
	if len(p.Currencies) == 0 || len(p.Currencies) > CurrenciesMax {
		bad("currencies", fmt.Sprintf("want 1 to %d currencies", CurrenciesMax))
	}
	if !strictlyAscending(p.Currencies) {
		bad("currencies", "want ascending numeric codes without duplicates")
	}
	for _, c := range p.Currencies {
		if _, ok := money.ByNumeric(c); !ok {
			bad("currencies", fmt.Sprintf("%03d is not an ISO 4217 currency the switch knows", c))
		}
	}
	if len(p.Programs) > ProgramsMax || !strictlyAscending(p.Programs) {
		bad("programs", fmt.Sprintf("want at most %d ascending program numbers without duplicates", ProgramsMax))
	}
	if len(p.Programs) > 0 && p.Kind != KindGovernment {
		bad("programs", "only a government payer has programs")
	}
	for _, n := range p.Programs {
		if n == 0 || n > programMax {
			bad("programs", "want program numbers 1 to 9999")
		}
	}
	if p.WebhookURL != "" {
		if len(p.WebhookURL) > webhookURLLenMax {
			bad("webhook_url", "want at most 256 characters")
		} else if u, err := url.Parse(p.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("webhook_url", "want an absolute http or https URL")
		}
	}
	switch {
	case len(p.MACKey) == 0 && p.Connection == ConnISO8583:
		bad("mac_key", "required for an ISO 8583 participant")
	case len(p.MACKey) != 0 && (len(p.MACKey) < macKeyLenMin || len(p.MACKey) > macKeyLenMax):
		bad("mac_key", "want 16 to 64 bytes")
	}
	if p.PaymentTimeoutMs > paymentTimeoutMsMax {
		bad("payment_timeout", "want at most 120 s")
	}
	return errors.Join(errs...)
}

// FieldError names the field of a command or a bootstrap entry that broke
// a rule.
type FieldError struct {
	Field string
	Rule  string
}

func (e *FieldError) Error() string { return "routing: " + e.Field + ": " + e.Rule }

// Unwrap returns ErrConfig.
func (e *FieldError) Unwrap() error { return ErrConfig }

func strictlyAscending(v []uint16) bool {
	for i := 1; i < len(v); i++ {
		if v[i] <= v[i-1] {
			return false
		}
	}
	return true
}

// isDisplayText reports whether s is 1 to max bytes of valid UTF-8 without
// control characters.
func isDisplayText(s string, max int) bool {
	if s == "" || len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// Serves reports whether p uses currency.
func (p *Participant) Serves(currency uint16) bool {
	_, ok := slices.BinarySearch(p.Currencies, currency)
	return ok
}

// HasProgram reports whether p has the budget line program.
func (p *Participant) HasProgram(program uint16) bool {
	_, ok := slices.BinarySearch(p.Programs, program)
	return ok
}

func (p *Participant) clone() Participant {
	c := *p
	c.Currencies = slices.Clone(p.Currencies)
	c.Programs = slices.Clone(p.Programs)
	c.MACKey = slices.Clone(p.MACKey)
	return c
}

// sameClientFields reports whether p and q agree on everything a client
// sets (not Status or the timestamps).
func (p *Participant) sameClientFields(q *Participant) bool {
	return p.ID == q.ID && p.Name == q.Name && p.Kind == q.Kind && p.Connection == q.Connection &&
		slices.Equal(p.Currencies, q.Currencies) && slices.Equal(p.Programs, q.Programs) &&
		p.WebhookURL == q.WebhookURL && string(p.MACKey) == string(q.MACKey) &&
		p.APIKeyHash == q.APIKeyHash && p.PaymentTimeoutMs == q.PaymentTimeoutMs
}

// Ledger account IDs of a participant are derived, never chosen: the high
// half holds a tag, the kind, the currency and the program; the low half
// the participant. Client-chosen IDs that fit in 64 bits (the demo's, the
// benchmark's) can never collide with them.
const accountIDTag = 0x5057 // "PW"

// AccountID is the ledger account of participant for currency and kind
// (KindPosition, KindSettlement, or KindProgram with program > 0).
func AccountID(participant uint64, currency uint16, kind ledger.AccountKind, program uint16) ledger.ID {
	hi := uint64(accountIDTag)<<48 | uint64(kind)<<40 | uint64(currency)<<24 | uint64(program)
	return ledger.NewID(hi, participant)
}

// PositionAccount is the account a participant's payments debit and credit.
func PositionAccount(participant uint64, currency uint16) ledger.ID {
	return AccountID(participant, currency, ledger.KindPosition, 0)
}

// SettlementAccount mirrors the participant's money at the settlement bank.
func SettlementAccount(participant uint64, currency uint16) ledger.ID {
	return AccountID(participant, currency, ledger.KindSettlement, 0)
}

// ProgramAccount is a government payer's budget line.
func ProgramAccount(participant uint64, currency uint16, program uint16) ledger.ID {
	return AccountID(participant, currency, ledger.KindProgram, program)
}

// accounts lists the ledger accounts p has: for each currency a position
// (debits must not exceed credits plus its net debit cap), a settlement
// account (no rule: it mirrors money held elsewhere), and a program account
// per program (debits must not exceed its budget).
func (p *Participant) accounts() []ledger.Account {
	out := make([]ledger.Account, 0, len(p.Currencies)*(2+len(p.Programs)))
	for _, c := range p.Currencies {
		out = append(out,
			ledger.Account{ID: PositionAccount(p.ID, c), Participant: p.ID, Currency: c, Kind: ledger.KindPosition, Flags: ledger.DebitsMustNotExceedCredits},
			ledger.Account{ID: SettlementAccount(p.ID, c), Participant: p.ID, Currency: c, Kind: ledger.KindSettlement})
		for _, prog := range p.Programs {
			out = append(out, ledger.Account{ID: ProgramAccount(p.ID, c, prog), Participant: p.ID, Currency: c, Kind: ledger.KindProgram, Flags: ledger.DebitsMustNotExceedCredits, UserRef: uint64(prog)})
		}
	}
	return out
}

// Accounts returns the ledger accounts p has (see the ID functions above).
func (p *Participant) Accounts() []ledger.Account { return p.accounts() }

func (p *Participant) encode(e *encoder) {
	e.u64(p.ID)
	e.str(p.Name)
	e.u8(uint8(p.Kind))
	e.u8(uint8(p.Status))
	e.u8(uint8(p.Connection))
	e.u8(uint8(len(p.Currencies)))
	for _, c := range p.Currencies {
		e.u16(c)
	}
	e.u8(uint8(len(p.Programs)))
	for _, c := range p.Programs {
		e.u16(c)
	}
	e.str(p.WebhookURL)
	e.bytes(p.MACKey)
	e.buf = append(e.buf, p.APIKeyHash[:]...)
	e.u32(p.PaymentTimeoutMs)
	e.u64(p.Created)
	e.u64(p.Updated)
}

func (p *Participant) decode(d *decoder) {
	p.ID = d.u64()
	p.Name = d.str(participantNameLenMax)
	p.Kind = ParticipantKind(d.u8())
	p.Status = ParticipantStatus(d.u8())
	p.Connection = Connection(d.u8())
	p.Currencies = decodeU16s(d, CurrenciesMax)
	p.Programs = decodeU16s(d, ProgramsMax)
	p.WebhookURL = d.str(webhookURLLenMax)
	p.MACKey = d.bytes(macKeyLenMax)
	copy(p.APIKeyHash[:], d.take(32))
	p.PaymentTimeoutMs = d.u32()
	p.Created = d.u64()
	p.Updated = d.u64()
}

func decodeU16s(d *decoder, max int) []uint16 {
	n := int(d.u8())
	if n > max {
		if d.err == nil {
			d.err = errLong
		}
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]uint16, n)
	for i := range out {
		out[i] = d.u16()
	}
	return out
}
