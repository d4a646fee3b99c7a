package ledger

import (
	"cmp"
	"slices"
)

// Memory is a ledger held in plain maps. It is the reference model that
// the Pebble store is tested against, and a convenient ledger for examples
// and unit tests. It answers DuePending by sorting every pending transfer,
// which is simple and obviously right rather than fast. It is not safe for
// concurrent use.
type Memory struct {
	accounts  map[ID]Account
	transfers map[ID]Transfer
	last      uint64
	digest    Digest
	out       Output
}

var _ View = (*Memory)(nil)

// NewMemory returns an empty ledger.
func NewMemory() *Memory {
	return &Memory{accounts: map[ID]Account{}, transfers: map[ID]Transfer{}}
}

// Apply applies a batch and keeps its changes. The returned Output is valid
// until the next call.
func (m *Memory) Apply(b *Batch) *Output {
	Apply(m, b, m.digest, &m.out)
	for i := range m.out.Accounts {
		w := &m.out.Accounts[i]
		m.accounts[w.Account.ID] = w.Account
	}
	for i := range m.out.Transfers {
		w := &m.out.Transfers[i]
		m.transfers[w.Transfer.ID] = w.Transfer
	}
	m.last = m.out.LastTimestamp
	m.digest = m.out.Digest
	return &m.out
}

func (m *Memory) LastTimestamp() uint64 { return m.last }

func (m *Memory) Account(id ID) (Account, bool) {
	a, ok := m.accounts[id]
	return a, ok
}

func (m *Memory) Transfer(id ID) (Transfer, bool) {
	t, ok := m.transfers[id]
	return t, ok
}

func (m *Memory) DuePending(now uint64, limit int, dst []ID) []ID {
	var due []Transfer
	for _, t := range m.transfers {
		if t.Status == StatusPending && t.Timeout != 0 && t.Deadline() <= now {
			due = append(due, t)
		}
	}
	slices.SortFunc(due, ComparePendingOrder)
	for i := 0; i < len(due) && i < limit; i++ {
		dst = append(dst, due[i].ID)
	}
	return dst
}

// ComparePendingOrder orders pending transfers as expiry voids them: by
// deadline, then by timestamp, which is unique.
func ComparePendingOrder(x, y Transfer) int {
	if c := cmp.Compare(x.Deadline(), y.Deadline()); c != 0 {
		return c
	}
	return cmp.Compare(x.Timestamp, y.Timestamp)
}

// Digest returns the state digest kept by Apply.
func (m *Memory) Digest() Digest { return m.digest }

// Accounts returns every account, ordered by ID.
func (m *Memory) Accounts() []Account {
	out := make([]Account, 0, len(m.accounts))
	for _, a := range m.accounts {
		out = append(out, a)
	}
	slices.SortFunc(out, func(x, y Account) int { return slices.Compare(x.ID[:], y.ID[:]) })
	return out
}

// Transfers returns every transfer record, ordered by timestamp.
func (m *Memory) Transfers() []Transfer {
	out := make([]Transfer, 0, len(m.transfers))
	for _, t := range m.transfers {
		out = append(out, t)
	}
	slices.SortFunc(out, func(x, y Transfer) int { return cmp.Compare(x.Timestamp, y.Timestamp) })
	return out
}

// RecomputeDigest hashes every record from scratch; tests compare it with
// the incremental Digest.
func (m *Memory) RecomputeDigest() Digest {
	var d Digest
	for _, a := range m.accounts {
		d.AddAccount(&a)
	}
	for _, t := range m.transfers {
		d.AddTransfer(&t)
	}
	return d
}
