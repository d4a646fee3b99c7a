package frontend

import "errors"

// Operating errors of the front end. Test them with errors.Is.
var (
	// ErrConfig: Start got a Config that Validate refuses; the error wraps
	// every problem found.
	ErrConfig = errors.New("frontend: invalid config")
	// ErrNoSession: Send found no signed-on session of the participant
	// that would take the message.
	ErrNoSession = errors.New("frontend: participant has no signed-on session")
	// ErrSessionQueueFull: the session's outbound bytes not yet written
	// would exceed Config.SessionQueueBytesMax. The session reads too
	// slowly, or not at all, and has been closed.
	ErrSessionQueueFull = errors.New("frontend: session outbound queue full")
	// ErrSessionClosed: the session is closed or closing (signed off,
	// over its outbound bound, idle, leadership lost, server stopping).
	ErrSessionClosed = errors.New("frontend: session closed")
)
