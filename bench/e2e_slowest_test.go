package bench

import (
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/payswitch/payswitch/simulator"
)

// windowsOf makes a load result whose window i holds the latencies (in
// ms) of lat[i]; a nil entry is a window without an answered payment.
func windowsOf(lat ...[]int64) *simulator.LoadResult {
	r := &simulator.LoadResult{WindowWidth: time.Second, Windows: make([]*hdrhistogram.Histogram, len(lat))}
	for i, ms := range lat {
		if ms == nil {
			continue
		}
		r.Windows[i] = hdrhistogram.New(1, 60_000_000, 2)
		for _, v := range ms {
			_ = r.Windows[i].RecordValue(v * 1000)
		}
	}
	return r
}

// repeat returns n copies of v.
func repeat(v int64, n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func TestSlowestWindows(t *testing.T) {
	// Two banks. Window 0: 200 fast payments. Window 1: 100 at 10 ms from
	// one bank, 100 at 80 ms from the other: p99 80 ms. Window 2: none.
	// Window 3 (the second bank only): 99 at 10 ms and one at 300 ms, so
	// the p99 is 10 ms and the longest 300.
	var res E2EResult
	res.mergeWindows(windowsOf(repeat(5, 100), repeat(10, 100)))
	res.mergeWindows(windowsOf(repeat(5, 100), repeat(80, 100), nil, append(repeat(10, 99), 300)))
	if len(res.Windows) != 4 || res.WindowWidth != time.Second {
		t.Fatalf("%d windows of %v, want 4 of 1s", len(res.Windows), res.WindowWidth)
	}
	if res.Windows[0].TotalCount() != 200 || res.Windows[1].TotalCount() != 200 || res.Windows[2] != nil {
		t.Fatalf("merged counts wrong: %d, %d, %v", res.Windows[0].TotalCount(), res.Windows[1].TotalCount(), res.Windows[2])
	}
	got := res.Slowest(50 * time.Millisecond)
	if got.Windows != 3 || got.Over != 1 || got.Worst != 1 {
		t.Fatalf("got %+v, want 3 windows, 1 over, the worst window 1", got)
	}
	if got.WorstP99ms < 79 || got.WorstP99ms > 81 || got.WorstMaxMs < 79 || got.WorstMaxMs > 81 {
		t.Fatalf("worst p99 %.2f ms, max %.2f ms; want about 80", got.WorstP99ms, got.WorstMaxMs)
	}
	if got := res.Slowest(5 * time.Millisecond); got.Over != 3 {
		t.Fatalf("against 5 ms: %d windows over, want 3", got.Over)
	}
	if got := (E2EResult{}).Slowest(time.Millisecond); got != (WindowSummary{}) {
		t.Fatalf("no windows: got %+v", got)
	}

	c, ok := windowChart(res)
	if !ok {
		t.Fatal("no chart for three windows")
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, ok := windowChart(E2EResult{}); ok {
		t.Fatal("a chart without windows")
	}
}
