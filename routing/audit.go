package routing

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// AuditRecord is one resolve in the audit trail: who asked, when, for what
// kind of identifier, and whether it was found. It holds the identifier's
// token, never the identifier, so the trail can show that one participant
// probed many identifiers, or one identifier many times, without itself
// becoming a directory of personal data.
type AuditRecord struct {
	// Requester is the participant that asked.
	Requester uint64
	// At is when it asked, from the caller's clock.
	At time.Time
	// Type is the identifier's type.
	Type IDType
	// Token is the identifier's token.
	Token Token
	// Hit is true when the identifier resolved.
	Hit bool
	// Purpose is why the requester asked, usually PurposeResolve or the
	// purpose of the payment the resolve serves.
	Purpose Purpose
}

// Auditor keeps the audit trail. Record must be called once for every
// resolve, hit or miss, before its answer is returned; an error means the
// resolve must not be answered, because an unaudited disclosure is worse
// than a failed one. Implementations must be safe for concurrent use.
type Auditor interface {
	Record(ctx context.Context, rec AuditRecord) error
}

// AuditRing is an Auditor that keeps the latest records in memory, for
// now: it forgets the oldest record when full and everything on restart.
// It is safe for concurrent use.
type AuditRing struct {
	mu      sync.Mutex
	records []AuditRecord // ring storage, len == capacity
	next    int           // index the next record goes to
	total   uint64        // records ever recorded
}

// NewAuditRing returns an empty ring that keeps the latest capacity
// records, 1 to 1,048,576.
func NewAuditRing(capacity int) (*AuditRing, error) {
	if capacity < 1 || capacity > auditRingCapacityMax {
		return nil, fmt.Errorf("%w: audit ring: capacity %d outside 1..%d", ErrConfig, capacity, auditRingCapacityMax)
	}
	return &AuditRing{records: make([]AuditRecord, capacity)}, nil
}

// Record appends rec, overwriting the oldest record when the ring is full.
// It never fails.
func (a *AuditRing) Record(_ context.Context, rec AuditRecord) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.records[a.next] = rec
	a.next = (a.next + 1) % len(a.records)
	a.total++
	return nil
}

// Records returns a copy of the records kept, oldest first.
func (a *AuditRing) Records() []AuditRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := int(min(a.total, uint64(len(a.records))))
	out := make([]AuditRecord, 0, n)
	start := (a.next - n + len(a.records)) % len(a.records)
	for i := range n {
		out = append(out, a.records[(start+i)%len(a.records)])
	}
	return out
}

// Total returns how many records were ever recorded, including those the
// ring has since forgotten.
func (a *AuditRing) Total() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

var _ Auditor = (*AuditRing)(nil)
