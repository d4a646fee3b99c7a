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
//
// The ring holds pointer-free slots (the time as Unix nanoseconds, not a
// time.Time with its *Location), so the garbage collector never scans it,
// and it grows as records arrive rather than taking its whole capacity at
// once: a full ring of a million records is about 70 MiB, which every
// collection would otherwise walk, and whose untouched pages the first
// walk would fault in, stalling the node for a few hundred milliseconds.
type AuditRing struct {
	mu       sync.Mutex
	slots    []auditSlot // grows to capacity, then is a ring
	capacity int
	next     int    // index the next record goes to once full
	total    uint64 // records ever recorded
}

// auditSlot is an AuditRecord as the ring stores it.
type auditSlot struct {
	requester uint64
	at        int64 // Unix nanoseconds; 0 for a zero time
	token     Token
	typ       IDType
	hit       bool
	purpose   Purpose
}

// NewAuditRing returns an empty ring that keeps the latest capacity
// records, 1 to 1,048,576.
func NewAuditRing(capacity int) (*AuditRing, error) {
	if capacity < 1 || capacity > auditRingCapacityMax {
		return nil, fmt.Errorf("%w: audit ring: capacity %d outside 1..%d", ErrConfig, capacity, auditRingCapacityMax)
	}
	return &AuditRing{capacity: capacity}, nil
}

// Record appends rec, overwriting the oldest record when the ring is full.
// It never fails.
func (a *AuditRing) Record(_ context.Context, rec AuditRecord) error {
	slot := auditSlot{requester: rec.Requester, token: rec.Token, typ: rec.Type, hit: rec.Hit, purpose: rec.Purpose}
	if !rec.At.IsZero() {
		slot.at = rec.At.UnixNano()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total++
	if len(a.slots) < a.capacity {
		a.slots = append(a.slots, slot)
		return nil
	}
	a.slots[a.next] = slot
	a.next = (a.next + 1) % a.capacity
	return nil
}

// Records returns a copy of the records kept, oldest first. Times come
// back in UTC, to the nanosecond, without a monotonic clock reading.
func (a *AuditRing) Records() []AuditRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := len(a.slots)
	out := make([]AuditRecord, 0, n)
	for i := range n {
		s := &a.slots[(a.next+i)%n]
		rec := AuditRecord{Requester: s.requester, Type: s.typ, Token: s.token, Hit: s.hit, Purpose: s.purpose}
		if s.at != 0 {
			rec.At = time.Unix(0, s.at).UTC()
		}
		out = append(out, rec)
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
