package store

import "errors"

var (
	// ErrOptions wraps every problem Validate finds.
	ErrOptions = errors.New("store: invalid options")
	// ErrIndexApplied is returned by Apply for a log index at or below the
	// applied index: that batch is already in the store.
	ErrIndexApplied = errors.New("store: index already applied")
	// ErrFailed is returned once a write or read failed: the in-memory
	// state may no longer match the disk, so the store refuses all further
	// batches. Close it and open it again to recover from disk.
	ErrFailed = errors.New("store: failed earlier; reopen it")
	// ErrCorrupt reports a record on disk that does not decode.
	ErrCorrupt = errors.New("store: corrupt record")
	// ErrClosed is returned by Apply and by point reads after Close. (Range
	// queries must not be called after Close.)
	ErrClosed = errors.New("store: closed")
)
