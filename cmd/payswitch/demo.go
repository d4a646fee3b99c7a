package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
	"github.com/payswitch/payswitch/money"
	"github.com/spf13/cobra"
)

// The demo's participants. IDs follow ISO 8583 field 32: numeric, up to
// 11 digits. Each has one KES position account whose ID is derived from
// the participant ID; the hub's settlement account funds them.
type demoParticipant struct {
	id      uint64
	name    string
	funding string // prefunded liquidity, decimal KES
	cap     string // net debit cap, decimal KES
}

var demoParticipants = []demoParticipant{
	{id: 10001, name: "Acme Bank", funding: "5000000.00", cap: "250000.00"},
	{id: 10002, name: "Baobab Bank", funding: "3000000.00", cap: "100000.00"},
	{id: 20001, name: "M-Wallet", funding: "1000000.00", cap: "0"},
	{id: 30001, name: "Tiny Credit Union", funding: "100.00", cap: "0"},
}

const demoHubParticipant = 1

func positionAccount(participant uint64) ledger.ID { return ledger.NewID(participant, 1) }

var hubSettlement = ledger.NewID(demoHubParticipant, 2)

type demoConfig struct {
	transfers int
	batch     int
	dir       string
}

func newDemoCommand() *cobra.Command {
	var cfg demoConfig
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Watch the ledger move money: accounts, payments, reservations, limits, then a burst",
		Long: `Runs the ledger on the embedded default (a Pebble store in a temporary
directory, synced writes), onboards four participants, funds them, and walks
through the kinds of movement a payment switch makes: an immediate payment,
a reservation that is posted, one that is voided, one that expires, one the
payer's limit refuses, and a retry that changes nothing. Then it runs a
burst of transfers with live figures and prints the final balances.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), cfg)
		},
	}
	cmd.Flags().IntVar(&cfg.transfers, "transfers", 2_000_000, "transfers in the closing burst")
	cmd.Flags().IntVar(&cfg.batch, "batch", 4096, "transfers per synced batch in the burst")
	cmd.Flags().StringVar(&cfg.dir, "dir", "", "keep the store in this directory (default: a temporary one, removed at the end)")
	return cmd
}

// demo holds the running demo's store and clock.
type demo struct {
	out   io.Writer
	st    *store.Store
	index uint64
	kes   money.Currency
	next  uint64 // next transfer ID
}

func runDemo(ctx context.Context, out io.Writer, cfg demoConfig) error {
	if cfg.batch < 1 || cfg.batch > ledger.BatchCommandsMax {
		return fmt.Errorf("--batch %d: want 1 to %d", cfg.batch, ledger.BatchCommandsMax)
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
	st, err := store.Open(store.Options{Dir: dir, Logger: discardLogger()})
	if err != nil {
		return err
	}
	defer st.Close()
	kes, _ := money.ByCode("KES")
	d := &demo{out: out, st: st, index: st.AppliedIndex(), kes: kes, next: 1}
	fmt.Fprintf(out, "payswitch demo: a one-node ledger in %s (Pebble, synced writes)\n\n", dir)

	steps := []func() error{d.onboard, d.walkthrough}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	if err := d.burst(ctx, cfg.transfers, cfg.batch); err != nil {
		return err
	}
	return d.finish()
}

// apply stamps a batch with the wall clock, as the leader does, and
// applies it as the next log index.
func (d *demo) apply(cmds ...ledger.Command) ([]ledger.Result, error) {
	d.index++
	b := ledger.Batch{Timestamp: uint64(time.Now().UnixNano()), Commands: cmds}
	out, err := d.st.Apply(d.index, &b)
	if err != nil {
		return nil, err
	}
	return slices.Clone(out.Results), nil
}

func (d *demo) amount(s string) ledger.Amount {
	v, err := money.ParseAmountAllowZero(s, d.kes)
	if err != nil {
		panic(err) // the demo's own constants
	}
	return ledger.Amount(v)
}

func (d *demo) format(a ledger.Amount) string { return money.FormatAmount(uint64(a), d.kes) }

func (d *demo) transfer(from, to uint64, amount string, flags ledger.TransferFlags, timeout uint32) ledger.Command {
	d.next++
	return ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
		ID: ledger.IDFromUint64(d.next), DebitAccount: positionAccount(from), CreditAccount: positionAccount(to),
		Amount: d.amount(amount), Currency: d.kes.Numeric, Code: 1, Flags: flags, Timeout: timeout}}
}

func (d *demo) onboard() error {
	fmt.Fprintln(d.out, "1. Onboarding: a position account per participant, funded from the hub's settlement account")
	cmds := []ledger.Command{{Op: ledger.OpCreateAccount, Account: ledger.Account{
		ID: hubSettlement, Participant: demoHubParticipant, Currency: d.kes.Numeric, Kind: ledger.KindSettlement}}}
	for _, p := range demoParticipants {
		cmds = append(cmds, ledger.Command{Op: ledger.OpCreateAccount, Account: ledger.Account{
			ID: positionAccount(p.id), Participant: p.id, Currency: d.kes.Numeric, Kind: ledger.KindPosition,
			Flags: ledger.DebitsMustNotExceedCredits, Limit: d.amount(p.cap)}})
	}
	for _, p := range demoParticipants {
		d.next++
		cmds = append(cmds, ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
			ID: ledger.IDFromUint64(d.next), DebitAccount: hubSettlement, CreditAccount: positionAccount(p.id),
			Amount: d.amount(p.funding), Currency: d.kes.Numeric, Code: 2}})
	}
	results, err := d.apply(cmds...)
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Code != ledger.OK {
			return fmt.Errorf("onboarding: %s", r.Code)
		}
	}
	for _, p := range demoParticipants {
		fmt.Fprintf(d.out, "   %-18s participant %d: funded KES %s, net debit cap KES %s\n", p.name, p.id,
			d.format(d.amount(p.funding)), d.format(d.amount(p.cap)))
	}
	fmt.Fprintln(d.out)
	return nil
}

// walkthrough shows each kind of movement once, with its outcome.
func (d *demo) walkthrough() error {
	acme, baobab, wallet, tiny := demoParticipants[0].id, demoParticipants[1].id, demoParticipants[2].id, demoParticipants[3].id
	say := func(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

	say("2. An immediate payment: Acme Bank pays Baobab Bank KES 1250.00")
	pay := d.transfer(acme, baobab, "1250.00", 0, 0)
	r, err := d.apply(pay)
	if err != nil {
		return err
	}
	say("   -> %s", r[0].Code)

	say("3. A reservation then a post: Acme reserves KES 500.00 for M-Wallet (10 s timeout); the payee accepts")
	reserve := d.transfer(acme, wallet, "500.00", ledger.Pending, 10)
	post := ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{ID: ledger.IDFromUint64(d.next + 1),
		PendingID: reserve.Transfer.ID, Flags: ledger.PostPending}}
	d.next++
	r, err = d.apply(reserve)
	if err != nil {
		return err
	}
	say("   reserve -> %s; Acme's pending debits now KES %s", r[0].Code, d.format(d.balance(acme).DebitsPending))
	r, err = d.apply(post)
	if err != nil {
		return err
	}
	say("   post    -> %s; pending released, KES 500.00 posted to M-Wallet", r[0].Code)

	say("4. A reservation then a void: Baobab reserves KES 300.00 for Acme; the payee declines")
	reserve = d.transfer(baobab, acme, "300.00", ledger.Pending, 10)
	void := ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{ID: ledger.IDFromUint64(d.next + 1),
		PendingID: reserve.Transfer.ID, Flags: ledger.VoidPending}}
	d.next++
	if r, err = d.apply(reserve, void); err != nil {
		return err
	}
	say("   reserve -> %s, void -> %s; Baobab's money is back", r[0].Code, r[1].Code)

	say("5. A reservation that times out: M-Wallet reserves KES 75.00 for Baobab with a 1 s timeout; nobody answers")
	reserve = d.transfer(wallet, baobab, "75.00", ledger.Pending, 1)
	if r, err = d.apply(reserve); err != nil {
		return err
	}
	say("   reserve -> %s; waiting 1.1 s ...", r[0].Code)
	time.Sleep(1100 * time.Millisecond)
	if r, err = d.apply(ledger.Command{Op: ledger.OpExpire}); err != nil {
		return err
	}
	t, _, err := d.st.Transfer(reserve.Transfer.ID)
	if err != nil {
		return err
	}
	say("   expire  -> voided %d reservation(s); the transfer is now %s", r[0].Expired, t.Status)

	say("6. A payment the limit refuses: Tiny Credit Union (KES 100.00 funded, no cap) tries to pay KES 500.00")
	if r, err = d.apply(d.transfer(tiny, acme, "500.00", 0, 0)); err != nil {
		return err
	}
	say("   -> %s; nothing moved, and the ID stays rejected with that reason", r[0].Code)

	say("7. A retry: Acme's network timed out, so it sends payment 2 again with the same ID")
	if r, err = d.apply(pay); err != nil {
		return err
	}
	say("   -> %s (the first outcome, not a second payment); Acme's posted debits: KES %s", r[0].Code, d.format(d.balance(acme).DebitsPosted))
	say("")
	return nil
}

func (d *demo) balance(participant uint64) ledger.Account {
	a, _, err := d.st.Account(positionAccount(participant))
	if err != nil {
		panic(err)
	}
	return a
}

// burst runs random payments between the participants in synced batches
// and prints a live line each second.
func (d *demo) burst(ctx context.Context, total, batchSize int) error {
	if total <= 0 {
		return nil
	}
	fmt.Fprintf(d.out, "8. A burst: %d payments between the banks and the wallet, in synced batches of %d\n", total, batchSize)
	rng := rand.New(rand.NewPCG(7, 7))
	senders := []uint64{demoParticipants[0].id, demoParticipants[1].id, demoParticipants[2].id}
	hist := hdrhistogram.New(1, 60_000_000, 3)
	outcomes := map[ledger.Code]int{}
	var batch []ledger.Command
	start, lastPrint := time.Now(), time.Now()
	var applyTime time.Duration
	for done := 0; done < total; {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch = batch[:0]
		for range min(batchSize, total-done) {
			from := senders[rng.IntN(len(senders))]
			to := senders[rng.IntN(len(senders))]
			for to == from {
				to = senders[rng.IntN(len(senders))]
			}
			amount := fmt.Sprintf("%d.%02d", 1+rng.IntN(2000), rng.IntN(100))
			batch = append(batch, d.transfer(from, to, amount, 0, 0))
		}
		t0 := time.Now()
		results, err := d.apply(batch...)
		elapsed := time.Since(t0)
		if err != nil {
			return err
		}
		applyTime += elapsed
		_ = hist.RecordValue(max(elapsed.Microseconds(), 1))
		for _, r := range results {
			outcomes[r.Code]++
		}
		done += len(batch)
		if time.Since(lastPrint) >= 500*time.Millisecond || done == total {
			lastPrint = time.Now()
			fmt.Fprintf(d.out, "   %7d done  %8.0f payments/s  batch p50 %5.1f ms  p99 %5.1f ms\n", done,
				float64(done)/time.Since(start).Seconds(), float64(hist.ValueAtQuantile(50))/1000, float64(hist.ValueAtQuantile(99))/1000)
		}
	}
	codes := slices.Sorted(func(yield func(ledger.Code) bool) {
		for c := range outcomes {
			if !yield(c) {
				return
			}
		}
	})
	fmt.Fprintf(d.out, "   %d payments in %.2f s of synced apply (%.0f/s)", total, applyTime.Seconds(), float64(total)/applyTime.Seconds())
	for _, c := range codes {
		fmt.Fprintf(d.out, ", %s %d", c, outcomes[c])
	}
	fmt.Fprintln(d.out)
	fmt.Fprintln(d.out)
	return nil
}

func (d *demo) finish() error {
	fmt.Fprintln(d.out, "9. Final positions (KES)")
	w := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "participant\t\tdebits posted\tcredits posted\tpending\tavailable\t")
	for _, p := range demoParticipants {
		a := d.balance(p.id)
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t\n", p.name, p.id, d.format(a.DebitsPosted), d.format(a.CreditsPosted),
			d.format(a.DebitsPending), d.format(a.Available()))
	}
	_ = w.Flush()
	if err := d.st.Check(); err != nil {
		return fmt.Errorf("store check: %w", err)
	}
	fmt.Fprintf(d.out, "\nChecked: debits equal credits, every account within its limit, indexes complete.\nState digest %s at log index %d.\n",
		d.st.Digest(), d.st.AppliedIndex())
	return nil
}
