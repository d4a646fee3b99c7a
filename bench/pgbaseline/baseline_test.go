package pgbaseline

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger"
)

// shared is the one server the package's tests and benchmarks use, each in
// databases of its own: initdb and start take seconds.
var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, db := range benchDBs {
		db.Close()
	}
	if shared.srv != nil {
		if err := shared.srv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = max(code, 1)
		}
	}
	os.Exit(code)
}

// testServer returns the shared server, starting it on first use. Without
// PostgreSQL the test is skipped, except in CI (CI=true), where a missing
// install is a broken CI script and fails the test.
func testServer(tb testing.TB) *Server {
	tb.Helper()
	shared.once.Do(func() { shared.srv, shared.err = Start(context.Background(), nil) })
	switch {
	case errors.Is(shared.err, ErrNotInstalled) && os.Getenv("CI") == "true":
		tb.Fatalf("%v; CI must install it: see .ci/run", shared.err)
	case errors.Is(shared.err, ErrNotInstalled):
		tb.Skip(shared.err)
	case shared.err != nil:
		tb.Fatal(shared.err)
	}
	return shared.srv
}

var databases atomic.Int64

// testDB opens a fresh database on the shared server.
func testDB(tb testing.TB, opts Options) *DB {
	tb.Helper()
	srv := testServer(tb)
	url, err := srv.CreateDatabase(tb.Context(), fmt.Sprintf("test_%d", databases.Add(1)))
	if err != nil {
		tb.Fatal(err)
	}
	db, err := Open(tb.Context(), url, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(db.Close)
	return db
}

// model is the ledger's in-memory reference with a batch clock.
type model struct {
	mem   *ledger.Memory
	clock uint64
}

func newModel() *model {
	return &model{mem: ledger.NewMemory(), clock: uint64(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())}
}

// apply applies a copy of b (the ledger sets nothing in it, but the
// baseline gets the same untouched commands) and returns the codes.
func (m *model) apply(b ledger.Batch) []ledger.Code {
	m.clock += uint64(time.Millisecond)
	b.Timestamp = m.clock
	out := m.mem.Apply(&b)
	codes := make([]ledger.Code, len(out.Results))
	for i, r := range out.Results {
		codes[i] = r.Code
	}
	return codes
}

func countRejected(into map[ledger.Code]int, codes []ledger.Code) {
	for _, c := range codes {
		if !c.Succeeded() {
			into[c]++
		}
	}
}

func batchSeq(batches []ledger.Batch) iter.Seq[*ledger.Batch] {
	return func(yield func(*ledger.Batch) bool) {
		for i := range batches {
			if !yield(&batches[i]) {
				return
			}
		}
	}
}

// setupBoth applies the workload's set-up to the model and the baseline.
func setupBoth(t *testing.T, w testWorkload, opts Options) (*model, *DB) {
	t.Helper()
	m := newModel()
	setup := w.setup()
	for _, b := range setup {
		for i, c := range m.apply(b) {
			if c != ledger.OK {
				t.Fatalf("ledger set-up command %d: %s", i, c)
			}
		}
	}
	db := testDB(t, opts)
	if err := db.Setup(t.Context(), setup); err != nil {
		t.Fatal(err)
	}
	return m, db
}

// sameBalances fails the test unless every account holds the same fields
// and balances in the model and in the baseline.
func sameBalances(t *testing.T, m *model, db *DB) {
	t.Helper()
	if err := db.Check(t.Context()); err != nil {
		t.Error(err)
	}
	got, err := db.Balances(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := m.mem.Accounts()
	if len(got) != len(want) {
		t.Errorf("baseline holds %d accounts, ledger %d", len(got), len(want))
	}
	diffs := 0
	for _, a := range want {
		a.Timestamp = 0
		if g := got[a.ID]; g != a && diffs < 10 {
			diffs++
			t.Errorf("account %s:\nbaseline %+v\nledger   %+v", a.ID, g, a)
		}
	}
}

// TestSameBalances runs each benchmark shape through the ledger's model
// and through the baseline with concurrent clients: the rejections by
// reason and every account's final balances must be the same. Drain
// transfers have one amount, so that which of them the limit refuses
// depends on their order but how many does not.
func TestSameBalances(t *testing.T) {
	shapes := []struct {
		name string
		w    testWorkload
	}{
		{"uniform", testWorkload{cold: 400, drains: 10, drainPercent: 5, seed: 1}},
		{"skewed", testWorkload{hot: 8, cold: 400, hotPercent: 80, drains: 10, drainPercent: 5, seed: 2}},
		{"two-phase", testWorkload{hot: 8, cold: 400, hotPercent: 80, pendingPercent: 40, drains: 10, drainPercent: 5, seed: 3}},
	}
	for _, shape := range shapes {
		t.Run(shape.name, func(t *testing.T) {
			m, db := setupBoth(t, shape.w, Options{Clients: 16, Pipeline: 4})
			timed := shape.w.batches(2000, testBatchesSize)
			want := map[ledger.Code]int{}
			for _, b := range timed {
				countRejected(want, m.apply(b))
			}
			res, err := db.Run(t.Context(), batchSeq(timed), nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Transfers != 2000 {
				t.Errorf("%d transfers done, want 2000", res.Transfers)
			}
			if want[ledger.ExceedsCredits] == 0 {
				t.Errorf("no transfer exceeded its limit in the ledger: the limit path is not exercised")
			}
			if !maps.Equal(res.Rejected, want) {
				t.Errorf("rejected by reason: baseline %v, ledger %v", res.Rejected, want)
			}
			sameBalances(t, m, db)
		})
	}
}

// TestSameResultsInOrder runs a mixed workload on one client, so that the
// baseline applies the commands in the ledger's order: then every single
// code must be the ledger's, including retries answered exists or
// exists_with_different_*, rejected IDs staying rejected, invalid fields,
// voids, partial posts, and drains refused by the limit depending on
// their order.
func TestSameResultsInOrder(t *testing.T) {
	w := testWorkload{hot: 4, cold: 50, hotPercent: 60, pendingPercent: 25,
		drains: 5, drainPercent: 20, drainAmountMax: 600, mixed: true, seed: 4}
	m, db := setupBoth(t, w, Options{Clients: 1, Pipeline: 50})
	seen := map[ledger.Code]int{}
	mismatches := 0
	for bi, b := range w.batches(2500, testBatchesSize) {
		want := m.apply(b)
		got, err := db.Apply(t.Context(), &b, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			seen[want[i]]++
			if got[i] != want[i] && mismatches < 10 {
				mismatches++
				t.Errorf("batch %d, command %d %+v: baseline %s, ledger %s", bi, i, b.Commands[i].Transfer, got[i], want[i])
			}
		}
	}
	// The mix must reach the paths it is there for.
	for _, c := range []ledger.Code{ledger.OK, ledger.Exists, ledger.ExceedsCredits, ledger.IDAlreadyFailed,
		ledger.ExistsWithDifferentAmount, ledger.AmountMustNotBeZero, ledger.PendingTransferNotFound,
		ledger.PendingTransferNotPending, ledger.CurrencyMismatch, ledger.DebitAccountNotFound,
		ledger.IDMustNotBeZero, ledger.FlagsAreMutuallyExclusive, ledger.TimeoutReservedForPendingTransfer} {
		if seen[c] == 0 {
			t.Errorf("the mixed workload never produced %s", c)
		}
	}
	sameBalances(t, m, db)
}

// TestConcurrentDuplicates sends copies of the same transfers at once
// from many clients: each moves money once, and every other copy answers
// exists, also when two copies race past the idempotency check together.
func TestConcurrentDuplicates(t *testing.T) {
	w := testWorkload{hot: 4, cold: 20, hotPercent: 50, seed: 5}
	m, db := setupBoth(t, w, Options{Clients: 32, Pipeline: 1})
	originals := w.batches(10, 10)[0].Commands
	var b ledger.Batch
	for range 40 {
		b.Commands = append(b.Commands, originals...)
	}
	want := map[ledger.Code]int{}
	for _, c := range m.apply(b) {
		want[c]++
	}
	codes, err := db.Apply(t.Context(), &b, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[ledger.Code]int{}
	for _, c := range codes {
		got[c]++
	}
	if !maps.Equal(got, want) || got[ledger.OK] != len(originals) {
		t.Errorf("codes: baseline %v, ledger %v; want %d ok", got, want, len(originals))
	}
	sameBalances(t, m, db)
}

// TestRun drives the whole path once: a server of its own, set-up, timed
// batches, the result.
func TestRun(t *testing.T) {
	testServer(t) // skips or fails as the shared server does
	w := testWorkload{hot: 8, cold: 100, hotPercent: 80, pendingPercent: 20, drains: 2, drainPercent: 5, seed: 6}
	timed := w.batches(1000, testBatchesSize)
	done := 0
	res, err := Run(t.Context(), Config{Options: Options{Clients: 8}, Setup: w.setup(),
		Batches: batchSeq(timed), Progress: func(n int) { done = n }, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if res.Transfers != 1000 || done != 1000 || res.TPS <= 0 || res.Elapsed <= 0 {
		t.Errorf("result %+v, progress %d", res, done)
	}
	// Drains refused while pending make their posts pending_transfer_not_found.
	limited := res.Rejected[ledger.ExceedsCredits] + res.Rejected[ledger.PendingTransferNotFound]
	if res.Rejected[ledger.ExceedsCredits] == 0 || res.RejectedTotal() != limited {
		t.Errorf("rejected %v: want only exceeds_credits and the posts of refused pending drains", res.Rejected)
	}
	t.Log(res.Line())
}

func TestCheckBatchRefuses(t *testing.T) {
	transfer := ledger.Transfer{ID: ledger.IDFromUint64(9), DebitAccount: testHub, CreditAccount: positionID(0), Amount: 1, Currency: testCurrency}
	linked, huge := transfer, transfer
	linked.Flags = ledger.Linked
	huge.Amount = 1 << 63
	cases := []struct {
		name string
		cmd  ledger.Command
		want error
	}{
		{"linked", ledger.Command{Op: ledger.OpCreateTransfer, Transfer: linked}, ErrUnsupported},
		{"set_limit", ledger.Command{Op: ledger.OpSetLimit}, ErrUnsupported},
		{"expire", ledger.Command{Op: ledger.OpExpire}, ErrUnsupported},
		{"amount", ledger.Command{Op: ledger.OpCreateTransfer, Transfer: huge}, ErrAmountTooLarge},
		{"limit", ledger.Command{Op: ledger.OpCreateAccount, Account: ledger.Account{Limit: 1 << 63}}, ErrAmountTooLarge},
		{"ok", ledger.Command{Op: ledger.OpCreateTransfer, Transfer: transfer}, nil},
	}
	for _, c := range cases {
		err := checkBatch(&ledger.Batch{Commands: []ledger.Command{c.cmd}})
		if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (Options{}).withDefaults().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	err := Options{Clients: clientsMax + 1, Pipeline: -1}.Validate()
	if err == nil || len(err.(interface{ Unwrap() []error }).Unwrap()) != 2 {
		t.Errorf("want both problems reported, got %v", err)
	}
}

// TestLimits checks how the limits relate.
func TestLimits(t *testing.T) {
	if maxConnections <= clientsMax {
		t.Errorf("max_connections %d leaves no room above %d clients", maxConnections, clientsMax)
	}
	if setupTransactionCommandsMax > ledger.BatchCommandsMax || pipelineTransfersMax > ledger.BatchCommandsMax {
		t.Errorf("a set-up transaction or a pipeline holds more than a ledger batch")
	}
}

// TestSchemaNames: every {{name}} of the schema is a known code or
// constant (schemaSQL panics otherwise), and the codes are the ledger's.
func TestSchemaNames(t *testing.T) {
	sql := schemaSQL()
	for _, want := range []string{"RETURN 74;", "RETURN 10;", "ELSE 30"} {
		if !strings.Contains(sql, want) {
			t.Errorf("schema lacks %q", want)
		}
	}
}

func TestFindBinaries(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := findBinaries(filepath.Join(t.TempDir(), "*", "bin"))
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install -y postgresql") {
		t.Errorf("without PostgreSQL: %v; want ErrNotInstalled naming the package", err)
	}
	root := t.TempDir()
	for _, version := range []string{"9.6", "16", "15"} {
		bin := filepath.Join(root, version, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, "initdb"), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "17", "bin"), 0o755); err != nil { // no initdb: skipped
		t.Fatal(err)
	}
	if got, err := findBinaries(filepath.Join(root, "*", "bin")); err != nil || got != filepath.Join(root, "16", "bin") {
		t.Errorf("found %q, %v; want version 16", got, err)
	}
}

func TestCompareVersions(t *testing.T) {
	dirs := []string{"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/x/bin"}
	slices.SortFunc(dirs, func(x, y string) int { return compareVersions(versionOf(x), versionOf(y)) })
	if dirs[len(dirs)-1] != "/usr/lib/postgresql/16/bin" || dirs[0] != "/usr/lib/postgresql/x/bin" {
		t.Errorf("order %v", dirs)
	}
}

// TestCheckFindsBreaks: Check must see a balance changed behind the
// ledger's back, on either invariant.
func TestCheckFindsBreaks(t *testing.T) {
	w := testWorkload{hot: 2, cold: 5, seed: 7}
	_, db := setupBoth(t, w, Options{Clients: 2})
	if err := db.Check(t.Context()); err != nil {
		t.Fatalf("after set-up: %v", err)
	}
	ctx := t.Context()
	if _, err := db.pool.Exec(ctx, "UPDATE accounts SET credits_posted = credits_posted + 1 WHERE id = $1", [16]byte(testHub)); err != nil {
		t.Fatal(err)
	}
	if err := db.Check(ctx); err == nil || !strings.Contains(err.Error(), "1 currencies") {
		t.Errorf("unbalanced credit: %v", err)
	}
	if _, err := db.pool.Exec(ctx, "UPDATE accounts SET credits_posted = credits_posted - 1 WHERE id = $1", [16]byte(testHub)); err != nil {
		t.Fatal(err)
	}
	// A balanced move that takes a position account past its limit.
	if _, err := db.pool.Exec(ctx, `UPDATE accounts SET debits_posted = debits_posted + $2 WHERE id = $1;`,
		[16]byte(positionID(0)), int64(testFunding+testLimit+1)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `UPDATE accounts SET credits_posted = credits_posted + $2 WHERE id = $1;`,
		[16]byte(positionID(1)), int64(testFunding+testLimit+1)); err != nil {
		t.Fatal(err)
	}
	if err := db.Check(ctx); err == nil || !strings.Contains(err.Error(), "0 currencies whose debits and credits differ, 1 accounts") {
		t.Errorf("account past its limit: %v", err)
	}
}
