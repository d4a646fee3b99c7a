package clustertest

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"

	"github.com/anishathalye/porcupine"
)

// The linearizability model: a few accounts of one currency, account 0 a
// hub without balance rule, the others position accounts whose debits must
// not exceed their credits (limit 0). The system's answers are compared
// with this sequential specification.

// modelAccountsMax bounds the accounts of the model (its state is an array).
const modelAccountsMax = 6

// balances is the model's state: posted debits and credits per account,
// in minor units. An array, so that states compare with ==.
type balances [modelAccountsMax]struct{ debits, credits uint64 }

type opKind uint8

const (
	opTransfer opKind = iota + 1
	opRead
)

// linInput is one operation as invoked. A transfer is one logical
// operation however many times the client sent it: retries carry the same
// ID, and the ledger applies an ID at most once.
type linInput struct {
	kind    opKind
	id      string // transfer ID
	debit   int    // account index
	credit  int    // account index
	amount  uint64 // minor units
	account int    // read: account index
}

// linOutput is what the operation returned. unknown marks a transfer
// whose outcome was never learnt: porcupine gets it with its return at the
// end of the history, so it may have taken effect at any point after its
// call, or never (linearized last, nothing observes it).
type linOutput struct {
	code    string // transfer: "ok" (also for "exists") or the rejection code
	unknown bool
	debits  uint64 // read
	credits uint64 // read
}

// transferCode is what the ledger answers a transfer in state s.
func transferCode(s balances, in linInput) string {
	if in.debit != 0 && s[in.debit].debits+in.amount > s[in.debit].credits {
		return "exceeds_credits"
	}
	return "ok"
}

func linStep(state, input, output any) (bool, any) {
	s := state.(balances)
	in := input.(linInput)
	out := output.(linOutput)
	switch in.kind {
	case opRead:
		a := s[in.account]
		return out.debits == a.debits && out.credits == a.credits, s
	case opTransfer:
		code := transferCode(s, in)
		if !out.unknown && out.code != code {
			return false, s
		}
		if code == "ok" {
			s[in.debit].debits += in.amount
			s[in.credit].credits += in.amount
		}
		return true, s
	}
	return false, s
}

func linModel(initial balances) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return initial },
		Step: linStep,
		Hash: func(state any) uint64 {
			s := state.(balances)
			h := fnv.New64a()
			var b [8]byte
			for _, a := range s {
				binary.LittleEndian.PutUint64(b[:], a.debits)
				_, _ = h.Write(b[:])
				binary.LittleEndian.PutUint64(b[:], a.credits)
				_, _ = h.Write(b[:])
			}
			return h.Sum64()
		},
		DescribeOperation: func(input, output any) string {
			in, out := input.(linInput), output.(linOutput)
			if in.kind == opRead {
				return fmt.Sprintf("read(a%d) → d=%d c=%d", in.account, out.debits, out.credits)
			}
			result := out.code
			if out.unknown {
				result = "unknown"
			}
			return fmt.Sprintf("transfer %s a%d→a%d %d → %s", in.id, in.debit, in.credit, in.amount, result)
		},
		DescribeState: func(state any) string {
			s := state.(balances)
			var out string
			for i, a := range s {
				out += fmt.Sprintf("a%d: d=%d c=%d  ", i, a.debits, a.credits)
			}
			return out
		},
	}
}
