package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/ledger/replica/clustertest"
	"github.com/payswitch/payswitch/ledger/store"
	"github.com/payswitch/payswitch/routing"
	"github.com/payswitch/payswitch/switch/engine"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// SimConfig configures `payswitch sim`: a day of a national payment
// switch compressed into Duration. Simulated banks, wallets and a
// treasury pay each other over ISO 8583 at an open-loop rate that follows
// a daily profile, while faults are injected at fixed points of the
// timeline (see simTimeline).
type SimConfig struct {
	// Duration is the compressed day. Default 60 s; at least 3 s.
	Duration time.Duration
	// Nodes is 3 (default): three `payswitch serve` processes on
	// loopback, one of which is SIGKILLed; or 1: a switch in this process,
	// without the kill.
	Nodes int
	// BaseRate is the business-hours load and PeakRate the salary-day
	// peak, in payments per second offered by the banks and wallets.
	// Defaults 500 and 2,000.
	BaseRate, PeakRate float64
	// G2PRate is the treasury's batch of G2P payments, in payments per
	// second on top of the peak. Default 500.
	G2PRate float64
	// BigBanks, SmallBanks and Wallets are how many of each are simulated.
	// Defaults 4, 12 and 3.
	BigBanks, SmallBanks, Wallets int
	// Beneficiaries are the people the treasury pays, each linked by
	// national ID and by phone number to an account at a bank or wallet.
	// Default 2,000.
	Beneficiaries int
	// PaymentTimeout is how long the switch waits for a payee before it
	// answers 68. Default 2 s.
	PaymentTimeout time.Duration
	// NoFaults leaves out the silent bank and the kill.
	NoFaults bool
	// Seed drives every random choice of the load. Default 1.
	Seed uint64
	// Binary is the payswitch binary the nodes run (Nodes 3). Default
	// this executable.
	Binary string
	// Dir holds the generated participants file and, with one node, the
	// node's state; default a temporary directory, removed at the end.
	// Three nodes keep their state in a temporary directory of the
	// harness's.
	Dir string
	// ReportDir, when set, receives the HTML report and its charts.
	ReportDir string
	// Progress, when set, is called once a second with the second just
	// ended, from a goroutine of its own.
	Progress func(SimTick)
	// Event, when set, is called at each event of the timeline.
	Event func(SimEvent)
	// Logger receives the run's own messages; default discard.
	Logger *slog.Logger
}

func (c SimConfig) withDefaults() SimConfig {
	if c.Duration == 0 {
		c.Duration = 60 * time.Second
	}
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.BaseRate == 0 {
		c.BaseRate = 500
	}
	if c.PeakRate == 0 {
		c.PeakRate = 2000
	}
	if c.G2PRate == 0 {
		c.G2PRate = 500
	}
	if c.BigBanks == 0 {
		c.BigBanks = 4
	}
	if c.SmallBanks == 0 {
		c.SmallBanks = 12
	}
	if c.Wallets == 0 {
		c.Wallets = 3
	}
	if c.Beneficiaries == 0 {
		c.Beneficiaries = 2000
	}
	if c.PaymentTimeout == 0 {
		c.PaymentTimeout = 2 * time.Second
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// Validate reports every problem of c, with its defaults applied.
func (c SimConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("sim: "+format, args...)) }
	if c.Duration < simDurationMin || c.Duration > simDurationMax {
		bad("duration %v outside %v to %v", c.Duration, simDurationMin, simDurationMax)
	}
	if c.Nodes != 1 && c.Nodes != 3 {
		bad("nodes %d: want 1 or 3", c.Nodes)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"base rate", c.BaseRate}, {"peak rate", c.PeakRate}, {"G2P rate", c.G2PRate}} {
		if !(r.v > 0 && r.v <= simRateMax) {
			bad("%s %v outside (0, %d] payments/s", r.name, r.v, simRateMax)
		}
	}
	if c.PeakRate < c.BaseRate {
		bad("peak rate %v below the base rate %v", c.PeakRate, c.BaseRate)
	}
	if c.BigBanks < 1 || c.SmallBanks < 1 || c.Wallets < 1 || c.BigBanks+c.SmallBanks+c.Wallets > simParticipantsMax {
		bad("%d big banks, %d small banks and %d wallets: want at least one of each and at most %d in all",
			c.BigBanks, c.SmallBanks, c.Wallets, simParticipantsMax)
	}
	if c.Beneficiaries < 1 || c.Beneficiaries > simBeneficiariesMax {
		bad("beneficiaries %d outside 1 to %d", c.Beneficiaries, simBeneficiariesMax)
	}
	if c.PaymentTimeout < 100*time.Millisecond || c.PaymentTimeout > time.Minute {
		bad("payment timeout %v outside 100ms to 1m", c.PaymentTimeout)
	}
	if planned := c.planned(); planned > simPaymentsMax {
		bad("%.0f payments planned, at most %d", planned, simPaymentsMax)
	}
	return errors.Join(errs...)
}

// Limits of the sim: each bounds the work or memory of one run.
const (
	simDurationMin      = 3 * time.Second
	simDurationMax      = time.Hour
	simRateMax          = 200_000
	simParticipantsMax  = 200
	simBeneficiariesMax = 200_000
	// simPaymentsMax bounds the payments of one run (the recorder keeps
	// per-second figures only, so this bounds the sender's work).
	simPaymentsMax = 50_000_000
	// simSecondsMax bounds the per-second table: the run plus the drain.
	simSecondsMax = int(simDurationMax/time.Second) + 120
	// simCheckSampleMax is how many approved payments the end of the run
	// looks up in the ledger.
	simCheckSampleMax = 500
	// simRedialEvery paces the re-dialling of banks whose sessions died.
	simRedialEvery = 50 * time.Millisecond
	// simRedialAttemptWait bounds one dial and sign-on attempt.
	simRedialAttemptWait = 2 * time.Second
	// simRedialParallel is how many banks dial at once.
	simRedialParallel = 6
	// simSignOnWait bounds the wait for every bank to sign on, at the
	// start and after the kill.
	simSignOnWait = 30 * time.Second
	// simRetireWait bounds how long a replaced bank may finish its own
	// payments before it is closed.
	simRetireWait = 500 * time.Millisecond
	// simResponseGrace is how much longer than the switch's payee deadline
	// a payer waits for its answer: the switch answers 68 first.
	simResponseGrace = 3 * time.Second
)

// The timeline, in fractions of the run. The regular load follows
// simProfile; the events happen at these points.
const (
	simSilentFrom, simSilentUntil = 0.22, 0.32 // a big bank stops answering
	simPeakFrom, simPeakUntil     = 0.40, 0.68 // the salary-day peak, ramps included
	simG2PFrom, simG2PUntil       = 0.49, 0.59 // the treasury's batch, on top of the peak
	simKillAt                     = 0.76       // the leader is SIGKILLed (Nodes 3)
	simRestartAt                  = 0.88       // the killed node comes back
)

// simProfile is the regular load over the day, as points of (fraction of
// the run, multiple of BaseRate, multiple of PeakRate) joined by straight
// lines: a morning ramp from 30% of the base, business hours, the
// salary-day peak, and a quieter evening.
var simProfile = []struct{ at, base, peak float64 }{
	{0, 0.3, 0},
	{0.15, 1, 0},
	{simPeakFrom, 1, 0},
	{0.46, 0, 1},
	{0.62, 0, 1},
	{simPeakUntil, 1, 0},
	{0.90, 1, 0},
	{1, 0.7, 0},
}

// regularRate is the banks' and wallets' offered rate at fraction f of
// the run, in payments per second.
func (c SimConfig) regularRate(f float64) float64 {
	f = min(max(f, 0), 1)
	for i := 1; i < len(simProfile); i++ {
		a, b := simProfile[i-1], simProfile[i]
		if f <= b.at {
			w := (f - a.at) / (b.at - a.at)
			ra := a.base*c.BaseRate + a.peak*c.PeakRate
			rb := b.base*c.BaseRate + b.peak*c.PeakRate
			return ra + w*(rb-ra)
		}
	}
	last := simProfile[len(simProfile)-1]
	return last.base*c.BaseRate + last.peak*c.PeakRate
}

// g2pRate is the treasury's rate at fraction f of the run.
func (c SimConfig) g2pRate(f float64) float64 {
	if f >= simG2PFrom && f < simG2PUntil {
		return c.G2PRate
	}
	return 0
}

// planned estimates the payments of the whole run: the integral of the
// rates, in steps of a thousandth of the run.
func (c SimConfig) planned() float64 {
	const steps = 1000
	total := 0.0
	for i := range steps {
		f := (float64(i) + 0.5) / steps
		total += (c.regularRate(f) + c.g2pRate(f)) * c.Duration.Seconds() / steps
	}
	return total
}

// SimEvent is one event of the timeline, as it happened.
type SimEvent struct {
	// At is the time since the start of the load.
	At time.Duration
	// Until ends a period (the silent bank, the peak); zero for a moment.
	Until time.Duration
	// Kind is a short name: "silent", "back", "peak", "g2p", "kill",
	// "leader", "signed-on", "restart", "restart-failed", "note".
	Kind string
	Text string
}

// SimTick is one second of the run as the progress line shows it. The
// answers are those that came in during the second, whenever sent.
type SimTick struct {
	Second                      int
	Target                      float64 // offered rate the profile sets, payments/s
	Offered, Answered, Approved int
	P50ms, P99ms                float64 // of the answers of the second, from their due times
	TimedOut, Failed, NotSent   int
	Declined                    int // answered with a code other than 00
	Total                       int // payments offered so far
	Planned                     int // payments the whole run offers, about
	BanksDown                   int // participants without a signed-on bank
}

// SimResult is what a run measured.
type SimResult struct {
	Config SimConfig
	// Offered payments were due; Sent went out (the rest, NotSent, found
	// their bank without a session); each sent one was Answered, TimedOut
	// (no answer within the payee deadline plus simResponseGrace) or
	// Failed (its session closed first).
	Offered, Sent, NotSent, Answered, TimedOut, Failed int
	Approved                                           int
	ByCode                                             map[iso8583.ResponseCode]int
	// ByCodeG2P, G2PTimedOut, G2PFailed and G2PNotSent are the treasury's
	// part of ByCode, TimedOut, Failed and NotSent.
	ByCodeG2P                          map[iso8583.ResponseCode]int
	G2PTimedOut, G2PFailed, G2PNotSent int
	// Latency holds every answer's latency in µs from its due time
	// (coordinated omission corrected); Regular and G2P split it.
	Latency, Regular, G2P *hdrhistogram.Histogram
	// Seconds are the per-second figures, by the second a payment was due
	// (answers and latency too) except where a field says otherwise.
	Seconds []SimSecond
	Events  []SimEvent
	// Classes sums the participants by class.
	Classes []SimClassStats
	// Checked approved payments were looked up in the ledger after the
	// run; Unposted of them were not posted (must be zero).
	Checked, Unposted int
	// Converged: the running nodes ended with the same state digest;
	// NodesRunning is how many ran at the end.
	Converged    bool
	NodesRunning int
	Redials      int
	Elapsed      time.Duration
	// Machine describes where it ran.
	Machine    [][2]string
	ReportPath string
}

// Errors is every payment offered that got no answer: not sent, timed
// out, or lost with its session.
func (r SimResult) Errors() int { return r.NotSent + r.TimedOut + r.Failed }

// Line is the figure line `payswitch sim` prints last.
func (r SimResult) Line() string {
	return fmt.Sprintf("sim_payments=%d sim_approved=%d p99_ms=%.1f errors=%d",
		r.Offered, r.Approved, float64(r.Latency.ValueAtQuantile(99))/1e3, r.Errors())
}

// RunSim runs the simulation and, with cfg.ReportDir, writes the report.
func RunSim(ctx context.Context, cfg SimConfig) (*SimResult, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	world, err := newSimWorld(cfg)
	if err != nil {
		return nil, err
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "payswitch-sim-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	bootstrap := filepath.Join(dir, "participants.yaml")
	if err := os.WriteFile(bootstrap, world.bootstrapYAML(), 0o644); err != nil {
		return nil, err
	}
	var res *SimResult
	if cfg.Nodes == 1 {
		res, err = runSimInProcess(ctx, cfg, world, dir, bootstrap)
	} else {
		res, err = runSimCluster(ctx, cfg, world, bootstrap)
	}
	// An interrupted run still gets its report, up to where it stopped.
	interrupted := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	if res == nil || (err != nil && !interrupted) || cfg.ReportDir == "" {
		return res, err
	}
	var reportErr error
	if res.ReportPath, reportErr = writeSimReport(res, cfg.ReportDir); reportErr != nil {
		return res, errors.Join(err, reportErr)
	}
	return res, err
}

// simSecret is the cluster secret of the sim's nodes: identifiers are
// tokenised with it. Every node must hold the same one.
const simSecret = "payswitch-sim-cluster-secret-0123456789"

// runSimInProcess runs a one-node switch in this process: the replica,
// the engine's ISO 8583 listener on loopback, the bootstrap applied
// through the same plan as `serve --bootstrap`.
func runSimInProcess(ctx context.Context, cfg SimConfig, world *simWorld, dir, bootstrap string) (*SimResult, error) {
	nodes, stopNodes, err := startCluster(ctx, filepath.Join(dir, "nodes"), 1, cfg.Logger, Tuning{})
	if err != nil {
		return nil, err
	}
	defer stopNodes()
	leader, err := waitLeader(ctx, nodes, 20*time.Second)
	if err != nil {
		return nil, err
	}
	tokens, err := routing.NewTokenizer([]byte(simSecret))
	if err != nil {
		return nil, err
	}
	if err := applyBootstrap(ctx, leader, tokens, bootstrap); err != nil {
		return nil, err
	}
	sw, err := engine.Start(engine.Config{Node: leader, Tokenizer: tokens, Addr: "127.0.0.1:0",
		DefaultTimeout: cfg.PaymentTimeout, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sw.Stop(stopCtx)
	}()
	run := newSimRun(cfg, world, []string{sw.Addr()})
	run.note(0, "note", "one node in this process: the leader-kill event is left out (it needs --nodes 3)")
	res, err := run.execute(ctx, nil)
	if err != nil {
		return res, err
	}
	res.Checked, res.Unposted, err = run.checkPostedLocal(leader)
	if err != nil {
		return res, err
	}
	if err := leader.Local(func(s *store.Store) error { return s.Check() }); err != nil {
		return res, fmt.Errorf("sim: ledger check: %w", err)
	}
	res.Converged, res.NodesRunning = true, 1
	return res, nil
}

// applyBootstrap reads the participants file and applies it on leader, as
// `serve --bootstrap` does on the leader of a cluster.
func applyBootstrap(ctx context.Context, leader *replica.Node, tokens *routing.Tokenizer, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b, err := routing.ParseBootstrap(data)
	if err != nil {
		return err
	}
	plan, err := b.Plan(data, tokens)
	if err != nil {
		return err
	}
	_, err = plan.Apply(ctx, leader)
	return err
}

// runSimCluster runs three `payswitch serve` processes through the
// clustertest harness, each with the bootstrap file and its ISO 8583
// listener; the leader is SIGKILLed at simKillAt and restarted at
// simRestartAt.
func runSimCluster(ctx context.Context, cfg SimConfig, world *simWorld, bootstrap string) (res *SimResult, err error) {
	if cfg.Binary == "" {
		if cfg.Binary, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	rt, err := newRunT(func(string) {})
	if err != nil {
		return nil, err
	}
	defer rt.cleanup()
	t := &simT{runT: rt}
	var runErr error // the load's own error: kept as is, so that an interruption reads as one
	err = rt.run(func() {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Binary: cfg.Binary, ExtraArgs: []string{
			"--bootstrap", bootstrap, "--cluster-secret", simSecret,
			"--payment-timeout", cfg.PaymentTimeout.String(), "--log-level", "warn"}})
		var addrs []string
		for i := range c.N() {
			addrs = append(addrs, c.Node(i).ISO8583Addr)
		}
		run := newSimRun(cfg, world, addrs)
		run.preferLeader(c.WaitLeader(ctx))
		res, runErr = run.execute(ctx, &clusterFaults{c: c, t: t, run: run})
		if runErr != nil {
			return
		}
		res.Checked, res.Unposted = run.checkPostedCluster(ctx, c)
		res.Converged = waitRunningConverged(ctx, c, 30*time.Second)
		for i := range c.N() {
			if c.Running(i) {
				res.NodesRunning++
			}
		}
	})
	if err != nil {
		return res, errors.Join(err, nodeLogTails(rt.dir))
	}
	return res, runErr
}

// simT is the harness's T for the sim: a runT whose Fatal, while
// tolerating is set, unwinds only the step that called it (see
// tolerate), so that a node that fails to restart is reported as an
// event rather than ending the run.
type simT struct {
	*runT
	tolerating atomic.Bool
}

// errTolerated unwinds a tolerated step.
var errTolerated = errors.New("sim: step failed")

func (t *simT) Fatal(args ...any) {
	if t.tolerating.Load() {
		panic(fmt.Errorf("%w: %s", errTolerated, fmt.Sprint(args...)))
	}
	t.runT.Fatal(args...)
}

func (t *simT) Fatalf(format string, args ...any) {
	if t.tolerating.Load() {
		panic(fmt.Errorf("%w: %s", errTolerated, fmt.Sprintf(format, args...)))
	}
	t.runT.Fatalf(format, args...)
}

// tolerate runs fn, turning a Fatal inside it into an error.
func (t *simT) tolerate(fn func()) (err error) {
	t.tolerating.Store(true)
	defer t.tolerating.Store(false)
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(error)
			if !ok || !errors.Is(e, errTolerated) {
				panic(r)
			}
			err = e
		}
	}()
	fn()
	return nil
}

// waitRunningConverged polls until the running nodes (two or three)
// report the same applied index and state digest, within d.
func waitRunningConverged(ctx context.Context, c *clustertest.Cluster, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		states, errs := c.States(ctx)
		var seen []clustertest.State
		for i, s := range states {
			if c.Running(i) && errs[i] == nil && s.Digest != "" {
				seen = append(seen, s)
			}
		}
		agree := len(seen) >= 2
		for _, s := range seen {
			agree = agree && s.Digest == seen[0].Digest && s.AppliedIndex == seen[0].AppliedIndex
		}
		if agree {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// clusterFaults kills and restarts nodes of the cluster for the run.
type clusterFaults struct {
	c      *clustertest.Cluster
	t      *simT
	run    *simRun
	killed int
}

// kill SIGKILLs the leader, then waits for a new one and for every bank
// to sign on at it, and records each step as an event.
func (f *clusterFaults) kill(ctx context.Context) {
	leader := f.c.WaitLeader(ctx)
	f.killed = leader
	at := f.run.since()
	f.run.event(SimEvent{At: at, Kind: "kill", Text: fmt.Sprintf("%s, the leader, SIGKILLed", f.c.Node(leader).ID)})
	f.c.Kill(leader)
	f.run.pool.sessionsLost()
	next := f.c.WaitLeader(ctx)
	f.run.preferLeader(next)
	f.run.event(SimEvent{At: f.run.since(), Kind: "leader", Text: fmt.Sprintf("%s leads, %d ms after the kill",
		f.c.Node(next).ID, (f.run.since() - at).Milliseconds())})
	if f.run.pool.waitAllUp(ctx, simSignOnWait) {
		f.run.event(SimEvent{At: f.run.since(), Kind: "signed-on", Text: fmt.Sprintf("all %d participants signed on at %s, %d ms after the kill",
			len(f.run.pool.banks), f.c.Node(next).ID, (f.run.since() - at).Milliseconds())})
	} else {
		f.run.event(SimEvent{At: f.run.since(), Kind: "note", Text: fmt.Sprintf("%d participants still without a session %v after the kill",
			f.run.pool.down(), simSignOnWait)})
	}
}

// restart starts the killed node again on its data directory. A node
// that cannot start is an event, not the end of the run.
func (f *clusterFaults) restart(context.Context) {
	id := f.c.Node(f.killed).ID
	at := f.run.since()
	if err := f.t.tolerate(func() { f.c.Restart(f.killed) }); err != nil {
		cause := lastLine(err.Error())
		if line := lastMatching(filepath.Join(f.t.dir, id+".stderr.log"), "payswitch:"); line != "" {
			cause = line
		}
		f.run.event(SimEvent{At: at, Kind: "restart-failed", Text: fmt.Sprintf("%s did not restart: %s", id, cause)})
		return
	}
	f.run.event(SimEvent{At: at, Kind: "restart", Text: fmt.Sprintf("%s restarted (serving %d ms later); it catches up from the leader",
		id, (f.run.since() - at).Milliseconds())})
}

// lastMatching returns the last line of the file that contains substr,
// or "".
func lastMatching(path, substr string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	found := ""
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, substr) {
			found = strings.TrimSpace(line)
		}
	}
	return found
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// nodeLogTails returns the end of each node's stderr log in dir as an
// error, so that a node that failed says why before its directory goes.
func nodeLogTails(dir string) error {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.stderr.log"))
	var errs []error
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		const tailMax = 1500
		if len(data) > tailMax {
			data = data[len(data)-tailMax:]
		}
		errs = append(errs, fmt.Errorf("---- %s ----\n%s", filepath.Base(path), data))
	}
	return errors.Join(errs...)
}

// percentileMs is q's latency in h, in ms; NaN when h is empty.
func percentileMs(h *hdrhistogram.Histogram, q float64) float64 {
	if h == nil || h.TotalCount() == 0 {
		return math.NaN()
	}
	return float64(h.ValueAtQuantile(q)) / 1e3
}
