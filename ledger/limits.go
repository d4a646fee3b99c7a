package ledger

// Limits of the state machine. They bound the work one batch can cause, so
// that a replica's apply time per batch is bounded whatever a client sends.
const (
	// BatchCommandsMax is the most commands one batch may hold. It matches
	// the largest batch the leader's proposer builds.
	BatchCommandsMax = 8192

	// ExpireTransfersMax is the most pending transfers one expire command
	// voids. The leader proposes expire again while Result.More is set.
	ExpireTransfersMax = 4096

	// TimeoutSecondsMax bounds a pending transfer's timeout: one week. A
	// payment switch holds reservations for seconds; a week leaves room for
	// settlement holds without letting a deadline overflow.
	TimeoutSecondsMax = 7 * 24 * 3600

	// TimestampMax bounds a batch timestamp (ns since the Unix epoch, about
	// the year 2116), far enough below 2^64 that event timestamps and
	// deadlines derived from it never wrap. DecodeBatch refuses later ones.
	TimestampMax = 1 << 62
)
