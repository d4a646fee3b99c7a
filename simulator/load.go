package simulator

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// LoadConfig configures an open-loop load of push payments.
type LoadConfig struct {
	// Rate is the offered load in payments per second, above 0 and at most
	// loadRateMax. Payment i is due at start + i/Rate whatever happened to
	// the ones before it (open loop).
	Rate float64
	// Duration stops the sending after this long; Count after this many
	// payments. At least one is required; with both, the first reached
	// stops it.
	Duration time.Duration
	Count    int
	// Payees are the payees, each payment's chosen at random (seeded by
	// BankConfig.Seed). At least one.
	Payees []Payee
	// PayerAccount is field 102 of every payment. Default "SIMPAYER".
	PayerAccount string
	// Currency is field 49. Default 404 (KES).
	Currency uint16
	// AmountMin and AmountMax bound the amounts, drawn uniformly. Default
	// 100 and 10,000 minor units.
	AmountMin, AmountMax uint64
	// Timeout is how long after its sending a payment's answer is awaited.
	// Default 5 s.
	Timeout time.Duration
	// Progress, when set, is called about once a second from RunLoad's
	// goroutine with the payments sent and those whose outcome is known.
	Progress func(sent, done int)
}

// LoadResult is what RunLoad measured.
type LoadResult struct {
	// Sent is the payments that went out; each was then Answered, TimedOut
	// or Failed.
	Sent, Answered, TimedOut int
	// Failed were sent, then lost: their session closed, or the answer did
	// not decode or carried a wrong MAC.
	Failed int
	// NotSent were due but did not go out: the session's in-flight table
	// was full, or no session was open.
	NotSent int
	// ByCode counts the answers by field 39.
	ByCode map[iso8583.ResponseCode]int
	// Latency holds, in microseconds, the latency of every answered
	// payment measured from the time it was due, not the time it went
	// out: when the bank or the switch falls behind, the wait in the
	// queue counts (the coordinated omission correction of an open-loop
	// load). Its TotalCount is Answered.
	Latency *hdrhistogram.Histogram
	// Windows holds the same latencies by due time: Windows[i] those of the
	// payments due in [i*WindowWidth, (i+1)*WindowWidth) after the load's
	// start, nil for a window without an answered payment. WindowWidth is
	// a whole number of seconds, 1 s for loads up to loadWindowsMax
	// seconds long. They show when a load's slow payments were due: a
	// few slow windows (a stall) or slowness spread over the run.
	Windows     []*hdrhistogram.Histogram
	WindowWidth time.Duration
	// Elapsed runs from the first payment's due time until the last
	// outcome.
	Elapsed time.Duration
	// Approved lists the RRNs of the payments answered 00, in the order
	// of their answers: for a check that none was lost.
	Approved RRNList
}

// RRN is a retrieval reference number (field 37). LoadResult keeps its
// approved RRNs as arrays, not strings: a run at 30,000 payments/s
// approves millions, and as strings they were that many pointers for every
// garbage collection of the process to follow, the switch's included when
// it runs in the same process (bench e2e), and more with every second of
// the run.
type RRN [rrnLen]byte

// String returns the RRN as its 12 characters.
func (r RRN) String() string { return string(r[:]) }

// RRNList is an append-only list of RRNs, kept in blocks of rrnBlock that
// are allocated one at a time as the list fills. Nothing it holds is ever
// copied, and it never holds room it has not begun to fill.
//
// Why blocks: a load keeps every approved RRN (12 bytes each, 5.4 MB for
// one bank's share of a 60 s load at 30,000 payments/s). Grown by append,
// the list was copied whole each time it filled, under the load's lock,
// holding the readers of every session for 20-60 ms. Reserved whole at
// the start instead, it added 5.4 MB per bank to the live heap at once;
// with the binary's GOGC of 400 that raised the heap goal by some 86 MB
// for four banks, and in the next collection cycle, 1-3 s into the
// measured load, the process touched that much fresh memory: some 21,000
// page faults at about 11 µs each on the development VM, where many runs
// had their worst second (bench/RESULTS.md, 2026-11-29 afternoon). Block
// by block, the heap grows 48 KiB at a time, spread over the load.
type RRNList struct {
	blocks [][]RRN
	n      int
}

// rrnBlock is the number of RRNs in one block of an RRNList (48 KiB).
const rrnBlock = 4096

// Len returns the number of RRNs in l.
func (l *RRNList) Len() int { return l.n }

// All yields the RRNs of l in the order they were added.
func (l *RRNList) All() iter.Seq[RRN] {
	return func(yield func(RRN) bool) {
		for _, b := range l.blocks {
			for _, r := range b {
				if !yield(r) {
					return
				}
			}
		}
	}
}

// add appends r to l.
func (l *RRNList) add(r RRN) {
	last := len(l.blocks) - 1
	if last < 0 || len(l.blocks[last]) == rrnBlock {
		l.blocks = append(l.blocks, make([]RRN, 0, rrnBlock))
		last++
	}
	l.blocks[last] = append(l.blocks[last], r)
	l.n++
}

// withDefaults returns c with its zero values replaced by the defaults.
func (c LoadConfig) withDefaults() LoadConfig {
	if c.PayerAccount == "" {
		c.PayerAccount = payerAccountDefault
	}
	if c.Currency == 0 {
		c.Currency = currencyDefault
	}
	if c.AmountMin == 0 && c.AmountMax == 0 {
		c.AmountMin, c.AmountMax = 100, 10_000
	}
	if c.Timeout == 0 {
		c.Timeout = loadTimeoutDefault
	}
	return c
}

// Validate reports every problem of c, with its defaults applied, each
// wrapping ErrConfig.
func (c LoadConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if !(c.Rate > 0 && c.Rate <= loadRateMax) {
		bad("rate %v outside (0, %d] payments per second", c.Rate, loadRateMax)
	}
	if c.Duration < 0 || c.Count < 0 || (c.Duration == 0 && c.Count == 0) {
		bad("a positive duration or count is required")
	}
	if c.Rate > 0 && c.Rate <= loadRateMax && c.planned() > loadPaymentsMax {
		bad("more than %d payments planned", loadPaymentsMax)
	}
	if len(c.Payees) == 0 || len(c.Payees) > payeesMax {
		bad("%d payees, want 1 to %d", len(c.Payees), payeesMax)
	}
	for i, p := range c.Payees {
		if (p.Account == "") == (p.Alias == "") || (p.Account != "" && p.Participant == 0) {
			bad("payee %d needs a participant and an account, or an alias", i)
		}
	}
	if c.AmountMin == 0 || c.AmountMin > c.AmountMax || c.AmountMax > amountMax {
		bad("amounts %d to %d: want 1 <= min <= max <= %d", c.AmountMin, c.AmountMax, uint64(amountMax))
	}
	if c.Timeout <= 0 {
		bad("timeout %v is not positive", c.Timeout)
	}
	return errors.Join(errs...)
}

// planned returns how many payments the load sends when nothing stops it:
// Count, or those due before Duration ends, whichever is fewer.
func (c LoadConfig) planned() int {
	n := math.MaxInt
	if c.Duration > 0 {
		f := math.Ceil(c.Duration.Seconds() * c.Rate)
		if f > float64(loadPaymentsMax) {
			return loadPaymentsMax + 1 // too many; Validate refuses it
		}
		// Ceil is off by one at most where rounding bites; settle it with
		// the due times themselves, which are what the loop uses.
		n = int(f)
		for range 2 {
			if n > 0 && c.due(n-1) >= c.Duration {
				n--
			}
			if c.due(n) < c.Duration {
				n++
			}
		}
	}
	if c.Count > 0 && c.Count < n {
		n = c.Count
	}
	return n
}

// due returns when payment i is due, counted from the start of the load.
func (c LoadConfig) due(i int) time.Duration {
	return time.Duration(float64(i) / c.Rate * float64(time.Second))
}

// loadRun is the shared state of one RunLoad: the outcomes, recorded by
// the sessions' readers and the sweeper.
type loadRun struct {
	start    time.Time // the load's start, which its due times count from
	mu       sync.Mutex
	res      LoadResult
	done     int  // outcomes known
	finished bool // RunLoad has returned: later outcomes are ignored
	last     time.Time
	inflight sync.WaitGroup
}

// newLoadRun returns the state of a load of cfg, its start not yet set.
// It allocates nothing in proportion to the load: the histograms of the
// windows are made as the load reaches them, and the approved RRNs are
// kept block by block (see RRNList).
func newLoadRun(cfg LoadConfig) *loadRun {
	planned := cfg.planned()
	width, n := windows(cfg.due(max(planned-1, 0)))
	return &loadRun{res: LoadResult{
		ByCode:      make(map[iso8583.ResponseCode]int),
		Latency:     hdrhistogram.New(1, latencyMicrosMax, latencySignificantDigits),
		Windows:     make([]*hdrhistogram.Histogram, n),
		WindowWidth: width,
	}}
}

// complete records the outcome of one payment; it is every load call's
// done.
func (r *loadRun) complete(c *call, resp *iso8583.Message, err error) {
	now := time.Now()
	r.mu.Lock()
	if !r.finished {
		r.done++
		r.last = now
		switch {
		case err == nil:
			r.res.Answered++
			r.res.ByCode[resp.ResponseCode]++
			micros := now.Sub(c.intended).Microseconds()
			micros = min(max(micros, 0), latencyMicrosMax)
			_ = r.res.Latency.RecordValue(micros)
			_ = r.window(c.intended).RecordValue(micros)
			if resp.ResponseCode == iso8583.ResponseApproved {
				r.res.Approved.add(RRN(c.rrn))
			}
		case errors.Is(err, ErrNoAnswer):
			r.res.TimedOut++
		default:
			r.res.Failed++
		}
	}
	r.mu.Unlock()
	r.inflight.Done()
}

// window returns the histogram of the window that due falls in, made on
// first use. Called with mu held.
func (r *loadRun) window(due time.Time) *hdrhistogram.Histogram {
	i := int(due.Sub(r.start) / r.res.WindowWidth)
	i = min(max(i, 0), len(r.res.Windows)-1)
	h := r.res.Windows[i]
	if h == nil {
		h = hdrhistogram.New(1, latencyMicrosMax, windowSignificantDigits)
		r.res.Windows[i] = h
	}
	return h
}

// windows returns the width and count of the latency windows of a load
// whose last payment is due last after its start: windows of whole
// seconds, at most loadWindowsMax of them.
func windows(last time.Duration) (width time.Duration, n int) {
	width = time.Second
	if last >= loadWindowsMax*time.Second {
		width = (last/loadWindowsMax + time.Second).Truncate(time.Second)
	}
	return width, int(last/width) + 1
}

// RunLoad sends push payments at cfg.Rate, open loop, until cfg.Count or
// cfg.Duration is reached or ctx ends, then waits for the outcome of those
// sent (cfg.Timeout at most after the last one). Payments go out
// round-robin over the sessions; their choices of payee and amount replay
// exactly for a given BankConfig.Seed. When ctx ends, the result so far is
// returned together with ctx's error. Loads may run concurrently on one
// Bank (each with its own result); they draw from the same seed stream,
// so only a load run alone replays its choices.
func (b *Bank) RunLoad(ctx context.Context, cfg LoadConfig) (*LoadResult, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := b.checkPayees(cfg); err != nil {
		return nil, err
	}
	run := newLoadRun(cfg)
	start := time.Now()
	run.start = start
	sent, stopErr := b.sendLoad(ctx, cfg, run)

	// Every call sent completes by its deadline plus one sweep (or when its
	// session closes), so this wait ends; the bound is a backstop.
	drained := make(chan struct{})
	go func() {
		run.inflight.Wait()
		close(drained)
	}()
	backstop := time.NewTimer(cfg.Timeout + loadDrainGrace)
	defer backstop.Stop()
	select {
	case <-drained:
	case <-backstop.C:
	}

	run.mu.Lock()
	defer run.mu.Unlock()
	run.finished = true
	res := run.res
	res.Sent = sent
	res.Elapsed = time.Since(start)
	if !run.last.IsZero() {
		res.Elapsed = run.last.Sub(start)
	}
	// Outcomes still unknown after the backstop count as timed out.
	res.TimedOut += res.Sent - run.done
	return &res, stopErr
}

// sendLoad is RunLoad's sending loop: one payment per due time, each due
// time fixed in advance from start, bounded by cfg.planned(). It returns
// how many payments went out.
func (b *Bank) sendLoad(ctx context.Context, cfg LoadConfig, run *loadRun) (sent int, err error) {
	start := run.start
	rng := rand.New(rand.NewPCG(b.cfg.Seed, loadStream))
	m := new(iso8583.Message)
	complete := run.complete // one method value for every call, not one each
	total := cfg.planned()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	kick := make([]*session, len(b.sessions)) // sessions with frames queued, not kicked
	defer kickAll(kick)
	nextProgress := start.Add(progressInterval)
	for i := 0; i < total; {
		due := start.Add(cfg.due(i))
		now := time.Now()
		if cfg.Progress != nil && !now.Before(nextProgress) {
			run.mu.Lock()
			done := run.done
			run.mu.Unlock()
			cfg.Progress(sent, done)
			nextProgress = nextProgress.Add(progressInterval)
			if nextProgress.Before(now) { // the sender was held up: no burst of lines
				nextProgress = now.Add(progressInterval)
			}
		}
		if now.Before(due) {
			kickAll(kick)
			// Sleep a tick at least: the payments due meanwhile go out
			// together, in one write per session, rather than each after
			// its own timer. Latency still counts from each one's due time.
			wake := due
			if tick := now.Add(loadTick); tick.After(wake) {
				wake = tick
			}
			if cfg.Progress != nil && nextProgress.Before(wake) {
				wake = nextProgress
			}
			timer.Reset(wake.Sub(now))
			select {
			case <-timer.C:
			case <-ctx.Done():
				return sent, ctx.Err()
			}
			continue
		}
		select {
		case <-ctx.Done():
			return sent, ctx.Err()
		default:
		}
		err := b.sendOne(cfg, run, complete, rng, m, due, now, kick)
		i++
		if err == nil {
			sent++
			if sent%loadKickEvery == 0 { // a long burst: let the first ones go
				kickAll(kick)
			}
			continue
		}
		notSent := 1
		stop := errors.Is(err, ErrClosed) || errors.Is(err, ErrNoSession)
		if stop {
			notSent += total - i // nothing more can go out
		}
		run.mu.Lock()
		run.res.NotSent += notSent
		run.mu.Unlock()
		if stop {
			return sent, err
		}
	}
	return sent, nil
}

// loadTick is the shortest sleep of a load's sender, and loadKickEvery
// the most payments it queues on a session before kicking its writer (see
// sendLoad).
//
// Every payment's latency counts from its own due time, so a payment due
// just after the sender fell asleep carries up to a tick of the sender's
// wait. 2 ms rather than 1 ms wakes the sender, its session writers and
// the switch's readers half as often for the payers' requests; at 30,000
// payments/s, on the two CPUs the load generator shares with the switch,
// that lowered the run's p99 in 15 of 20 interleaved pairs despite the
// wait (bench/RESULTS.md, 2026-11-29 (evening)); 4 ms gained nothing more.
const (
	loadTick      = 2 * time.Millisecond
	loadKickEvery = 32
)

// kickAll kicks the writers of the sessions in kick and empties it.
func kickAll(kick []*session) {
	for i, s := range kick {
		if s != nil {
			s.wake()
			kick[i] = nil
		}
	}
}

// loadStream is the seed stream of RunLoad's choices; the sessions' payee
// decisions use the streams 1 to SessionsMax.
const loadStream = SessionsMax + 1

// sendOne builds and sends one load payment due at due.
func (b *Bank) sendOne(cfg LoadConfig, run *loadRun, complete func(*call, *iso8583.Message, error),
	rng *rand.Rand, m *iso8583.Message, due, now time.Time, kick []*session,
) error {
	payee := cfg.Payees[rng.IntN(len(cfg.Payees))]
	p := Payment{
		RRN:              b.NextRRN(),
		PayeeParticipant: payee.Participant,
		PayeeAccount:     payee.Account,
		Alias:            payee.Alias,
		PayerAccount:     cfg.PayerAccount,
		Amount:           cfg.AmountMin + rng.Uint64N(cfg.AmountMax-cfg.AmountMin+1),
		Currency:         cfg.Currency,
	}
	if err := b.buildPayment(m, &p, iso8583.ProcessingPush, "", stampAt(now, m)); err != nil {
		return err
	}
	s, err := b.pickSession()
	if err != nil {
		return err
	}
	c := &call{
		mti:      iso8583.MTIFinancialRequest,
		rrn:      rrnBytes(p.RRN),
		intended: due,
		deadline: now.Add(cfg.Timeout),
		done:     complete,
	}
	run.inflight.Add(1)
	if err := s.requestKick(m, c, false); err != nil {
		run.inflight.Done()
		return err
	}
	kick[s.index] = s
	return nil
}

// checkPayees builds a payment to each payee, so that one whose account or
// alias does not fit field 103 (or a payer account field 102) stops the
// load before it starts rather than failing every payment to it.
func (b *Bank) checkPayees(cfg LoadConfig) error {
	m := b.message()
	defer b.messages.Put(m)
	at := stampAt(time.Now(), m)
	for i, payee := range cfg.Payees {
		p := Payment{RRN: "000000000000", PayeeParticipant: payee.Participant, PayeeAccount: payee.Account,
			Alias: payee.Alias, PayerAccount: cfg.PayerAccount, Amount: cfg.AmountMax, Currency: cfg.Currency}
		if err := b.buildPayment(m, &p, iso8583.ProcessingPush, "", at); err != nil {
			return fmt.Errorf("%w: payee %d: %w", ErrConfig, i, err)
		}
	}
	return nil
}
