package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/ledger/store"
	"github.com/payswitch/payswitch/routing"
)

// loadBootstrap reads and plans a participants file before the node
// starts, so that a mistake in it stops `serve` with the line and field.
func loadBootstrap(path string, tokens *routing.Tokenizer) (*routing.Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--bootstrap: %w", err)
	}
	b, err := routing.ParseBootstrap(data)
	if err != nil {
		return nil, fmt.Errorf("--bootstrap %s: %w", path, err)
	}
	plan, err := b.Plan(data, tokens)
	if err != nil {
		return nil, fmt.Errorf("--bootstrap %s: %w", path, err)
	}
	return plan, nil
}

// bootstrapPoll is how often a node that does not lead checks whether it
// leads now, or whether the leader applied the file already.
const bootstrapPoll = 250 * time.Millisecond

// runBootstrap applies plan once this node leads. A node that does not
// lead waits: when everything of the file that a leader applies exists
// (planApplied), another node applied it and there is nothing left to do.
// Failures are logged, and retried while they are about leadership: the
// same plan resumes, and still counts the participants it onboarded
// before as its own.
func runBootstrap(ctx context.Context, node *replica.Node, plan *routing.Plan, path string, logger *slog.Logger) {
	tick := time.NewTicker(bootstrapPoll)
	defer tick.Stop()
	for {
		if !node.IsLeader() && planApplied(node, plan) {
			logger.Info("bootstrap already applied by the leader", "file", path)
			return
		}
		if node.IsLeader() {
			rep, err := plan.Apply(ctx, node)
			if logBootstrap(logger, path, rep, err) {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// logBootstrap logs a run of the plan and reports whether it is over
// (applied, or failed for good) rather than to be retried. Whatever the
// outcome, it logs what the run left alone: a run that stops at a failing
// step has often skipped something before it that explains the failure.
func logBootstrap(logger *slog.Logger, path string, rep routing.BootstrapReport, err error) (over bool) {
	var notLeader *replica.NotLeaderError
	switch {
	case err == nil:
		logger.Info("bootstrap applied", "file", path, "applied", rep.Applied, "existing", rep.Existing, "skipped", len(rep.Skipped))
	case errors.As(err, &notLeader), errors.Is(err, replica.ErrStopped), errors.Is(err, replica.ErrUnknownOutcome):
		// The next run skips the same things again and logs them then.
		logger.Info("bootstrap interrupted; retrying", "file", path, "err", err, "applied", rep.Applied, "existing", rep.Existing, "skipped", len(rep.Skipped))
		return false
	default:
		logger.Error("bootstrap failed", "file", path, "err", err, "applied", rep.Applied, "existing", rep.Existing, "skipped", len(rep.Skipped))
	}
	for _, s := range rep.Skipped {
		logger.Warn("bootstrap left live state alone", "file", path, "what", s)
	}
	return true
}

// planApplied reports whether another node has applied plan: every
// participant and mandate of it exists, and every funding whose account
// exists has been made. Links are not checked: they go in with their
// participant, and an identifier may be absent because its holder unlinked
// it since.
func planApplied(node *replica.Node, plan *routing.Plan) bool {
	st := node.Routing()
	for _, c := range plan.Participants {
		if _, ok := st.Participant(c.Participant.ID); !ok {
			return false
		}
	}
	for _, c := range plan.Mandates {
		if _, ok := st.Mandate(c.Mandate.ID); ok {
			continue
		}
		// The leader leaves out a mandate whose payer no longer serves
		// its currency (routing's leftAlone): so does this, or a node
		// that does not lead would wait for it for good.
		if payer, ok := st.Participant(c.Mandate.Payer.Participant); !ok || payer.Serves(c.Mandate.Currency) {
			return false
		}
	}
	funded := true
	err := node.Local(func(s *store.Store) error {
		for _, c := range plan.Funding {
			_, made, err := s.Transfer(c.Transfer.ID)
			if err != nil {
				return err
			}
			if made {
				continue
			}
			// The leader leaves out a funding of an account the file did
			// not create (a currency the participant lacks): so does this.
			_, exists, err := s.Account(c.Transfer.CreditAccount)
			if err != nil {
				return err
			}
			if exists {
				funded = false
				return nil
			}
		}
		return nil
	})
	return err == nil && funded
}
