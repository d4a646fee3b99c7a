package clustertest

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// TestModel pins the linearizability model on hand-written histories, so
// that the cluster tests' verdicts mean what they say: a stale read, a
// double application and a lost limit check are illegal; an unknown
// outcome may or may not have happened.
func TestModel(t *testing.T) {
	var funded balances
	funded[1].credits = 100 // a1 holds 100, funded by the hub a0
	funded[0].debits = 100
	transfer := func(client int, call, ret int64, id string, debit, credit int, amount uint64, code string) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Call: call, Return: ret,
			Input:  linInput{kind: opTransfer, id: id, debit: debit, credit: credit, amount: amount},
			Output: linOutput{code: code, unknown: code == ""}}
	}
	read := func(client int, call, ret int64, account int, debits, credits uint64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Call: call, Return: ret,
			Input:  linInput{kind: opRead, account: account},
			Output: linOutput{debits: debits, credits: credits}}
	}
	const end = 1000 // the unknown outcome's return: the end of the history
	cases := []struct {
		name    string
		history []porcupine.Operation
		want    porcupine.CheckResult
	}{
		{"concurrent read sees either state", []porcupine.Operation{
			transfer(0, 0, 10, "1", 1, 2, 60, "ok"),
			read(1, 5, 8, 1, 60, 100),
			read(2, 6, 9, 1, 0, 100),
			read(1, 11, 12, 2, 0, 60),
		}, porcupine.Ok},
		{"stale read after the acknowledgement", []porcupine.Operation{
			transfer(0, 0, 10, "1", 1, 2, 60, "ok"),
			read(1, 11, 12, 1, 0, 100),
		}, porcupine.Illegal},
		{"applied twice", []porcupine.Operation{
			transfer(0, 0, 10, "1", 1, 2, 30, "ok"),
			read(1, 11, 12, 1, 60, 100),
		}, porcupine.Illegal},
		{"second overdraft must be rejected", []porcupine.Operation{
			transfer(0, 0, 10, "1", 1, 2, 60, "ok"),
			transfer(0, 11, 20, "2", 1, 3, 60, "ok"),
		}, porcupine.Illegal},
		{"overdraft rejected, then a fitting one", []porcupine.Operation{
			transfer(0, 0, 10, "1", 1, 2, 60, "ok"),
			transfer(0, 11, 20, "2", 1, 3, 60, "exceeds_credits"),
			transfer(0, 21, 30, "3", 1, 3, 40, "ok"),
			read(1, 31, 32, 1, 100, 100),
		}, porcupine.Ok},
		{"rejection without cause", []porcupine.Operation{
			transfer(0, 0, 10, "1", 1, 2, 60, "exceeds_credits"),
		}, porcupine.Illegal},
		{"unknown outcome that happened", []porcupine.Operation{
			transfer(0, 0, end, "1", 1, 2, 60, ""),
			read(1, 20, 30, 1, 60, 100),
		}, porcupine.Ok},
		{"unknown outcome that did not happen", []porcupine.Operation{
			transfer(0, 0, end, "1", 1, 2, 60, ""),
			read(1, 20, 30, 1, 0, 100),
		}, porcupine.Ok},
		{"unknown outcome cannot happen twice", []porcupine.Operation{
			transfer(0, 0, end, "1", 1, 2, 30, ""),
			read(1, 20, 30, 1, 30, 100),
			read(1, 40, 50, 1, 60, 100),
		}, porcupine.Illegal},
		{"unknown outcome cannot unhappen", []porcupine.Operation{
			transfer(0, 0, end, "1", 1, 2, 60, ""),
			read(1, 20, 30, 1, 60, 100),
			read(1, 40, 50, 1, 0, 100),
		}, porcupine.Illegal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := porcupine.CheckOperationsTimeout(linModel(funded), tc.history, 10*time.Second)
			if got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}
