package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/payswitch/payswitch/simulator"
	"github.com/payswitch/payswitch/switch/iso8583"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// simBankFlags are the flags of 'payswitch simbank'.
type simBankFlags struct {
	bank     simulator.BankConfig
	load     simulator.LoadConfig
	macKey   string
	payees   []string
	aliases  []string
	decline  string
	logLevel string
}

func newSimBankCommand() *cobra.Command {
	var f simBankFlags
	cmd := &cobra.Command{
		Use:   "simbank",
		Short: "A simulated bank on the switch's ISO 8583 port: payer load and payee behaviour",
		Long: `Connects a simulated bank to the switch's ISO 8583 listener (docs/iso8583.md),
signs its sessions on, and then either drives an open-loop load of push
payments (--rate with --duration and/or --count, to --payee or --alias)
or, without --rate, serves as a payee until Ctrl-C or --duration.

As a payee it answers the payments the switch forwards: it declines
--decline-percent of them with --decline-code, answers --delay-percent
after --delay and never answers --drop-percent; the rest it approves. It
answers every reversal advice with 0430 00 and every echo with 0810 00.

A load prints one line per second and a summary: latency percentiles
measured from each payment's due time (so queueing counts), and the
outcomes by response code. Sign-off happens on the way out.`,
		Example: `  payswitch simbank --participant 10002 --mac-key $KEY2 --decline-percent 5
  payswitch simbank --participant 10001 --mac-key $KEY1 --sessions 2 \
      --rate 1000 --duration 10s --payee 10002/7766554433 --alias msisdn:+254700000001`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.resolve(cmd.Flags()); err != nil {
				return err
			}
			f.bank.Logger = newLogger(f.logLevel, "text", cmd.ErrOrStderr())
			return runSimBank(cmd.Context(), cmd.OutOrStdout(), &f)
		},
	}
	fl := cmd.Flags()
	fl.Uint64Var(&f.bank.Participant, "participant", 0, "the bank's participant number (required)")
	fl.StringVar(&f.macKey, "mac-key", "", "the participant's MAC key in hex, 16 to 256 bytes (required)")
	fl.StringVar(&f.bank.SwitchAddr, "switch", "127.0.0.1:8583", "host:port of the switch's ISO 8583 listener")
	fl.IntVar(&f.bank.Sessions, "sessions", 1, "TCP sessions to open and sign on")
	fl.Float64Var(&f.load.Rate, "rate", 0, "payments per second to send, open loop (0: serve as a payee only)")
	fl.DurationVar(&f.load.Duration, "duration", 0, "how long to send, or to serve without --rate (0: until Ctrl-C)")
	fl.IntVar(&f.load.Count, "count", 0, "stop sending after this many payments")
	fl.StringArrayVar(&f.payees, "payee", nil, "a payee as participant/account (repeatable)")
	fl.StringArrayVar(&f.aliases, "alias", nil, "a payee alias such as msisdn:+254700000001 (repeatable)")
	fl.StringVar(&f.load.PayerAccount, "payer-account", "SIMPAYER", "field 102 of the payments")
	fl.Uint16Var(&f.load.Currency, "currency", 404, "ISO 4217 numeric currency of the payments")
	fl.Uint64Var(&f.load.AmountMin, "amount-min", 100, "smallest amount, in minor units")
	fl.Uint64Var(&f.load.AmountMax, "amount-max", 10_000, "largest amount, in minor units")
	fl.DurationVar(&f.load.Timeout, "timeout", 5*time.Second, "give up on a payment's answer after this")
	fl.IntVar(&f.bank.DeclinePercent, "decline-percent", 0, "share of incoming payments to decline")
	fl.IntVar(&f.bank.DelayPercent, "delay-percent", 0, "share of incoming payments to approve after --delay")
	fl.IntVar(&f.bank.DropPercent, "drop-percent", 0, "share of incoming payments never to answer")
	fl.StringVar(&f.decline, "decline-code", "05", "response code of a decline")
	fl.DurationVar(&f.bank.Delay, "delay", 0, "how late a delayed answer comes")
	fl.BoolVar(&f.bank.AnswerAfterReversal, "answer-after-reversal", false,
		"send a delayed answer even after the payment's reversal advice (the contract forbids it)")
	fl.Uint64Var(&f.bank.Seed, "seed", 1, "seed of every random choice")
	fl.Uint64Var(&f.bank.RRNStart, "rrn-start", 0, "first RRN as a base-36 number (0: from the clock)")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

// The simulator's bounds on the flags, repeated here so that an error can
// name the flag; TestSimBankBounds holds them to the simulator's own.
const (
	// simParticipantMax is the largest participant number, the 11 digits
	// of field 32.
	simParticipantMax = 99_999_999_999
	// simAmountMax is the largest amount field 4 (n12) carries.
	simAmountMax = 999_999_999_999
	// simRateMax is the highest --rate, in payments per second.
	simRateMax = 1_000_000
)

// resolve checks every flag, naming it, and completes the configs from
// them. It runs before anything is dialled: a flag the simulator would
// refuse only after signing on (--rate +Inf, --amount-min above
// --amount-max, a --payer-account field 102 cannot carry) or never (--rate
// NaN served as a payee) stops the command here.
func (f *simBankFlags) resolve(set *pflag.FlagSet) error {
	errs := f.resolveBank(set)
	errs = append(errs, f.resolveLoad(set)...)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// The simulator's own checks, for a bound of its own the flags above
	// do not name (such as the most payments one load may plan).
	if err := f.bank.Validate(); err != nil {
		return fmt.Errorf("simbank flags: %w", err)
	}
	if f.load.Rate > 0 {
		if err := f.load.Validate(); err != nil {
			return fmt.Errorf("simbank load flags: %w", err)
		}
	}
	return nil
}

// resolveBank checks the flags of the bank: who it is, where the switch
// is, how it behaves as a payee.
func (f *simBankFlags) resolveBank(set *pflag.FlagSet) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	b := &f.bank
	switch {
	case !set.Changed("participant"):
		bad("--participant is required")
	case b.Participant == 0 || b.Participant > simParticipantMax:
		bad("--participant %d: want 1 to %d", b.Participant, uint64(simParticipantMax))
	}
	key, err := hex.DecodeString(f.macKey)
	if err != nil || len(key) == 0 {
		bad("--mac-key must be the key in hex")
	} else if _, err := iso8583.NewMACer(key); err != nil {
		bad("--mac-key: %d bytes: %v", len(key), err)
	}
	b.MACKey = key
	if host, port, err := net.SplitHostPort(b.SwitchAddr); err != nil || host == "" || port == "" {
		bad("--switch %q: want host:port", b.SwitchAddr)
	}
	if b.Sessions < 1 || b.Sessions > simulator.SessionsMax {
		bad("--sessions %d: want 1 to %d", b.Sessions, simulator.SessionsMax)
	}
	for _, p := range []struct {
		flag  string
		value int
	}{{"--decline-percent", b.DeclinePercent}, {"--delay-percent", b.DelayPercent}, {"--drop-percent", b.DropPercent}} {
		if p.value < 0 || p.value > 100 {
			bad("%s %d: want 0 to 100", p.flag, p.value)
		}
	}
	if sum := b.DeclinePercent + b.DelayPercent + b.DropPercent; sum > 100 {
		bad("--decline-percent, --delay-percent and --drop-percent add up to %d, more than 100", sum)
	}
	if len(f.decline) != 2 || !isAlphanumeric(f.decline[0]) || !isAlphanumeric(f.decline[1]) {
		bad("--decline-code %q: want two letters or digits", f.decline)
	} else {
		b.DeclineCode = iso8583.ResponseCode(f.decline[0])<<8 | iso8583.ResponseCode(f.decline[1])
	}
	switch {
	case b.Delay < 0:
		bad("--delay %v is negative", b.Delay)
	case b.DelayPercent > 0 && b.Delay == 0:
		bad("--delay-percent %d needs --delay", b.DelayPercent)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		bad("--log-level %q: %v", f.logLevel, err)
	}
	return errs
}

// resolveLoad checks the flags of the payer load and builds its payees.
// A payee or payer account must fit the field that carries it (102, 103),
// so that no payment of the load is refused for it.
func (f *simBankFlags) resolveLoad(set *pflag.FlagSet) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	l := &f.load
	var m iso8583.Message
	for _, text := range f.payees {
		p, err := simulator.ParsePayee(text)
		switch {
		case err != nil || p.Alias != "":
			bad("--payee %q is not participant/account", text)
			continue
		case m.SetBytes(iso8583.FieldPayeeAccount, []byte(p.Account)) != nil:
			bad("--payee %q: the account does not fit field 103 (%s)", text, iso8583.FieldPayeeAccount.Format())
			continue
		}
		l.Payees = append(l.Payees, p)
	}
	for _, alias := range f.aliases {
		if p, err := simulator.ParsePayee(alias); err != nil || p.Alias == "" || m.SetBytes(iso8583.FieldPayeeAccount, []byte(alias)) != nil {
			bad("--alias %q: want type:value fitting field 103 (%s), such as msisdn:+254700000001", alias, iso8583.FieldPayeeAccount.Format())
			continue
		}
		l.Payees = append(l.Payees, simulator.Payee{Alias: alias})
	}
	switch {
	case math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0) || l.Rate < 0 || l.Rate > simRateMax:
		bad("--rate %v: want payments per second, up to %d, or 0 to serve as a payee only", l.Rate, simRateMax)
	case l.Rate == 0 && (len(f.payees) > 0 || len(f.aliases) > 0 || set.Changed("count")):
		bad("--payee, --alias and --count need --rate")
	case l.Rate > 0 && len(f.payees) == 0 && len(f.aliases) == 0:
		bad("--rate needs a --payee or an --alias")
	case l.Rate > 0 && l.Duration == 0 && l.Count == 0:
		bad("--rate needs --duration or --count")
	}
	if l.Duration < 0 {
		bad("--duration %v is negative", l.Duration)
	}
	if l.Count < 0 {
		bad("--count %d is negative", l.Count)
	}
	if err := m.SetBytes(iso8583.FieldPayerAccount, []byte(l.PayerAccount)); err != nil {
		bad("--payer-account %q does not fit field 102 (%s)", l.PayerAccount, iso8583.FieldPayerAccount.Format())
	}
	if l.Currency == 0 || l.Currency > 999 {
		bad("--currency %d: want an ISO 4217 numeric code, 1 to 999", l.Currency)
	}
	switch {
	case l.AmountMin == 0:
		bad("--amount-min 0: want at least 1 minor unit")
	case l.AmountMin > l.AmountMax:
		bad("--amount-min %d is above --amount-max %d", l.AmountMin, l.AmountMax)
	}
	if l.AmountMax > simAmountMax {
		bad("--amount-max %d has more than the 12 digits of field 4", l.AmountMax)
	}
	if l.Timeout <= 0 {
		bad("--timeout %v: want a positive duration", l.Timeout)
	}
	return errs
}

func isAlphanumeric(b byte) bool {
	return '0' <= b && b <= '9' || 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z'
}

// runSimBank signs on, drives the load or serves, and signs off.
func runSimBank(ctx context.Context, out io.Writer, f *simBankFlags) error {
	bank, err := simulator.Dial(ctx, f.bank)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "simbank: participant %d signed on with %d session(s) to %s\n",
		f.bank.Participant, max(f.bank.Sessions, 1), f.bank.SwitchAddr)
	if f.load.Rate > 0 {
		err = runSimLoad(ctx, out, bank, f.load)
	} else {
		err = serveSimPayee(ctx, out, bank, f.load.Duration)
	}
	printPayeeStats(out, bank.Received())
	if closeErr := bank.Close(); closeErr != nil {
		fmt.Fprintln(out, "simbank: sign-off:", closeErr)
	} else {
		fmt.Fprintln(out, "simbank: signed off")
	}
	return err
}

// runSimLoad drives the load with a line per second, then the summary.
func runSimLoad(ctx context.Context, out io.Writer, bank *simulator.Bank, cfg simulator.LoadConfig) error {
	start := time.Now()
	var lastSent, lastDone int
	last := start
	cfg.Progress = func(sent, done int) {
		now := time.Now()
		seconds := now.Sub(last).Seconds()
		fmt.Fprintf(out, "%6.0fs  sent %9d (%7.0f/s)  done %9d (%7.0f/s)  in flight %d\n",
			now.Sub(start).Seconds(), sent, float64(sent-lastSent)/seconds,
			done, float64(done-lastDone)/seconds, sent-done)
		lastSent, lastDone, last = sent, done, now
	}
	res, err := bank.RunLoad(ctx, cfg)
	if res == nil {
		return err
	}
	printLoadResult(out, cfg, res)
	return err
}

// printLoadResult prints the summary of a load.
func printLoadResult(out io.Writer, cfg simulator.LoadConfig, res *simulator.LoadResult) {
	elapsed := res.Elapsed.Seconds()
	fmt.Fprintf(out, "load: %d sent at %.0f/s offered, %d answered, %d timed out, %d failed, %d not sent, in %.2f s (%.0f answers/s)\n",
		res.Sent, cfg.Rate, res.Answered, res.TimedOut, res.Failed, res.NotSent, elapsed, float64(res.Answered)/max(elapsed, 1e-9))
	h := res.Latency
	if h.TotalCount() > 0 {
		ms := func(q float64) float64 { return float64(h.ValueAtQuantile(q)) / 1000 }
		fmt.Fprintf(out, "latency from due time: p50 %.2f ms  p99 %.2f ms  p999 %.2f ms  max %.2f ms  (%d answers)\n",
			ms(50), ms(99), ms(99.9), float64(h.Max())/1000, h.TotalCount())
	}
	codes := make([]iso8583.ResponseCode, 0, len(res.ByCode))
	for code := range res.ByCode {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	var parts []string
	for _, code := range codes {
		meaning := code.Meaning()
		if meaning == "" {
			meaning = "not in the contract"
		}
		parts = append(parts, fmt.Sprintf("%s %s: %d", code, meaning, res.ByCode[code]))
	}
	if len(parts) > 0 {
		fmt.Fprintln(out, "outcomes:", strings.Join(parts, " · "))
	}
}

// serveSimPayee waits until ctx ends or duration passes (0: no limit),
// printing the payee's counts each second they change.
func serveSimPayee(ctx context.Context, out io.Writer, bank *simulator.Bank, duration time.Duration) error {
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	fmt.Fprintln(out, "simbank: serving as a payee; Ctrl-C to stop")
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	var last simulator.Stats
	for {
		select {
		case <-ctx.Done():
			return nil // the end of serving, not a failure
		case <-ticker.C:
			st := bank.Received()
			if st.Payments != last.Payments || st.Advices != last.Advices || st.MACFailures != last.MACFailures {
				printPayeeStats(out, st)
			}
			last = st
		}
	}
}

// printPayeeStats prints what the bank received as payee.
func printPayeeStats(out io.Writer, st simulator.Stats) {
	fmt.Fprintf(out, "payee: %d payments (%d approved, %d declined, %d delayed, %d dropped, %d late answers withheld), "+
		"%d reversal advices (%d answered), %d echoes, %d MAC failures, %d malformed, %d late answers to us\n",
		st.Payments, st.Approved, st.Declined, st.Delayed, st.Dropped, st.LateWithheld,
		st.Advices, st.AdvicesAnswered, st.Echoes, st.MACFailures, st.Malformed, st.Unmatched)
}
