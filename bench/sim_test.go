package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger/replica/clustertest"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// simTestConfig is a short, light day: a few seconds at low rates, a
// short payee deadline so that the silent bank's 68s come within it.
func simTestConfig(t *testing.T, nodes int, d time.Duration) SimConfig {
	return SimConfig{
		Duration: d, Nodes: nodes, BaseRate: 150, PeakRate: 400, G2PRate: 150,
		BigBanks: 3, SmallBanks: 4, Wallets: 2, Beneficiaries: 300,
		PaymentTimeout: 400 * time.Millisecond, Seed: 7,
		Dir: t.TempDir(), ReportDir: filepath.Join(t.TempDir(), "report"),
	}
}

// checkSimResult checks that the counts add up, one way and the other.
func checkSimResult(t *testing.T, res *SimResult) {
	t.Helper()
	if res.Offered == 0 || res.Sent+res.NotSent != res.Offered {
		t.Errorf("offered %d = sent %d + not sent %d?", res.Offered, res.Sent, res.NotSent)
	}
	if res.Answered+res.TimedOut+res.Failed != res.Sent {
		t.Errorf("sent %d = answered %d + timed out %d + failed %d?", res.Sent, res.Answered, res.TimedOut, res.Failed)
	}
	byCode := 0
	for _, n := range res.ByCode {
		byCode += n
	}
	if byCode != res.Answered || res.ByCode[iso8583.ResponseApproved] != res.Approved {
		t.Errorf("codes %v add up to %d, answered %d, approved %d", res.ByCode, byCode, res.Answered, res.Approved)
	}
	if got := res.Latency.TotalCount(); got != int64(res.Answered) || res.Regular.TotalCount()+res.G2P.TotalCount() != got {
		t.Errorf("latency histograms hold %d (%d + %d), answered %d", got, res.Regular.TotalCount(), res.G2P.TotalCount(), res.Answered)
	}
	var sum SimSecond
	for _, s := range res.Seconds {
		sum.Offered += s.Offered
		sum.Sent += s.Sent
		sum.NotSent += s.NotSent
		sum.Answered += s.Answered
		sum.AnsweredAt += s.AnsweredAt
		sum.Approved += s.Approved
		sum.ApprovedAt += s.ApprovedAt
		sum.TimedOut += s.TimedOut
		sum.Failed += s.Failed
		if s.Answered != int(s.latency.TotalCount()) {
			t.Errorf("second %d: %d answered, %d latencies", s.Second, s.Answered, s.latency.TotalCount())
		}
	}
	if sum.Offered != res.Offered || sum.Sent != res.Sent || sum.NotSent != res.NotSent || sum.Answered != res.Answered ||
		sum.AnsweredAt != res.Answered || sum.Approved != res.Approved || sum.ApprovedAt != res.Approved ||
		sum.TimedOut != res.TimedOut || sum.Failed != res.Failed {
		t.Errorf("the seconds add up to %+v, the totals are %+v", sum, res)
	}
	classOffered, classApproved := 0, 0
	for _, c := range res.Classes {
		classOffered += c.Offered
		classApproved += c.Approved
	}
	if classOffered != res.Offered || classApproved != res.Approved {
		t.Errorf("classes offered %d approved %d; totals %d, %d", classOffered, classApproved, res.Offered, res.Approved)
	}
	if res.Approved < res.Offered*8/10 {
		t.Errorf("only %d of %d approved", res.Approved, res.Offered)
	}
	if res.ByCodeG2P[iso8583.ResponseApproved] == 0 {
		t.Error("no G2P payment approved")
	}
	if res.ByCode[iso8583.ResponsePayeeTimedOut] == 0 {
		t.Errorf("the silent bank caused no 68: %v", res.ByCode)
	}
	if res.Checked == 0 || res.Unposted != 0 || !res.Converged {
		t.Errorf("ledger check: %d of %d sampled approved payments not posted, converged %v", res.Unposted, res.Checked, res.Converged)
	}
	if !strings.HasPrefix(res.Line(), "sim_payments=") {
		t.Errorf("line %q", res.Line())
	}
}

// checkSimReport checks that the report's files exist and hold what the
// run measured.
func checkSimReport(t *testing.T, res *SimResult) {
	t.Helper()
	html, err := os.ReadFile(res.ReportPath)
	if err != nil {
		t.Fatal(err)
	}
	pngs, _ := filepath.Glob(filepath.Join(filepath.Dir(res.ReportPath), "*.png"))
	if len(pngs) != 7 {
		t.Errorf("%d charts: %v", len(pngs), pngs)
	}
	for _, want := range []string{res.Line(), "Event log", "Answers by response code", "stops answering", "cores", fmtInt(res.Offered)} {
		if !strings.Contains(string(html), want) && !strings.Contains(string(html), strings.ReplaceAll(want, "=", "&#61;")) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

// TestSimOneNode: a short day on one node in process, with the silent
// bank; the counts add up and the report is written.
func TestSimOneNode(t *testing.T) {
	cfg := simTestConfig(t, 1, 6*time.Second)
	var ticks, events int
	cfg.Progress = func(SimTick) { ticks++ }
	cfg.Event = func(SimEvent) { events++ }
	res, err := RunSim(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Line())
	checkSimResult(t, res)
	checkSimReport(t, res)
	if ticks < 5 || events < 4 {
		t.Errorf("%d progress ticks, %d events", ticks, events)
	}
}

// TestSimThreeNodesKill: three serve processes, the leader killed in the
// middle of a short day; the banks sign on at the new leader and the
// approved payments are posted there.
func TestSimThreeNodesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	cfg := simTestConfig(t, 3, 10*time.Second)
	cfg.Binary = clustertest.BuildBinary(t)
	res, err := RunSim(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Line())
	checkSimResult(t, res)
	checkSimReport(t, res)
	kinds := map[string]bool{}
	for _, e := range res.Events {
		kinds[e.Kind] = true
		t.Logf("%8v %s", e.At.Round(time.Millisecond), e.Text)
	}
	for _, k := range []string{"kill", "leader", "signed-on"} {
		if !kinds[k] {
			t.Errorf("no %q event", k)
		}
	}
	// A restart can fail while the banks' old sessions hold the node's
	// ISO 8583 port in TIME_WAIT (the front end binds without
	// SO_REUSEADDR); the sim reports it and goes on.
	if !kinds["restart"] && !kinds["restart-failed"] {
		t.Error("no restart event")
	}
	if res.Redials == 0 {
		t.Error("no bank re-dialled after the kill")
	}
}
