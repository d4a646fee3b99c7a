//go:build !invariants && !race

package invariant

// Enabled reports whether the expensive invariant checks are compiled in.
const Enabled = false
