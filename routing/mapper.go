package routing

import "errors"

// Link is one mapper entry (G2P Connect's "financial address"): the
// identifier's token and the purpose it serves, pointing at an account
// held at a participant, with the holder's consent. It holds no raw
// identifier: only the token, the identifier's type (for statistics) and a
// name masked at the edge.
type Link struct {
	Token Token
	// Purpose is PurposePayment (the default address) or PurposeG2P (a
	// separate address for government benefits; a G2P resolve falls back to
	// the default when there is none).
	Purpose Purpose
	// Type is the identifier's type.
	Type IDType
	// Participant and Account are where the identifier is paid. Only that
	// participant may link to its account.
	Participant uint64
	Account     string // 1 to 28 printable ASCII characters (ISO 8583 field 102/103)
	// Name is the holder's display name, masked at the edge (MaskName);
	// up to 64 bytes; may be empty.
	Name string
	// ConsentRef and ConsentAt record the holder's consent to the link: a
	// reference from the participant's consent record (1 to 64 printable
	// ASCII characters) and when it was given (ns since the Unix epoch).
	ConsentRef string
	ConsentAt  uint64
	// Created and Updated are the state machine's timestamps (ns).
	Created, Updated uint64
}

const linkNameLenMax = 64

// LinkPurposeValid reports whether p can key a mapper entry.
func LinkPurposeValid(p Purpose) bool { return p == PurposePayment || p == PurposeG2P }

// Validate reports every problem of l's client fields, joined.
func (l *Link) Validate() error {
	var errs []error
	bad := func(field, rule string) { errs = append(errs, &FieldError{Field: field, Rule: rule}) }
	if l.Token.IsZero() {
		bad("token", "zero token")
	}
	if !LinkPurposeValid(l.Purpose) {
		bad("purpose", "want payment or g2p")
	}
	if !l.Type.Valid() {
		bad("type", "unknown identifier type")
	}
	if l.Participant == 0 || l.Participant > participantMax {
		bad("participant", "want 1 to 11 digits")
	}
	if l.Account == "" || len(l.Account) > accountLenMax || !isPrintableASCII(l.Account) {
		bad("account", "want 1 to 28 printable ASCII characters")
	}
	if l.Name != "" && !isDisplayText(l.Name, linkNameLenMax) {
		bad("name", "want up to 64 printable characters")
	}
	if l.ConsentRef == "" || len(l.ConsentRef) > referenceLenMax || !isPrintableASCII(l.ConsentRef) {
		bad("consent_ref", "want 1 to 64 printable ASCII characters")
	}
	if l.ConsentAt == 0 {
		bad("consent_at", "time of the holder's consent not set")
	}
	return errors.Join(errs...)
}

func (l *Link) sameClientFields(m *Link) bool {
	return l.Token == m.Token && l.Purpose == m.Purpose && l.Type == m.Type &&
		l.Participant == m.Participant && l.Account == m.Account && l.Name == m.Name &&
		l.ConsentRef == m.ConsentRef && l.ConsentAt == m.ConsentAt
}

func (l *Link) encode(e *encoder) {
	e.buf = append(e.buf, l.Token[:]...)
	e.u8(uint8(l.Purpose))
	e.u8(uint8(l.Type))
	e.u64(l.Participant)
	e.str(l.Account)
	e.str(l.Name)
	e.str(l.ConsentRef)
	e.u64(l.ConsentAt)
	e.u64(l.Created)
	e.u64(l.Updated)
}

func (l *Link) decode(d *decoder) {
	copy(l.Token[:], d.take(len(l.Token)))
	l.Purpose = Purpose(d.u8())
	l.Type = IDType(d.u8())
	l.Participant = d.u64()
	l.Account = d.str(accountLenMax)
	l.Name = d.str(linkNameLenMax)
	l.ConsentRef = d.str(referenceLenMax)
	l.ConsentAt = d.u64()
	l.Created = d.u64()
	l.Updated = d.u64()
}

// Mandate is a payer's standing consent for a payee to pull money from
// the payer's account (a direct debit): at most MaxPerDebit a time, at
// most DebitsPerPeriod debits in each PeriodSeconds window, between
// ValidFrom and ValidUntil, until revoked. The payer's participant
// registers and revokes it on the holder's instruction.
type Mandate struct {
	ID    string // 1 to 64 printable ASCII characters, the value of ISO 8583 field 48
	Payer Party  // the payer's participant and account
	Payee Party  // the payee's participant; Account empty means any of its accounts
	// Currency is the ISO 4217 numeric code of every debit.
	Currency    uint16
	MaxPerDebit uint64
	// PeriodSeconds and DebitsPerPeriod bound the frequency: zero
	// PeriodSeconds means no frequency limit.
	PeriodSeconds   uint32
	DebitsPerPeriod uint32
	// ValidFrom and ValidUntil bound the validity (ns since the Unix epoch);
	// zero ValidUntil means open-ended.
	ValidFrom, ValidUntil uint64
	// ConsentRef references the holder's signed mandate at the payer's
	// participant.
	ConsentRef string
	// Revoked is when the mandate was revoked, zero while it stands.
	Revoked uint64
	// PeriodStart and UsedInPeriod count the debits of the current period.
	PeriodStart  uint64
	UsedInPeriod uint32
	// Created and Updated are the state machine's timestamps (ns).
	Created, Updated uint64
}

const mandateIDLenMaxStored = 64

// Validate reports every problem of m's client fields, joined.
func (m *Mandate) Validate() error {
	var errs []error
	bad := func(field, rule string) { errs = append(errs, &FieldError{Field: field, Rule: rule}) }
	if m.ID == "" || len(m.ID) > mandateIDLenMaxStored || !isPrintableASCII(m.ID) {
		bad("id", "want 1 to 64 printable ASCII characters")
	}
	for _, side := range []struct {
		name  string
		party Party
		need  bool
	}{{"payer", m.Payer, true}, {"payee", m.Payee, false}} {
		if side.party.Participant == 0 || side.party.Participant > participantMax {
			bad(side.name+".participant", "want 1 to 11 digits")
		}
		if (side.need && side.party.Account == "") || len(side.party.Account) > accountLenMax || !isPrintableASCII(side.party.Account) {
			bad(side.name+".account", "want up to 28 printable ASCII characters")
		}
	}
	if m.Currency == 0 || m.Currency > 999 {
		bad("currency", "want an ISO 4217 numeric code")
	}
	if m.MaxPerDebit == 0 {
		bad("max_per_debit", "want a positive amount")
	}
	if (m.PeriodSeconds == 0) != (m.DebitsPerPeriod == 0) {
		bad("frequency", "set both the period and the debits per period, or neither")
	}
	if m.ValidUntil != 0 && m.ValidUntil <= m.ValidFrom {
		bad("valid_until", "want a time after valid_from")
	}
	if m.ConsentRef == "" || len(m.ConsentRef) > referenceLenMax || !isPrintableASCII(m.ConsentRef) {
		bad("consent_ref", "want 1 to 64 printable ASCII characters")
	}
	return errors.Join(errs...)
}

func (m *Mandate) sameClientFields(o *Mandate) bool {
	return m.ID == o.ID && m.Payer == o.Payer && m.Payee == o.Payee && m.Currency == o.Currency &&
		m.MaxPerDebit == o.MaxPerDebit && m.PeriodSeconds == o.PeriodSeconds &&
		m.DebitsPerPeriod == o.DebitsPerPeriod && m.ValidFrom == o.ValidFrom &&
		m.ValidUntil == o.ValidUntil && m.ConsentRef == o.ConsentRef
}

// Permits judges one debit of amount in currency to payee at time now
// (ns) against the mandate, without using it up: CodeOK, or the reason it
// is refused.
func (m *Mandate) Permits(payee Party, currency uint16, amount uint64, now uint64) Code {
	switch {
	case m.Revoked != 0:
		return CodeMandateRevoked
	case now < m.ValidFrom || (m.ValidUntil != 0 && now >= m.ValidUntil):
		return CodeMandateNotActive
	case payee.Participant != m.Payee.Participant || (m.Payee.Account != "" && payee.Account != m.Payee.Account):
		return CodeMandateMismatch
	case currency != m.Currency:
		return CodeMandateMismatch
	case amount == 0 || amount > m.MaxPerDebit:
		return CodeMandateAmountExceeded
	case m.PeriodSeconds != 0 && m.inPeriod(now) && m.UsedInPeriod >= m.DebitsPerPeriod:
		return CodeMandateFrequencyExceeded
	}
	return CodeOK
}

// inPeriod reports whether now falls in the period that PeriodStart opened.
func (m *Mandate) inPeriod(now uint64) bool {
	if m.PeriodStart == 0 {
		return false
	}
	// A time before the period's start counts as inside it, so that a
	// clock that lags cannot open a fresh period early.
	return now < m.PeriodStart || now-m.PeriodStart < uint64(m.PeriodSeconds)*1e9
}

// use records one debit at now; Permits must have allowed it.
func (m *Mandate) use(now uint64) {
	if m.PeriodSeconds == 0 {
		return
	}
	if !m.inPeriod(now) {
		// Periods are aligned to ValidFrom so that a payer sees fixed
		// windows (each month from the start date), not sliding ones.
		period := uint64(m.PeriodSeconds) * 1e9
		m.PeriodStart = m.ValidFrom + (now-m.ValidFrom)/period*period
		if m.PeriodStart == 0 {
			m.PeriodStart = 1 // zero means "no period yet"
		}
		m.UsedInPeriod = 0
	}
	m.UsedInPeriod++
}

func (m *Mandate) encode(e *encoder) {
	e.str(m.ID)
	e.u64(m.Payer.Participant)
	e.str(m.Payer.Account)
	e.u64(m.Payee.Participant)
	e.str(m.Payee.Account)
	e.u16(m.Currency)
	e.u64(m.MaxPerDebit)
	e.u32(m.PeriodSeconds)
	e.u32(m.DebitsPerPeriod)
	e.u64(m.ValidFrom)
	e.u64(m.ValidUntil)
	e.str(m.ConsentRef)
	e.u64(m.Revoked)
	e.u64(m.PeriodStart)
	e.u32(m.UsedInPeriod)
	e.u64(m.Created)
	e.u64(m.Updated)
}

func (m *Mandate) decode(d *decoder) {
	m.ID = d.str(mandateIDLenMaxStored)
	m.Payer.Participant = d.u64()
	m.Payer.Account = d.str(accountLenMax)
	m.Payee.Participant = d.u64()
	m.Payee.Account = d.str(accountLenMax)
	m.Currency = d.u16()
	m.MaxPerDebit = d.u64()
	m.PeriodSeconds = d.u32()
	m.DebitsPerPeriod = d.u32()
	m.ValidFrom = d.u64()
	m.ValidUntil = d.u64()
	m.ConsentRef = d.str(referenceLenMax)
	m.Revoked = d.u64()
	m.PeriodStart = d.u64()
	m.UsedInPeriod = d.u32()
	m.Created = d.u64()
	m.Updated = d.u64()
}
