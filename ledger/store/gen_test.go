package store_test

import (
	"math/rand/v2"

	"github.com/payswitch/payswitch/ledger"
	"pgregory.net/rapid"
)

// source supplies the generator's choices. The property tests draw them
// from rapid, so that a failing sequence shrinks to a short one; the crash
// and eviction tests draw them from a seeded PCG, so that a child process
// and its parent generate the same batches.
type source interface {
	// intn returns a choice in [0, n); n > 0.
	intn(n int) int
}

type rapidSource struct{ t *rapid.T }

func (s rapidSource) intn(n int) int { return rapid.IntRange(0, n-1).Draw(s.t, "choice") }

type pcgSource struct{ r *rand.Rand }

func (s pcgSource) intn(n int) int { return s.r.IntN(n) }

// The generator's currencies: two with minor units and one without, so
// that accounts of different currencies meet in transfers and answer
// currency_mismatch.
var testCurrencies = [...]uint16{404, 840, 800}

const (
	// currencyUnknown is not in ISO 4217: create_account answers currency_unknown.
	currencyUnknown = 1
	// timestampStart is the first batch's timestamp (November 2023).
	timestampStart = 1_700_000_000 * uint64(1e9)
	// accountMissing is an account ID the generator never creates.
	accountMissing = 1 << 40
)

// generatorLimits size what the generator produces.
type generatorLimits struct {
	commandsMax int // per batch; a batch holds 0 to commandsMax commands
	accountsMax int // distinct account IDs
}

// generator makes random command batches that exercise every path of the
// ledger: accounts with random kinds, flags and limits (some invalid);
// single-phase and pending transfers; posts and voids, in full, in part and
// wrong; retries of earlier IDs with the same and with changed fields;
// linked chains, including chains that fail, that a non-transfer breaks and
// that the batch leaves open; limit changes; expire commands; and batch
// timestamps that advance by random steps and now and then go backwards.
//
// It remembers only what it issued, not what the ledger answered, so the
// same choices always give the same batches whatever store applies them.
type generator struct {
	src    source
	limits generatorLimits

	timestamp  uint64
	accounts   []ledger.Account // every create_account issued, for retries
	accountIDs []ledger.ID      // distinct non-zero account IDs issued
	currencyOf map[ledger.ID]uint16
	transfers  []ledger.Transfer // every new transfer issued, for retries
	pending    []ledger.Transfer // every new pending transfer issued, for posts and voids

	accountsNext  uint64
	transfersNext uint64
}

func newGenerator(src source, limits generatorLimits) *generator {
	return &generator{
		src:        src,
		limits:     limits,
		timestamp:  timestampStart,
		currencyOf: map[ledger.ID]uint16{},
	}
}

// rare returns which of kinds rare branches to take, each about once in n
// draws, or -1 for the common path. It tests the middle of the range
// because rapid favours small numbers and the ends of a range: in the
// middle, rare branches stay rare, and a failing case shrinks towards the
// common path.
func (g *generator) rare(n, kinds int) int {
	if v := g.src.intn(n) - n/2; v >= 0 && v < kinds {
		return v
	}
	return -1
}

// oneIn reports true about once in n draws, with rare's care.
func (g *generator) oneIn(n int) bool { return g.rare(n, 1) == 0 }

// batchAt generates batch index of a seeded sequence: its choices come from
// a PCG seeded with (seed, index). Batches depend on the ones before them
// through the generator's memory, so a sequence is generated in order,
// from index 1, by one generator.
func (g *generator) batchAt(seed, index uint64) ledger.Batch {
	g.src = pcgSource{rand.New(rand.NewPCG(seed, index))}
	return g.batch()
}

func (g *generator) batch() ledger.Batch {
	g.advanceTime()
	n := g.src.intn(g.limits.commandsMax + 1)
	b := ledger.Batch{Timestamp: g.timestamp, Commands: make([]ledger.Command, 0, n)}
	for range n {
		b.Commands = append(b.Commands, g.command())
	}
	return b
}

// advanceTime moves the leader's clock: mostly forward by 0.1 to 1.7 s, so
// that pending transfers of 1 to 3 s expire within a few batches; now and
// then not at all, or backwards, which the ledger must absorb by keeping
// its own timestamps increasing. The step is drawn in two parts because
// rapid favours small numbers: one draw up to 1,600 would mostly give a
// few milliseconds, and pending transfers would never expire.
func (g *generator) advanceTime() {
	switch g.rare(10, 2) {
	case 0:
	case 1:
		g.timestamp -= uint64(g.src.intn(20)) * 100e6
	default:
		g.timestamp += uint64(1+g.src.intn(16))*100e6 + uint64(g.src.intn(100))*1e6
	}
}

func (g *generator) command() ledger.Command {
	// Accounts come first and fast, so that transfers soon find peers of
	// their currency; later they are rare.
	create := len(g.accountIDs) < 2 || g.oneIn(16)
	if len(g.accountIDs) < g.limits.accountsMax/2 {
		create = create || g.oneIn(4)
	}
	if create {
		return ledger.Command{Op: ledger.OpCreateAccount, Account: g.account()}
	}
	switch k := g.rare(20, 10); {
	case k == 0 || k == 1:
		return ledger.Command{Op: ledger.OpExpire}
	case k == 2:
		return ledger.Command{Op: ledger.OpSetLimit, Account: ledger.Account{ID: g.someAccount(), Limit: g.limit()}}
	case (k == 3 || k == 4) && len(g.transfers) > 0:
		return ledger.Command{Op: ledger.OpCreateTransfer, Transfer: g.retry(false)}
	case k == 5 && len(g.transfers) > 0:
		return ledger.Command{Op: ledger.OpCreateTransfer, Transfer: g.retry(true)}
	case k >= 6 && len(g.pending) > 0:
		return ledger.Command{Op: ledger.OpCreateTransfer, Transfer: g.resolve()}
	}
	return ledger.Command{Op: ledger.OpCreateTransfer, Transfer: g.newTransfer()}
}

func (g *generator) account() ledger.Account {
	if len(g.accounts) > 0 && (g.oneIn(10) || len(g.accountIDs) >= g.limits.accountsMax) {
		a := g.accounts[g.src.intn(len(g.accounts))]
		if g.src.intn(2) == 0 {
			g.changeAccount(&a)
		}
		return a
	}
	g.accountsNext++
	a := ledger.Account{
		ID:          ledger.NewID(1, g.accountsNext),
		Participant: uint64(1 + g.src.intn(4)),
		Currency:    testCurrencies[g.src.intn(len(testCurrencies))],
		Kind:        ledger.AccountKind(1 + g.src.intn(4)),
		Limit:       g.limit(),
		UserRef:     uint64(g.src.intn(3)),
	}
	switch g.src.intn(4) {
	case 1:
		a.Flags = ledger.DebitsMustNotExceedCredits
	case 2:
		a.Flags = ledger.CreditsMustNotExceedDebits
	}
	switch g.rare(60, 6) { // now and then a field the ledger rejects
	case 0:
		a.ID = ledger.ID{}
	case 1:
		a.Kind = 0
	case 2:
		a.Flags = ledger.DebitsMustNotExceedCredits | ledger.CreditsMustNotExceedDebits
	case 3:
		a.Flags = 1 << 5
	case 4:
		a.Participant = 0
	case 5:
		a.Currency = currencyUnknown
	}
	g.accounts = append(g.accounts, a)
	if _, ok := g.currencyOf[a.ID]; !ok && !a.ID.IsZero() {
		g.accountIDs = append(g.accountIDs, a.ID)
		g.currencyOf[a.ID] = a.Currency
	}
	return a
}

// changeAccount changes one field of a create_account retry.
func (g *generator) changeAccount(a *ledger.Account) {
	switch g.src.intn(6) {
	case 0:
		a.Participant++
	case 1:
		a.Currency = testCurrencies[(g.currencyIndex(a.Currency)+1)%len(testCurrencies)]
	case 2:
		a.Kind = a.Kind%4 + 1
	case 3:
		a.Flags ^= ledger.DebitsMustNotExceedCredits
	case 4:
		a.Limit++
	default:
		a.UserRef++
	}
}

func (g *generator) currencyIndex(c uint16) int {
	for i, tc := range testCurrencies {
		if tc == c {
			return i
		}
	}
	return 0
}

// limit is an account limit: none, small, or so large that the balance
// rules' sums overflow.
func (g *generator) limit() ledger.Amount {
	switch g.rare(8, 3) {
	case 0:
		return 0
	case 1:
		return ^ledger.Amount(0)
	case 2:
		return 1 << 62
	}
	return ledger.Amount(g.src.intn(2000))
}

// amount is a transfer amount: mostly small, rarely zero, very rarely half
// the range, so that balances reach overflow.
func (g *generator) amount() ledger.Amount {
	switch g.rare(64, 4) {
	case 0, 1, 2:
		return 0
	case 3:
		return 1 << 63
	}
	return ledger.Amount(1 + g.src.intn(500))
}

func (g *generator) timeout() uint32 {
	switch g.rare(24, 3) {
	case 0, 1:
		return 0 // never expires
	case 2:
		return ledger.TimeoutSecondsMax + 1
	}
	return uint32(1 + g.src.intn(3))
}

func (g *generator) someAccount() ledger.ID {
	switch g.rare(80, 2) {
	case 0:
		return ledger.ID{}
	case 1:
		return ledger.NewID(1, accountMissing)
	}
	return g.accountIDs[g.src.intn(len(g.accountIDs))]
}

// peer picks a credit account for debit, mostly of the same currency.
func (g *generator) peer(debit ledger.ID) ledger.ID {
	for range 8 {
		c := g.someAccount()
		if c != debit && g.currencyOf[c] == g.currencyOf[debit] {
			return c
		}
	}
	return g.someAccount()
}

// transferID is a new transfer ID: sequential like most clients', some
// with high bits set, and now and then the reserved zero ID.
func (g *generator) transferID() ledger.ID {
	g.transfersNext++
	switch g.rare(80, 5) {
	case 0:
		return ledger.ID{}
	case 1, 2, 3, 4:
		return ledger.NewID(uint64(1+g.src.intn(3))<<32, g.transfersNext)
	}
	return ledger.IDFromUint64(g.transfersNext)
}

// link flags one transfer in eight as Linked, which chains it to whatever
// command comes next: chains of random length, chains broken by a
// non-transfer command, and chains left open at the end of the batch.
func (g *generator) link(t *ledger.Transfer) {
	if g.oneIn(8) {
		t.Flags |= ledger.Linked
	}
}

func (g *generator) newTransfer() ledger.Transfer {
	debit := g.someAccount()
	t := ledger.Transfer{
		ID:            g.transferID(),
		DebitAccount:  debit,
		CreditAccount: g.peer(debit),
		Amount:        g.amount(),
		Currency:      g.currencyOf[debit],
		Code:          uint16(1 + g.src.intn(3)),
		UserRef:       ledger.IDFromUint64(uint64(g.src.intn(4))),
	}
	if g.oneIn(3) {
		t.Flags |= ledger.Pending
		t.Timeout = g.timeout()
	}
	switch g.rare(80, 6) { // now and then a field the ledger rejects
	case 0:
		t.CreditAccount = t.DebitAccount
	case 1:
		t.Currency = 0
	case 2:
		t.Flags |= 1 << 6
	case 3:
		t.Timeout = 1 // reserved for pending transfers
	case 4:
		t.PendingID = ledger.IDFromUint64(7)
	case 5:
		t.Flags |= ledger.VoidPending
	}
	g.link(&t)
	g.transfers = append(g.transfers, t)
	if t.Flags&ledger.Pending != 0 {
		g.pending = append(g.pending, t)
	}
	return t
}

// resolve posts or voids a pending transfer the generator issued. Most
// leave the fields zero, to be taken from the pending transfer; some state
// them, some post part of the amount, and some get a field wrong.
func (g *generator) resolve() ledger.Transfer {
	// Mostly a recent one, which is more likely to be pending still.
	p := g.pending[len(g.pending)-1-g.src.intn(min(len(g.pending), 6))]
	if g.oneIn(4) {
		p = g.pending[g.src.intn(len(g.pending))]
	}
	t := ledger.Transfer{ID: g.transferID(), PendingID: p.ID, Flags: ledger.PostPending}
	if g.src.intn(2) == 0 {
		t.Flags = ledger.VoidPending
	}
	switch g.rare(16, 7) {
	case 0:
		t.DebitAccount, t.CreditAccount, t.Currency, t.Amount = p.DebitAccount, p.CreditAccount, p.Currency, p.Amount
	case 1:
		t.Amount = p.Amount / 2
	case 2:
		t.Amount = p.Amount + 1
	case 3:
		t.DebitAccount = p.CreditAccount
	case 4:
		t.Currency = testCurrencies[(g.currencyIndex(p.Currency)+1)%len(testCurrencies)]
	case 5:
		t.PendingID = g.transfers[g.src.intn(len(g.transfers))].ID // perhaps not a pending one
	case 6:
		t.PendingID = ledger.IDFromUint64(1 << 50) // never issued
	}
	t.Code = p.Code
	g.link(&t)
	g.transfers = append(g.transfers, t)
	return t
}

// retry sends an earlier transfer again: as it was, or with one field
// changed.
func (g *generator) retry(change bool) ledger.Transfer {
	t := g.transfers[g.src.intn(len(g.transfers))]
	if !change {
		return t
	}
	switch g.src.intn(9) {
	case 0:
		t.Flags ^= ledger.Linked
	case 1:
		t.PendingID = ledger.IDFromUint64(t.PendingID.Lo() + 1)
	case 2:
		t.Timeout++
	case 3:
		t.DebitAccount = g.someAccount()
	case 4:
		t.CreditAccount = g.someAccount()
	case 5:
		t.Amount++
	case 6:
		t.Currency = testCurrencies[(g.currencyIndex(t.Currency)+1)%len(testCurrencies)]
	case 7:
		t.Code++
	default:
		t.UserRef = ledger.IDFromUint64(t.UserRef.Lo() + 1)
	}
	return t
}
