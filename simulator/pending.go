package simulator

import (
	"sync"
	"time"

	"github.com/payswitch/payswitch/internal/invariant"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// call is one request waiting for its answer.
type call struct {
	mti      iso8583.MTI // of the request; the answer's is mti + 10
	stan     uint32      // assigned by pending.add
	session  int
	rrn      [rrnLen]byte // of a payment or reversal; zero otherwise
	intended time.Time    // where its latency is measured from
	deadline time.Time    // when the sweeper fails it with ErrNoAnswer
	index    int          // its place in the deadline heap; -1 when out

	// done receives the outcome exactly once: the answer (valid only
	// during the call, the session reuses it) and nil, or nil and an
	// error. It runs on the session's reader, the sweeper, or the goroutine
	// that closes the session, and must not block.
	done func(c *call, resp *iso8583.Message, err error)
}

// pending is one session's table of outstanding requests: by STAN, to
// match answers, and in a min-heap by deadline, to time them out without a
// timer each. Both hold the same calls, at most inflightPerSessionMax.
// Safe for concurrent use.
type pending struct {
	mu    sync.Mutex
	calls map[uint32]*call
	heap  []*call
	stans iso8583.STANSequence
	err   error // set when the session closes; add fails with it
}

func newPending() *pending {
	return &pending{calls: make(map[uint32]*call)}
}

// add gives c a STAN that no outstanding request holds and enters it.
func (p *pending) add(c *call) (uint32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return 0, p.err
	}
	if len(p.calls) >= inflightPerSessionMax {
		return 0, ErrInflightFull
	}
	// At most len(p.calls) STANs are taken, so this finds a free one within
	// len(p.calls)+1 tries.
	for range len(p.calls) + 1 {
		stan := p.stans.Next()
		if _, taken := p.calls[stan]; taken {
			continue
		}
		c.stan = stan
		p.calls[stan] = c
		p.push(c)
		return stan, nil
	}
	invariant.Always(false, "no free STAN among %d outstanding requests", len(p.calls))
	return 0, ErrInflightFull
}

// take removes and returns the request that an answer of type mti with
// this STAN answers, or nil when there is none.
func (p *pending) take(stan uint32, mti iso8583.MTI) *call {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.calls[stan]
	if c == nil || c.mti+10 != mti {
		return nil
	}
	p.drop(c)
	return c
}

// remove takes c out if it is still outstanding and reports whether it
// was; when it was not, its done has run or is about to.
func (p *pending) remove(c *call) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.calls[c.stan] != c {
		return false
	}
	p.drop(c)
	return true
}

// expire removes the requests whose deadline is not after now, appends
// them to out and returns it.
func (p *pending) expire(now time.Time, out []*call) []*call {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.heap) > 0 && !p.heap[0].deadline.After(now) {
		c := p.heap[0]
		p.drop(c)
		out = append(out, c)
	}
	return out
}

// close makes every later add fail with err and removes and returns every
// outstanding request.
func (p *pending) close(err error) []*call {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
	out := p.heap
	for _, c := range out {
		delete(p.calls, c.stan)
		c.index = -1
	}
	p.heap = nil
	invariant.Always(len(p.calls) == 0, "%d requests outside the deadline heap", len(p.calls))
	return out
}

// len returns how many requests are outstanding.
func (p *pending) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.heap)
}

// drop removes c, which is outstanding, from the map and the heap.
func (p *pending) drop(c *call) {
	invariant.Always(c.index >= 0 && c.index < len(p.heap) && p.heap[c.index] == c, "call not in the deadline heap")
	delete(p.calls, c.stan)
	last := len(p.heap) - 1
	i := c.index
	if i != last {
		p.swap(i, last)
	}
	p.heap[last] = nil
	p.heap = p.heap[:last]
	if i != last {
		p.down(i)
		p.up(i)
	}
	c.index = -1
}

// push enters c into the heap.
func (p *pending) push(c *call) {
	c.index = len(p.heap)
	p.heap = append(p.heap, c)
	p.up(c.index)
}

func (p *pending) less(i, j int) bool { return p.heap[i].deadline.Before(p.heap[j].deadline) }

func (p *pending) swap(i, j int) {
	p.heap[i], p.heap[j] = p.heap[j], p.heap[i]
	p.heap[i].index = i
	p.heap[j].index = j
}

func (p *pending) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !p.less(i, parent) {
			return
		}
		p.swap(i, parent)
		i = parent
	}
}

func (p *pending) down(i int) {
	n := len(p.heap)
	for {
		smallest := i
		if l := 2*i + 1; l < n && p.less(l, smallest) {
			smallest = l
		}
		if r := 2*i + 2; r < n && p.less(r, smallest) {
			smallest = r
		}
		if smallest == i {
			return
		}
		p.swap(i, smallest)
		i = smallest
	}
}
