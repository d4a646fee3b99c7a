// Package simulator holds simulated banks: participants that speak the
// switch's real ISO 8583 contract (DESIGN.md 6.1, docs/iso8583.md) over
// TCP, to drive the switch end to end in tests, demos and benchmarks. It
// depends on the contract and the codec of switch/iso8583 only, never on
// the switch's code, so it checks the switch from the outside, the way a
// bank would.
//
// # What a Bank does
//
// [Dial] opens [BankConfig].Sessions TCP sessions and signs each on. As a
// payer the Bank sends push payments ([Bank.Pay], [Bank.PayAsync]), pull
// payments ([Bank.Pull]), resends of the same 0200 and conflicting
// duplicates ([Bank.Resend]), reversal advices ([Bank.Reverse]) and
// echoes ([Bank.Echo]), and matches each answer to its request by STAN on
// the session it went out on. [Bank.RunLoad] drives an open-loop load
// and measures latency from each payment's due time. As a payee it
// answers the 0200s the switch forwards: approved, declined, answered
// late or never, in the proportions of its config; it answers every 0420
// with 0430 00 and every echo with 0810 00. [Bank.Received] counts what it
// received, MAC failures included. [Bank.Close] signs off.
//
// # Invariants
//
//   - Everything the bank sends that the contract requires a MAC on
//     carries its MAC under BankConfig.MACKey, and every message from the
//     switch that carries or requires one is verified with the same key.
//   - A session's reader never waits: delayed answers go out from timers.
//   - Every table is bounded (limits.go): requests in flight per session,
//     queued bytes per session, delayed answers, remembered payments and
//     advices. A request that finds its table full fails at once.
//   - Every request completes exactly once, by its answer, its deadline
//     (within sweepInterval), or its session closing.
//
// # Usage
//
//	bank, err := simulator.Dial(ctx, simulator.BankConfig{
//		Participant: 10001, MACKey: key, SwitchAddr: "127.0.0.1:8583", Sessions: 2,
//	})
//	if err != nil { ... } // a *SignOnError carries the 0810's code
//	defer bank.Close()
//	res, err := bank.Pay(ctx, simulator.Payment{
//		PayeeParticipant: 10002, PayeeAccount: "7766554433", Amount: 12500,
//	})
//	load, err := bank.RunLoad(ctx, simulator.LoadConfig{
//		Rate: 1000, Duration: 10 * time.Second,
//		Payees: []simulator.Payee{{Participant: 10002, Account: "7766554433"}},
//	})
//	fmt.Println(load.Latency.ValueAtQuantile(99)) // µs from due time
//
// # Concurrency
//
// A Bank is safe for concurrent use. PayAsync's done runs on a session's
// reader or the timeout sweeper: it must neither block nor call Close.
// LoadConfig.Progress runs on RunLoad's own goroutine.
//
// # Determinism and caveats
//
// Every random choice comes from [BankConfig].Seed: the payee's decision
// for the n-th payment on a session, RunLoad's payees and amounts, and the
// approval codes. Time does not: the bank talks to a real switch over
// real TCP, so timeouts and latencies are wall-clock, and which session
// the switch forwards a payment on decides which stream decides it.
// RRNs count up from BankConfig.RRNStart, by default derived from the
// clock so that consecutive runs of one participant never reuse an RRN
// (the switch de-duplicates on 32 + 37 durably); two Banks of the same
// participant dialled in the same centisecond would collide.
//
// A session that closes is not reopened; payments go out on the others,
// and once none is left they fail with ErrNoSession.
package simulator
