package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/ledger/replica/clustertest"
	"github.com/payswitch/payswitch/ledger/store"
	"github.com/payswitch/payswitch/simulator"
	"github.com/payswitch/payswitch/switch/flow"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// SimSecond is one second of the run. Payments count in the second they
// were due, whenever their outcome came; AnsweredAt and ApprovedAt count
// the answers that came in during the second (the switch's throughput).
type SimSecond struct {
	Second                                             int
	Target                                             float64 // the profile's offered rate
	Offered, Sent, NotSent, Answered, TimedOut, Failed int
	Approved, G2POffered, G2PApproved                  int
	AnsweredAt, ApprovedAt                             int
	ByCode                                             map[iso8583.ResponseCode]int
	P50ms, P99ms, P999ms, Maxms                        float64 // NaN when nothing was answered
	latency                                            *hdrhistogram.Histogram
}

// SimClassStats sums one class of participants.
type SimClassStats struct {
	Class                             string
	Participants                      int
	Offered, Sent, Answered, Approved int
	P99ms                             float64
	Received, ReceivedApproved        int // as payee
	ReceivedDeclined, ReceivedDropped int
	Advices                           int // 0420 reversal advices received
	latency                           *hdrhistogram.Histogram
}

// newLatencyHistogram holds latencies in µs up to a minute, to 3 digits.
func newLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, 60_000_000, 3)
}

// simRecorder collects every outcome. Its methods are called from the
// sender and from the banks' goroutines; one mutex is enough at the rates
// of a sim (a few thousand outcomes a second).
type simRecorder struct {
	start time.Time
	mu    sync.Mutex
	secs  []SimSecond
	res   SimResult
	class [classCount]SimClassStats
	// live is the current second's answers, for the progress line.
	live                                               *hdrhistogram.Histogram
	liveOffered, liveAnswered, liveApproved, liveOther int
	liveTimedOut, liveFailed, liveNotSent              int
	approved                                           []approvedRef // a sample, for the ledger check
	approvedSeen                                       int
	rng                                                *rand.Rand
	// finished is set once the result is taken: later outcomes (there
	// should be none) are ignored, and the result counted them as timed out.
	finished bool
}

// approvedRef names an approved payment in the ledger.
type approvedRef struct {
	acquirer uint64
	rrn      string
}

func newSimRecorder(cfg SimConfig) *simRecorder {
	r := &simRecorder{live: newLatencyHistogram(), rng: rand.New(rand.NewPCG(cfg.Seed, 0xc4ec))}
	n := min(int(cfg.Duration/time.Second)+int((cfg.PaymentTimeout+simResponseGrace)/time.Second)+3, simSecondsMax)
	r.secs = make([]SimSecond, n)
	for i := range r.secs {
		r.secs[i] = SimSecond{Second: i, ByCode: map[iso8583.ResponseCode]int{}, latency: newLatencyHistogram()}
		mid := (float64(i) + 0.5) / cfg.Duration.Seconds()
		r.secs[i].Target = cfg.regularRate(mid) + cfg.g2pRate(mid)
		if mid > 1 {
			r.secs[i].Target = 0
		}
	}
	r.res.ByCode = map[iso8583.ResponseCode]int{}
	r.res.ByCodeG2P = map[iso8583.ResponseCode]int{}
	r.res.Latency, r.res.Regular, r.res.G2P = newLatencyHistogram(), newLatencyHistogram(), newLatencyHistogram()
	for c := range classCount {
		r.class[c] = SimClassStats{Class: c.String(), latency: newLatencyHistogram()}
	}
	return r
}

// second returns the per-second entry of t, the last one for times past
// the table.
func (r *simRecorder) second(t time.Time) *SimSecond {
	i := int(t.Sub(r.start) / time.Second)
	return &r.secs[min(max(i, 0), len(r.secs)-1)]
}

// offered records a payment due at due, sent or not.
func (r *simRecorder) offered(due time.Time, class simClass, g2p, sent bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return
	}
	s := r.second(due)
	s.Offered++
	r.res.Offered++
	r.liveOffered++
	r.class[class].Offered++
	if g2p {
		s.G2POffered++
	}
	if sent {
		s.Sent++
		r.res.Sent++
		r.class[class].Sent++
		return
	}
	s.NotSent++
	r.res.NotSent++
	r.liveNotSent++
	if g2p {
		r.res.G2PNotSent++
	}
}

// outcome records the outcome of a payment sent: its answer, or err.
func (r *simRecorder) outcome(due time.Time, class simClass, g2p bool, acquirer uint64, res *simulator.Result, err error) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return
	}
	s := r.second(due)
	switch {
	case err == nil:
		micros := min(max(now.Sub(due).Microseconds(), 1), 60_000_000)
		for _, h := range []*hdrhistogram.Histogram{s.latency, r.res.Latency, r.live, r.class[class].latency} {
			_ = h.RecordValue(micros)
		}
		if g2p {
			_ = r.res.G2P.RecordValue(micros)
		} else {
			_ = r.res.Regular.RecordValue(micros)
		}
		s.Answered++
		s.ByCode[res.Code]++
		r.res.Answered++
		r.res.ByCode[res.Code]++
		if g2p {
			r.res.ByCodeG2P[res.Code]++
		}
		r.class[class].Answered++
		r.liveAnswered++
		at := r.second(now)
		at.AnsweredAt++
		if res.Code != iso8583.ResponseApproved {
			r.liveOther++
			return
		}
		s.Approved++
		at.ApprovedAt++
		r.res.Approved++
		r.class[class].Approved++
		r.liveApproved++
		if g2p {
			s.G2PApproved++
		}
		r.sampleApproved(approvedRef{acquirer: acquirer, rrn: res.RRN})
	case errors.Is(err, simulator.ErrNoAnswer):
		s.TimedOut++
		r.res.TimedOut++
		r.liveTimedOut++
		if g2p {
			r.res.G2PTimedOut++
		}
	default:
		s.Failed++
		r.res.Failed++
		r.liveFailed++
		if g2p {
			r.res.G2PFailed++
		}
	}
}

// sampleApproved keeps a uniform sample of the approved payments
// (reservoir sampling), simCheckSampleMax of them.
func (r *simRecorder) sampleApproved(ref approvedRef) {
	r.approvedSeen++
	if len(r.approved) < simCheckSampleMax {
		r.approved = append(r.approved, ref)
		return
	}
	if j := r.rng.IntN(r.approvedSeen); j < simCheckSampleMax {
		r.approved[j] = ref
	}
}

// tick returns the figures of the second just ended and starts the next.
func (r *simRecorder) tick(second int, target float64) SimTick {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := SimTick{Second: second, Target: target, Offered: r.liveOffered, Answered: r.liveAnswered, Approved: r.liveApproved,
		Declined: r.liveOther, TimedOut: r.liveTimedOut, Failed: r.liveFailed, NotSent: r.liveNotSent, Total: r.res.Offered,
		P50ms: percentileMs(r.live, 50), P99ms: percentileMs(r.live, 99)}
	r.live.Reset()
	r.liveOffered, r.liveAnswered, r.liveApproved, r.liveOther = 0, 0, 0, 0
	r.liveTimedOut, r.liveFailed, r.liveNotSent = 0, 0, 0
	return t
}

// simRun is one run of the sim against a switch at addrs.
type simRun struct {
	cfg    SimConfig
	world  *simWorld
	pool   *simPool
	rec    *simRecorder
	start  time.Time
	mu     sync.Mutex
	events []SimEvent
}

func newSimRun(cfg SimConfig, world *simWorld, addrs []string) *simRun {
	return &simRun{cfg: cfg, world: world, rec: newSimRecorder(cfg),
		pool: newSimPool(world, addrs, cfg.PaymentTimeout+simResponseGrace, cfg.Seed)}
}

// preferLeader makes the banks dial node i first.
func (run *simRun) preferLeader(i int) { run.pool.prefer.Store(int64(i)) }

// since is the time since the load started.
func (run *simRun) since() time.Duration {
	if run.start.IsZero() {
		return 0
	}
	return time.Since(run.start)
}

// event records e and passes it on.
func (run *simRun) event(e SimEvent) {
	run.mu.Lock()
	run.events = append(run.events, e)
	run.mu.Unlock()
	if run.cfg.Event != nil {
		run.cfg.Event(e)
	}
}

func (run *simRun) note(at time.Duration, kind, text string) {
	run.event(SimEvent{At: at, Kind: kind, Text: text})
}

// faults is what a run can do to the nodes; nil for one node in process.
type faults interface {
	kill(ctx context.Context)
	restart(ctx context.Context)
}

// execute signs every participant on, runs the load with its events, and
// waits for the last outcomes. The events run on the caller's goroutine,
// so that a harness failure in one of them unwinds the caller (see runT).
func (run *simRun) execute(ctx context.Context, f faults) (*SimResult, error) {
	cfg := run.cfg
	if err := run.pool.connectAll(ctx, simSignOnWait); err != nil {
		run.pool.closeAll()
		return nil, err
	}
	if err := run.warmUp(ctx); err != nil {
		run.pool.closeAll()
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stop()
		wg.Wait()
		run.pool.closeAll()
	}()
	run.start = time.Now()
	run.rec.start = run.start
	wg.Go(func() { run.pool.redial(runCtx) })
	sent := make(chan struct{})
	wg.Go(func() {
		defer close(sent)
		run.send(runCtx)
	})
	wg.Go(func() { run.ticks(runCtx) })

	for _, step := range run.timeline(f) {
		if !sleepUntil(ctx, run.start.Add(step.at)) {
			break
		}
		step.do(ctx)
	}
	select {
	case <-sent:
	case <-ctx.Done():
	}
	// Every payment sent completes within the payers' timeout (the
	// simulator's sweeper guarantees it); wait that long at most.
	drainUntil := time.Now().Add(cfg.PaymentTimeout + simResponseGrace + time.Second)
	for run.inflight() > 0 && time.Now().Before(drainUntil) {
		time.Sleep(20 * time.Millisecond)
	}
	return run.result(), ctx.Err()
}

// warmUp sends one payment from the treasury to the last beneficiary and
// waits for its 00: every participant and every link is in place (the
// bootstrap of a cluster is applied in the background, links last).
func (run *simRun) warmUp(ctx context.Context) error {
	treasury := run.pool.banks[run.world.treasury]
	last := run.world.beneficiaries[len(run.world.beneficiaries)-1]
	deadline := time.Now().Add(simSignOnWait)
	var lastErr error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		inc := treasury.cur.Load()
		res, err := inc.bank.Pay(ctx, simulator.Payment{Alias: last.nid, Amount: 1, PayerAccount: "WARM-UP"})
		if err == nil && res.Code == iso8583.ResponseApproved {
			return nil
		}
		lastErr = err
		if err == nil {
			lastErr = fmt.Errorf("answered %s (%s)", res.Code, res.Code.Meaning())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("sim: the warm-up payment was not approved within %v: %w", simSignOnWait, errors.Join(lastErr, ctx.Err()))
}

// inflight counts the payments sent and not yet answered.
func (run *simRun) inflight() int64 {
	var n int64
	for _, b := range run.pool.banks {
		if cur := b.cur.Load(); cur != nil {
			n += cur.inflight.Load()
		}
	}
	return n
}

// simStep is one event of the timeline, to run at its time.
type simStep struct {
	at time.Duration
	do func(ctx context.Context)
}

// timeline lists the run's events in time order.
func (run *simRun) timeline(f faults) []simStep {
	cfg := run.cfg
	at := func(frac float64) time.Duration { return time.Duration(frac * float64(cfg.Duration)) }
	steps := []simStep{
		{at(simPeakFrom), func(context.Context) {
			run.event(SimEvent{At: at(simPeakFrom), Until: at(simPeakUntil), Kind: "peak",
				Text: fmt.Sprintf("salary-day peak: the load ramps to %.0f payments/s and back", cfg.PeakRate)})
		}},
		{at(simG2PFrom), func(context.Context) {
			n := int(cfg.G2PRate * (at(simG2PUntil) - at(simG2PFrom)).Seconds())
			run.event(SimEvent{At: at(simG2PFrom), Until: at(simG2PUntil), Kind: "g2p",
				Text: fmt.Sprintf("G2P batch: the treasury pays %d beneficiaries by national ID or phone, %.0f payments/s on top of the peak", n, cfg.G2PRate)})
		}},
	}
	if !cfg.NoFaults {
		silent := run.pool.banks[run.world.byClass[classBig][len(run.world.byClass[classBig])-1]]
		steps = append(steps,
			simStep{at(simSilentFrom), func(ctx context.Context) { run.setSilent(ctx, silent, true, at(simSilentUntil)) }},
			simStep{at(simSilentUntil), func(ctx context.Context) { run.setSilent(ctx, silent, false, 0) }},
		)
		if f != nil {
			steps = append(steps, simStep{at(simKillAt), f.kill}, simStep{at(simRestartAt), f.restart})
		}
	}
	slices.SortStableFunc(steps, func(a, b simStep) int { return int(a.at - b.at) })
	return steps
}

// setSilent makes b stop answering the payments the switch forwards to
// it (it still pays, and answers the switch's 0420 advices), or answer
// them again.
func (run *simRun) setSilent(ctx context.Context, b *simBank, silent bool, until time.Duration) {
	b.silent.Store(silent)
	at := run.since()
	err := run.pool.replace(ctx, b)
	switch {
	case err != nil:
		run.note(at, "note", fmt.Sprintf("%s could not re-connect: %v", b.p.name, err))
	case silent:
		run.event(SimEvent{At: at, Until: until, Kind: "silent", Text: fmt.Sprintf(
			"%s stops answering the payments forwarded to it: the switch answers 68 after %v and sends it 0420 advices", b.p.name, run.cfg.PaymentTimeout)})
	default:
		run.note(at, "back", fmt.Sprintf("%s answers again", b.p.name))
	}
}

// sleepUntil waits until t or ctx's end, and reports which came first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// send is the open-loop sender: it draws each payment's due time from the
// profile (regular payments as a Poisson process, as independent
// customers pay; the G2P batch evenly, as a batch system sends), waits
// for it, and sends. A payment whose bank has no session is offered and
// not sent. It never waits for an answer, so a slow switch makes
// latencies grow (they run from the due time) rather than the load shrink.
func (run *simRun) send(ctx context.Context) {
	cfg := run.cfg
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x10ad))
	d := cfg.Duration.Seconds()
	nextRegular := rng.ExpFloat64() / cfg.regularRate(0)
	nextG2P := simG2PFrom * d
	g2pSent := 0
	for n := 0; n < simPaymentsMax; n++ {
		g2p := nextG2P <= nextRegular && nextG2P < simG2PUntil*d
		at := nextRegular
		if g2p {
			at = nextG2P
			nextG2P += 1 / cfg.G2PRate
		} else {
			nextRegular += rng.ExpFloat64() / max(cfg.regularRate(at/d), 0.1)
		}
		if at >= d {
			return
		}
		due := run.start.Add(time.Duration(at * float64(time.Second)))
		if !sleepUntil(ctx, due) {
			return
		}
		if g2p {
			run.issue(run.world.treasury, run.world.g2pPayment(rng, g2pSent), due, true)
			g2pSent++
			continue
		}
		payer, p := run.world.regularPayment(rng)
		run.issue(payer, p, due, false)
	}
}

// issue sends p from participant payer's current incarnation.
func (run *simRun) issue(payer int, p simulator.Payment, due time.Time, g2p bool) {
	b := run.pool.banks[payer]
	class := b.p.class
	inc := b.cur.Load()
	if inc == nil || b.lost.Load() {
		run.rec.offered(due, class, g2p, false)
		return
	}
	inc.inflight.Add(1)
	acquirer := b.p.id
	err := inc.bank.PayAsync(p, func(res *simulator.Result, err error) {
		run.rec.outcome(due, class, g2p, acquirer, res, err)
		inc.inflight.Add(-1)
	})
	if err != nil {
		inc.inflight.Add(-1)
		if errors.Is(err, simulator.ErrNoSession) || errors.Is(err, simulator.ErrClosed) {
			run.pool.markLost(b)
		}
		run.rec.offered(due, class, g2p, false)
		return
	}
	run.rec.offered(due, class, g2p, true)
}

// ticks reports each second's figures until ctx ends.
func (run *simRun) ticks(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	planned := int(run.cfg.planned())
	for second := 0; ; second++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		f := (float64(second) + 0.5) / run.cfg.Duration.Seconds()
		t := run.rec.tick(second, run.cfg.regularRate(f)+run.cfg.g2pRate(f))
		t.Planned = planned
		t.BanksDown = run.pool.down()
		if run.cfg.Progress != nil {
			run.cfg.Progress(t)
		}
	}
}

// result assembles the run's figures.
func (run *simRun) result() *SimResult {
	rec := run.rec
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.finished = true
	// A payment sent whose outcome is still unknown counts as timed out.
	for i := range rec.secs {
		s := &rec.secs[i]
		if unknown := s.Sent - s.Answered - s.TimedOut - s.Failed; unknown > 0 {
			s.TimedOut += unknown
			rec.res.TimedOut += unknown
		}
	}
	res := rec.res
	res.Config = run.cfg
	res.Elapsed = time.Since(run.start)
	res.Redials = int(run.pool.redials.Load())
	// Keep the seconds up to the last one with anything in it.
	last := 0
	for i, s := range rec.secs {
		if s.Offered > 0 || s.AnsweredAt > 0 || float64(i) < run.cfg.Duration.Seconds() {
			last = i
		}
	}
	for _, s := range rec.secs[:last+1] {
		s.P50ms, s.P99ms, s.P999ms = percentileMs(s.latency, 50), percentileMs(s.latency, 99), percentileMs(s.latency, 99.9)
		s.Maxms = math.NaN()
		if s.latency.TotalCount() > 0 {
			s.Maxms = float64(s.latency.Max()) / 1e3
		}
		res.Seconds = append(res.Seconds, s)
	}
	for c := range classCount {
		cs := rec.class[c]
		for _, i := range run.world.byClass[c] {
			st := run.pool.banks[i].received()
			cs.Participants++
			cs.Received += st.Payments
			cs.ReceivedApproved += st.Approved
			cs.ReceivedDeclined += st.Declined
			cs.ReceivedDropped += st.Dropped
			cs.Advices += st.Advices
		}
		cs.P99ms = percentileMs(cs.latency, 99)
		res.Classes = append(res.Classes, cs)
	}
	run.mu.Lock()
	res.Events = slices.Clone(run.events)
	run.mu.Unlock()
	slices.SortStableFunc(res.Events, func(a, b SimEvent) int { return int(a.At - b.At) })
	res.Machine = machineFacts()
	return &res
}

// checkPostedLocal looks the sampled approved payments up in the node's
// ledger: each must be posted.
func (run *simRun) checkPostedLocal(node *replica.Node) (checked, unposted int, err error) {
	for _, ref := range run.rec.approved {
		var t ledger.Transfer
		var found bool
		err := node.Local(func(s *store.Store) (err error) {
			t, found, err = s.Transfer(flow.PaymentTransferID(ref.acquirer, ref.rrn))
			return err
		})
		if err != nil {
			return checked, unposted, err
		}
		checked++
		if !found || t.Status != ledger.StatusPosted {
			unposted++
		}
	}
	return checked, unposted, nil
}

// checkPostedCluster looks the sampled approved payments up through the
// admin API of whichever node leads; a lookup that fails counts as not
// posted.
func (run *simRun) checkPostedCluster(ctx context.Context, c *clustertest.Cluster) (checked, unposted int) {
	for _, ref := range run.rec.approved {
		t, err := c.Client().Transfer(ctx, flow.PaymentTransferID(ref.acquirer, ref.rrn).String())
		checked++
		if err != nil || t.Status != "posted" {
			unposted++
		}
	}
	return checked, unposted
}

// machineFacts describes the machine for the report.
func machineFacts() [][2]string {
	facts := [][2]string{
		{"cores", fmt.Sprintf("%d (GOMAXPROCS %d)", runtime.NumCPU(), runtime.GOMAXPROCS(0))},
		{"memory", memTotal()},
		{"CPU", cpuModel()},
		{"Go", runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH},
	}
	return facts
}
