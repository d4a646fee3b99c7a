// Package invariant holds the project's assertions.
//
// Two tiers, following the style guide: [Always] checks are cheap and run in
// every build; a failure is a programmer error and panics. [Enabled] is true
// only in builds with the `invariants` (or `race`) build tag, and guards the
// expensive checks such as full balance scans and prefetch verification.
// CI runs the suite once with `-tags invariants`.
package invariant

import "fmt"

// Always panics with a formatted assertion failure when cond is false.
// Use it for cheap checks whose failure means the code is wrong, never for
// bad input: bad input is a result code or an error.
func Always(cond bool, format string, args ...any) {
	if !cond {
		panic(AssertionFailed{Message: fmt.Sprintf(format, args...)})
	}
}

// AssertionFailed is the panic value of a failed assertion, so that a
// recover() higher up can tell a broken invariant from other panics.
type AssertionFailed struct{ Message string }

func (a AssertionFailed) Error() string { return "assertion failed: " + a.Message }
