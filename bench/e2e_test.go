package bench

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// TestRunE2ESmall runs the end-to-end benchmark at a low rate on one node
// and checks what it reports: every payment of the measured run and of the
// warm-up answered and approved, the warm-up's latency kept apart from the
// run's, and the ledger check clean.
func TestRunE2ESmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and two simulated banks")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := E2EConfig{Rate: 1000, Duration: 2 * time.Second, Warmup: time.Second, Banks: 2, Sessions: 1, Dir: t.TempDir()}
	res, err := RunE2E(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 2000 || res.Approved != 2000 || res.ByCode[iso8583.ResponseApproved] != 2000 || res.Errors != 0 {
		t.Errorf("measured run: sent %d, approved %d, errors %d; want 2000, 2000, 0", res.Sent, res.Approved, res.Errors)
	}
	if got := res.Latency.TotalCount(); got != 2000 {
		t.Errorf("measured latencies: %d, want 2000", got)
	}
	w := res.Warmup
	if w.Answered != 1000 {
		t.Errorf("warm-up answered %d, want 1000", w.Answered)
	}
	if w.P99ms <= 0 || w.MaxMs < w.P99ms || w.Windows.Windows != 1 || w.WindowWidth != time.Second {
		t.Errorf("warm-up summary %+v: want a positive p99 no larger than the max, over one window of 1s", w)
	}
	if c := res.CPU; c.Wall < cfg.Duration || c.CPUs() <= 0 || (runtime.GOOS == "linux" && (c.MachineIdle < 0 || c.MachineIdle > 1)) {
		t.Errorf("cpu of the measured run %+v: want at least its %v of wall time, some CPU used, an idle share", c, cfg.Duration)
	}
	if res.Lost != 0 || res.Extra != 0 {
		t.Errorf("ledger check: %d approved payments not posted, %d minor units beyond them", res.Lost, res.Extra)
	}
}
