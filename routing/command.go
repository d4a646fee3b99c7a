package routing

import (
	"errors"
	"fmt"
	"strconv"
)

// Op is the kind of a routing command. The numbers are stable: commands
// live in the Raft log.
type Op uint8

// The routing commands.
const (
	// OpPutParticipant onboards a participant (with its ledger accounts)
	// or updates one; an update may add currencies and programs (with
	// their accounts) but not remove them, nor change the kind.
	OpPutParticipant Op = 1
	// OpSetStatus suspends, reactivates or closes a participant.
	OpSetStatus Op = 2
	// OpLink maps an identifier (by token) and purpose to an account.
	OpLink Op = 3
	// OpUpdateLink points an existing entry at another account of the same
	// participant, with new consent.
	OpUpdateLink Op = 4
	// OpUnlink removes an entry.
	OpUnlink Op = 5
	// OpPutMandate registers a mandate for pull payments.
	OpPutMandate Op = 6
	// OpRevokeMandate revokes one.
	OpRevokeMandate Op = 7
	// OpUseMandate counts one debit against a mandate, if it permits it.
	OpUseMandate Op = 8
	// OpOweAdvice puts a reversal advice the switch owes a participant in
	// the outbox (store-and-forward: it survives restarts and leader
	// changes until acknowledged).
	OpOweAdvice Op = 9
	// OpAckAdvice removes an advice the participant answered.
	OpAckAdvice Op = 10
)

// opMax is the highest defined op.
const opMax = OpAckAdvice

var opNames = [...]string{"", "put_participant", "set_status", "link", "update_link", "unlink", "put_mandate", "revoke_mandate", "use_mandate", "owe_advice", "ack_advice"}

func (o Op) String() string { return enumName(opNames[:], uint8(o), "op") }

// Code is a routing command's outcome. The numbers and names are stable:
// they reach clients (admin API problems, CLI messages).
type Code uint8

// The outcomes.
const (
	CodeOK                       Code = 0
	CodeExists                   Code = 1 // the same command was applied before: nothing changed
	CodeInvalid                  Code = 2 // fields break the rules (Command.Validate says which)
	CodeNotPermitted             Code = 3 // the requester may not do this to that record
	CodeCommandUnknown           Code = 4
	CodeParticipantUnknown       Code = 10
	CodeParticipantNotActive     Code = 11
	CodeParticipantClosed        Code = 12 // closing is final
	CodeCurrencyNotServed        Code = 13
	CodeCurrenciesRemoved        Code = 14
	CodeAccountConflict          Code = 15 // a derived ledger account exists with other fields
	CodeKindChanged              Code = 16
	CodeLinkExists               Code = 20 // the identifier is linked to another address
	CodeLinkUnknown              Code = 21
	CodeMapperFull               Code = 22 // LinksMax entries: the operator must add memory and raise it
	CodeMandateExists            Code = 30 // the ID is taken by a different mandate
	CodeMandateUnknown           Code = 31
	CodeMandateRevoked           Code = 32
	CodeMandateNotActive         Code = 33 // outside its validity window
	CodeMandateMismatch          Code = 34 // another payee or currency
	CodeMandateAmountExceeded    Code = 35
	CodeMandateFrequencyExceeded Code = 36
)

var codeNames = map[Code]string{
	CodeOK:                       "ok",
	CodeExists:                   "exists",
	CodeInvalid:                  "invalid",
	CodeNotPermitted:             "not_permitted",
	CodeCommandUnknown:           "command_unknown",
	CodeParticipantUnknown:       "participant_unknown",
	CodeParticipantNotActive:     "participant_not_active",
	CodeParticipantClosed:        "participant_closed",
	CodeCurrencyNotServed:        "currency_not_served",
	CodeCurrenciesRemoved:        "currencies_removed",
	CodeAccountConflict:          "account_conflict",
	CodeKindChanged:              "kind_changed",
	CodeLinkExists:               "link_exists",
	CodeLinkUnknown:              "link_unknown",
	CodeMapperFull:               "mapper_full",
	CodeMandateExists:            "mandate_exists",
	CodeMandateUnknown:           "mandate_unknown",
	CodeMandateRevoked:           "mandate_revoked",
	CodeMandateNotActive:         "mandate_not_active",
	CodeMandateMismatch:          "mandate_mismatch",
	CodeMandateAmountExceeded:    "mandate_amount_exceeded",
	CodeMandateFrequencyExceeded: "mandate_frequency_exceeded",
}

// String returns the code's stable snake_case name.
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return "code_" + strconv.Itoa(int(c))
}

// Succeeded reports whether the command's effect holds (applied now or
// before).
func (c Code) Succeeded() bool { return c == CodeOK || c == CodeExists }

// Command is one routing state change. Only the part Op selects is read:
// Participant for OpPutParticipant; Participant.ID and Status for
// OpSetStatus; Link for the link ops (Token and Purpose only for
// OpUnlink); Mandate for OpPutMandate; Mandate.ID for OpRevokeMandate;
// Mandate.ID, Debit, Currency and Amount for OpUseMandate.
type Command struct {
	Op Op
	// Requester is the participant on whose behalf the command is made,
	// authenticated at the edge; zero is the hub operator, who may act for
	// anyone.
	Requester   uint64
	Participant Participant
	Status      ParticipantStatus
	Link        Link
	Mandate     Mandate
	// Debit, Currency and Amount describe the pull payment of OpUseMandate.
	Debit    Party
	Currency uint16
	Amount   uint64
	// Advice is the outbox entry of OpOweAdvice and OpAckAdvice (only its
	// To and Transfer for the ack).
	Advice Advice
}

// Validate reports every structural problem of c, joined; the state
// machine applies the same check and answers CodeInvalid.
func (c *Command) Validate() error {
	if c.Requester > participantMax {
		return &FieldError{Field: "requester", Rule: "want 0 (operator) or 1 to 11 digits"}
	}
	switch c.Op {
	case OpPutParticipant:
		return c.Participant.Validate()
	case OpSetStatus:
		var errs []error
		if c.Participant.ID == 0 || c.Participant.ID > participantMax {
			errs = append(errs, &FieldError{Field: "id", Rule: "want 1 to 11 digits"})
		}
		if !c.Status.Valid() {
			errs = append(errs, &FieldError{Field: "status", Rule: "want active, suspended or closed"})
		}
		return errors.Join(errs...)
	case OpLink, OpUpdateLink:
		return c.Link.Validate()
	case OpUnlink:
		if c.Link.Token.IsZero() || !LinkPurposeValid(c.Link.Purpose) {
			return &FieldError{Field: "token", Rule: "want a token and a purpose"}
		}
		return nil
	case OpPutMandate:
		return c.Mandate.Validate()
	case OpRevokeMandate:
		if c.Mandate.ID == "" || len(c.Mandate.ID) > mandateIDLenMaxStored || !isPrintableASCII(c.Mandate.ID) {
			return &FieldError{Field: "id", Rule: "want 1 to 64 printable ASCII characters"}
		}
		return nil
	case OpUseMandate:
		var errs []error
		if c.Mandate.ID == "" || len(c.Mandate.ID) > mandateIDLenMaxStored || !isPrintableASCII(c.Mandate.ID) {
			errs = append(errs, &FieldError{Field: "id", Rule: "want 1 to 64 printable ASCII characters"})
		}
		if c.Debit.Participant == 0 || c.Debit.Participant > participantMax || len(c.Debit.Account) > accountLenMax || !isPrintableASCII(c.Debit.Account) {
			errs = append(errs, &FieldError{Field: "payee", Rule: "want a participant and an account of up to 28 characters"})
		}
		if c.Amount == 0 || c.Currency == 0 || c.Currency > 999 {
			errs = append(errs, &FieldError{Field: "amount", Rule: "want a positive amount in an ISO 4217 currency"})
		}
		return errors.Join(errs...)
	case OpOweAdvice, OpAckAdvice:
		if c.Advice.To == 0 || c.Advice.To > participantMax || c.Advice.Transfer.IsZero() {
			return &FieldError{Field: "advice", Rule: "want a participant and a transfer"}
		}
		if c.Op == OpOweAdvice && (c.Advice.Kind < AdviceTimeout || c.Advice.Kind > AdvicePayerReversal) {
			return &FieldError{Field: "advice.kind", Rule: "want timeout or payer_reversal"}
		}
		return nil
	}
	return fmt.Errorf("%w: unknown routing op %d", ErrConfig, c.Op)
}

// Result is one command's outcome.
type Result struct {
	Code Code
	// Timestamp is when the state machine applied it (ns).
	Timestamp uint64
	// Created is set when an OpPutParticipant created its participant
	// (rather than updating one): only the command that did says so,
	// however many were proposed at once.
	Created bool
}

// Entry framing. A routing entry shares the Raft log with the ledger's
// batches, whose first byte is their version (1); a routing entry starts
// with EntryTag so that the state machine can tell them apart.
const (
	EntryTag         byte = 0xA1
	entryVersion     byte = 1
	EntryCommandsMax      = 1024
	entryHeaderSize       = 1 + 1 + 8 + 2
	// entryBytesMax bounds a decoded entry; far above what
	// EntryCommandsMax commands of the largest kind encode to.
	entryBytesMax = 4 << 20
)

// IsEntry reports whether a log entry's data is a routing entry.
func IsEntry(data []byte) bool { return len(data) > 0 && data[0] == EntryTag }

// AppendEntry encodes cmds, applied at timestamp, after dst.
func AppendEntry(dst []byte, timestamp uint64, cmds []Command) []byte {
	e := encoder{buf: dst}
	e.u8(EntryTag)
	e.u8(entryVersion)
	e.u64(timestamp)
	e.u16(uint16(len(cmds)))
	for i := range cmds {
		cmds[i].encode(&e)
	}
	return e.buf
}

// DecodeEntry reads an entry written by AppendEntry into cmds (reused).
func DecodeEntry(data []byte, cmds []Command) (timestamp uint64, out []Command, err error) {
	if len(data) > entryBytesMax {
		return 0, cmds[:0], fmt.Errorf("routing: entry of %d bytes exceeds %d", len(data), entryBytesMax)
	}
	d := decoder{p: data}
	if d.u8() != EntryTag {
		return 0, cmds[:0], errors.New("routing: not a routing entry")
	}
	if v := d.u8(); v != entryVersion {
		return 0, cmds[:0], fmt.Errorf("routing: entry version %d unknown", v)
	}
	timestamp = d.u64()
	n := int(d.u16())
	if n > EntryCommandsMax {
		return 0, cmds[:0], fmt.Errorf("routing: entry holds %d commands, more than %d", n, EntryCommandsMax)
	}
	out = cmds[:0]
	for i := 0; i < n && d.err == nil; i++ {
		var c Command
		c.decode(&d)
		out = append(out, c)
	}
	if err := d.finish(); err != nil {
		return 0, out[:0], fmt.Errorf("routing: decode entry: %w", err)
	}
	return timestamp, out, nil
}

func (c *Command) encode(e *encoder) {
	e.u8(uint8(c.Op))
	e.u64(c.Requester)
	switch c.Op {
	case OpPutParticipant:
		c.Participant.encode(e)
	case OpSetStatus:
		e.u64(c.Participant.ID)
		e.u8(uint8(c.Status))
	case OpLink, OpUpdateLink:
		c.Link.encode(e)
	case OpUnlink:
		e.buf = append(e.buf, c.Link.Token[:]...)
		e.u8(uint8(c.Link.Purpose))
	case OpPutMandate:
		c.Mandate.encode(e)
	case OpRevokeMandate:
		e.str(c.Mandate.ID)
	case OpUseMandate:
		e.str(c.Mandate.ID)
		e.u64(c.Debit.Participant)
		e.str(c.Debit.Account)
		e.u16(c.Currency)
		e.u64(c.Amount)
	case OpOweAdvice, OpAckAdvice:
		c.Advice.encode(e)
	}
}

func (c *Command) decode(d *decoder) {
	c.Op = Op(d.u8())
	c.Requester = d.u64()
	switch c.Op {
	case OpPutParticipant:
		c.Participant.decode(d)
	case OpSetStatus:
		c.Participant.ID = d.u64()
		c.Status = ParticipantStatus(d.u8())
	case OpLink, OpUpdateLink:
		c.Link.decode(d)
	case OpUnlink:
		copy(c.Link.Token[:], d.take(len(c.Link.Token)))
		c.Link.Purpose = Purpose(d.u8())
	case OpPutMandate:
		c.Mandate.decode(d)
	case OpRevokeMandate:
		c.Mandate.ID = d.str(mandateIDLenMaxStored)
	case OpUseMandate:
		c.Mandate.ID = d.str(mandateIDLenMaxStored)
		c.Debit.Participant = d.u64()
		c.Debit.Account = d.str(accountLenMax)
		c.Currency = d.u16()
		c.Amount = d.u64()
	case OpOweAdvice, OpAckAdvice:
		c.Advice.decode(d)
	default:
		// An unknown op has no body we could skip: the entry is
		// undecodable, which the state machine reports for all of it.
		if d.err == nil {
			d.err = fmt.Errorf("unknown op %d", c.Op)
		}
	}
}
