package bench

import (
	"math"
	"runtime/metrics"
)

// schedLatencyMetric is the runtime's histogram of the time goroutines
// spent runnable before they ran: waiting for a P, in the scheduler's run
// queues. The kernel's own run queue comes on top.
const schedLatencyMetric = "/sched/latencies:seconds"

// SchedWait summarises, in milliseconds, what one of the runtime's time
// histograms (how long goroutines waited to run, or how long the world
// stood stopped) gained between two readings. The runtime keeps the
// histogram in buckets: each figure is its bucket's
// upper bound (Max the highest non-empty bucket's), so it errs long, by
// at most the bucket's width (about 1/8 of the value at these sizes).
type SchedWait struct {
	Count                       uint64
	P50ms, P99ms, P999ms, MaxMs float64
}

// stopMetrics are the runtime's histograms of its stops of the world, for
// a garbage collection and for anything else (runtime.ReadMemStats, a
// GOMAXPROCS change, a trace starting), from the decision to stop to the
// restart: every goroutine waits that long.
var stopMetrics = []string{"/sched/pauses/total/gc:seconds", "/sched/pauses/total/other:seconds"}

// readStops reads the stops of the world now, both kinds in one histogram.
func readStops() *metrics.Float64Histogram {
	var sum *metrics.Float64Histogram
	for _, name := range stopMetrics {
		h := readHistogram(name)
		if h == nil {
			return nil
		}
		if sum == nil {
			sum = &metrics.Float64Histogram{Buckets: h.Buckets, Counts: append([]uint64(nil), h.Counts...)}
			continue
		}
		if len(h.Counts) != len(sum.Counts) {
			return nil
		}
		for i, c := range h.Counts {
			sum.Counts[i] += c
		}
	}
	return sum
}

// readHistogram reads the runtime's histogram name now, or returns nil.
func readHistogram(name string) *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return s[0].Value.Float64Histogram()
}

// schedWaitBetween is what the histogram gained from before to after, or
// the zero SchedWait when the runtime had no such metric.
func schedWaitBetween(before, after *metrics.Float64Histogram) SchedWait {
	if before == nil || after == nil || len(before.Counts) != len(after.Counts) {
		return SchedWait{}
	}
	counts := make([]uint64, len(after.Counts))
	var w SchedWait
	for i := range counts {
		counts[i] = after.Counts[i] - before.Counts[i]
		w.Count += counts[i]
	}
	if w.Count == 0 {
		return w
	}
	// upper is bucket i's upper bound in ms; the last bucket's is +Inf,
	// so it reports its lower bound instead.
	upper := func(i int) float64 {
		b := after.Buckets[i+1]
		if math.IsInf(b, 1) {
			b = after.Buckets[i]
		}
		return b * 1e3
	}
	quantile := func(q float64) float64 {
		rank := uint64(math.Ceil(q * float64(w.Count)))
		var seen uint64
		for i, c := range counts {
			seen += c
			if seen >= rank {
				return upper(i)
			}
		}
		return upper(len(counts) - 1)
	}
	w.P50ms, w.P99ms, w.P999ms = quantile(0.5), quantile(0.99), quantile(0.999)
	for i := len(counts) - 1; i >= 0; i-- {
		if counts[i] > 0 {
			w.MaxMs = upper(i)
			break
		}
	}
	return w
}
