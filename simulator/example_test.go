package simulator_test

import (
	"context"
	"fmt"
	"time"

	"github.com/payswitch/payswitch/simulator"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// A bank signs on to a switch (here the tests' stand-in), pays, reverses
// the payment, runs a short open-loop load and signs off.
func Example() {
	sw, err := newStandIn(func(format string, args ...any) { fmt.Printf("stand-in: "+format+"\n", args...) })
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sw.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	bank, err := simulator.Dial(ctx, simulator.BankConfig{
		Participant: 10001, MACKey: testKey, SwitchAddr: sw.addr(), Sessions: 2, RRNStart: 42,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := bank.Pay(ctx, simulator.Payment{PayeeParticipant: 10002, PayeeAccount: "7766554433", Amount: 12500})
	fmt.Println("pay:", res.RRN, res.Code, res.Code.Meaning(), err)
	rev, err := bank.Reverse(ctx, res.RRN)
	fmt.Println("reverse:", rev.Response.MTI, rev.Code, err)

	load, err := bank.RunLoad(ctx, simulator.LoadConfig{
		Rate: 1000, Count: 200, Payees: []simulator.Payee{{Alias: "msisdn:+254700000001"}},
	})
	fmt.Println("load:", load.Sent, "sent,", load.ByCode[iso8583.ResponseApproved], "approved,",
		load.Latency.TotalCount(), "latencies,", err)
	fmt.Println("close:", bank.Close())
	// Output:
	// pay: 000000000016 00 approved <nil>
	// reverse: 0430 00 <nil>
	// load: 200 sent, 200 approved, 200 latencies, <nil>
	// close: <nil>
}
