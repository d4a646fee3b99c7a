package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/routing"
)

// ResolveConfig sets up the mapper benchmark.
type ResolveConfig struct {
	// Links is how many identifiers are linked before the timed run.
	Links int
	// Duration is the timed run.
	Duration time.Duration
	// Workers resolve concurrently, each as one of Requesters participants.
	Workers    int
	Requesters int
	// MissPercent of resolves ask for an identifier that is not linked.
	MissPercent int
	// Progress, if set, is called with the identifiers linked so far
	// during setup.
	Progress func(done int)
}

func (c *ResolveConfig) withDefaults() {
	if c.Links == 0 {
		c.Links = 1_000_000
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Workers == 0 {
		c.Workers = 4 * runtime.GOMAXPROCS(0)
	}
	if c.Requesters == 0 {
		c.Requesters = 64
	}
}

// ResolveResult is what RunResolve measured.
type ResolveResult struct {
	Resolves, Hits, Misses, Limited int64
	Seconds                         float64
	OpsPerSecond                    float64
	P50us, P99us, P999us            float64
	SetupSeconds                    float64
	AuditRecords                    uint64
}

// Line is the figure line the command prints last.
func (r ResolveResult) Line() string {
	return fmt.Sprintf("resolve_ops=%.0f p99_us=%.1f", r.OpsPerSecond, r.P99us)
}

// RunResolve measures resolves from memory-hot state, the whole path a
// request takes after authentication: parse and normalise the identifier
// (an E.164 phone number), tokenise it (HMAC-SHA256 under the cluster
// secret), spend the requester's rate-limit budget, look the token up,
// settle the budget, write the audit record and mask the answer. The
// tables are filled through the state machine's Apply, as replicas fill
// them. Closed loop: each worker resolves as fast as answers come.
func RunResolve(ctx context.Context, cfg ResolveConfig) (ResolveResult, error) {
	cfg.withDefaults()
	var res ResolveResult
	if cfg.Links < 1 || cfg.MissPercent < 0 || cfg.MissPercent > 100 || cfg.Requesters < 1 {
		return res, errors.New("bench resolve: links, requesters ≥ 1 and miss percent 0 to 100")
	}
	tk, err := routing.NewTokenizer([]byte("resolve benchmark cluster secret, 32+ bytes"))
	if err != nil {
		return res, err
	}
	state := routing.NewState()
	setupStart := time.Now()
	if err := fillMapper(state, tk, cfg); err != nil {
		return res, err
	}
	res.SetupSeconds = time.Since(setupStart).Seconds()

	// Budgets large enough that the limiter is measured, not hit: the
	// benchmark is about the resolve path.
	limiter, err := routing.NewLimiter(routing.LimiterConfig{Capacity: 1_000_000, RefillPerSecond: 1_000_000, HitCost: 1, MissCost: 2, RequestersMax: 4096})
	if err != nil {
		return res, err
	}
	audit, err := routing.NewAuditRing(1 << 20)
	if err != nil {
		return res, err
	}
	router, err := routing.NewRouter(routing.RouterConfig{State: state, Tokenizer: tk, Limiter: limiter, Auditor: audit})
	if err != nil {
		return res, err
	}

	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var hits, misses, limited, failed atomic.Int64
	hists := make([]*hdrhistogram.Histogram, cfg.Workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range cfg.Workers {
		h := hdrhistogram.New(1, 10_000_000, 3) // nanoseconds up to 10 ms
		hists[w] = h
		wg.Go(func() {
			requester := uint64(1 + w%cfg.Requesters)
			rng := uint64(w)*0x9E3779B97F4A7C15 + 1
			var buf [32]byte
			for i := 0; ; i++ {
				if i%256 == 0 && runCtx.Err() != nil {
					return
				}
				rng ^= rng << 13
				rng ^= rng >> 7
				rng ^= rng << 17
				n := int(rng % uint64(cfg.Links))
				if int(rng>>40%100) < cfg.MissPercent {
					n += cfg.Links // never linked
				}
				raw := msisdn(buf[:0], n)
				t0 := time.Now()
				id, err := routing.ParseIdentifier(string(raw))
				if err == nil {
					_, err = router.Resolve(runCtx, requester, id, routing.PurposePayment)
				}
				_ = h.RecordValue(time.Since(t0).Nanoseconds())
				switch {
				case err == nil:
					hits.Add(1)
				case errors.Is(err, routing.ErrUnknownIdentifier):
					misses.Add(1)
				case errors.Is(err, routing.ErrRateLimited):
					limited.Add(1)
				default:
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		return res, fmt.Errorf("bench resolve: %d resolves failed", n)
	}
	all := hdrhistogram.New(1, 10_000_000, 3)
	for _, h := range hists {
		all.Merge(h)
	}
	res.Hits, res.Misses, res.Limited = hits.Load(), misses.Load(), limited.Load()
	res.Resolves = res.Hits + res.Misses + res.Limited
	res.Seconds = elapsed.Seconds()
	res.OpsPerSecond = float64(res.Resolves) / res.Seconds
	res.P50us = float64(all.ValueAtQuantile(50)) / 1e3
	res.P99us = float64(all.ValueAtQuantile(99)) / 1e3
	res.P999us = float64(all.ValueAtQuantile(99.9)) / 1e3
	res.AuditRecords = audit.Total()
	return res, nil
}

// msisdn appends the n-th benchmark phone number in wire form: Kenyan
// mobile numbers +2547XXXXXXXX, then +2541XXXXXXXX for the never-linked.
func msisdn(dst []byte, n int) []byte {
	dst = append(dst, "msisdn:+2547"...)
	if n >= 100_000_000 {
		n %= 100_000_000
		dst[len(dst)-1] = '1'
	}
	var digits [8]byte
	for i := 7; i >= 0; i-- {
		digits[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, digits[:]...)
}

// noAccounts answers that no ledger account exists; the benchmark onboards
// its participants into tables only.
type noAccounts struct{}

func (noAccounts) Account(ledger.ID) (ledger.Account, bool, error) {
	return ledger.Account{}, false, nil
}

// fillMapper onboards the requesters and one payee bank, then links
// cfg.Links identifiers through Apply, in entries of the largest size.
func fillMapper(state *routing.State, tk *routing.Tokenizer, cfg ResolveConfig) error {
	const payee = 99_001
	var cmds []routing.Command
	for p := 1; p <= cfg.Requesters; p++ {
		cmds = append(cmds, routing.Command{Op: routing.OpPutParticipant, Participant: routing.Participant{
			ID: uint64(p), Name: fmt.Sprintf("Requester %d", p), Kind: routing.KindBank, Connection: routing.ConnREST, Currencies: []uint16{404}}})
	}
	cmds = append(cmds, routing.Command{Op: routing.OpPutParticipant, Participant: routing.Participant{
		ID: payee, Name: "Payee Bank", Kind: routing.KindBank, Connection: routing.ConnREST, Currencies: []uint16{404}}})
	if _, err := state.Apply(1, cmds, noAccounts{}); err != nil {
		return err
	}
	if cfg.Links >= 100_000_000 {
		return errors.New("bench resolve: at most 99,999,999 links")
	}
	var buf [32]byte
	ts := uint64(2)
	for start := 0; start < cfg.Links; start += routing.EntryCommandsMax {
		cmds = cmds[:0]
		for n := start; n < min(start+routing.EntryCommandsMax, cfg.Links); n++ {
			id, err := routing.ParseIdentifier(string(msisdn(buf[:0], n)))
			if err != nil {
				return err
			}
			cmds = append(cmds, routing.Command{Op: routing.OpLink, Requester: payee, Link: routing.Link{
				Token: tk.Token(id), Purpose: routing.PurposePayment, Type: id.Type(), Participant: payee,
				Account: fmt.Sprintf("ACC%09d", n), Name: "A*** O***", ConsentRef: "bench", ConsentAt: 1}})
		}
		out, err := state.Apply(ts, cmds, noAccounts{})
		if err != nil {
			return err
		}
		for i, r := range out.Results {
			if r.Code != routing.CodeOK {
				return fmt.Errorf("bench resolve: link %d: %s", start+i, r.Code)
			}
		}
		ts++
		if cfg.Progress != nil {
			cfg.Progress(min(start+routing.EntryCommandsMax, cfg.Links))
		}
	}
	return nil
}
