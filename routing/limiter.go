package routing

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/payswitch/payswitch/internal/invariant"
)

// LimiterConfig sets a Limiter's token buckets. Costs and capacity are in
// the same unit, "cost units"; zero fields take the defaults.
type LimiterConfig struct {
	// Capacity is the most cost units a requester's bucket holds, i.e. its
	// burst. A new or long-idle requester starts full. Default 600; at most
	// 1,000,000.
	Capacity uint32
	// RefillPerSecond is how many cost units flow back into a bucket per
	// second, up to Capacity. Default 100; at most 1,000,000.
	RefillPerSecond uint32
	// HitCost is what a resolve that found its identifier costs. Default 1.
	HitCost uint32
	// MissCost is what a resolve that found nothing costs. It must exceed
	// HitCost, because enumerating identifiers is mostly misses. Default 25,
	// so with the other defaults a requester sustains 100 hits or 4 misses
	// per second.
	MissCost uint32
	// RequestersMax is the most requesters tracked at once; the least
	// recently seen is forgotten to make room. Default 4096; at most 65,536.
	RequestersMax int
}

// Defaults of LimiterConfig.
const (
	limiterCapacityDefault        = 600
	limiterRefillPerSecondDefault = 100
	limiterHitCostDefault         = 1
	limiterMissCostDefault        = 25
	limiterRequestersDefault      = 4096
)

// withDefaults returns c with zero fields set to their defaults.
func (c LimiterConfig) withDefaults() LimiterConfig {
	if c.Capacity == 0 {
		c.Capacity = limiterCapacityDefault
	}
	if c.RefillPerSecond == 0 {
		c.RefillPerSecond = limiterRefillPerSecondDefault
	}
	if c.HitCost == 0 {
		c.HitCost = limiterHitCostDefault
	}
	if c.MissCost == 0 {
		c.MissCost = limiterMissCostDefault
	}
	if c.RequestersMax == 0 {
		c.RequestersMax = limiterRequestersDefault
	}
	return c
}

// Validate reports every problem of c after defaults are applied, joined
// into one error wrapping ErrConfig; nil if there is none.
func (c LimiterConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: limiter: "+format, append([]any{ErrConfig}, args...)...))
	}
	if c.Capacity > limiterCapacityMax {
		bad("Capacity %d above %d", c.Capacity, limiterCapacityMax)
	}
	if c.RefillPerSecond > limiterRefillPerSecondMax {
		bad("RefillPerSecond %d above %d", c.RefillPerSecond, limiterRefillPerSecondMax)
	}
	if c.MissCost <= c.HitCost {
		bad("MissCost %d must exceed HitCost %d", c.MissCost, c.HitCost)
	}
	if c.MissCost > c.Capacity {
		bad("MissCost %d above Capacity %d: no resolve could ever be afforded", c.MissCost, c.Capacity)
	}
	if c.RequestersMax < 1 || c.RequestersMax > limiterRequestersMax {
		bad("RequestersMax %d outside 1..%d", c.RequestersMax, limiterRequestersMax)
	}
	return errors.Join(errs...)
}

// nanoUnits is the fixed-point scale of a bucket's level: one cost unit is
// 1e9 nano-units, so that refilling RefillPerSecond units per second adds
// exactly RefillPerSecond nano-units per elapsed nanosecond.
const nanoUnits = int64(time.Second)

// Limiter rations resolves per requester with token buckets, so that a
// participant cannot enumerate the directory. It never reads the clock:
// the caller passes the time, so the same calls give the same answers.
// It is safe for concurrent use.
//
// # Reserve, then settle
//
// Allow reserves the cost of a miss, because the cost is not known before
// the resolve runs; Charge settles the reservation, handing a hit back the
// difference between the two costs. A resolve that never reaches Charge
// (an error, a crash) therefore costs as much as a miss. Because the
// reservation is taken under the lock, concurrent resolves of one
// requester can never overdraw its bucket.
//
// # Eviction
//
// At most RequestersMax requesters are tracked. To make room for a new one
// the least recently seen is forgotten, and comes back with a full bucket.
// Requesters are authenticated participants, far fewer than the bound, so
// eviction only happens when the bound is set too small.
type Limiter struct {
	capacity  int64 // nano-units
	refill    int64 // nano-units per nanosecond
	hitCost   int64 // nano-units
	missCost  int64 // nano-units
	fillNanos int64 // time to refill an empty bucket
	max       int

	mu      sync.Mutex
	buckets map[uint64]*bucket
	// recent is the sentinel of a circular list of the buckets, most
	// recently seen first.
	recent bucket
}

// bucket is one requester's state.
type bucket struct {
	requester  uint64
	level      int64 // nano-units, 0..capacity
	last       int64 // Unix nanoseconds of the latest refill
	prev, next *bucket
}

// NewLimiter builds a Limiter from cfg, after defaults.
func NewLimiter(cfg LimiterConfig) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	l := &Limiter{
		capacity: int64(cfg.Capacity) * nanoUnits,
		refill:   int64(cfg.RefillPerSecond),
		hitCost:  int64(cfg.HitCost) * nanoUnits,
		missCost: int64(cfg.MissCost) * nanoUnits,
		max:      cfg.RequestersMax,
		buckets:  make(map[uint64]*bucket, cfg.RequestersMax),
	}
	l.fillNanos = (l.capacity + l.refill - 1) / l.refill
	l.recent.prev, l.recent.next = &l.recent, &l.recent
	return l, nil
}

// Allow reserves one resolve for requester at time now, or returns a
// *RateLimitError (wrapping ErrRateLimited) when the bucket holds less
// than the miss cost. Every Allow that returns nil must be followed by one
// Charge for the same requester.
func (l *Limiter) Allow(requester uint64, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(requester, now.UnixNano())
	if b.level < l.missCost {
		wait := (l.missCost - b.level + l.refill - 1) / l.refill
		return &RateLimitError{Requester: requester, RetryAfter: time.Duration(wait)}
	}
	b.level -= l.missCost
	invariant.Always(b.level >= 0, "routing: limiter overdrew a bucket")
	return nil
}

// Charge settles the reservation Allow took: a hit gets back the
// difference between the miss and the hit cost, a miss keeps paying the
// miss cost. The bucket never exceeds its capacity, so a Charge without
// an Allow gains nothing beyond a full bucket.
func (l *Limiter) Charge(requester uint64, hit bool, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(requester, now.UnixNano())
	if hit {
		b.level = min(b.level+l.missCost-l.hitCost, l.capacity)
	}
	invariant.Always(0 <= b.level && b.level <= l.capacity, "routing: limiter level out of range")
}

// Tracked returns how many requesters the limiter currently tracks.
func (l *Limiter) Tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// get returns requester's bucket, refilled up to now and moved to the
// front of the recency list, creating a full one (and evicting the least
// recently seen requester if the limiter is full) when there is none.
// The caller holds l.mu.
func (l *Limiter) get(requester uint64, now int64) *bucket {
	b, ok := l.buckets[requester]
	if !ok {
		if len(l.buckets) >= l.max {
			oldest := l.recent.prev
			invariant.Always(oldest != &l.recent, "routing: limiter full but list empty")
			l.unlink(oldest)
			delete(l.buckets, oldest.requester)
		}
		b = &bucket{requester: requester, level: l.capacity, last: now}
		l.buckets[requester] = b
	} else {
		l.unlink(b)
		l.refillTo(b, now)
	}
	b.next, b.prev = l.recent.next, &l.recent
	l.recent.next.prev = b
	l.recent.next = b
	invariant.Always(len(l.buckets) <= l.max, "routing: limiter tracks more than its bound")
	return b
}

// refillTo adds what flowed into b between its last refill and now. A time
// before the last refill (a clock stepping back) adds nothing and does not
// move the bucket's time back.
func (l *Limiter) refillTo(b *bucket, now int64) {
	if now <= b.last {
		return
	}
	elapsed := now - b.last
	b.last = now
	if elapsed >= l.fillNanos {
		b.level = l.capacity
		return
	}
	// elapsed < fillNanos, so elapsed*refill < capacity+refill: no overflow.
	b.level = min(b.level+elapsed*l.refill, l.capacity)
}

// unlink removes b from the recency list.
func (l *Limiter) unlink(b *bucket) {
	b.prev.next = b.next
	b.next.prev = b.prev
	b.prev, b.next = nil, nil
}
