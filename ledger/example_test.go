package ledger_test

import (
	"fmt"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/money"
)

// A push payment between two banks: bank 7's position is prefunded, the
// switch reserves the payment while bank 8 decides, then posts it.
func Example() {
	kes, _ := money.ByCode("KES")
	bank7, bank8, settlement := ledger.IDFromUint64(72), ledger.IDFromUint64(82), ledger.IDFromUint64(71)
	m := ledger.NewMemory()

	// The clock is the leader's, in ns; Apply never reads one of its own.
	out := m.Apply(&ledger.Batch{Timestamp: 1_700_000_000e9, Commands: []ledger.Command{
		{Op: ledger.OpCreateAccount, Account: ledger.Account{
			ID: settlement, Participant: 7, Currency: kes.Numeric, Kind: ledger.KindSettlement}},
		{Op: ledger.OpCreateAccount, Account: ledger.Account{
			ID: bank7, Participant: 7, Currency: kes.Numeric, Kind: ledger.KindPosition,
			Flags: ledger.DebitsMustNotExceedCredits}},
		{Op: ledger.OpCreateAccount, Account: ledger.Account{
			ID: bank8, Participant: 8, Currency: kes.Numeric, Kind: ledger.KindPosition}},
		{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{ // funds in
			ID: ledger.IDFromUint64(1), DebitAccount: settlement, CreditAccount: bank7,
			Amount: 100_000, Currency: kes.Numeric}},
		{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{ // reserve for 30 s
			ID: ledger.IDFromUint64(2), DebitAccount: bank7, CreditAccount: bank8,
			Amount: 25_050, Currency: kes.Numeric, Flags: ledger.Pending, Timeout: 30}},
	}})
	var codes []ledger.Code
	for _, r := range out.Results {
		codes = append(codes, r.Code)
	}
	fmt.Println(codes)
	reserved, _ := m.Account(bank7)
	fmt.Println("reserved:", money.FormatAmount(uint64(reserved.DebitsPending), kes))

	// Bank 8 accepts: post the reservation in full (Amount 0).
	out = m.Apply(&ledger.Batch{Timestamp: 1_700_000_002e9, Commands: []ledger.Command{
		{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
			ID: ledger.IDFromUint64(3), PendingID: ledger.IDFromUint64(2), Flags: ledger.PostPending}},
	}})
	fmt.Println(out.Results[0].Code, out.Events[0].Kind)

	for _, a := range m.Accounts() {
		fmt.Printf("%s %-10s debits %9s  credits %9s\n", a.ID, a.Kind,
			money.FormatAmount(uint64(a.DebitsPosted), kes), money.FormatAmount(uint64(a.CreditsPosted), kes))
	}
	// Output:
	// [ok ok ok ok ok]
	// reserved: 250.50
	// ok transfer_posted
	// 71 settlement debits   1000.00  credits      0.00
	// 72 position   debits    250.50  credits   1000.00
	// 82 position   debits      0.00  credits    250.50
}
