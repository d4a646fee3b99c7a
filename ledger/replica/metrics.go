package replica

import (
	"strconv"

	"github.com/hashicorp/raft"
	"github.com/payswitch/payswitch/ledger/store"
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

// pacingCollectors count the ledger store's table writes and the time its
// flushes and compactions slept for their pace (store.PaceStats). They
// start again from zero when a snapshot replaces the store, which
// Prometheus reads as a counter reset. They read atomics and never wait
// for the FSM's lock, so a scrape does not hang behind a long apply.
func pacingCollectors(nodeID string, f *fsm) []prometheus.Collector {
	stats := func() store.PaceStats { return f.current.Load().Pacing() }
	labels := prometheus.Labels{"node": nodeID}
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "payswitch_ledger_table_write_bytes_total", ConstLabels: labels,
			Help: "Bytes the ledger store's flushes and compactions wrote to table files.",
		}, func() float64 { return float64(stats().TableBytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "payswitch_ledger_pace_wait_seconds_total", ConstLabels: labels,
			Help: "Time the ledger store's flushes and compactions slept to keep to their pace, summed over jobs.",
		}, func() float64 { return stats().Waited.Seconds() }),
	}
}
