package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/ledger/store"
	"github.com/payswitch/payswitch/money"
	"github.com/payswitch/payswitch/routing"
	"github.com/payswitch/payswitch/simulator"
	"github.com/payswitch/payswitch/switch/engine"
	"github.com/payswitch/payswitch/switch/iso8583"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
)

//go:embed demo_participants.yaml
var demoParticipants []byte

type demoConfig struct {
	duration time.Duration
	rate     float64
	timeout  time.Duration
	dir      string
}

func newDemoCommand() *cobra.Command {
	var cfg demoConfig
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Watch the switch move money: simulated banks and a wallet paying each other over ISO 8583",
		Long: `Starts a one-node switch on the embedded default (Raft and Pebble in a
temporary directory, the ISO 8583 listener on loopback), onboards three
banks and a wallet from a bootstrap file, and connects a simulated
participant for each over real TCP sessions. They pay each other, by
account and by phone number or alias, at --rate in all; as payees they
mostly approve, sometimes decline, sometimes answer too late (the switch
times the payment out, answers 68 and sends the payee a reversal advice)
and sometimes never. A small credit union runs out of liquidity (51), a
wallet pays an unknown number (14), and a bank reverses a few payments of
its own (0420). A line every second shows payments/s, latency and
outcomes; the end shows a report and the ledger's balances. Stops after
--duration or on Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), cfg)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&cfg.duration, "duration", 20*time.Second, "how long the load runs")
	f.Float64Var(&cfg.rate, "rate", 2000, "payments per second offered by all participants together")
	f.DurationVar(&cfg.timeout, "payment-timeout", time.Second, "how long the switch waits for a payee")
	f.StringVar(&cfg.dir, "dir", "", "keep the node's state in this directory (default: a temporary one, removed at the end)")
	return cmd
}

// demoBank is one simulated participant of the demo: who it is, how it
// answers as payee, and the share of the load it sends and to whom.
type demoBank struct {
	id                   uint64
	name, key            string
	share                float64
	decline, delay, drop int
	payees               []simulator.Payee
	amountMax            uint64
}

func demoBanks() []demoBank {
	acct := func(p uint64, a string) simulator.Payee { return simulator.Payee{Participant: p, Account: a} }
	alias := func(a string) simulator.Payee { return simulator.Payee{Alias: a} }
	return []demoBank{
		{id: 10001, name: "Acme Bank", key: "a1", share: 0.40, decline: 2, delay: 1, drop: 1, amountMax: 500_000,
			payees: []simulator.Payee{acct(10002, "0020000101"), acct(20001, "254700000002"), alias("msisdn:+254700000001"), alias("msisdn:+254700000003")}},
		{id: 10002, name: "Baobab Bank", key: "b2", share: 0.30, decline: 3, amountMax: 500_000,
			payees: []simulator.Payee{acct(10001, "0010000101"), alias("alias:shop@10001"), alias("msisdn:+254700000002")}},
		{id: 10003, name: "Tiny Credit Union", key: "c3", share: 0.02, amountMax: 20_000,
			payees: []simulator.Payee{acct(10001, "0010000202"), acct(10002, "0020000202")}},
		{id: 20001, name: "M-Wallet", key: "d4", share: 0.28, decline: 1, drop: 1, amountMax: 100_000,
			payees: []simulator.Payee{alias("msisdn:+254700000003"), alias("alias:shop@10001"), alias("msisdn:+254700000099"), acct(10002, "0020000303")}},
	}
}

func runDemo(ctx context.Context, out io.Writer, cfg demoConfig) error {
	if cfg.rate <= 0 || cfg.duration <= 0 {
		return errors.New("--rate and --duration must be positive")
	}
	dir := cfg.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "payswitch-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	quiet := discardLogger()
	node, err := replica.Open(replica.Config{NodeID: "demo", Dir: dir, RaftAddr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		return err
	}
	nodeCtx, stopNode := context.WithCancel(context.WithoutCancel(ctx))
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- node.Run(nodeCtx) }()
	defer func() {
		stopNode()
		<-nodeDone
	}()
	for deadline := time.Now().Add(20 * time.Second); !node.IsLeader(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("demo: the node did not become leader")
		}
	}

	var secret [32]byte
	_, _ = rand.Read(secret[:])
	tokens, err := routing.NewTokenizer(secret[:])
	if err != nil {
		return err
	}
	b, err := routing.ParseBootstrap(demoParticipants)
	if err != nil {
		return err
	}
	plan, err := b.Plan(demoParticipants, tokens)
	if err != nil {
		return err
	}
	if _, err := plan.Apply(ctx, node); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	sw, err := engine.Start(engine.Config{Node: node, Tokenizer: tokens, Addr: "127.0.0.1:0", DefaultTimeout: cfg.timeout, Logger: quiet, Registerer: reg})
	if err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sw.Stop(stopCtx)
	}()
	fmt.Fprintf(out, "payswitch demo: a one-node switch in %s, ISO 8583 on %s, payee deadline %v\n\n", dir, sw.Addr(), cfg.timeout)
	if err := printParticipants(out, node); err != nil {
		return err
	}

	banks := demoBanks()
	sims := make([]*simulator.Bank, len(banks))
	for i, db := range banks {
		key, err := hex.DecodeString(strings.Repeat(db.key, 32))
		if err != nil {
			return err
		}
		sims[i], err = simulator.Dial(ctx, simulator.BankConfig{Participant: db.id, MACKey: key, SwitchAddr: sw.Addr(),
			Sessions: 2, DeclinePercent: db.decline, DelayPercent: db.delay, DropPercent: db.drop,
			Delay: cfg.timeout + cfg.timeout/2, Seed: db.id})
		if err != nil {
			return fmt.Errorf("demo: %s signs on: %w", db.name, err)
		}
		defer sims[i].Close()
	}
	fmt.Fprintf(out, "\n%d participants signed on; %.0f payments/s for %v (Ctrl-C stops early)\n\n", len(sims), cfg.rate, cfg.duration)

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	results := make([]*simulator.LoadResult, len(sims))
	var wg sync.WaitGroup
	for i, db := range banks {
		wg.Go(func() {
			res, err := sims[i].RunLoad(loadCtx, simulator.LoadConfig{Rate: cfg.rate * db.share, Duration: cfg.duration,
				Payees: db.payees, PayerAccount: fmt.Sprintf("%d-0001", db.id), AmountMin: 100, AmountMax: db.amountMax, Timeout: 3 * cfg.timeout})
			if res != nil {
				results[i] = res
			} else if err != nil {
				fmt.Fprintf(out, "demo: %s: %v\n", db.name, err)
			}
		})
	}
	// Baobab Bank reverses a payment of its own now and then.
	var reversals reversalCounts
	wg.Go(func() { demoReversals(loadCtx, sims[1], cfg.duration, &reversals) })

	live := newLiveLine(out, reg, node)
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now()
loop:
	for {
		select {
		case <-done:
			break loop
		case <-ctx.Done():
			stopLoad()
			<-done
			break loop
		case <-tick.C:
			live.print(time.Since(start))
		}
	}
	live.print(time.Since(start))
	return demoReport(out, node, banks, sims, results, &reversals)
}

// demoReversals has bank send a payment to Acme Bank and reverse it at
// once, twice a second: the reversal voids it when it is not final yet
// (0430 00), and is refused when it already is (12). It counts the 0430
// answers by code, and the reversals that got no answer.
func demoReversals(ctx context.Context, bank *simulator.Bank, d time.Duration, counts *reversalCounts) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	stop := time.After(d)
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-tick.C:
		}
		rrn := bank.NextRRN()
		if err := bank.PayAsync(simulator.Payment{RRN: rrn, PayeeParticipant: 10001, PayeeAccount: "0010000999", Amount: 12_345}, func(*simulator.Result, error) {}); err != nil {
			counts.add("not sent")
			continue
		}
		res, err := bank.Reverse(ctx, rrn)
		if err != nil {
			counts.add("no answer")
			continue
		}
		counts.add(res.Code.String())
	}
}

// reversalCounts counts the demo's payer reversals by outcome.
type reversalCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *reversalCounts) add(outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[outcome]++
}

func (c *reversalCounts) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c.n)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, c.n[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func printParticipants(out io.Writer, node *replica.Node) error {
	kes, _ := money.ByCode("KES")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "participant\tkind\tposition (KES)\tnet debit cap\t")
	for _, p := range node.Routing().Participants() {
		var a ledger.Account
		if err := node.Local(func(s *store.Store) (err error) {
			a, _, err = s.Account(routing.PositionAccount(p.ID, kes.Numeric))
			return err
		}); err != nil {
			return err
		}
		fmt.Fprintf(tw, "%d %s\t%s\t%s\t%s\t\n", p.ID, p.Name, p.Kind, money.FormatAmount(uint64(a.CreditsPosted-a.DebitsPosted), kes), money.FormatAmount(uint64(a.Limit), kes))
	}
	return tw.Flush()
}

// liveLine prints one line a second from the switch's own metrics: the
// payments answered in the last second, their latency, the outcomes so
// far and the advices owed.
type liveLine struct {
	out      io.Writer
	reg      *prometheus.Registry
	node     *replica.Node
	lastN    uint64
	lastBkts []uint64
	bounds   []float64
}

func newLiveLine(out io.Writer, reg *prometheus.Registry, node *replica.Node) *liveLine {
	return &liveLine{out: out, reg: reg, node: node}
}

func (l *liveLine) print(elapsed time.Duration) {
	fams, err := l.reg.Gather()
	if err != nil {
		return
	}
	codes := map[string]float64{}
	var count uint64
	var buckets []uint64
	var bounds []float64
	for _, fam := range fams {
		switch fam.GetName() {
		case "payswitch_payments_total":
			for _, m := range fam.GetMetric() {
				codes[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		case "payswitch_payment_leg_seconds":
			for _, m := range fam.GetMetric() {
				if m.GetLabel()[0].GetValue() != "total" {
					continue
				}
				h := m.GetHistogram()
				count = h.GetSampleCount()
				for _, b := range h.GetBucket() {
					buckets = append(buckets, b.GetCumulativeCount())
					bounds = append(bounds, b.GetUpperBound())
				}
			}
		}
	}
	// Quantiles of the last second, from the bucket counts' growth.
	delta := make([]uint64, len(buckets))
	for i := range buckets {
		delta[i] = buckets[i]
		if i < len(l.lastBkts) {
			delta[i] -= l.lastBkts[i]
		}
	}
	n := count - l.lastN
	quantile := func(q float64) string {
		if n == 0 {
			return "-"
		}
		for i, c := range delta {
			if float64(c) >= q*float64(n) {
				return fmt.Sprintf("≤%gms", bounds[i]*1e3)
			}
		}
		return "slow"
	}
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(codes)) {
		parts = append(parts, fmt.Sprintf("%s=%.0f", c, codes[c]))
	}
	fmt.Fprintf(l.out, "%5.1fs  %6d payments/s  p50 %-9s p99 %-9s | %s | advices owed %d\n",
		elapsed.Seconds(), n, quantile(0.5), quantile(0.99), strings.Join(parts, " "), l.node.Routing().OutboxLen())
	l.lastN, l.lastBkts = count, buckets
}

func demoReport(out io.Writer, node *replica.Node, banks []demoBank, sims []*simulator.Bank, results []*simulator.LoadResult, reversals *reversalCounts) error {
	all := hdrhistogram.New(1, 120_000_000, 3)
	byCode := map[iso8583.ResponseCode]int{}
	sent, timedOut := 0, 0
	var elapsed time.Duration
	for _, r := range results {
		if r == nil {
			continue
		}
		all.Merge(r.Latency)
		sent += r.Sent
		timedOut += r.TimedOut
		elapsed = max(elapsed, r.Elapsed)
		for c, n := range r.ByCode {
			byCode[c] += n
		}
	}
	fmt.Fprintf(out, "\n%d payments sent in %.1f s (%.0f/s); latency seen by the payers, from scheduled send to answer: p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms\n",
		sent, elapsed.Seconds(), float64(sent)/max(elapsed.Seconds(), 1e-9),
		float64(all.ValueAtQuantile(50))/1e3, float64(all.ValueAtQuantile(99))/1e3, float64(all.ValueAtQuantile(99.9))/1e3)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "outcome\tpayments\t")
	for _, c := range iso8583.ResponseCodes() {
		if n := byCode[c]; n > 0 {
			fmt.Fprintf(tw, "%s %s\t%d\t\n", c, c.Meaning(), n)
		}
	}
	if timedOut > 0 {
		fmt.Fprintf(tw, "no answer in time\t%d\t\n", timedOut)
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "payer reversals (0420) by answer (00 voided before final, 12 refused as final, 25 arrived before its payment): %s\n", reversals)
	fmt.Fprintln(out, "\nas payees:")
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "participant\treceived\tapproved\tdeclined\tanswered late\tnever answered\treversal advices\t")
	for i, s := range sims {
		st := s.Received()
		fmt.Fprintf(tw, "%d %s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", banks[i].id, banks[i].name, st.Payments, st.Approved, st.Declined, st.Delayed, st.Dropped, st.Advices)
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "reversal advices still owed: %d\n\n", node.Routing().OutboxLen())
	if err := printParticipants(out, node); err != nil {
		return err
	}
	var problems error
	if err := node.Local(func(s *store.Store) error { return s.Check() }); err != nil {
		problems = err
	}
	if problems != nil {
		return fmt.Errorf("demo: the ledger check failed: %w", problems)
	}
	fmt.Fprintln(out, "\nledger check: balances sum to zero per currency, every account within its limits, indexes and digest consistent")
	return nil
}
