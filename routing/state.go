package routing

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/payswitch/payswitch/ledger"
)

// State holds the replicated routing tables: the participant directory,
// the identifier mapper and the mandates. Every replica applies the same
// entries in the same order (Apply) and so holds the same tables; the
// tables are also written to the node's Pebble store (Output.Writes), from
// which Load rebuilds them after a restart or a snapshot install.
//
// The tables are held in memory, which is what makes resolves fast: about
// 200 bytes per mapper entry, so ten million linked identifiers take about
// 2 GiB. LinksMax bounds them.
//
// Apply is for one goroutine (the replica's apply loop); the query methods
// are safe to call concurrently with it and with each other.
type State struct {
	mu           sync.RWMutex
	participants map[uint64]*Participant // values are never modified: an update stores a new one
	links        map[linkKey]*Link
	mandates     map[string]*Mandate
	advices      map[uint64]map[ledger.ID]*Advice // by the participant owed
	digest       Digest

	out     Output
	written map[string]int // key → index in out.Writes, for this Apply
	created map[ledger.ID]bool
}

// LinksMax bounds the mapper; a link beyond it gets CodeMapperFull.
const LinksMax = 50_000_000

type linkKey struct {
	token   Token
	purpose Purpose
}

// Digest summarises the tables so that replicas can be compared: the sum
// of the xxhash64 of every record's key and value, and the record count.
// Order-independent, so Load and Apply reach the same value.
type Digest struct {
	Sum   uint64
	Count uint64
}

func (d Digest) String() string { return fmt.Sprintf("%016x/%d", d.Sum, d.Count) }

// Write is one change to the routing table in the store: the key (which
// starts with the store's aux prefix 'r') and the new value, or a delete.
type Write struct {
	Key, Value []byte
	Delete     bool
}

// Output is what Apply produced. It is valid until the next Apply.
type Output struct {
	// Results are the commands' outcomes, in order.
	Results []Result
	// Accounts are ledger commands (OpCreateAccount) for the accounts of
	// participants onboarded or extended by this entry; the caller applies
	// them to the ledger in the same atomic commit.
	Accounts []ledger.Command
	// Writes are the store changes, one per key, in key order.
	Writes []Write
	// Digest is the tables' digest after the entry.
	Digest Digest
}

// AccountReader reads the ledger accounts that onboarding must not
// collide with.
type AccountReader interface {
	Account(id ledger.ID) (ledger.Account, bool, error)
}

// Store keys of the routing tables.
const (
	keyPrefix         = 'r'
	tableParticipant  = 'p'
	tableLink         = 'l'
	tableMandate      = 'm'
	tableOutbox       = 'o'
	participantKeyLen = 2 + 8
	linkKeyLen        = 2 + 32 + 1
)

// NewState returns empty tables.
func NewState() *State {
	s := &State{}
	s.reset()
	return s
}

func (s *State) reset() {
	s.participants = make(map[uint64]*Participant)
	s.links = make(map[linkKey]*Link)
	s.mandates = make(map[string]*Mandate)
	s.advices = make(map[uint64]map[ledger.ID]*Advice)
	s.digest = Digest{}
}

// Load replaces the tables with the records scan yields (every key of the
// store's aux table, as ScanAux gives them).
func (s *State) Load(scan func(fn func(key, value []byte) error) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset()
	return scan(func(key, value []byte) error {
		if len(key) < 2 || key[0] != keyPrefix {
			return fmt.Errorf("routing: load: key %x outside the routing table", key)
		}
		d := decoder{p: value}
		switch key[1] {
		case tableParticipant:
			p := &Participant{}
			p.decode(&d)
			if err := d.finish(); err != nil {
				return fmt.Errorf("routing: load participant %x: %w", key, err)
			}
			s.participants[p.ID] = p
		case tableLink:
			l := &Link{}
			l.decode(&d)
			if err := d.finish(); err != nil {
				return fmt.Errorf("routing: load link: %w", err)
			}
			s.links[linkKey{l.Token, l.Purpose}] = l
		case tableMandate:
			m := &Mandate{}
			m.decode(&d)
			if err := d.finish(); err != nil {
				return fmt.Errorf("routing: load mandate: %w", err)
			}
			s.mandates[m.ID] = m
		case tableOutbox:
			a := &Advice{}
			a.decode(&d)
			if err := d.finish(); err != nil {
				return fmt.Errorf("routing: load advice: %w", err)
			}
			s.putAdvice(a)
		default:
			return fmt.Errorf("routing: load: unknown table %q", key[1])
		}
		s.digest.add(key, value)
		return nil
	})
}

func (d *Digest) add(key, value []byte) {
	d.Sum += recordHash(key, value)
	d.Count++
}

func (d *Digest) remove(key, value []byte) {
	d.Sum -= recordHash(key, value)
	d.Count--
}

func recordHash(key, value []byte) uint64 {
	h := xxhash.New()
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(key)))
	_, _ = h.Write(n[:])
	_, _ = h.Write(key)
	_, _ = h.Write(value)
	return h.Sum64()
}

// Digest returns the tables' current digest.
func (s *State) Digest() Digest {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.digest
}

// Participant returns the participant with id. The result is shared and
// must not be modified.
func (s *State) Participant(id uint64) (*Participant, bool) {
	s.mu.RLock()
	p, ok := s.participants[id]
	s.mu.RUnlock()
	return p, ok
}

// Participants returns every participant in ID order (shared; do not
// modify).
func (s *State) Participants() []*Participant {
	s.mu.RLock()
	out := make([]*Participant, 0, len(s.participants))
	for _, p := range s.participants {
		out = append(out, p)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Participant) int { return cmpUint64(a.ID, b.ID) })
	return out
}

// Lookup returns the mapper entry of token for purpose, exactly (no
// fallback). The result is a copy.
func (s *State) Lookup(token Token, purpose Purpose) (Link, bool) {
	s.mu.RLock()
	l, ok := s.links[linkKey{token, purpose}]
	var out Link
	if ok {
		out = *l
	}
	s.mu.RUnlock()
	return out, ok
}

// Mandate returns the mandate with id (a copy).
func (s *State) Mandate(id string) (Mandate, bool) {
	s.mu.RLock()
	m, ok := s.mandates[id]
	var out Mandate
	if ok {
		out = *m
	}
	s.mu.RUnlock()
	return out, ok
}

// OwedAdvices reports how many advices are owed to participant.
func (s *State) OwedAdvices(participant uint64) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.advices[participant])
}

// OwesAdvice reports whether an advice of transfer is owed to
// participant.
func (s *State) OwesAdvice(participant uint64, transfer ledger.ID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.advices[participant][transfer]
	return ok
}

// OutboxLen reports how many advices are owed in all.
func (s *State) OutboxLen() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, m := range s.advices {
		n += len(m)
	}
	return n
}

// Counts reports the sizes of the tables.
func (s *State) Counts() (participants, links, mandates int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.participants), len(s.links), len(s.mandates)
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Apply applies one entry's commands at timestamp, deterministically: the
// same tables, commands, timestamp and ledger accounts give the same
// Output on every replica. A failing read of accounts is returned as an
// error and leaves the tables as they were.
func (s *State) Apply(timestamp uint64, cmds []Command, accounts AccountReader) (*Output, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := applier{s: s, now: timestamp, accounts: accounts}
	s.out.Results = s.out.Results[:0]
	s.out.Accounts = s.out.Accounts[:0]
	s.out.Writes = s.out.Writes[:0]
	if s.written == nil {
		s.written = make(map[string]int)
		s.created = make(map[ledger.ID]bool)
	}
	clear(s.written)
	clear(s.created)
	// Accounts are read before anything changes, so a failed read leaves
	// the tables untouched.
	if err := a.readAccounts(cmds); err != nil {
		return nil, err
	}
	for i := range cmds {
		a.createdParticipant = false
		code := a.apply(&cmds[i])
		s.out.Results = append(s.out.Results, Result{Code: code, Timestamp: timestamp, Created: a.createdParticipant})
	}
	slices.SortFunc(s.out.Writes, func(x, y Write) int { return bytes.Compare(x.Key, y.Key) })
	s.out.Digest = s.digest
	return &s.out, nil
}

type applier struct {
	s        *State
	now      uint64
	accounts AccountReader
	existing map[ledger.ID]ledger.Account
	// createdParticipant is set by the command being applied when it
	// created a participant (Result.Created).
	createdParticipant bool
}

// readAccounts reads every derived account that a participant command of
// the entry could create.
func (a *applier) readAccounts(cmds []Command) error {
	for i := range cmds {
		c := &cmds[i]
		if c.Op != OpPutParticipant || c.Participant.Validate() != nil {
			continue
		}
		for _, acc := range c.Participant.accounts() {
			if _, seen := a.existing[acc.ID]; seen {
				continue
			}
			got, ok, err := a.accounts.Account(acc.ID)
			if err != nil {
				return fmt.Errorf("routing: read account %s: %w", acc.ID, err)
			}
			if ok {
				if a.existing == nil {
					a.existing = make(map[ledger.ID]ledger.Account)
				}
				a.existing[acc.ID] = got
			}
		}
	}
	return nil
}

func (a *applier) apply(c *Command) Code {
	if c.Validate() != nil {
		if c.Op == 0 || c.Op > opMax {
			return CodeCommandUnknown
		}
		return CodeInvalid
	}
	switch c.Op {
	case OpPutParticipant:
		return a.putParticipant(c)
	case OpSetStatus:
		return a.setStatus(c)
	case OpLink, OpUpdateLink, OpUnlink:
		return a.link(c)
	case OpPutMandate:
		return a.putMandate(c)
	case OpRevokeMandate, OpUseMandate:
		return a.changeMandate(c)
	case OpOweAdvice, OpAckAdvice:
		return a.advice(c)
	}
	return CodeCommandUnknown
}

func (a *applier) putParticipant(c *Command) Code {
	if c.Requester != 0 {
		return CodeNotPermitted
	}
	in := &c.Participant
	old, exists := a.s.participants[in.ID]
	if exists {
		switch {
		case old.Status == StatusClosed:
			return CodeParticipantClosed
		case old.sameClientFields(in):
			return CodeExists
		case old.Kind != in.Kind:
			return CodeKindChanged
		case !isSubset(old.Currencies, in.Currencies) || !isSubset(old.Programs, in.Programs):
			return CodeCurrenciesRemoved
		}
	}
	accs := in.accounts()
	for i := range accs {
		if got, ok := a.existing[accs[i].ID]; ok && !sameAccount(&got, &accs[i]) {
			return CodeAccountConflict
		}
	}
	p := in.clone()
	p.Status, p.Created, p.Updated = StatusActive, a.now, a.now
	if exists {
		p.Status, p.Created = old.Status, old.Created
	}
	for i := range accs {
		if _, ok := a.existing[accs[i].ID]; ok || a.s.created[accs[i].ID] {
			continue
		}
		a.s.created[accs[i].ID] = true
		a.s.out.Accounts = append(a.s.out.Accounts, ledger.Command{Op: ledger.OpCreateAccount, Account: accs[i]})
	}
	a.storeParticipant(&p, old)
	a.createdParticipant = !exists
	return CodeOK
}

// sameAccount compares the fields of a derived account that onboarding
// sets; the limit and the balances change later and do not count.
func sameAccount(got, want *ledger.Account) bool {
	return got.Participant == want.Participant && got.Currency == want.Currency &&
		got.Kind == want.Kind && got.Flags == want.Flags && got.UserRef == want.UserRef
}

func isSubset(small, big []uint16) bool {
	for _, v := range small {
		if _, ok := slices.BinarySearch(big, v); !ok {
			return false
		}
	}
	return true
}

func (a *applier) setStatus(c *Command) Code {
	if c.Requester != 0 {
		return CodeNotPermitted
	}
	old, ok := a.s.participants[c.Participant.ID]
	switch {
	case !ok:
		return CodeParticipantUnknown
	case old.Status == c.Status:
		return CodeExists
	case old.Status == StatusClosed:
		return CodeParticipantClosed
	}
	p := old.clone()
	p.Status, p.Updated = c.Status, a.now
	a.storeParticipant(&p, old)
	return CodeOK
}

func (a *applier) link(c *Command) Code {
	key := linkKey{c.Link.Token, c.Link.Purpose}
	old, exists := a.s.links[key]
	if c.Op == OpUnlink {
		if !exists {
			return CodeLinkUnknown
		}
		if c.Requester != 0 && c.Requester != old.Participant {
			return CodeNotPermitted
		}
		a.storeLink(key, nil, old)
		return CodeOK
	}
	in := &c.Link
	if c.Requester != 0 && c.Requester != in.Participant {
		return CodeNotPermitted
	}
	switch p, ok := a.s.participants[in.Participant]; {
	case !ok:
		return CodeParticipantUnknown
	case p.Status != StatusActive:
		return CodeParticipantNotActive
	}
	l := *in
	l.Created, l.Updated = a.now, a.now
	if c.Op == OpLink {
		if exists {
			if old.sameClientFields(in) {
				return CodeExists
			}
			return CodeLinkExists
		}
		if len(a.s.links) >= LinksMax {
			return CodeMapperFull
		}
	} else {
		if !exists {
			return CodeLinkUnknown
		}
		// Only the holder's participant moves the entry, and only among its
		// own accounts: porting an identifier to another participant is an
		// unlink by the old one and a link by the new one.
		if c.Requester != 0 && old.Participant != c.Requester {
			return CodeNotPermitted
		}
		if old.sameClientFields(in) {
			return CodeExists
		}
		l.Created = old.Created
	}
	a.storeLink(key, &l, old)
	return CodeOK
}

func (a *applier) putMandate(c *Command) Code {
	in := &c.Mandate
	if c.Requester != 0 && c.Requester != in.Payer.Participant {
		return CodeNotPermitted
	}
	payer, ok := a.s.participants[in.Payer.Participant]
	if !ok {
		return CodeParticipantUnknown
	}
	if _, ok := a.s.participants[in.Payee.Participant]; !ok {
		return CodeParticipantUnknown
	}
	if !payer.Serves(in.Currency) {
		return CodeCurrencyNotServed
	}
	if old, exists := a.s.mandates[in.ID]; exists {
		if old.sameClientFields(in) {
			return CodeExists
		}
		return CodeMandateExists
	}
	m := *in
	m.Revoked, m.PeriodStart, m.UsedInPeriod = 0, 0, 0
	m.Created, m.Updated = a.now, a.now
	a.storeMandate(&m, nil)
	return CodeOK
}

func (a *applier) changeMandate(c *Command) Code {
	old, ok := a.s.mandates[c.Mandate.ID]
	if !ok {
		return CodeMandateUnknown
	}
	m := *old
	m.Updated = a.now
	if c.Op == OpRevokeMandate {
		if c.Requester != 0 && c.Requester != old.Payer.Participant {
			return CodeNotPermitted
		}
		if old.Revoked != 0 {
			return CodeExists
		}
		m.Revoked = a.now
	} else {
		if c.Requester != 0 && c.Requester != c.Debit.Participant {
			return CodeNotPermitted
		}
		if code := old.Permits(c.Debit, c.Currency, c.Amount, a.now); code != CodeOK {
			return code
		}
		m.use(a.now)
	}
	a.storeMandate(&m, old)
	return CodeOK
}

func (a *applier) advice(c *Command) Code {
	old, exists := a.s.advices[c.Advice.To][c.Advice.Transfer]
	if c.Op == OpAckAdvice {
		if !exists {
			return CodeExists // acknowledged before
		}
		if c.Requester != 0 && c.Requester != old.To {
			return CodeNotPermitted
		}
		a.storeAdvice(old, nil)
		return CodeOK
	}
	if c.Requester != 0 {
		return CodeNotPermitted
	}
	if exists {
		return CodeExists
	}
	adv := c.Advice
	adv.Created = a.now
	a.storeAdvice(&adv, &adv)
	return CodeOK
}

func (s *State) putAdvice(a *Advice) {
	m := s.advices[a.To]
	if m == nil {
		m = make(map[ledger.ID]*Advice)
		s.advices[a.To] = m
	}
	m[a.Transfer] = a
}

// Advices returns the advices owed to participant, oldest first.
func (s *State) Advices(participant uint64) []Advice {
	s.mu.RLock()
	out := make([]Advice, 0, len(s.advices[participant]))
	for _, a := range s.advices[participant] {
		out = append(out, *a)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(x, y Advice) int {
		if c := cmpUint64(x.Created, y.Created); c != 0 {
			return c
		}
		return bytes.Compare(x.Transfer[:], y.Transfer[:])
	})
	return out
}

// AdviceParticipants lists the participants owed advices, ascending.
func (s *State) AdviceParticipants() []uint64 {
	s.mu.RLock()
	out := make([]uint64, 0, len(s.advices))
	for p, m := range s.advices {
		if len(m) > 0 {
			out = append(out, p)
		}
	}
	s.mu.RUnlock()
	slices.Sort(out)
	return out
}

// The store* methods change a table and record the write and the digest.

// storeAdvice puts adv (when value is not nil) or deletes old.
func (a *applier) storeAdvice(old, value *Advice) {
	k := make([]byte, 2+8+16)
	k[0], k[1] = keyPrefix, tableOutbox
	binary.BigEndian.PutUint64(k[2:10], old.To)
	copy(k[10:], old.Transfer[:])
	var oldValue, newValue []byte
	if value == nil {
		oldValue = encodeRecord(old.encode)
		delete(a.s.advices[old.To], old.Transfer)
		if len(a.s.advices[old.To]) == 0 {
			delete(a.s.advices, old.To)
		}
	} else {
		a.s.putAdvice(value)
		newValue = encodeRecord(value.encode)
	}
	a.write(k, oldValue, newValue)
}

func (a *applier) storeParticipant(p, old *Participant) {
	key := make([]byte, participantKeyLen)
	key[0], key[1] = keyPrefix, tableParticipant
	binary.BigEndian.PutUint64(key[2:], p.ID)
	var oldValue []byte
	if old != nil {
		oldValue = encodeRecord(old.encode)
	}
	a.s.participants[p.ID] = p
	a.write(key, oldValue, encodeRecord(p.encode))
}

func (a *applier) storeLink(key linkKey, l, old *Link) {
	k := make([]byte, linkKeyLen)
	k[0], k[1] = keyPrefix, tableLink
	copy(k[2:34], key.token[:])
	k[34] = byte(key.purpose)
	var oldValue, value []byte
	if old != nil {
		oldValue = encodeRecord(old.encode)
	}
	if l == nil {
		delete(a.s.links, key)
	} else {
		a.s.links[key] = l
		value = encodeRecord(l.encode)
	}
	a.write(k, oldValue, value)
}

func (a *applier) storeMandate(m, old *Mandate) {
	key := append([]byte{keyPrefix, tableMandate}, m.ID...)
	var oldValue []byte
	if old != nil {
		oldValue = encodeRecord(old.encode)
	}
	a.s.mandates[m.ID] = m
	a.write(key, oldValue, encodeRecord(m.encode))
}

func encodeRecord(enc func(*encoder)) []byte {
	e := encoder{}
	enc(&e)
	return e.buf
}

// write records key's change from oldValue (nil: absent) to value (nil:
// deleted), keeping one write per key.
func (a *applier) write(key, oldValue, value []byte) {
	if oldValue != nil {
		a.s.digest.remove(key, oldValue)
	}
	if value != nil {
		a.s.digest.add(key, value)
	}
	w := Write{Key: key, Value: value, Delete: value == nil}
	if i, ok := a.s.written[string(key)]; ok {
		a.s.out.Writes[i] = w
		return
	}
	a.s.written[string(key)] = len(a.s.out.Writes)
	a.s.out.Writes = append(a.s.out.Writes, w)
}

// String summarises the tables for logs.
func (s *State) String() string {
	p, l, m := s.Counts()
	var b strings.Builder
	fmt.Fprintf(&b, "participants=%d links=%d mandates=%d digest=%s", p, l, m, s.Digest())
	return b.String()
}
