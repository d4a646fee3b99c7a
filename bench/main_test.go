package bench

import (
	"os"
	"testing"

	"github.com/payswitch/payswitch/ledger/replica/clustertest"
)

// TestMain deletes the payswitch binary TestSimThreeNodesKill builds, once
// every test has run (a test's own cleanup would remove it before a
// second -count could use it).
func TestMain(m *testing.M) {
	code := m.Run()
	clustertest.RemoveBinary()
	os.Exit(code)
}
