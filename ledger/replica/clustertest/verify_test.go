package clustertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// verifyLedger checks the ledger against what the clients were told:
// every operation got a definite answer; every acknowledged transfer is
// posted exactly once and every rejected one is recorded as rejected and
// moved nothing; each account's posted balances are the sums of the
// acknowledged transfers. funded are the setup's transfers.
func verifyLedger(ctx context.Context, t *testing.T, client *Client, b book, funded, outcomes []outcome) {
	t.Helper()
	all := append(append([]outcome(nil), funded...), outcomes...)
	var transfers []outcome
	for i, o := range all {
		if o.err != nil {
			t.Errorf("client %d: %s: no definite answer within %v: %v", o.client, describe(o.in), opTimeoutMax, o.err)
			if o.in.kind != opTransfer {
				continue
			}
			// Settle it as a client would, by sending the same ID again,
			// so that the books below stay exact.
			all[i].code, all[i].err = b.transfer(ctx, client, o.in)
			if all[i].err != nil {
				t.Fatalf("transfer %s: still no answer: %v", o.in.id, all[i].err)
			}
			o = all[i]
		}
		if o.in.kind != opTransfer {
			continue
		}
		if o.code != "ok" && o.code != codeExceedsCredits {
			t.Errorf("transfer %s: unexpected answer %q", o.in.id, o.code)
		}
		transfers = append(transfers, o)
	}
	want := expectedBalances(all)
	got, err := b.balances(ctx, client)
	if err != nil {
		t.Fatalf("read balances: %v", err)
	}
	for i := range b.ids {
		if got[i] != want[i] {
			t.Errorf("account %s: posted debits %d credits %d, acknowledged transfers sum to debits %d credits %d",
				b.ids[i], got[i].debits, got[i].credits, want[i].debits, want[i].credits)
		}
	}
	verifyRecords(ctx, t, client, b, transfers)
	verifyListings(ctx, t, client, b, transfers)
}

// verifyRecords reads each transfer back, a few at a time.
func verifyRecords(ctx context.Context, t *testing.T, client *Client, b book, transfers []outcome) {
	t.Helper()
	const readers = 4
	work := make(chan outcome)
	var mu sync.Mutex
	var problems []error
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				if err := checkRecord(ctx, client, b, o); err != nil {
					mu.Lock()
					problems = append(problems, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, o := range transfers {
		work <- o
	}
	close(work)
	wg.Wait()
	for i, err := range problems {
		if i == 20 {
			t.Errorf("... and %d more", len(problems)-i)
			break
		}
		t.Error(err)
	}
}

func checkRecord(ctx context.Context, client *Client, b book, o outcome) error {
	got, err := client.Transfer(ctx, o.in.id)
	if err != nil {
		return fmt.Errorf("transfer %s answered %q: read back: %w", o.in.id, o.code, err)
	}
	wantStatus := "posted"
	if o.code != "ok" {
		wantStatus = "rejected"
	}
	amount, err := MinorUnits(got.Amount, got.Currency)
	switch {
	case err != nil:
		return fmt.Errorf("transfer %s: amount %q: %w", o.in.id, got.Amount, err)
	case got.Status != wantStatus || got.Result != o.code:
		return fmt.Errorf("transfer %s answered %q: stored with status %q result %q", o.in.id, o.code, got.Status, got.Result)
	case got.DebitAccount != b.ids[o.in.debit] || got.CreditAccount != b.ids[o.in.credit] || amount != o.in.amount:
		return fmt.Errorf("transfer %s: stored %+v, sent %s", o.in.id, got, describe(o.in))
	}
	return nil
}

// verifyListings pages through each account's transfers and checks that
// the acknowledged ones, and only they, appear, each exactly once.
func verifyListings(ctx context.Context, t *testing.T, client *Client, b book, transfers []outcome) {
	t.Helper()
	for i, account := range b.ids {
		want := map[string]bool{}
		for _, o := range transfers {
			if o.code == "ok" && (o.in.debit == i || o.in.credit == i) {
				want[o.in.id] = true
			}
		}
		seen, err := listAccount(ctx, client, account)
		if err != nil {
			t.Errorf("list account %s: %v", account, err)
			continue
		}
		for id, n := range seen {
			switch {
			case n > 1:
				t.Errorf("account %s lists transfer %s %d times", account, id, n)
			case !want[id]:
				t.Errorf("account %s lists transfer %s, which no client was told was posted", account, id)
			}
		}
		for id := range want {
			if seen[id] == 0 {
				t.Errorf("account %s does not list acknowledged transfer %s", account, id)
			}
		}
	}
}

// listPagesMax bounds the pages read for one account.
const listPagesMax = 100

func listAccount(ctx context.Context, client *Client, account string) (map[string]int, error) {
	const pageMax = 1000
	seen := map[string]int{}
	after := ""
	for range listPagesMax {
		page, err := client.AccountTransfers(ctx, account, after, pageMax)
		if err != nil {
			return nil, err
		}
		for _, tr := range page {
			seen[tr.ID]++
		}
		if len(page) < pageMax {
			return seen, nil
		}
		after = page[len(page)-1].Timestamp
	}
	return nil, errors.New("more pages than listPagesMax")
}

func describe(in linInput) string {
	if in.kind == opRead {
		return fmt.Sprintf("read(a%d)", in.account)
	}
	return fmt.Sprintf("transfer %s a%d→a%d %d", in.id, in.debit, in.credit, in.amount)
}
