package main

import (
	"bytes"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payswitch/payswitch/simulator"
)

// TestSimBankFlags: every flag is checked, by name, before the simulated
// bank dials the switch. --rate NaN served as a payee and exited 0; --rate
// +Inf, --amount-min above --amount-max and a --payer-account that field
// 102 cannot carry were refused only after signing on, without naming the
// flag (the last as "payee 0").
func TestSimBankFlags(t *testing.T) {
	// A switch that only counts the connections it is offered.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var dialled atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			dialled.Add(1)
			_ = conn.Close()
		}
	}()
	base := []string{"simbank", "--participant", "10001", "--mac-key", strings.Repeat("ab", 16), "--switch", ln.Addr().String()}
	load := []string{"--rate", "10", "--count", "1", "--payee", "10002/7766554433"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--rate", "NaN"}, "--rate NaN: want payments per second"},
		{[]string{"--rate", "+Inf", "--count", "1", "--payee", "10002/1"}, "--rate +Inf"},
		{[]string{"--rate", "-1"}, "--rate -1"},
		{append([]string{"--amount-min", "5", "--amount-max", "1"}, load...), "--amount-min 5 is above --amount-max 1"},
		{append([]string{"--amount-min", "0"}, load...), "--amount-min 0"},
		{append([]string{"--amount-max", "1000000000000"}, load...), "--amount-max 1000000000000"},
		{append([]string{"--payer-account", strings.Repeat("9", 29)}, load...), "--payer-account \"" + strings.Repeat("9", 29) + "\" does not fit field 102"},
		{append([]string{"--payer-account", "bad\x01account"}, load...), "--payer-account"},
		{[]string{"--rate", "10", "--count", "1", "--payee", "10002/" + strings.Repeat("1", 65)}, "does not fit field 103"},
		{[]string{"--rate", "10", "--count", "1", "--alias", "nocolon"}, "--alias \"nocolon\""},
		{[]string{"--rate", "10", "--count", "1"}, "--rate needs a --payee or an --alias"},
		{[]string{"--rate", "10", "--payee", "10002/1"}, "--rate needs --duration or --count"},
		{[]string{"--payee", "10002/1"}, "--payee, --alias and --count need --rate"},
		{[]string{"--rate", "1000001", "--count", "1", "--payee", "10002/1"}, "--rate 1.000001e+06: want payments per second, up to 1000000"},
		{[]string{"--rate", "1000000", "--duration", "1000s", "--payee", "10002/1"}, "simbank load flags"}, // 10^9 payments planned
		{append([]string{"--currency", "1000"}, load...), "--currency 1000"},
		{append([]string{"--timeout", "0s"}, load...), "--timeout 0s"},
		{[]string{"--duration", "-1s"}, "--duration -1s is negative"},
		{[]string{"--participant", "0"}, "--participant 0: want 1 to 99999999999"},
		{[]string{"--participant", "100000000000"}, "--participant 100000000000"},
		{[]string{"--mac-key", "abcd"}, "--mac-key: 2 bytes"},
		{[]string{"--mac-key", "xyz"}, "--mac-key must be the key in hex"},
		{[]string{"--switch", "nowhere"}, "--switch \"nowhere\": want host:port"},
		{[]string{"--sessions", "0"}, "--sessions 0: want 1 to 64"},
		{[]string{"--decline-percent", "101"}, "--decline-percent 101: want 0 to 100"},
		{[]string{"--decline-percent", "60", "--drop-percent", "50"}, "add up to 110"},
		{[]string{"--decline-code", "0!"}, "--decline-code \"0!\": want two letters or digits"},
		{[]string{"--delay-percent", "5"}, "--delay-percent 5 needs --delay"},
		{[]string{"--delay", "-1s"}, "--delay -1s is negative"},
		{[]string{"--log-level", "loud"}, "--log-level \"loud\""},
	} {
		_, err := runRoot(append(append([]string{}, base...), tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
	time.Sleep(50 * time.Millisecond) // let a stray connection be counted
	if n := dialled.Load(); n != 0 {
		t.Errorf("the switch was dialled %d times; no flag error may get that far", n)
	}
}

// TestSimBankBounds holds the bounds resolve names flags by to the
// simulator's own: at each bound its Validate agrees, one past it refuses.
func TestSimBankBounds(t *testing.T) {
	bank := simulator.BankConfig{Participant: simParticipantMax, MACKey: bytes.Repeat([]byte{1}, 16), SwitchAddr: "127.0.0.1:8583"}
	if err := bank.Validate(); err != nil {
		t.Errorf("participant %d: %v", bank.Participant, err)
	}
	if bank.Participant++; bank.Validate() == nil {
		t.Errorf("participant %d accepted", bank.Participant)
	}
	load := simulator.LoadConfig{Rate: simRateMax, Count: 1, Payees: []simulator.Payee{{Alias: "msisdn:+254700000001"}}, AmountMin: 1, AmountMax: simAmountMax}
	if err := load.Validate(); err != nil {
		t.Errorf("rate %v, amount %d: %v", load.Rate, load.AmountMax, err)
	}
	over := load
	if over.Rate = simRateMax + 1; over.Validate() == nil {
		t.Errorf("rate %v accepted", over.Rate)
	}
	over = load
	if over.AmountMax = simAmountMax + 1; over.Validate() == nil {
		t.Errorf("amount %d accepted", over.AmountMax)
	}
}
