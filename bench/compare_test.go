package bench

import (
	"errors"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/payswitch/payswitch/bench/pgbaseline"
	"github.com/payswitch/payswitch/ledger"
)

// TestRunCompare runs a tiny comparison of every workload on all four
// systems: PostgreSQL's balances must be the ledger store's after the
// same batches, the cluster's the ledger store's after the whole run,
// nothing may be refused (a post sent to the cluster before its reserve
// was applied would be), and the last line must carry every field.
// Without PostgreSQL it is skipped, except in CI (CI=true), where a
// missing install is a broken CI script and fails it.
func TestRunCompare(t *testing.T) {
	var lines []string
	cfg := CompareConfig{
		Transfers: 6_000, PostgresTransfers: 1_200, BatchSize: 500,
		Workload:          Workload{HotAccounts: 4, ColdAccounts: 300, Seed: 7},
		ClusterSubmitters: 16, ClusterSubmitTransfers: 32,
		Postgres: pgbaseline.Options{Clients: 8},
		Dir:      t.TempDir(),
		Progress: func(line string) { lines = append(lines, line) },
	}
	res, err := RunCompare(t.Context(), cfg)
	switch {
	case errors.Is(err, pgbaseline.ErrNotInstalled) && os.Getenv("CI") == "true":
		t.Fatalf("%v; CI must install it: see .ci/run", err)
	case errors.Is(err, pgbaseline.ErrNotInstalled):
		t.Skip(err)
	case err != nil:
		t.Fatal(err)
	}
	if len(res.Workloads) != len(CompareWorkloadNames()) {
		t.Fatalf("%d workloads run, want %d", len(res.Workloads), len(CompareWorkloadNames()))
	}
	for _, w := range res.Workloads {
		for _, s := range w.Systems() {
			if s.Skipped || s.TPS <= 0 || s.Rejected != 0 {
				t.Errorf("%s on %s: %+v; want measured, nothing rejected", w.Name, s.System, s)
			}
		}
		// Batches of 500, 500 and 200: the third is cut where PostgreSQL's share ends.
		if c := w.PostgresBalances; !c.Checked || !c.Identical || c.Transfers != 1_200 || c.Accounts != 305 || c.Named == 0 {
			t.Errorf("%s: postgres balance check %+v", w.Name, c)
		}
		if c := w.ClusterBalances; !c.Checked || !c.Identical || c.Transfers != 6_000 || c.Accounts != 305 {
			t.Errorf("%s: cluster balance check %+v", w.Name, c)
		}
	}
	output := strings.Join(lines, "\n")
	if n := strings.Count(output, "\nbalances identical: yes"); n != len(res.Workloads) {
		t.Errorf("%d workloads printed \"balances identical: yes\", want %d:\n%s", n, len(res.Workloads), output)
	}
	checkLine(t, res.Line())
	if h, _ := res.Headline(); h.Name != CompareSkewed {
		t.Errorf("the last line reports %s, want skewed", h.Name)
	}
	t.Log(output + "\n" + res.Line())
}

// checkLine requires every field of the last line, in order, each a
// positive number.
func checkLine(t *testing.T, line string) {
	t.Helper()
	fields := []string{"pebble_tps", "ledger_tps", "cluster_tps", "postgres_tps", "ledger_vs_postgres", "ledger_vs_pebble"}
	var pattern strings.Builder
	pattern.WriteString("^")
	for i, f := range fields {
		if i > 0 {
			pattern.WriteString(" ")
		}
		pattern.WriteString(f + `=([0-9.]+)`)
	}
	pattern.WriteString("$")
	m := regexp.MustCompile(pattern.String()).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("last line %q: want the fields %v", line, fields)
	}
	for i, v := range m[1:] {
		if x, err := strconv.ParseFloat(v, 64); err != nil || x <= 0 {
			t.Errorf("last line %q: %s=%s, want a positive number", line, fields[i], v)
		}
	}
}

// TestCheckBalancesFindsDifferences: one minor unit on one account, or an
// account on one side only, must fail the check and be named.
func TestCheckBalancesFindsDifferences(t *testing.T) {
	ids := workloadAccountIDs(Workload{HotAccounts: 2, ColdAccounts: 3})
	reference := map[ledger.ID]ledger.Account{}
	for i, id := range ids {
		reference[id] = ledger.Account{ID: id, Participant: uint64(100 + i), Currency: 404, CreditsPosted: fundingPerAccount}
	}
	clone := func() map[ledger.ID]ledger.Account {
		m := map[ledger.ID]ledger.Account{}
		for id, a := range reference {
			a.Timestamp = 12345 // timestamps are not compared
			m[id] = a
		}
		return m
	}
	if c := checkBalances(reference, clone(), "ledger", "postgres", 10, 3); !c.Identical || c.Accounts != len(ids) {
		t.Errorf("same balances: %+v", c)
	}
	moved := clone()
	a := moved[ids[2]]
	a.DebitsPosted++
	moved[ids[2]] = a
	missing := clone()
	delete(missing, ids[1])
	extra := clone()
	extra[ledger.IDFromUint64(99)] = ledger.Account{ID: ledger.IDFromUint64(99)}
	for name, other := range map[string]map[ledger.ID]ledger.Account{"moved": moved, "missing": missing, "extra": extra} {
		c := checkBalances(reference, other, "ledger", "postgres", 10, 3)
		if c.Identical || !strings.Contains(c.Detail, "1 accounts differ") {
			t.Errorf("%s: %+v; want one account named as differing", name, c)
		}
	}
	if c := checkBalances(reference, moved, "ledger", "postgres", 10, 3); !strings.Contains(c.Detail, ids[2].String()) {
		t.Errorf("the differing account is not named: %s", c.Detail)
	}
	if c := checkBalances(nil, nil, "ledger", "postgres", 10, 3); c.Identical {
		t.Errorf("nothing read on either side passed the check: %+v", c)
	}
}

// TestUniformWorkload: Uniform gives the hot accounts their share of the
// accounts and no more, whatever HotPercent says; without it they take
// HotPercent.
func TestUniformWorkload(t *testing.T) {
	const picks = 100_000
	hotShare := func(w Workload) float64 {
		g := newGenerator(w.withDefaults())
		hot := 0
		for range picks {
			if g.pickAccount() < g.w.HotAccounts {
				hot++
			}
		}
		return float64(hot) / picks
	}
	if got := hotShare(Workload{HotAccounts: 10, ColdAccounts: 90, HotPercent: 80, Uniform: true, Seed: 1}); got < 0.08 || got > 0.12 {
		t.Errorf("uniform: hot accounts take %.3f of the picks, want about 0.10", got)
	}
	if got := hotShare(Workload{HotAccounts: 10, ColdAccounts: 90, Seed: 1}); got < 0.78 || got > 0.82 {
		t.Errorf("skewed: hot accounts take %.3f of the picks, want about 0.80", got)
	}
}

// TestCompareConfigValidate: every problem is reported at once.
func TestCompareConfigValidate(t *testing.T) {
	if err := (CompareConfig{}).withDefaults().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	cfg := CompareConfig{Workloads: []string{"skewed", "skewed", "zipf"}, ClusterSubmitters: 4096, ClusterSubmitTransfers: 64,
		BatchSize: ledger.BatchCommandsMax + 1, Postgres: pgbaseline.Options{Clients: 100_000}}.withDefaults()
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 5 {
		t.Errorf("%d problems reported, want 5 (two workloads, batch, in flight, clients): %v", n, err)
	}
	for name, want := range map[string]int{"uniform": 0, "skewed": 0, "two-phase": compareTwoPhasePendingPercent} {
		w := namedWorkload(Workload{HotPercent: 80, PendingPercent: 7}, name)
		if w.PendingPercent != want || w.Uniform != (name == CompareUniform) || w.HotPercent != 80 {
			t.Errorf("%s: %+v", name, w)
		}
	}
}

// TestBatchSizes: the batches sum to Transfers, and the one in which the
// cut falls is split there, so that the first batches hold exactly cut;
// full batches follow.
func TestBatchSizes(t *testing.T) {
	cfg := CompareConfig{Transfers: 2_300, BatchSize: 1_000}
	cases := []struct {
		cut  int
		want []int
	}{
		{0, []int{1_000, 1_000, 300}},
		{1_000, []int{1_000, 1_000, 300}},
		{1_200, []int{1_000, 200, 1_000, 100}},
		{2_100, []int{1_000, 1_000, 100, 200}},
		{2_300, []int{1_000, 1_000, 300}},
	}
	for _, c := range cases {
		if got := slices.Collect(cfg.batchSizes(c.cut)); !slices.Equal(got, c.want) {
			t.Errorf("cut %d: batches %v, want %v", c.cut, got, c.want)
		}
	}
}
