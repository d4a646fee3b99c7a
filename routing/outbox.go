package routing

import "github.com/payswitch/payswitch/ledger"

// AdviceKind says why the switch owes a participant a reversal advice.
type AdviceKind uint8

// The advice kinds.
const (
	// AdviceTimeout: the participant (a payee, or the payer's bank of a
	// pull) did not answer a forwarded payment before its deadline; the
	// payment was voided and the participant must reverse it if it
	// applied it.
	AdviceTimeout AdviceKind = 1
	// AdvicePayerReversal: the payer reversed a payment that was not final;
	// it was voided and the payee must reverse it if it applied it.
	AdvicePayerReversal AdviceKind = 2
)

// Advice is one entry of the outbox: a reversal advice (ISO 8583 0420)
// the switch owes participant To for the payment whose pending ledger
// transfer is Transfer. The message itself is rebuilt from the ledger
// transfer when it is sent, so the entry stays small and a new leader can
// send it.
type Advice struct {
	To       uint64
	Transfer ledger.ID
	Kind     AdviceKind
	// Created is when the state machine recorded it (ns).
	Created uint64
}

func (a *Advice) encode(e *encoder) {
	e.u64(a.To)
	e.buf = append(e.buf, a.Transfer[:]...)
	e.u8(uint8(a.Kind))
	e.u64(a.Created)
}

func (a *Advice) decode(d *decoder) {
	a.To = d.u64()
	copy(a.Transfer[:], d.take(16))
	a.Kind = AdviceKind(d.u8())
	a.Created = d.u64()
}
