package simulator_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/payswitch/payswitch/simulator"
	"github.com/payswitch/payswitch/switch/iso8583"
)

var loadPayees = []simulator.Payee{
	{Participant: payeeParticipant, Account: "7766554433"},
	{Alias: "msisdn:+254700000001"},
}

// A load's latencies go to the window of their due time: 2,200 payments
// at 2,000/s fill the first second's window with 2,000 and the next with
// 200.
func TestRunLoadWindowsByDueTime(t *testing.T) {
	sw := startStandIn(t)
	b := dial(t, sw, simulator.BankConfig{Sessions: 2, Seed: 5})
	res, err := b.RunLoad(testContext(t), simulator.LoadConfig{Rate: 2000, Count: 2200, Payees: loadPayees, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Answered != 2200 || len(res.Windows) != 2 || res.WindowWidth != time.Second {
		t.Fatalf("answered %d, %d windows of %v; want 2200 in 2 of 1s", res.Answered, len(res.Windows), res.WindowWidth)
	}
	if got0, got1 := res.Windows[0].TotalCount(), res.Windows[1].TotalCount(); got0 != 2000 || got1 != 200 {
		t.Fatalf("windows hold %d and %d, want 2000 and 200", got0, got1)
	}
}

func TestRunLoadAnswersEveryPayment(t *testing.T) {
	sw := startStandIn(t)
	b := dial(t, sw, simulator.BankConfig{Sessions: 2, Seed: 3})
	const n = 400
	res, err := b.RunLoad(testContext(t), simulator.LoadConfig{Rate: 2000, Count: n, Payees: loadPayees, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != n || res.Answered != n || res.TimedOut != 0 || res.Failed != 0 || res.NotSent != 0 {
		t.Fatalf("sent %d answered %d timed out %d failed %d not sent %d", res.Sent, res.Answered, res.TimedOut, res.Failed, res.NotSent)
	}
	if res.Latency.TotalCount() != int64(res.Answered) || res.ByCode[iso8583.ResponseApproved] != n {
		t.Fatalf("histogram holds %d, %d approved; want %d", res.Latency.TotalCount(), res.ByCode[iso8583.ResponseApproved], n)
	}
	if len(res.Windows) != 1 || res.WindowWidth != time.Second || res.Windows[0].TotalCount() != int64(n) {
		t.Fatalf("%d windows of %v; want every payment in the one window of 1s", len(res.Windows), res.WindowWidth)
	}
	// n payments at 2,000/s are due over 200 ms: the load took that long.
	if res.Elapsed < 195*time.Millisecond {
		t.Fatalf("elapsed %v: the payments went out faster than their rate", res.Elapsed)
	}
	payments, _, _, _, macFailures := sw.snapshot()
	if len(payments) != n || macFailures != 0 {
		t.Fatalf("stand-in got %d payments, %d bad MACs", len(payments), macFailures)
	}
	received := make(map[string]bool)
	aliases := 0
	for _, m := range payments {
		received[string(m.RRN[:])] = true
		if !m.Has(iso8583.FieldReceiver) {
			aliases++
		}
		if m.Amount < 100 || m.Amount > 10_000 {
			t.Fatalf("amount %d outside the default range", m.Amount)
		}
	}
	approved := make(map[string]bool)
	for r := range res.Approved.All() {
		rrn := r.String()
		approved[rrn] = true
		if !received[rrn] {
			t.Fatalf("approved RRN %s never reached the switch", rrn)
		}
	}
	if len(approved) != n || len(received) != n {
		t.Fatalf("%d distinct approved RRNs, %d distinct received; want %d", len(approved), len(received), n)
	}
	if aliases == 0 || aliases == n {
		t.Fatalf("%d of %d payments to the alias: the payees were not mixed", aliases, n)
	}
}

func TestRunLoadLatencyIncludesQueueing(t *testing.T) {
	sw := startStandIn(t)
	const service = 4 * time.Millisecond
	sw.serviceDelay.Store(int64(service))
	b := dial(t, sw, simulator.BankConfig{})
	// 100 payments offered at 500/s (over 200 ms) to a switch that serves
	// 250/s (400 ms): the last waits about 200 ms in the queue. Measured
	// from when each went out, a closed loop would see about 4 ms.
	res, err := b.RunLoad(testContext(t), simulator.LoadConfig{Rate: 500, Count: 100, Payees: loadPayees, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Answered != 100 || res.Latency.TotalCount() != 100 {
		t.Fatalf("answered %d, histogram %d", res.Answered, res.Latency.TotalCount())
	}
	maxLatency := time.Duration(res.Latency.Max()) * time.Microsecond
	median := time.Duration(res.Latency.ValueAtQuantile(50)) * time.Microsecond
	if maxLatency < 120*time.Millisecond || median < 10*service {
		t.Fatalf("latency max %v median %v: the queueing behind a slow switch is not counted", maxLatency, median)
	}
	if res.Elapsed < 380*time.Millisecond {
		t.Fatalf("elapsed %v, want at least the 400 ms of service", res.Elapsed)
	}
}

func TestRunLoadTimesOut(t *testing.T) {
	sw := startStandIn(t)
	sw.answer.Store(false)
	b := dial(t, sw, simulator.BankConfig{})
	start := time.Now()
	res, err := b.RunLoad(testContext(t), simulator.LoadConfig{Rate: 200, Count: 20, Payees: loadPayees, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 20 || res.TimedOut != 20 || res.Answered != 0 || res.Latency.TotalCount() != 0 || res.Approved.Len() != 0 {
		t.Fatalf("sent %d timed out %d answered %d", res.Sent, res.TimedOut, res.Answered)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("took %v for 100 ms of sending and a 100 ms timeout", took)
	}
}

func TestRunLoadStopsAtDurationAndReportsProgress(t *testing.T) {
	sw := startStandIn(t)
	b := dial(t, sw, simulator.BankConfig{})
	var calls []int
	res, err := b.RunLoad(testContext(t), simulator.LoadConfig{
		Rate: 100, Duration: 1100 * time.Millisecond, Payees: loadPayees,
		Progress: func(sent, done int) { calls = append(calls, sent) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 110 || res.Answered != 110 {
		t.Fatalf("sent %d answered %d; want the 110 payments due in 1.1 s at 100/s", res.Sent, res.Answered)
	}
	if len(calls) != 1 || calls[0] < 95 || calls[0] > 105 {
		t.Fatalf("progress calls %v, want one after a second with about 100 sent", calls)
	}
}

func TestRunLoadStopsWithContext(t *testing.T) {
	sw := startStandIn(t)
	b := dial(t, sw, simulator.BankConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	res, err := b.RunLoad(ctx, simulator.LoadConfig{Rate: 100, Duration: time.Hour, Payees: loadPayees})
	if !errors.Is(err, context.DeadlineExceeded) || res == nil {
		t.Fatalf("RunLoad: %v, %v", res, err)
	}
	if res.Sent < 10 || res.Sent > 20 || res.Answered != res.Sent {
		t.Fatalf("sent %d answered %d in 150 ms at 100/s", res.Sent, res.Answered)
	}
}

func TestRunLoadValidates(t *testing.T) {
	sw := startStandIn(t)
	b := dial(t, sw, simulator.BankConfig{})
	good := simulator.LoadConfig{Rate: 10, Count: 1, Payees: loadPayees}
	for _, tc := range []struct {
		name   string
		change func(*simulator.LoadConfig)
	}{
		{"no rate", func(c *simulator.LoadConfig) { c.Rate = 0 }},
		{"rate too high", func(c *simulator.LoadConfig) { c.Rate = 2e6 }},
		{"neither count nor duration", func(c *simulator.LoadConfig) { c.Count = 0 }},
		{"too many payments", func(c *simulator.LoadConfig) { c.Count, c.Rate, c.Duration = 0, 1e6, time.Hour }},
		{"no payees", func(c *simulator.LoadConfig) { c.Payees = nil }},
		{"account without participant", func(c *simulator.LoadConfig) { c.Payees = []simulator.Payee{{Account: "A"}} }},
		{"amounts reversed", func(c *simulator.LoadConfig) { c.AmountMin, c.AmountMax = 10, 5 }},
		{"amount of 13 digits", func(c *simulator.LoadConfig) { c.AmountMin, c.AmountMax = 1, 1_000_000_000_000 }},
		{"alias too long for field 103", func(c *simulator.LoadConfig) {
			c.Payees = []simulator.Payee{{Alias: "msisdn:+" + string(make([]byte, 80))}}
		}},
		{"payer account too long for field 102", func(c *simulator.LoadConfig) { c.PayerAccount = "12345678901234567890123456789" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			if _, err := b.RunLoad(testContext(t), cfg); !errors.Is(err, simulator.ErrConfig) {
				t.Fatalf("RunLoad error %v, want ErrConfig", err)
			}
		})
	}
}

func TestParsePayee(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want simulator.Payee
		ok   bool
	}{
		{"10002/7766554433", simulator.Payee{Participant: 10002, Account: "7766554433"}, true},
		{"msisdn:+254700000001", simulator.Payee{Alias: "msisdn:+254700000001"}, true},
		{"10002/", simulator.Payee{}, false},
		{"x/ACC", simulator.Payee{}, false},
		{"0/ACC", simulator.Payee{}, false},
		{"7766554433", simulator.Payee{}, false},
		{"msisdn:", simulator.Payee{}, false},
	} {
		got, err := simulator.ParsePayee(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParsePayee(%q) = %+v, %v", tc.in, got, err)
		}
	}
}
