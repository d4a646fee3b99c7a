//go:build !unix

package bench

import "time"

// processCPU reports zeros where getrusage is not available.
func processCPU() (user, system time.Duration) { return 0, 0 }
