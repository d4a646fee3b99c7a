package clustertest

import (
	"os"
	"testing"
	"time"
)

// soakEnv turns on the long variants: PAYSWITCH_SOAK=1 go test ./ledger/replica/clustertest -run Soak -v -timeout 15m
const soakEnv = "PAYSWITCH_SOAK"

func skipUnlessSoak(t *testing.T) {
	if os.Getenv(soakEnv) != "1" {
		t.Skipf("set %s=1 to run the soak variants", soakEnv)
	}
}

// TestSoakRepeatedLeaderSIGKILL kills the leader again and again under
// load for about a minute.
func TestSoakRepeatedLeaderSIGKILL(t *testing.T) {
	skipUnlessSoak(t)
	runFailover(t, failoverPlan{
		load: loadPlan{clients: 8, opsMax: 3_000, duration: 60 * time.Second, pause: 20 * time.Millisecond,
			amountMax: 5_000, hugePercent: 10, idBase: 1_000_000_000, seed: uint64(time.Now().UnixNano())},
		firstKill: 2 * time.Second,
		downtime:  2 * time.Second,
		kills:     12,
	})
}

// TestSoakLinearizable records a longer history under a nemesis that
// alternates leader and follower kills.
func TestSoakLinearizable(t *testing.T) {
	skipUnlessSoak(t)
	var faults []fault
	for i := range 10 {
		at := time.Duration(2*i+1) * time.Second
		faults = append(faults, fault{at: at, leader: i%3 != 2}, fault{at: at + time.Second, restart: true})
	}
	runLinearizability(t, linPlan{
		load: loadPlan{clients: 5, opsMax: 300, duration: 21 * time.Second, pause: 60 * time.Millisecond,
			readPercent: 50, amountMax: 60, fromHubPct: 10, idBase: 2_000_000_000, seed: uint64(time.Now().UnixNano())},
		faults: faults,
	})
}
