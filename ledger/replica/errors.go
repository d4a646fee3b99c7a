package replica

import (
	"errors"
	"fmt"
)

var (
	// ErrOverloaded: the proposer's queue is full. Nothing was proposed;
	// retry later (the switch answers 91 / 503).
	ErrOverloaded = errors.New("replica: overloaded")
	// ErrUnknownOutcome: the command was proposed but its outcome could not
	// be learnt in time (leadership lost, shutdown, deadline). It may or may
	// not have been applied; retrying with the same IDs is safe, because
	// the ledger is idempotent by ID.
	ErrUnknownOutcome = errors.New("replica: outcome unknown; retry with the same IDs")
	// ErrStopped: the node is shutting down.
	ErrStopped = errors.New("replica: stopped")
	// ErrNothingToSnapshot: a snapshot was asked for, but nothing was
	// applied since the last one, which already holds this state.
	ErrNothingToSnapshot = errors.New("replica: nothing new to snapshot")
	// ErrConfig wraps every problem Config.Validate finds.
	ErrConfig = errors.New("replica: invalid config")
)

// NotLeaderError is returned by a node that is not the leader. Leader and
// LeaderAddr are empty when no leader is known (an election is running).
type NotLeaderError struct {
	Leader     string // the leader's node ID
	LeaderAddr string // the leader's Raft address
}

func (e *NotLeaderError) Error() string {
	if e.Leader == "" {
		return "replica: not the leader, and no leader is known yet"
	}
	return fmt.Sprintf("replica: not the leader; the leader is %s at %s", e.Leader, e.LeaderAddr)
}
