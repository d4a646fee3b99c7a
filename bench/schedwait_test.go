package bench

import (
	"math"
	"runtime"
	"runtime/metrics"
	"testing"
)

func TestSchedWaitBetween(t *testing.T) {
	buckets := []float64{0, 0.001, 0.002, 0.004, 0.008, math.Inf(1)}
	before := &metrics.Float64Histogram{Buckets: buckets, Counts: []uint64{100, 5, 0, 0, 7}}
	// Gained: 980 waits under 1 ms, 15 of 1-2 ms, 4 of 4-8 ms, 1 of over 8 ms.
	after := &metrics.Float64Histogram{Buckets: buckets, Counts: []uint64{1080, 20, 0, 4, 8}}
	got := schedWaitBetween(before, after)
	want := SchedWait{Count: 1000, P50ms: 1, P99ms: 2, P999ms: 8, MaxMs: 8}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}

	// Nothing gained; and a runtime without the metric.
	if got := schedWaitBetween(after, after); got != (SchedWait{}) {
		t.Fatalf("no waits: got %+v", got)
	}
	if got := schedWaitBetween(nil, after); got != (SchedWait{}) {
		t.Fatalf("no reading before: got %+v", got)
	}
}

// The runtime has the metric, and a run with goroutines waking each other
// records waits.
func TestSchedWaitReadsTheRuntime(t *testing.T) {
	before := readHistogram(schedLatencyMetric)
	if before == nil {
		t.Fatalf("the runtime has no %s", schedLatencyMetric)
	}
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	for i := range 10_000 {
		ping <- i
		<-pong
	}
	close(ping)
	if got := schedWaitBetween(before, readHistogram(schedLatencyMetric)); got.Count == 0 {
		t.Fatalf("10,000 wake-ups, no scheduling waits recorded: %+v", got)
	}
}

// Both kinds of stop of the world are read, into one histogram.
func TestReadStops(t *testing.T) {
	h := readStops()
	if h == nil {
		t.Fatalf("the runtime lacks one of %v", stopMetrics)
	}
	var before uint64
	for _, c := range h.Counts {
		before += c
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms) // a stop of the world that is not a collection
	if got := schedWaitBetween(h, readStops()); got.Count < 1 {
		t.Fatalf("no stop counted after runtime.ReadMemStats (%d before)", before)
	}
}
