package bench

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/payswitch/payswitch/simulator"
)

// simClass is a kind of participant of the sim.
type simClass uint8

const (
	classBig simClass = iota
	classSmall
	classWallet
	classTreasury
	classCount
)

var simClassNames = [classCount]string{"big banks", "small banks", "wallets", "treasury"}

func (c simClass) String() string { return simClassNames[c] }

// Shares of the regular load by class, sent and received alike: a few big
// banks carry most of it, many small banks a little each, and wallets a
// quarter (mostly to phone numbers).
var simClassShares = [classCount]float64{0.60, 0.15, 0.25, 0}

// simParticipant is one simulated participant: who it is and how it
// behaves.
type simParticipant struct {
	id       uint64
	name     string
	class    simClass
	key      []byte
	sessions int
	// declinePercent of the payments forwarded to it are declined (05).
	declinePercent int
	// weight is its share of the regular load, sent and received.
	weight float64
}

// simBeneficiary is a person the treasury pays: linked by national ID and
// phone number to an account at one participant.
type simBeneficiary struct {
	nid, msisdn string // identifiers with their type prefix
	participant int    // index into simWorld.participants
	account     string
}

// simWorld is the sim's population, generated from the config's seed:
// the same config gives the same participants, keys and links.
type simWorld struct {
	participants  []simParticipant
	beneficiaries []simBeneficiary
	treasury      int       // index of the treasury
	cumulative    []float64 // running sum of the weights, for picking by weight
	byClass       [classCount][]int
}

const (
	simCurrency       = 404 // KES
	simBigBase        = 11_001
	simSmallBase      = 12_001
	simWalletBase     = 21_001
	simTreasuryID     = 90_001
	simFundingKES     = "1000000000.00" // far beyond what a run moves
	simG2PAmount      = 300_000         // KES 3,000.00
	simAmountMinMinor = 100             // KES 1.00
	simAmountDecades  = 3.7             // up to about KES 5,000
)

func newSimWorld(cfg SimConfig) (*simWorld, error) {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	w := &simWorld{}
	add := func(p simParticipant) {
		p.key = make([]byte, 32)
		for i := range p.key {
			p.key[i] = byte(rng.Uint32())
		}
		w.byClass[p.class] = append(w.byClass[p.class], len(w.participants))
		w.participants = append(w.participants, p)
	}
	// Big banks' shares fall off as 1, 1/2, 1/3 ... of each other, as
	// market shares do; small banks and wallets are alike within a class.
	harmonic := 0.0
	for i := range cfg.BigBanks {
		harmonic += 1 / float64(i+1)
	}
	for i := range cfg.BigBanks {
		add(simParticipant{id: uint64(simBigBase + i), name: fmt.Sprintf("Big Bank %d", i+1), class: classBig,
			sessions: 2, declinePercent: 1, weight: simClassShares[classBig] / float64(i+1) / harmonic})
	}
	for i := range cfg.SmallBanks {
		add(simParticipant{id: uint64(simSmallBase + i), name: fmt.Sprintf("Small Bank %d", i+1), class: classSmall,
			sessions: 1, declinePercent: 2, weight: simClassShares[classSmall] / float64(cfg.SmallBanks)})
	}
	for i := range cfg.Wallets {
		add(simParticipant{id: uint64(simWalletBase + i), name: fmt.Sprintf("Wallet %d", i+1), class: classWallet,
			sessions: 2, declinePercent: 1, weight: simClassShares[classWallet] / float64(cfg.Wallets)})
	}
	w.treasury = len(w.participants)
	add(simParticipant{id: simTreasuryID, name: "National Treasury", class: classTreasury, sessions: 2})
	sum := 0.0
	for _, p := range w.participants {
		sum += p.weight
		w.cumulative = append(w.cumulative, sum)
	}
	if math.Abs(sum-1) > 1e-9 {
		return nil, fmt.Errorf("sim: participant weights sum to %v, not 1", sum)
	}
	// Beneficiaries bank where people bank: 45% at big banks, 20% at
	// small ones, 35% on wallets.
	for i := range cfg.Beneficiaries {
		var class simClass
		switch r := rng.Float64(); {
		case r < 0.45:
			class = classBig
		case r < 0.65:
			class = classSmall
		default:
			class = classWallet
		}
		members := w.byClass[class]
		at := members[rng.IntN(len(members))]
		b := simBeneficiary{
			nid:         fmt.Sprintf("nid:KE%08d", 20_000_000+i),
			msisdn:      fmt.Sprintf("msisdn:+25471%07d", i),
			participant: at,
			account:     fmt.Sprintf("B%09d", i),
		}
		if class == classWallet {
			b.account = fmt.Sprintf("25471%07d", i)
		}
		w.beneficiaries = append(w.beneficiaries, b)
	}
	return w, nil
}

// pick returns the index of a participant drawn by weight.
func (w *simWorld) pick(rng *rand.Rand) int {
	i, _ := slices.BinarySearch(w.cumulative, rng.Float64()*w.cumulative[len(w.cumulative)-1])
	return min(i, len(w.participants)-1)
}

// bootstrapYAML writes the participants file (docs/bootstrap.md) that
// onboards the population: every participant over ISO 8583 with its MAC
// key and a funded position, and each beneficiary's two links.
func (w *simWorld) bootstrapYAML() []byte {
	var b bytes.Buffer
	b.WriteString("# Generated by payswitch sim. Simulation keys only.\nversion: 1\nparticipants:\n")
	for _, p := range w.participants {
		kind := "bank"
		switch p.class {
		case classWallet:
			kind = "wallet"
		case classTreasury:
			kind = "government"
		}
		fmt.Fprintf(&b, "  - id: %d\n    name: %s\n    kind: %s\n    connection: iso8583\n    currencies: [KES]\n    mac_key: %s\n",
			p.id, p.name, kind, hex.EncodeToString(p.key))
		fmt.Fprintf(&b, "    positions:\n      KES: {funding: %q}\n", simFundingKES)
	}
	b.WriteString("links:\n")
	for i, ben := range w.beneficiaries {
		p := w.participants[ben.participant]
		for _, id := range []string{ben.nid, ben.msisdn} {
			fmt.Fprintf(&b, "  - {id: %q, participant: %d, account: %q, name: \"Beneficiary %d\"}\n", id, p.id, ben.account, i+1)
		}
	}
	return b.Bytes()
}

// regularPayment draws one payment of the regular load: its payer and
// what it pays. Banks pay accounts at other participants, now and then a
// phone number; wallets mostly pay phone numbers, a few of them unknown
// (the switch answers 14).
func (w *simWorld) regularPayment(rng *rand.Rand) (payer int, p simulator.Payment) {
	payer = w.pick(rng)
	p.Amount = uint64(simAmountMinMinor * math.Pow(10, rng.Float64()*simAmountDecades))
	p.PayerAccount = fmt.Sprintf("C%09d", rng.IntN(1_000_000_000))
	aliasPercent := 10
	if w.participants[payer].class == classWallet {
		aliasPercent = 60
		if rng.IntN(1000) < 3 {
			p.Alias = fmt.Sprintf("msisdn:+25479%07d", rng.IntN(10_000_000)) // nobody's number
			return payer, p
		}
	}
	if rng.IntN(100) < aliasPercent {
		// A phone number of someone banking elsewhere; a few tries, then
		// an account.
		for range 4 {
			ben := w.beneficiaries[rng.IntN(len(w.beneficiaries))]
			if ben.participant != payer {
				p.Alias = ben.msisdn
				return payer, p
			}
		}
	}
	payee := w.pick(rng)
	if payee == payer {
		// The next one; the treasury (last) receives no regular payments,
		// and there are at least three others, so this is not the payer.
		payee = (payee + 1) % w.treasury
	}
	p.PayeeParticipant = w.participants[payee].id
	p.PayeeAccount = fmt.Sprintf("A%09d", rng.IntN(1_000_000_000))
	return payer, p
}

// g2pPayment is the n-th item of the treasury's batch: the beneficiaries
// in order, by national ID mostly, by phone number otherwise.
func (w *simWorld) g2pPayment(rng *rand.Rand, n int) simulator.Payment {
	ben := w.beneficiaries[n%len(w.beneficiaries)]
	p := simulator.Payment{Amount: simG2PAmount, PayerAccount: "G2P-PROGRAM-1", Alias: ben.nid}
	if rng.IntN(100) < 30 {
		p.Alias = ben.msisdn
	}
	return p
}
