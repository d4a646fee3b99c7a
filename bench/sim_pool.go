package bench

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payswitch/payswitch/simulator"
)

// simIncarnation is one connection of a participant: a simulator.Bank
// with its sessions, and the payments it has sent and not yet seen
// answered. A participant gets a new incarnation when its sessions die
// (the leader was killed) or when it changes how it behaves as payee.
type simIncarnation struct {
	bank     *simulator.Bank
	silent   bool
	inflight atomic.Int64
}

// simBank is one participant's simulated bank across its incarnations.
type simBank struct {
	p   *simParticipant
	cur atomic.Pointer[simIncarnation] // nil while it has none
	// silent makes the next incarnation drop every payment forwarded to it.
	silent atomic.Bool
	// lost is set when the current incarnation has no session left.
	lost atomic.Bool

	mu   sync.Mutex
	past []*simulator.Bank // closed incarnations, for their payee figures
}

// simPool holds every participant's bank and re-dials those that lost
// their sessions, at whichever node now leads.
type simPool struct {
	banks   []*simBank
	addrs   []string // each node's ISO 8583 listener
	prefer  atomic.Int64
	timeout time.Duration // payers' wait for an answer
	seed    uint64
	redials atomic.Int64
	dials   atomic.Uint64 // seeds each incarnation differently
	wake    chan struct{}
}

func newSimPool(w *simWorld, addrs []string, timeout time.Duration, seed uint64) *simPool {
	pool := &simPool{addrs: addrs, timeout: timeout, seed: seed, wake: make(chan struct{}, 1)}
	for i := range w.participants {
		pool.banks = append(pool.banks, &simBank{p: &w.participants[i]})
	}
	return pool
}

// dial connects and signs on a new incarnation of b, trying the preferred
// node first and then the others.
func (pool *simPool) dial(ctx context.Context, b *simBank) (*simIncarnation, error) {
	silent := b.silent.Load()
	cfg := simulator.BankConfig{
		Participant: b.p.id, MACKey: b.p.key, Sessions: b.p.sessions,
		DeclinePercent: b.p.declinePercent, ResponseTimeout: pool.timeout,
		Seed: pool.seed ^ b.p.id<<20 ^ pool.dials.Add(1),
	}
	if silent {
		cfg.DeclinePercent, cfg.DropPercent = 0, 100
	}
	var errs []error
	first := int(pool.prefer.Load())
	for k := range pool.addrs {
		cfg.SwitchAddr = pool.addrs[(first+k)%len(pool.addrs)]
		attempt, cancel := context.WithTimeout(ctx, simRedialAttemptWait)
		bank, err := simulator.Dial(attempt, cfg)
		cancel()
		if err == nil {
			pool.prefer.Store(int64((first + k) % len(pool.addrs)))
			return &simIncarnation{bank: bank, silent: silent}, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// connectAll signs every participant on, retrying until all are on or
// within passes; the bootstrap may still be applying on the leader.
func (pool *simPool) connectAll(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var last error
		for _, b := range pool.banks {
			if b.cur.Load() != nil {
				continue
			}
			inc, err := pool.dial(ctx, b)
			if err != nil {
				last = err
				continue
			}
			b.cur.Store(inc)
		}
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errors.Join(errors.New("sim: not every participant signed on"), last, ctx.Err())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// markLost notes that b's current incarnation has no session left; the
// redialer replaces it.
func (pool *simPool) markLost(b *simBank) {
	if b.lost.CompareAndSwap(false, true) {
		select {
		case pool.wake <- struct{}{}:
		default:
		}
	}
}

// sessionsLost marks every bank: the node they were connected to is gone.
func (pool *simPool) sessionsLost() {
	for _, b := range pool.banks {
		pool.markLost(b)
	}
}

// redial runs until ctx ends: it replaces the incarnations marked lost,
// simRedialParallel at a time, and retries those that fail every
// simRedialEvery.
func (pool *simPool) redial(ctx context.Context) {
	tick := time.NewTicker(simRedialEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-pool.wake:
		case <-tick.C:
		}
		var wg sync.WaitGroup
		slots := make(chan struct{}, simRedialParallel)
		for _, b := range pool.banks {
			if !b.lost.Load() {
				continue
			}
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				inc, err := pool.dial(ctx, b)
				if err != nil {
					return // the next pass tries again
				}
				b.lost.Store(false)
				pool.redials.Add(1)
				if old := b.cur.Swap(inc); old != nil {
					b.retire(old)
				}
			})
		}
		wg.Wait()
	}
}

// replace gives b a new incarnation now, with the behaviour its silent
// flag sets, and retires the old one.
func (pool *simPool) replace(ctx context.Context, b *simBank) error {
	inc, err := pool.dial(ctx, b)
	if err != nil {
		return err
	}
	if old := b.cur.Swap(inc); old != nil {
		b.retire(old)
	}
	return nil
}

// retire closes an incarnation that no longer sends, once its own
// payments are answered (simRetireWait at most: under normal load they
// are answered in milliseconds), and keeps it for its figures.
func (b *simBank) retire(old *simIncarnation) {
	for deadline := time.Now().Add(simRetireWait); old.inflight.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	_ = old.bank.Close()
	b.mu.Lock()
	b.past = append(b.past, old.bank)
	b.mu.Unlock()
}

// down counts the participants without a live incarnation.
func (pool *simPool) down() int {
	n := 0
	for _, b := range pool.banks {
		if b.cur.Load() == nil || b.lost.Load() {
			n++
		}
	}
	return n
}

// waitAllUp waits until every participant has a live incarnation.
func (pool *simPool) waitAllUp(ctx context.Context, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for pool.down() > 0 {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// received sums what b's incarnations received as payee.
func (b *simBank) received() simulator.Stats {
	b.mu.Lock()
	banks := append([]*simulator.Bank(nil), b.past...)
	b.mu.Unlock()
	if cur := b.cur.Load(); cur != nil {
		banks = append(banks, cur.bank)
	}
	var sum simulator.Stats
	for _, bank := range banks {
		st := bank.Received()
		sum.Payments += st.Payments
		sum.Approved += st.Approved
		sum.Declined += st.Declined
		sum.Dropped += st.Dropped
		sum.Advices += st.Advices
		sum.AdvicesAnswered += st.AdvicesAnswered
		sum.MACFailures += st.MACFailures
		sum.Malformed += st.Malformed
		sum.Unmatched += st.Unmatched
	}
	return sum
}

// closeAll closes every incarnation.
func (pool *simPool) closeAll() {
	var wg sync.WaitGroup
	for _, b := range pool.banks {
		if cur := b.cur.Load(); cur != nil {
			wg.Go(func() { _ = cur.bank.Close() })
		}
	}
	wg.Wait()
}
