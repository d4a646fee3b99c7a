package clustertest

import "errors"

// ErrNoAnswer: the client's context ended before any node gave a definite
// answer. For Submit the outcome is unknown: the commands may or may not
// have been applied, and a retry with the same IDs settles it.
var ErrNoAnswer = errors.New("clustertest: no definite answer before the deadline")
