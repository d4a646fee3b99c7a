package simulator

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// Payment is one payment a simulated bank sends as payer (or, for Pull,
// as the payee's bank asking).
type Payment struct {
	// RRN is field 37, 12 letters or digits, unique per payer: the switch
	// de-duplicates on 32 + 37. Empty: Pay, PayAsync and Pull take
	// NextRRN.
	RRN string
	// PayeeParticipant (field 100) and PayeeAccount (field 103) name the
	// payee; or leave both out and give an Alias (field 103,
	// "msisdn:+254700000001") for the switch to resolve. PayeeParticipant
	// may accompany an Alias, to test how the switch takes it.
	PayeeParticipant uint64
	PayeeAccount     string
	Alias            string
	// PayerAccount is field 102. Default "SIMPAYER".
	PayerAccount string
	// Amount is field 4 in minor units, at most 12 digits. Zero is sent
	// as is (the switch answers 13).
	Amount uint64
	// Currency is field 49, ISO 4217 numeric. Default 404 (KES).
	Currency uint16
}

// Defaults of a Payment and of the fields the simulator fills in itself.
const (
	payerAccountDefault = "SIMPAYER"
	currencyDefault     = 404
	// terminal is field 41 (ans8) of every payment the simulator sends.
	terminal = "SIMBANK1"
)

// withDefaults returns p with its zero values replaced.
func (p Payment) withDefaults() Payment {
	if p.PayerAccount == "" {
		p.PayerAccount = payerAccountDefault
	}
	if p.Currency == 0 {
		p.Currency = currencyDefault
	}
	return p
}

// Payee is where RunLoad sends a payment: a participant and an account,
// or an alias.
type Payee struct {
	Participant uint64
	Account     string
	Alias       string
}

// ParsePayee reads a payee as the command line gives it:
// "10002/7766554433" (participant/account) or an alias of the form
// "type:value" ("msisdn:+254700000001").
func ParsePayee(s string) (Payee, error) {
	if participant, account, ok := strings.Cut(s, "/"); ok {
		n, err := strconv.ParseUint(participant, 10, 64)
		if err != nil || n == 0 || n > participantMax || account == "" {
			return Payee{}, fmt.Errorf("%w: payee %q is not participant/account", ErrConfig, s)
		}
		return Payee{Participant: n, Account: account}, nil
	}
	if kind, value, ok := strings.Cut(s, ":"); ok && kind != "" && value != "" {
		return Payee{Alias: s}, nil
	}
	return Payee{}, fmt.Errorf("%w: payee %q is neither participant/account nor type:alias", ErrConfig, s)
}

// rrnSource hands out the RRNs of one Bank: 12 base-36 digits (0-9, A-Z)
// counting up from a start. The default start is the wall clock in
// centiseconds shifted left by rrnCounterDigits base-36 digits, so a run
// can send 36^5 (60 million) payments per centisecond of head start
// before reaching the RRNs of a run of the same participant begun later.
// Safe for concurrent use.
type rrnSource struct {
	start uint64
	next  atomic.Uint64
}

// rrnModulus is 36^12, the number of distinct RRNs (internal_test.go
// checks it against pow36).
const rrnModulus = 4_738_381_338_321_616_896

func pow36(n int) uint64 {
	v := uint64(1)
	for range n {
		v *= 36
	}
	return v
}

// rrnStartAt derives the default start of the RRNs from the time t.
func rrnStartAt(t time.Time) uint64 {
	ticks := uint64(t.UnixMilli()/10) % pow36(rrnLen-rrnCounterDigits)
	return ticks * pow36(rrnCounterDigits)
}

// Next returns the next RRN.
func (r *rrnSource) Next() string {
	v := (r.start + r.next.Add(1) - 1) % rrnModulus
	var b [rrnLen]byte
	for i := rrnLen - 1; i >= 0; i-- {
		b[i] = base36Digit(v % 36)
		v /= 36
	}
	return string(b[:])
}

func base36Digit(v uint64) byte {
	if v < 10 {
		return byte('0' + v)
	}
	return byte('A' + v - 10)
}

// stamp holds the times of a 0200 (fields 7, 12 and 13), so that Resend
// can repeat them exactly.
type stamp struct {
	transmission [10]byte
	localTime    [6]byte
	localDate    [4]byte
}

// stampAt returns the stamp of a message sent at t.
func stampAt(t time.Time, scratch *iso8583.Message) stamp {
	scratch.SetTransmissionTime(t)
	scratch.SetLocalTime(t)
	return stamp{scratch.TransmissionTime, scratch.LocalTime, scratch.LocalDate}
}

// buildPayment writes the 0200 of p into m: everything but the STAN, which
// the session assigns, and the MAC, which it computes. p has its defaults.
func (b *Bank) buildPayment(m *iso8583.Message, p *Payment, processing iso8583.ProcessingCode, mandate string, at stamp) error {
	if p.Amount > amountMax {
		return fmt.Errorf("%w: amount %d has more than 12 digits", ErrPayment, p.Amount)
	}
	if p.PayeeAccount != "" && p.Alias != "" {
		return fmt.Errorf("%w: both a payee account and an alias", ErrPayment)
	}
	if p.PayeeParticipant > participantMax {
		return fmt.Errorf("%w: payee participant %d has more than 11 digits", ErrPayment, p.PayeeParticipant)
	}
	m.Reset()
	m.MTI = iso8583.MTIFinancialRequest
	m.ProcessingCode = processing
	m.Amount = p.Amount
	m.Currency = p.Currency
	m.TransmissionTime, m.LocalTime, m.LocalDate = at.transmission, at.localTime, at.localDate
	m.Set(iso8583.FieldProcessingCode, iso8583.FieldAmount, iso8583.FieldCurrency,
		iso8583.FieldTransmissionTime, iso8583.FieldLocalTime, iso8583.FieldLocalDate)
	payee := p.PayeeAccount
	if payee == "" {
		payee = p.Alias
	}
	fs := fieldSetter{m: m}
	fs.set(iso8583.FieldAcquirer, b.participantDigits)
	fs.set(iso8583.FieldRRN, []byte(p.RRN))
	fs.set(iso8583.FieldTerminal, []byte(terminal))
	if mandate != "" {
		fs.set(iso8583.FieldAdditionalData, []byte(mandate))
	}
	if p.PayeeParticipant != 0 {
		var digits [20]byte
		fs.set(iso8583.FieldReceiver, strconv.AppendUint(digits[:0], p.PayeeParticipant, 10))
	}
	fs.set(iso8583.FieldPayerAccount, []byte(p.PayerAccount))
	fs.set(iso8583.FieldPayeeAccount, []byte(payee))
	if fs.err != nil {
		return fmt.Errorf("%w: %w", ErrPayment, fs.err)
	}
	return nil
}

// fieldSetter sets text fields of a message one after the other and keeps
// the first error, so that a message is built without an if per field.
type fieldSetter struct {
	m   *iso8583.Message
	err error
}

func (fs *fieldSetter) set(f iso8583.Field, value []byte) {
	if fs.err == nil {
		fs.err = fs.m.SetBytes(f, value)
	}
}

// sentPayment is what a Bank remembers of a payment it sent, to resend it
// identically or to reverse it.
type sentPayment struct {
	payment    Payment // with its defaults
	processing iso8583.ProcessingCode
	mandate    string
	at         stamp
	stan       uint32 // of the first 0200
	session    int
}

// sentLog remembers the most recent sentRecordsMax payments by RRN. Safe
// for concurrent use.
type sentLog struct {
	mu    sync.Mutex
	byRRN map[string]*sentPayment
	order []string // RRNs in the order first sent, a ring once full
	next  int      // the oldest entry of order once it is full
}

// add remembers sp, unless its RRN is already known: the first 0200 of an
// RRN is the one a reversal names.
func (l *sentLog) add(sp *sentPayment) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byRRN == nil {
		l.byRRN = make(map[string]*sentPayment)
	}
	rrn := sp.payment.RRN
	if _, known := l.byRRN[rrn]; known {
		return
	}
	if len(l.order) < sentRecordsMax {
		l.order = append(l.order, rrn)
	} else {
		delete(l.byRRN, l.order[l.next])
		l.order[l.next] = rrn
		l.next = (l.next + 1) % sentRecordsMax
	}
	l.byRRN[rrn] = sp
}

// get returns the record of rrn, or nil.
func (l *sentLog) get(rrn string) *sentPayment {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byRRN[rrn]
}
