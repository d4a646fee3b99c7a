package simulator

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// BankConfig configures one simulated bank: who it is, where the switch
// is, and how it behaves as a payee.
type BankConfig struct {
	// Participant is the bank's participant number: field 32 of its
	// payments, field 33 of its sign-on. 1 to 99,999,999,999.
	Participant uint64
	// MACKey is the participant's MAC key, 16 to 256 bytes. The bank MACs
	// what it sends with it and verifies what the switch sends with it.
	MACKey []byte
	// SwitchAddr is host:port of the switch's ISO 8583 listener.
	SwitchAddr string
	// Sessions is how many TCP sessions to open and sign on. Default 1, at
	// most SessionsMax. Payments go out round-robin over them.
	Sessions int

	// DeclinePercent, DelayPercent and DropPercent decide what the bank
	// does with a 0200 the switch forwards to it: decline with
	// DeclineCode, approve after Delay, or never answer. Each is 0 to 100
	// and their sum at most 100; the rest are approved at once.
	DeclinePercent, DelayPercent, DropPercent int
	// DeclineCode is field 39 of a decline. Default 05 (do not honour).
	DeclineCode iso8583.ResponseCode
	// Delay is how late a delayed answer comes; set it beyond the switch's
	// payee deadline to cause timeouts. Required when DelayPercent > 0.
	Delay time.Duration
	// AnswerAfterReversal sends a delayed answer even when the switch's
	// 0420 for the payment came first. The contract forbids it (a payee
	// never answers 0210 once it has the 0420), so by default such an
	// answer is withheld and counted in Stats.LateWithheld; set this to
	// test how the switch takes a late answer.
	AnswerAfterReversal bool

	// ResponseTimeout is the longest Pay, Pull, Resend, Reverse, Echo,
	// PayAsync and the sign-on wait for an answer when their context has
	// no earlier deadline. Default 30 s.
	ResponseTimeout time.Duration
	// RRNStart is where NextRRN starts counting, as a base-36 number of
	// 12 digits. Zero (the default) derives it from the wall clock at Dial
	// so that the RRNs of one run never collide with those of an earlier
	// run of the same participant (the switch de-duplicates on 32 + 37);
	// set it for a run that must replay exactly.
	RRNStart uint64
	// Seed drives every random choice: the payee's decisions (one stream
	// per session) and RunLoad's payees and amounts.
	Seed uint64
	// Logger receives session events (sign-on, closed sessions, MAC
	// failures); never one line per payment. Default: discard.
	Logger *slog.Logger
}

// withDefaults returns c with its zero values replaced by the defaults.
func (c BankConfig) withDefaults() BankConfig {
	if c.Sessions == 0 {
		c.Sessions = 1
	}
	if c.DeclineCode == 0 {
		c.DeclineCode = iso8583.ResponseDoNotHonour
	}
	if c.ResponseTimeout == 0 {
		c.ResponseTimeout = responseTimeoutDefault
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// Validate reports every problem of c, with its defaults applied, each
// wrapping ErrConfig.
func (c BankConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if c.Participant == 0 || c.Participant > participantMax {
		bad("participant %d outside 1 to %d", c.Participant, uint64(participantMax))
	}
	if _, err := iso8583.NewMACer(c.MACKey); err != nil {
		bad("MAC key of %d bytes: %v", len(c.MACKey), err)
	}
	if c.SwitchAddr == "" {
		bad("no switch address")
	}
	if c.Sessions < 1 || c.Sessions > SessionsMax {
		bad("sessions %d outside 1 to %d", c.Sessions, SessionsMax)
	}
	for _, p := range []struct {
		name  string
		value int
	}{{"decline", c.DeclinePercent}, {"delay", c.DelayPercent}, {"drop", c.DropPercent}} {
		if p.value < 0 || p.value > 100 {
			bad("%s percent %d outside 0 to 100", p.name, p.value)
		}
	}
	if sum := c.DeclinePercent + c.DelayPercent + c.DropPercent; sum > 100 {
		bad("decline, delay and drop percents add up to %d, more than 100", sum)
	}
	if !responseCodeValid(c.DeclineCode) {
		bad("decline code is not two letters or digits")
	}
	if c.Delay < 0 || (c.DelayPercent > 0 && c.Delay == 0) {
		bad("delay %v: must be positive when delay percent is set", c.Delay)
	}
	if c.ResponseTimeout < 0 {
		bad("response timeout %v is negative", c.ResponseTimeout)
	}
	return errors.Join(errs...)
}

// responseCodeValid reports whether c is two letters or digits, the format
// of field 39.
func responseCodeValid(c iso8583.ResponseCode) bool {
	return alphanumeric(byte(c>>8)) && alphanumeric(byte(c))
}

func alphanumeric(b byte) bool {
	return '0' <= b && b <= '9' || 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z'
}
