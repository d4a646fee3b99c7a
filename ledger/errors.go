package ledger

import "errors"

// Operating errors of the ledger package. Rejections of commands are not
// errors: they are [Code]s in each command's [Result].
var (
	// ErrInvalidID is returned by ParseID for text that is not an ID.
	ErrInvalidID = errors.New("ledger: invalid ID")
	// ErrBatchMalformed is returned by DecodeBatch for bytes that are not a
	// well-formed command batch. Nothing of such a batch is applied.
	ErrBatchMalformed = errors.New("ledger: malformed command batch")
	// ErrBatchTooLarge is returned when a batch holds more commands than
	// BatchCommandsMax.
	ErrBatchTooLarge = errors.New("ledger: batch too large")
)
