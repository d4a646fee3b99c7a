package simulator

import (
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

func TestLimitsRelate(t *testing.T) {
	// A STAN is never reused while its request is outstanding, so the
	// table must leave most of the six digits free.
	if inflightPerSessionMax*2 > stanMax {
		t.Errorf("inflightPerSessionMax %d is too close to the %d STANs", inflightPerSessionMax, stanMax)
	}
	if writeBufferMax < 16*iso8583.FrameSizeMax {
		t.Errorf("writeBufferMax %d holds too few frames", writeBufferMax)
	}
	if readBufferSize < iso8583.FrameSizeMax+2 {
		t.Errorf("readBufferSize %d is below one frame", readBufferSize)
	}
	if sweepInterval*10 > loadTimeoutDefault || sweepInterval*10 > signOffTimeout {
		t.Errorf("sweepInterval %v is too coarse for the timeouts", sweepInterval)
	}
	if loadDrainGrace < 10*sweepInterval {
		t.Errorf("loadDrainGrace %v is shorter than a few sweeps", loadDrainGrace)
	}
	if time.Duration(latencyMicrosMax)*time.Microsecond < responseTimeoutDefault {
		t.Errorf("the latency histogram cannot hold a full response timeout")
	}
	if loadStream <= SessionsMax {
		t.Errorf("the load's seed stream %d collides with a session's", loadStream)
	}
	if rrnModulus != pow36(rrnLen) || pow36(rrnLen) != pow36(rrnLen-rrnCounterDigits)*pow36(rrnCounterDigits) {
		t.Errorf("RRN digits do not add up")
	}
}

func TestPendingBoundsAndMatches(t *testing.T) {
	p := newPending()
	now := time.Now()
	stans := make(map[uint32]bool)
	for i := range inflightPerSessionMax {
		c := &call{mti: iso8583.MTIFinancialRequest, deadline: now.Add(time.Duration(i%1000) * time.Millisecond)}
		stan, err := p.add(c)
		if err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
		if stan == 0 || stan > stanMax || stans[stan] {
			t.Fatalf("STAN %d invalid or taken", stan)
		}
		stans[stan] = true
	}
	if _, err := p.add(&call{}); !errors.Is(err, ErrInflightFull) {
		t.Fatalf("add beyond the bound: %v", err)
	}
	if c := p.take(1, iso8583.MTINetworkResponse); c != nil {
		t.Fatal("an 0810 answered an 0200")
	}
	c := p.take(1, iso8583.MTIFinancialResponse)
	if c == nil || c.stan != 1 || c.index != -1 {
		t.Fatalf("take: %+v", c)
	}
	if p.take(1, iso8583.MTIFinancialResponse) != nil {
		t.Fatal("an answer matched twice")
	}
	expired := p.expire(now.Add(9*time.Millisecond), nil)
	// Deadlines 0 to 9 ms, 66 calls each (65 for 0 ms, whose STAN 1 was
	// taken), expire in deadline order.
	if len(expired) != 10*66-1 {
		t.Fatalf("%d expired", len(expired))
	}
	for i := 1; i < len(expired); i++ {
		if expired[i].deadline.Before(expired[i-1].deadline) {
			t.Fatal("expired out of deadline order")
		}
	}
	if p.len() != inflightPerSessionMax-10*66 {
		t.Fatalf("%d outstanding", p.len())
	}
	left := p.close(ErrClosed)
	if len(left) != inflightPerSessionMax-10*66 || p.len() != 0 {
		t.Fatalf("close returned %d", len(left))
	}
	if _, err := p.add(&call{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("add after close: %v", err)
	}
}

func TestPendingSkipsTakenSTANs(t *testing.T) {
	p := newPending()
	first := &call{mti: iso8583.MTINetworkRequest}
	if stan, _ := p.add(first); stan != 1 {
		t.Fatalf("first STAN %d", stan)
	}
	// Go round the six digits; STAN 1 is still outstanding.
	for range stanMax - 1 {
		p.stans.Next()
	}
	c := &call{}
	if stan, _ := p.add(c); stan != 2 {
		t.Fatalf("STAN %d after wrapping, want 2 (1 is outstanding)", stan)
	}
	if !p.remove(c) || p.remove(c) {
		t.Fatal("remove must succeed once")
	}
}

func TestRRNs(t *testing.T) {
	valid := regexp.MustCompile(`^[0-9A-Z]{12}$`)
	r := rrnSource{start: rrnModulus - 2}
	seen := make(map[string]bool)
	for range 1000 {
		rrn := r.Next()
		if !valid.MatchString(rrn) || seen[rrn] {
			t.Fatalf("RRN %q invalid or repeated", rrn)
		}
		seen[rrn] = true
	}
	if !seen["ZZZZZZZZZZZY"] || !seen["000000000000"] {
		t.Fatal("RRNs do not wrap around 36^12")
	}
	t0 := time.Date(2026, 6, 12, 9, 30, 0, 0, time.UTC)
	if d := rrnStartAt(t0.Add(10*time.Millisecond)) - rrnStartAt(t0); d != pow36(rrnCounterDigits) {
		t.Fatalf("runs 10 ms apart start %d RRNs apart, want %d", d, pow36(rrnCounterDigits))
	}
}

func TestLoadPlannedMatchesDueTimes(t *testing.T) {
	for _, tc := range []struct {
		rate     float64
		duration time.Duration
		want     int
	}{
		{100, 300 * time.Millisecond, 30},
		{3, time.Second, 3},
		{1000, 10 * time.Second, 10000},
		{0.5, 3 * time.Second, 2},
		{7, 1001 * time.Millisecond, 8},
	} {
		c := LoadConfig{Rate: tc.rate, Duration: tc.duration}
		if got := c.planned(); got != tc.want {
			t.Errorf("rate %v for %v: %d planned, want %d", tc.rate, tc.duration, got, tc.want)
		}
	}
}

func TestLoadWindows(t *testing.T) {
	for _, tc := range []struct {
		last  time.Duration
		width time.Duration
		n     int
	}{
		{0, time.Second, 1},
		{999 * time.Millisecond, time.Second, 1},
		{time.Second, time.Second, 2},
		{599*time.Second + 999*time.Millisecond, time.Second, 600},
		{600 * time.Second, 2 * time.Second, 301},
		{time.Hour, 7 * time.Second, 515},
		{100 * 365 * 24 * time.Hour, 5256001 * time.Second, 600},
	} {
		width, n := windows(tc.last)
		if width != tc.width || n != tc.n {
			t.Errorf("windows(%v) = %v, %d; want %v, %d", tc.last, width, n, tc.width, tc.n)
		}
		if n > loadWindowsMax || width%time.Second != 0 || time.Duration(n)*width <= tc.last {
			t.Errorf("windows(%v) = %v, %d: over the bound, not whole seconds, or short of the load", tc.last, width, n)
		}
	}
}

// TestLoadRunApprovedInBlocks checks how a load keeps its approved RRNs
// (see RRNList): nothing before the first approval, then block by block,
// in order, with no block ever moved to a new array and never more than
// one block of room unused.
func TestLoadRunApprovedInBlocks(t *testing.T) {
	run := newLoadRun(LoadConfig{Rate: 30000, Duration: 60 * time.Second})
	if run.res.Approved.Len() != 0 || len(run.res.Approved.blocks) != 0 {
		t.Fatalf("a new load holds %d approved RRNs in %d blocks, want none", run.res.Approved.Len(), len(run.res.Approved.blocks))
	}
	approved := &iso8583.Message{ResponseCode: iso8583.ResponseApproved}
	declined := &iso8583.Message{ResponseCode: iso8583.ResponseDoNotHonour}
	run.start = time.Now()
	rrn := func(i int) RRN { return RRN([]byte(fmt.Sprintf("%012d", i))) }
	var firsts []*RRN // the first element of each block, as it was made
	const n = 3*rrnBlock + 5
	for i := range n {
		for _, resp := range []*iso8583.Message{approved, declined} {
			run.inflight.Add(1)
			c := &call{intended: run.start, rrn: rrn(i)}
			run.complete(c, resp, nil)
		}
		if blocks := run.res.Approved.blocks; len(blocks) > len(firsts) {
			firsts = append(firsts, &blocks[len(blocks)-1][0])
		}
	}
	l := &run.res.Approved
	if l.Len() != n || len(l.blocks) != n/rrnBlock+1 {
		t.Fatalf("%d approved RRNs in %d blocks, want %d in %d", l.Len(), len(l.blocks), n, n/rrnBlock+1)
	}
	room := 0
	for i, b := range l.blocks {
		room += cap(b)
		if &b[0] != firsts[i] {
			t.Fatalf("block %d was copied to a new array while the load ran", i)
		}
	}
	if room-n >= rrnBlock {
		t.Errorf("room for %d RRNs held for %d", room, n)
	}
	i := 0
	for r := range l.All() {
		if r != rrn(i) {
			t.Fatalf("approved RRN %d is %s, want %s", i, r, rrn(i))
		}
		i++
	}
	if i != n {
		t.Fatalf("All yielded %d RRNs, want %d", i, n)
	}
	for range l.All() {
		break // All stops when asked to
	}
}
