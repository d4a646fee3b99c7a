package routing

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestAuditRing(t *testing.T) {
	if _, err := NewAuditRing(0); !errors.Is(err, ErrConfig) {
		t.Fatalf("capacity 0: %v", err)
	}
	if _, err := NewAuditRing(auditRingCapacityMax + 1); !errors.Is(err, ErrConfig) {
		t.Fatalf("capacity above max: %v", err)
	}
	ring, err := NewAuditRing(3)
	if err != nil {
		t.Fatal(err)
	}
	if got := ring.Records(); len(got) != 0 {
		t.Fatalf("new ring holds %v", got)
	}
	tk := mustTokenizer(t, testSecret)
	token := tk.Token(mustParse(t, "alias:jane@10002"))
	var want []AuditRecord
	for i := range 5 {
		rec := AuditRecord{Requester: uint64(10001 + i), At: epoch.Add(time.Duration(i) * time.Second),
			Type: IDTypeAlias, Token: token, Hit: i%2 == 0, Purpose: PurposeResolve}
		if err := ring.Record(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		want = append(want, rec)
		if i == 1 && !reflect.DeepEqual(ring.Records(), want) {
			t.Fatalf("partly full ring: %v", ring.Records())
		}
	}
	if got := ring.Records(); !reflect.DeepEqual(got, want[2:]) {
		t.Fatalf("Records() = %v, want the last three oldest first", got)
	}
	if ring.Total() != 5 {
		t.Fatalf("Total() = %d", ring.Total())
	}
}

// TestAuditRingConcurrent records from many goroutines; run with -race.
func TestAuditRingConcurrent(t *testing.T) {
	ring, err := NewAuditRing(64)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 100 {
				_ = ring.Record(context.Background(), AuditRecord{Requester: uint64(g + 1)})
				_ = ring.Records()
			}
		})
	}
	wg.Wait()
	if ring.Total() != 800 || len(ring.Records()) != 64 {
		t.Fatalf("Total %d, kept %d", ring.Total(), len(ring.Records()))
	}
}
