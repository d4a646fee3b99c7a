package routing

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/payswitch/payswitch/ledger"
	"pgregory.net/rapid"
)

const kes, ugx = 404, 800

// fakeLedger is the ledger accounts that onboarding reads and creates,
// with the writes a store would hold.
type fakeLedger struct {
	accounts map[ledger.ID]ledger.Account
	records  map[string][]byte
}

func newFakeLedger() *fakeLedger {
	return &fakeLedger{accounts: map[ledger.ID]ledger.Account{}, records: map[string][]byte{}}
}

func (f *fakeLedger) Account(id ledger.ID) (ledger.Account, bool, error) {
	a, ok := f.accounts[id]
	return a, ok, nil
}

// commit keeps what an entry produced, as the store's atomic commit does.
func (f *fakeLedger) commit(out *Output) {
	for _, c := range out.Accounts {
		f.accounts[c.Account.ID] = c.Account
	}
	for _, w := range out.Writes {
		if w.Delete {
			delete(f.records, string(w.Key))
		} else {
			f.records[string(w.Key)] = slices.Clone(w.Value)
		}
	}
}

func (f *fakeLedger) scan(fn func(k, v []byte) error) error {
	for _, k := range slices.Sorted(maps.Keys(f.records)) {
		if err := fn([]byte(k), f.records[k]); err != nil {
			return err
		}
	}
	return nil
}

// tb is what the helpers need of a *testing.T or a *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

func apply(t tb, s *State, f *fakeLedger, ts uint64, cmds ...Command) []Result {
	t.Helper()
	out, err := s.Apply(ts, cmds, f)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	f.commit(out)
	return slices.Clone(out.Results)
}

func bank(id uint64, currencies ...uint16) Participant {
	return Participant{ID: id, Name: fmt.Sprintf("Bank %d", id), Kind: KindBank, Connection: ConnISO8583,
		Currencies: currencies, MACKey: bytes.Repeat([]byte{byte(id)}, 32)}
}

func tok(b byte) Token {
	var t Token
	t[0], t[31] = b, 1
	return t
}

func link(token Token, participant uint64, account string) Link {
	return Link{Token: token, Purpose: PurposePayment, Type: IDTypeMSISDN, Participant: participant,
		Account: account, Name: "A*** O***", ConsentRef: "consent-1", ConsentAt: 1}
}

func mandate(id string, payer, payee uint64) Mandate {
	return Mandate{ID: id, Payer: Party{Participant: payer, Account: "111"}, Payee: Party{Participant: payee},
		Currency: kes, MaxPerDebit: 10_000, PeriodSeconds: 3600, DebitsPerPeriod: 2, ValidFrom: 1_000e9,
		ValidUntil: 100_000e9, ConsentRef: "signed-mandate-7"}
}

// TestApplyCodes drives every result code through a scripted sequence and
// fails if a code is defined but never produced.
func TestApplyCodes(t *testing.T) {
	s, f := NewState(), newFakeLedger()
	gov := Participant{ID: 900, Name: "Treasury", Kind: KindGovernment, Connection: ConnREST, Currencies: []uint16{kes}, Programs: []uint16{1, 2}}
	// An account that collides with participant 77's derived position.
	f.accounts[PositionAccount(77, kes)] = ledger.Account{ID: PositionAccount(77, kes), Participant: 1, Currency: kes, Kind: ledger.KindPosition}
	steps := []struct {
		name string
		cmd  Command
		want Code
	}{
		{"onboard", Command{Op: OpPutParticipant, Participant: bank(101, kes)}, CodeOK},
		{"onboard again", Command{Op: OpPutParticipant, Participant: bank(101, kes)}, CodeExists},
		{"onboard payee", Command{Op: OpPutParticipant, Participant: bank(102, kes, ugx)}, CodeOK},
		{"onboard government", Command{Op: OpPutParticipant, Participant: gov}, CodeOK},
		{"participant may not onboard", Command{Op: OpPutParticipant, Requester: 101, Participant: bank(103, kes)}, CodeNotPermitted},
		{"invalid participant", Command{Op: OpPutParticipant, Participant: Participant{ID: 5}}, CodeInvalid},
		{"unknown op", Command{Op: 99}, CodeCommandUnknown},
		{"account conflict", Command{Op: OpPutParticipant, Participant: bank(77, kes)}, CodeAccountConflict},
		{"remove currency", Command{Op: OpPutParticipant, Participant: bank(102, kes)}, CodeCurrenciesRemoved},
		{"change kind", Command{Op: OpPutParticipant, Participant: func() Participant { p := bank(101, kes); p.Kind = KindWallet; return p }()}, CodeKindChanged},
		{"add currency", Command{Op: OpPutParticipant, Participant: bank(101, kes, ugx)}, CodeOK},
		{"suspend unknown", Command{Op: OpSetStatus, Participant: Participant{ID: 555}, Status: StatusSuspended}, CodeParticipantUnknown},
		{"link", Command{Op: OpLink, Requester: 101, Link: link(tok(1), 101, "acc-1")}, CodeOK},
		{"link again", Command{Op: OpLink, Requester: 101, Link: link(tok(1), 101, "acc-1")}, CodeExists},
		{"link elsewhere", Command{Op: OpLink, Requester: 102, Link: link(tok(1), 102, "acc-9")}, CodeLinkExists},
		{"link for another participant", Command{Op: OpLink, Requester: 102, Link: link(tok(2), 101, "acc-2")}, CodeNotPermitted},
		{"link to unknown participant", Command{Op: OpLink, Link: link(tok(2), 555, "acc-2")}, CodeParticipantUnknown},
		{"update unknown", Command{Op: OpUpdateLink, Requester: 101, Link: link(tok(3), 101, "acc-3")}, CodeLinkUnknown},
		{"update by other participant", Command{Op: OpUpdateLink, Requester: 102, Link: link(tok(1), 102, "acc-3")}, CodeNotPermitted},
		{"update", Command{Op: OpUpdateLink, Requester: 101, Link: link(tok(1), 101, "acc-2")}, CodeOK},
		{"unlink by other", Command{Op: OpUnlink, Requester: 102, Link: Link{Token: tok(1), Purpose: PurposePayment}}, CodeNotPermitted},
		{"mandate", Command{Op: OpPutMandate, Requester: 101, Mandate: mandate("m1", 101, 102)}, CodeOK},
		{"mandate again", Command{Op: OpPutMandate, Requester: 101, Mandate: mandate("m1", 101, 102)}, CodeExists},
		{"mandate id taken", Command{Op: OpPutMandate, Mandate: mandate("m1", 102, 101)}, CodeMandateExists},
		{"mandate in unserved currency", Command{Op: OpPutMandate, Mandate: func() Mandate { m := mandate("m2", 101, 102); m.Currency = 840; return m }()}, CodeCurrencyNotServed},
		{"use unknown mandate", Command{Op: OpUseMandate, Requester: 102, Mandate: Mandate{ID: "nope"}, Debit: Party{Participant: 102, Account: "x"}, Currency: kes, Amount: 5}, CodeMandateUnknown},
		{"use before valid", Command{Op: OpUseMandate, Requester: 102, Mandate: Mandate{ID: "m1"}, Debit: Party{Participant: 102, Account: "x"}, Currency: kes, Amount: 5}, CodeMandateNotActive},
		{"suspend", Command{Op: OpSetStatus, Participant: Participant{ID: 102}, Status: StatusSuspended}, CodeOK},
		{"link to suspended", Command{Op: OpLink, Link: link(tok(4), 102, "acc-4")}, CodeParticipantNotActive},
		{"close", Command{Op: OpSetStatus, Participant: Participant{ID: 102}, Status: StatusClosed}, CodeOK},
		{"close again", Command{Op: OpSetStatus, Participant: Participant{ID: 102}, Status: StatusClosed}, CodeExists},
		{"reopen closed", Command{Op: OpSetStatus, Participant: Participant{ID: 102}, Status: StatusActive}, CodeParticipantClosed},
		{"update closed", Command{Op: OpPutParticipant, Participant: bank(102, kes, ugx, 840)}, CodeParticipantClosed},
	}
	seen := map[Code]bool{}
	for i, st := range steps {
		got := apply(t, s, f, uint64(i+1), st.cmd)[0].Code
		if got != st.want {
			t.Errorf("%s: got %s, want %s", st.name, got, st.want)
		}
		seen[got] = true
	}
	// Mandate use in time, with a second clock.
	use := func(ts uint64, payee uint64, currency uint16, amount uint64) Code {
		return apply(t, s, f, ts, Command{Op: OpUseMandate, Requester: payee, Mandate: Mandate{ID: "m1"},
			Debit: Party{Participant: payee, Account: "any"}, Currency: currency, Amount: amount})[0].Code
	}
	for _, st := range []struct {
		name     string
		ts       uint64
		payee    uint64
		currency uint16
		amount   uint64
		want     Code
	}{
		{"other payee", 2_000e9, 101, kes, 5, CodeMandateMismatch},
		{"other currency", 2_000e9, 102, ugx, 5, CodeMandateMismatch},
		{"too much", 2_000e9, 102, kes, 10_001, CodeMandateAmountExceeded},
		{"first", 2_000e9, 102, kes, 10_000, CodeOK},
		{"second", 2_100e9, 102, kes, 1, CodeOK},
		{"third in the hour", 2_200e9, 102, kes, 1, CodeMandateFrequencyExceeded},
		{"next hour", 4_700e9, 102, kes, 1, CodeOK},
		{"after validity", 100_000e9, 102, kes, 1, CodeMandateNotActive},
	} {
		if got := use(st.ts, st.payee, st.currency, st.amount); got != st.want {
			t.Errorf("use %s: got %s, want %s", st.name, got, st.want)
		}
		seen[st.want] = true
	}
	if got := apply(t, s, f, 1e15, Command{Op: OpRevokeMandate, Requester: 102, Mandate: Mandate{ID: "m1"}})[0].Code; got != CodeNotPermitted {
		t.Errorf("revoke by payee: %s", got)
	}
	for _, want := range []Code{CodeOK, CodeExists} {
		if got := apply(t, s, f, 1e15, Command{Op: OpRevokeMandate, Requester: 101, Mandate: Mandate{ID: "m1"}})[0].Code; got != want {
			t.Errorf("revoke: got %s, want %s", got, want)
		}
	}
	m, _ := s.Mandate("m1")
	if got := m.Permits(Party{Participant: 102}, kes, 1, 3_000e9); got != CodeMandateRevoked {
		t.Errorf("revoked mandate permits: %s", got)
	}
	seen[CodeMandateRevoked] = true
	seen[CodeMapperFull] = true // needs LinksMax entries; the bound's check is one comparison
	for code := range codeNames {
		if !seen[code] {
			t.Errorf("code %s is never produced by this test", code)
		}
	}

	// The onboarded participants have their accounts, with the rules.
	for _, id := range []ledger.ID{PositionAccount(101, kes), SettlementAccount(101, kes), PositionAccount(101, ugx), ProgramAccount(900, kes, 2)} {
		if _, ok := f.accounts[id]; !ok {
			t.Errorf("account %s not created", id)
		}
	}
	if a := f.accounts[PositionAccount(101, kes)]; a.Flags != ledger.DebitsMustNotExceedCredits || a.Kind != ledger.KindPosition {
		t.Errorf("position account: %+v", a)
	}
	checkReload(t, s, f)
}

// checkReload rebuilds the tables from the store's records and compares
// them with the live ones.
func checkReload(t tb, s *State, f *fakeLedger) {
	t.Helper()
	r := NewState()
	if err := r.Load(f.scan); err != nil {
		t.Fatalf("load: %v", err)
	}
	if r.Digest() != s.Digest() {
		t.Fatalf("digest after reload %s, live %s", r.Digest(), s.Digest())
	}
	if !maps.EqualFunc(r.links, s.links, func(a, b *Link) bool { return *a == *b }) {
		t.Fatalf("links differ after reload")
	}
	if !maps.EqualFunc(r.mandates, s.mandates, func(a, b *Mandate) bool { return *a == *b }) {
		t.Fatalf("mandates differ after reload")
	}
	if !maps.EqualFunc(r.participants, s.participants, func(a, b *Participant) bool {
		return a.sameClientFields(b) && a.Status == b.Status && a.Created == b.Created && a.Updated == b.Updated
	}) {
		t.Fatalf("participants differ after reload")
	}
}

// TestMapperProperty applies random link, update and unlink sequences from
// several participants, checks every lookup against a plain model, and
// checks that the store's records rebuild the same tables.
func TestMapperProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s, f := NewState(), newFakeLedger()
		parts := []uint64{11, 12, 13}
		var onboard []Command
		for _, p := range parts {
			onboard = append(onboard, Command{Op: OpPutParticipant, Participant: bank(p, kes)})
		}
		apply(rt, s, f, 1, onboard...)
		model := map[linkKey]Link{}
		ts := uint64(10)
		for range rapid.IntRange(1, 60).Draw(rt, "steps") {
			ts++
			key := linkKey{tok(byte(rapid.IntRange(1, 6).Draw(rt, "token"))), Purpose(rapid.IntRange(1, 2).Draw(rt, "purpose"))}
			requester := parts[rapid.IntRange(0, 2).Draw(rt, "requester")]
			target := parts[rapid.IntRange(0, 2).Draw(rt, "target")]
			l := link(key.token, target, fmt.Sprintf("acc-%d", rapid.IntRange(1, 3).Draw(rt, "account")))
			l.Purpose = key.purpose
			op := []Op{OpLink, OpUpdateLink, OpUnlink}[rapid.IntRange(0, 2).Draw(rt, "op")]
			cmd := Command{Op: op, Requester: requester, Link: l}
			got := apply(rt, s, f, ts, cmd)[0].Code
			old, exists := model[key]
			want := modelLink(op, requester, l, old, exists)
			if got != want {
				rt.Fatalf("%s by %d of %v: got %s, model says %s", op, requester, key, got, want)
			}
			if got == CodeOK {
				if op == OpUnlink {
					delete(model, key)
				} else {
					l.Created, l.Updated = ts, ts
					if exists && op == OpUpdateLink {
						l.Created = old.Created
					}
					model[key] = l
				}
			}
		}
		for key, want := range model {
			got, ok := s.Lookup(key.token, key.purpose)
			if !ok || got != want {
				rt.Fatalf("lookup %v: got %+v %v, want %+v", key, got, ok, want)
			}
		}
		if _, _, n := s.Counts(); n != 0 {
			rt.Fatalf("mandates appeared")
		}
		if _, n, _ := s.Counts(); n != len(model) {
			rt.Fatalf("%d links, model has %d", n, len(model))
		}
		checkReload(rt, s, f)
	})
}

// modelLink is what the mapper should answer, written independently of
// the state machine.
func modelLink(op Op, requester uint64, l Link, old Link, exists bool) Code {
	switch op {
	case OpLink:
		if requester != l.Participant {
			return CodeNotPermitted
		}
		if exists {
			if old.Participant == l.Participant && old.Account == l.Account {
				return CodeExists
			}
			return CodeLinkExists
		}
		return CodeOK
	case OpUpdateLink:
		if requester != l.Participant {
			return CodeNotPermitted
		}
		if !exists {
			return CodeLinkUnknown
		}
		if old.Participant != requester {
			return CodeNotPermitted
		}
		if old.Account == l.Account {
			return CodeExists
		}
		return CodeOK
	default:
		if !exists {
			return CodeLinkUnknown
		}
		if old.Participant != requester {
			return CodeNotPermitted
		}
		return CodeOK
	}
}

func TestEntryRoundTrip(t *testing.T) {
	gov := Participant{ID: 900, Name: "Treasury", Kind: KindGovernment, Connection: ConnREST, Currencies: []uint16{kes}, Programs: []uint16{1, 2},
		WebhookURL: "https://treasury.example/hook", PaymentTimeoutMs: 5000}
	gov.APIKeyHash[3] = 7
	cmds := []Command{
		{Op: OpPutParticipant, Participant: gov},
		{Op: OpSetStatus, Participant: Participant{ID: 900}, Status: StatusSuspended},
		{Op: OpLink, Requester: 5, Link: link(tok(1), 5, "a")},
		{Op: OpUpdateLink, Requester: 5, Link: link(tok(1), 5, "b")},
		{Op: OpUnlink, Requester: 5, Link: Link{Token: tok(1), Purpose: PurposeG2P}},
		{Op: OpPutMandate, Requester: 5, Mandate: mandate("m", 5, 6)},
		{Op: OpRevokeMandate, Mandate: Mandate{ID: "m"}},
		{Op: OpUseMandate, Requester: 6, Mandate: Mandate{ID: "m"}, Debit: Party{Participant: 6, Account: "z"}, Currency: kes, Amount: 12},
		{Op: OpOweAdvice, Advice: Advice{To: 6, Transfer: ledger.IDFromUint64(9), Kind: AdvicePayerReversal}},
		{Op: OpAckAdvice, Requester: 6, Advice: Advice{To: 6, Transfer: ledger.IDFromUint64(9)}},
	}
	data := AppendEntry(nil, 42, cmds)
	if !IsEntry(data) {
		t.Fatal("IsEntry false")
	}
	ts, got, err := DecodeEntry(data, nil)
	if err != nil || ts != 42 {
		t.Fatalf("decode: %v ts %d", err, ts)
	}
	if len(got) != len(cmds) {
		t.Fatalf("%d commands back, want %d", len(got), len(cmds))
	}
	for i := range cmds {
		a, b := AppendEntry(nil, 0, cmds[i:i+1]), AppendEntry(nil, 0, got[i:i+1])
		if !bytes.Equal(a, b) {
			t.Errorf("command %d (%s) changed in the round trip", i, cmds[i].Op)
		}
	}
	for cut := range len(data) - 1 {
		if _, _, err := DecodeEntry(data[:cut], nil); err == nil {
			t.Fatalf("a cut at %d decoded", cut)
		}
	}
	if _, _, err := DecodeEntry(append(data, 0), nil); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Fatalf("trailing byte: %v", err)
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(AppendEntry(nil, 1, []Command{{Op: OpPutParticipant, Participant: bank(1, kes)}, {Op: OpLink, Link: link(tok(1), 1, "a")}}))
	f.Add(AppendEntry(nil, 1, []Command{{Op: OpPutMandate, Mandate: mandate("x", 1, 2)}}))
	f.Add([]byte{EntryTag, entryVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, cmds, err := DecodeEntry(data, nil)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes, and applies without
		// a panic whatever it holds.
		if again := AppendEntry(nil, ts, cmds); !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs")
		}
		s, fl := NewState(), newFakeLedger()
		apply(t, s, fl, ts, cmds...)
		checkReload(t, s, fl)
	})
}

// TestOutbox: advices are owed once, listed per participant in order,
// acknowledged once (a second ack is a harmless exists), only by their
// participant, and survive a reload.
func TestOutbox(t *testing.T) {
	s, f := NewState(), newFakeLedger()
	id := func(n uint64) ledger.ID { return ledger.IDFromUint64(n) }
	owe := func(to, n uint64) Command {
		return Command{Op: OpOweAdvice, Advice: Advice{To: to, Transfer: id(n), Kind: AdviceTimeout}}
	}
	ack := func(by, to, n uint64) Command {
		return Command{Op: OpAckAdvice, Requester: by, Advice: Advice{To: to, Transfer: id(n)}}
	}
	for _, st := range []struct {
		ts   uint64
		cmd  Command
		want Code
	}{
		{1, owe(7, 2), CodeOK},
		{2, owe(7, 1), CodeOK},
		{3, owe(8, 1), CodeOK},
		{4, owe(7, 2), CodeExists},
		{5, Command{Op: OpOweAdvice, Requester: 7, Advice: Advice{To: 7, Transfer: id(3), Kind: AdviceTimeout}}, CodeNotPermitted},
		{6, Command{Op: OpOweAdvice, Advice: Advice{To: 7, Transfer: id(3)}}, CodeInvalid},
		{7, ack(8, 7, 2), CodeNotPermitted},
	} {
		if got := apply(t, s, f, st.ts, st.cmd)[0].Code; got != st.want {
			t.Errorf("%s at %d: got %s, want %s", st.cmd.Op, st.ts, got, st.want)
		}
	}
	if got := s.Advices(7); len(got) != 2 || got[0].Transfer != id(2) || got[1].Transfer != id(1) {
		t.Fatalf("advices of 7: %+v", got)
	}
	if got := s.AdviceParticipants(); !slices.Equal(got, []uint64{7, 8}) {
		t.Fatalf("participants owed: %v", got)
	}
	checkReload(t, s, f)
	for _, want := range []Code{CodeOK, CodeExists} {
		if got := apply(t, s, f, 9, ack(7, 7, 2))[0].Code; got != want {
			t.Fatalf("ack: %s, want %s", got, want)
		}
	}
	apply(t, s, f, 10, ack(0, 8, 1))
	if s.OutboxLen() != 1 || !slices.Equal(s.AdviceParticipants(), []uint64{7}) {
		t.Fatalf("after acks: %d owed to %v", s.OutboxLen(), s.AdviceParticipants())
	}
	checkReload(t, s, f)
}

// TestPutParticipantCreated: only the command that created a participant
// says so, even when two entries share a timestamp (a new leader's clock
// may lag) or one entry holds two puts.
func TestPutParticipantCreated(t *testing.T) {
	s, f := NewState(), newFakeLedger()
	const ts = 5_000e9
	first := apply(t, s, f, ts, Command{Op: OpPutParticipant, Participant: bank(40001, kes)})
	renamed := bank(40001, kes)
	renamed.Name = "Bank 40001, renamed"
	second := apply(t, s, f, ts, Command{Op: OpPutParticipant, Participant: renamed})
	if first[0].Code != CodeOK || !first[0].Created {
		t.Fatalf("the creation: %+v", first[0])
	}
	if second[0].Code != CodeOK || second[0].Created {
		t.Fatalf("the update at the same timestamp: %+v", second[0])
	}
	both := apply(t, s, f, ts+1, Command{Op: OpPutParticipant, Participant: bank(40002, kes)},
		Command{Op: OpPutParticipant, Participant: func() Participant { p := bank(40002, kes); p.Name = "other"; return p }()})
	if !both[0].Created || both[1].Created || both[1].Code != CodeOK {
		t.Fatalf("two puts in one entry: %+v", both)
	}
	if again := apply(t, s, f, ts+2, Command{Op: OpPutParticipant, Participant: bank(40002, kes)}); again[0].Created {
		t.Fatalf("a put of what exists: %+v", again[0])
	}
}
