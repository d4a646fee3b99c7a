package pgbaseline

import "errors"

// Operating errors of the baseline. Rejected transfers are not errors:
// they are [ledger.Code]s, exactly as the ledger returns them.
var (
	// ErrNotInstalled is returned by Start when no PostgreSQL server
	// binaries are found. On Debian and Ubuntu they come from
	// `apt-get install -y postgresql`.
	ErrNotInstalled = errors.New("pgbaseline: PostgreSQL is not installed (install it with `apt-get install -y postgresql`)")
	// ErrUnsupported is returned for a command the baseline does not
	// implement: set_limit, expire, and linked chains of transfers. The
	// benchmark workloads use none of them.
	ErrUnsupported = errors.New("pgbaseline: command not supported by the baseline")
	// ErrAmountTooLarge is returned for an amount or limit of 2^63 or more:
	// the baseline keeps money in PostgreSQL bigint columns.
	ErrAmountTooLarge = errors.New("pgbaseline: amount or limit does not fit in a bigint")
	// ErrSetupRefused is returned by Setup when a set-up command does not
	// succeed; the timed run would otherwise measure a different workload.
	ErrSetupRefused = errors.New("pgbaseline: set-up command refused")
)
