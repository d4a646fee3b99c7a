package routing

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// epoch is the fake clock's start.
var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func mustLimiter(t testing.TB, cfg LimiterConfig) *Limiter {
	t.Helper()
	l, err := NewLimiter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// spend resolves until Allow refuses, each resolve a hit or a miss, and
// returns how many were allowed and the refusal.
func spend(t *testing.T, l *Limiter, requester uint64, hit bool, now time.Time) (int, *RateLimitError) {
	t.Helper()
	for n := 0; n < 1_000_000; n++ {
		err := l.Allow(requester, now)
		if err != nil {
			var rl *RateLimitError
			if !errors.Is(err, ErrRateLimited) || !errors.As(err, &rl) {
				t.Fatalf("Allow: %v, want a *RateLimitError", err)
			}
			return n, rl
		}
		l.Charge(requester, hit, now)
	}
	t.Fatal("never refused")
	return 0, nil
}

func TestLimiterMissCostsMore(t *testing.T) {
	cfg := LimiterConfig{Capacity: 100, RefillPerSecond: 10, HitCost: 1, MissCost: 10}
	l := mustLimiter(t, cfg)
	// A hit is settled to cost 1, but Allow always wants the miss cost in
	// the bucket: 100 - 10 + 1 hits fit.
	hits, _ := spend(t, l, 1, true, epoch)
	misses, rl := spend(t, l, 2, false, epoch)
	if hits != 91 || misses != 10 {
		t.Fatalf("hits %d, misses %d; want 91 and 10", hits, misses)
	}
	// Empty bucket, 10 units missing, 10 units per second: one second.
	if rl.Requester != 2 || rl.RetryAfter != time.Second {
		t.Fatalf("RateLimitError %+v; want requester 2, retry after 1s", rl)
	}
	if rl.Error() == "" {
		t.Fatal("empty message")
	}
}

func TestLimiterRefill(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{Capacity: 50, RefillPerSecond: 5, HitCost: 1, MissCost: 10})
	if n, _ := spend(t, l, 7, false, epoch); n != 5 {
		t.Fatalf("%d misses from a full bucket, want 5", n)
	}
	// Half a second refills 2.5 units: not yet a miss.
	now := epoch.Add(500 * time.Millisecond)
	err := l.Allow(7, now)
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != 1500*time.Millisecond {
		t.Fatalf("after 0.5s: %v; want retry after 1.5s", err)
	}
	// At exactly RetryAfter, one miss is affordable and no more.
	now = now.Add(rl.RetryAfter)
	if n, _ := spend(t, l, 7, false, now); n != 1 {
		t.Fatalf("%d misses after the retry delay, want 1", n)
	}
	// A clock stepping back refills nothing and breaks nothing.
	if err := l.Allow(7, epoch); err == nil {
		t.Fatal("a step back in time refilled the bucket")
	}
	// A long idle time refills to capacity, never beyond.
	if n, _ := spend(t, l, 7, false, now.Add(1000*time.Hour)); n != 5 {
		t.Fatalf("%d misses after a long idle time, want 5", n)
	}
}

func TestLimiterHitRefundCapped(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{Capacity: 20, RefillPerSecond: 1, HitCost: 1, MissCost: 10})
	// Charges without Allows gain nothing beyond a full bucket.
	for range 100 {
		l.Charge(3, true, epoch)
	}
	if n, _ := spend(t, l, 3, false, epoch); n != 2 {
		t.Fatalf("%d misses, want 2", n)
	}
}

func TestLimiterConfigValidate(t *testing.T) {
	if err := (LimiterConfig{}).Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	bad := LimiterConfig{Capacity: limiterCapacityMax + 1, RefillPerSecond: limiterRefillPerSecondMax + 1,
		HitCost: 5, MissCost: 5, RequestersMax: -1}
	err := bad.Validate()
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("Validate = %v, want ErrConfig", err)
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 4 {
		t.Fatalf("%d problems reported, want 4: %v", n, err)
	}
	if _, err := NewLimiter(LimiterConfig{Capacity: 5, MissCost: 10}); !errors.Is(err, ErrConfig) {
		t.Fatalf("MissCost above Capacity: %v", err)
	}
}

// TestLimiterEviction checks the bound on tracked requesters and that the
// least recently seen requester is the one forgotten.
func TestLimiterEviction(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{Capacity: 10, RefillPerSecond: 1, HitCost: 1, MissCost: 10, RequestersMax: 8})
	for r := uint64(1); r <= 100; r++ {
		_ = l.Allow(r, epoch)
		l.Charge(r, false, epoch)
		if got := l.Tracked(); got > 8 {
			t.Fatalf("tracking %d requesters, bound is 8", got)
		}
	}
	// Requesters 93..100 are tracked and empty. Touch 93, then bring in a
	// new one: 94 (now the least recent) is forgotten, 93 is not.
	_ = l.Allow(93, epoch)
	_ = l.Allow(101, epoch)
	if l.Allow(93, epoch) == nil {
		t.Fatal("requester 93 was forgotten although recently seen")
	}
	if l.Allow(94, epoch) != nil {
		t.Fatal("requester 94 was not forgotten")
	}
}

// TestLimiterConcurrent has many goroutines resolve for few requesters at
// one instant; run with -race. The reservation under the lock means no
// requester gets more misses than its bucket holds.
func TestLimiterConcurrent(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{Capacity: 1000, RefillPerSecond: 1, HitCost: 1, MissCost: 10})
	var allowed [4]atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				r := uint64((g + i) % 4)
				if l.Allow(r, epoch) == nil {
					allowed[r].Add(1)
					l.Charge(r, false, epoch)
				}
			}
		})
	}
	wg.Wait()
	for r := range allowed {
		if got := allowed[r].Load(); got != 100 {
			t.Errorf("requester %d: %d misses allowed, want exactly 100", r, got)
		}
	}
}

func BenchmarkLimiter(b *testing.B) {
	l := mustLimiter(b, LimiterConfig{})
	now := epoch
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		if err := l.Allow(42, now); err != nil {
			b.Fatal(err)
		}
		l.Charge(42, true, now)
	}
}
