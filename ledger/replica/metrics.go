package replica

import (
	"strconv"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's Prometheus collectors, registered on a registry
// of the node's own so that several nodes can live in one process (tests).
type metrics struct {
	registry      *prometheus.Registry
	batchCommands prometheus.Histogram
	commitSeconds prometheus.Histogram
	overloaded    prometheus.Counter
}

func newMetrics(nodeID string, r func() *raft.Raft, applied func() uint64) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		batchCommands: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "payswitch_raft_entry_commands",
			Help:    "Commands per proposed log entry.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "payswitch_raft_commit_seconds",
			Help:    "Time from proposing a log entry to its results, on the leader.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		overloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "payswitch_raft_overloaded_total",
			Help: "Submissions refused because the proposer's queue was full.",
		}),
	}
	stat := func(name string) func() float64 {
		return func() float64 {
			v, _ := strconv.ParseFloat(r().Stats()[name], 64)
			return v
		}
	}
	labels := prometheus.Labels{"node": nodeID}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f)
	}
	m.registry.MustRegister(
		m.batchCommands, m.commitSeconds, m.overloaded,
		gauge("payswitch_raft_term", "Current Raft term.", stat("term")),
		gauge("payswitch_raft_commit_index", "Raft commit index.", func() float64 { return float64(r().CommitIndex()) }),
		gauge("payswitch_raft_last_index", "Last Raft log index.", func() float64 { return float64(r().LastIndex()) }),
		gauge("payswitch_raft_applied_index", "Last log index applied to the ledger.", func() float64 { return float64(applied()) }),
		gauge("payswitch_raft_is_leader", "1 on the leader, 0 elsewhere.", func() float64 {
			if r().State() == raft.Leader {
				return 1
			}
			return 0
		}),
		prometheus.NewGoCollector(),
		prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}),
	)
	return m
}
