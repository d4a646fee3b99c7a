package routing

import (
	"context"
	"fmt"

	"github.com/payswitch/payswitch/internal/invariant"
	"github.com/payswitch/payswitch/ledger"
)

// Proposer is what applying a plan needs of the cluster: the leader's
// Submit for ledger commands and SubmitRouting for routing ones.
type Proposer interface {
	Submit(ctx context.Context, cmds []ledger.Command) ([]ledger.Result, error)
	SubmitRouting(ctx context.Context, cmds []Command) ([]Result, error)
	// Routing is the leader's tables, read to tell what of the file is
	// there already.
	Routing() *State
}

// BootstrapReport counts what applying a plan did: commands applied, and
// things found as the file has them. Skipped lists, one line each, what
// the cluster holds otherwise and the run left alone (a participant
// updated since, a net debit cap the operator set, identifiers unlinked or
// moved by their holder, a funding amount edited in the file): bootstrap
// never overrides live state, it says so.
type BootstrapReport struct {
	Applied, Existing int
	Skipped           []string
}

// Apply proposes what of the plan is this run's to do, so that applying a
// file again changes nothing already there and leaves operator changes
// alone (docs/bootstrap.md, "Applying it again"):
//
//   - A participant is onboarded when absent. One that exists is never
//     changed; one that differs from the file is reported.
//   - A net debit cap is set only on a position this run creates: the
//     position is created with the cap as its limit, just before its
//     participant is onboarded. An existing position keeps the cap it
//     has; one that differs from the file is reported.
//   - Links are applied only with the onboarding of their participant:
//     in the same log entries, where they fit, so that no interruption
//     parts a participant from its links. A later call of Apply on the
//     same Plan (after losing the lead) still counts the participants
//     an earlier call onboarded as this run's. An identifier of a
//     participant that was there before the run is never linked again,
//     even when absent, since its holder may have unlinked it; absent and
//     differing ones are counted in the report.
//   - Fundings are transfers with IDs derived from their account,
//     proposed on every run for the accounts that exist: the ledger keeps
//     every transfer ID, so each funding is made once, ever.
//   - A mandate is registered when absent: revoking one keeps it, so an
//     absent mandate was never registered. One that differs is reported.
//
// Apply stops at the first command that fails outright and returns what
// it did so far; calling it again resumes. It is not safe for concurrent
// use.
func (p *Plan) Apply(ctx context.Context, prop Proposer) (BootstrapReport, error) {
	if p.onboarded == nil {
		p.onboarded = make(map[uint64]bool)
	}
	a := &applying{ctx: ctx, prop: prop, plan: p}
	fresh := a.participants()
	if err := a.positions(); err != nil {
		return a.rep, err
	}
	if err := a.onboard(fresh); err != nil {
		return a.rep, err
	}
	if err := a.fundings(); err != nil {
		return a.rep, err
	}
	if err := a.mandates(); err != nil {
		return a.rep, err
	}
	return a.rep, nil
}

// applying is one call of Apply.
type applying struct {
	ctx  context.Context
	prop Proposer
	plan *Plan
	rep  BootstrapReport
}

func (a *applying) skip(format string, args ...any) {
	a.rep.Skipped = append(a.rep.Skipped, fmt.Sprintf(format, args...))
}

// participants sorts the file's participants: the absent ones, which this
// run onboards, and the present ones, left as they are. An absent one is
// marked as this run's before it is proposed, so that a later call still
// counts it as such when the proposal's outcome was unknown.
func (a *applying) participants() (fresh []Command) {
	st := a.prop.Routing()
	for _, c := range a.plan.Participants {
		id := c.Participant.ID
		old, ok := st.Participant(id)
		switch {
		case !ok:
			a.plan.onboarded[id] = true
			fresh = append(fresh, c)
		case a.plan.onboarded[id] || old.sameClientFields(&c.Participant):
			a.rep.Existing++
		default:
			a.skip("participant %d: changed since; the file does not override it", id)
		}
	}
	return fresh
}

// positions creates the positions that have a cap in the file, with it.
// For a participant that was there before the run the create only
// compares: the ledger answers account_exists, or
// account_exists_with_different_limit where the operator set another cap,
// and changes nothing.
func (a *applying) positions() error {
	st := a.prop.Routing()
	var cmds []ledger.Command
	var whose []accountOf
	for _, c := range a.plan.Limits {
		of := derivedAccount(c.Account.ID)
		if !a.plan.onboarded[of.participant] {
			if p, ok := st.Participant(of.participant); !ok || !p.Serves(of.currency) {
				a.skip("net debit cap of %s: no such position; the file does not add currencies", of)
				continue
			}
		}
		cmds, whose = append(cmds, c), append(whose, of)
	}
	return a.ledger("net debit cap", cmds, whose)
}

// fundings proposes the fundings of the accounts that exist, on every run:
// each is a transfer with an ID derived from its account, and the ledger
// keeps every ID, so it is made once, ever; an amount edited in the file
// since is reported, not moved.
func (a *applying) fundings() error {
	st := a.prop.Routing()
	var cmds []ledger.Command
	var whose []accountOf
	for _, c := range a.plan.Funding {
		of := derivedAccount(c.Transfer.CreditAccount)
		p, ok := st.Participant(of.participant)
		if !ok || !p.Serves(of.currency) || (of.program != 0 && !p.HasProgram(of.program)) {
			a.skip("funding of %s: no such account; the file does not add currencies or programs", of)
			continue
		}
		cmds, whose = append(cmds, c), append(whose, of)
	}
	return a.ledger("funding", cmds, whose)
}

// ledger proposes cmds in chunks of bootstrapSubmitCommandsMax: a
// proposer refuses a Submit beyond its bound outright. whose[i] names
// cmds[i]'s account.
func (a *applying) ledger(what string, cmds []ledger.Command, whose []accountOf) error {
	for start := 0; start < len(cmds); start += bootstrapSubmitCommandsMax {
		end := min(start+bootstrapSubmitCommandsMax, len(cmds))
		res, err := a.prop.Submit(a.ctx, cmds[start:end])
		if err != nil {
			return fmt.Errorf("bootstrap %s: %w", what, err)
		}
		if len(res) != end-start {
			return fmt.Errorf("bootstrap %s: %d results for %d commands", what, len(res), end-start)
		}
		for i, r := range res {
			of := whose[start+i]
			switch {
			case r.Code == ledger.OK:
				a.rep.Applied++
			case r.Code.Succeeded():
				a.rep.Existing++
			case existsWithDifferent(r.Code):
				a.skip("%s of %s: %s; left as it is", what, of, r.Code)
			default:
				return fmt.Errorf("bootstrap %s of %s: %s", what, of, r.Code)
			}
		}
	}
	return nil
}

// existsWithDifferent reports whether code says that the transfer or
// account exists with other fields than the command's.
func existsWithDifferent(code ledger.Code) bool {
	return (code >= ledger.ExistsWithDifferentFlags && code <= ledger.ExistsWithDifferentUserRef) ||
		(code >= ledger.AccountExistsWithDifferentParticipant && code <= ledger.AccountExistsWithDifferentUserRef)
}

// labelled is a routing command with what the report calls it.
type labelled struct {
	cmd  Command
	what string
}

// onboard proposes the absent participants, each with its links, and the
// links of participants that an earlier call onboarded (present, or cut
// off by the interruption). The links of participants that were there
// before the run are only compared.
func (a *applying) onboard(fresh []Command) error {
	linksOf := map[uint64][]int{} // indexes into plan.Links, in file order
	for i, c := range a.plan.Links {
		linksOf[c.Link.Participant] = append(linksOf[c.Link.Participant], i)
	}
	withLinks := func(first []labelled, id uint64) []labelled {
		for _, i := range linksOf[id] {
			first = append(first, labelled{a.plan.Links[i], fmt.Sprintf("links[%d]", i)})
		}
		delete(linksOf, id)
		return first
	}
	var groups [][]labelled
	for _, c := range fresh {
		groups = append(groups, withLinks([]labelled{{c, fmt.Sprintf("participant %d", c.Participant.ID)}}, c.Participant.ID))
	}
	for _, c := range a.plan.Participants {
		if id := c.Participant.ID; a.plan.onboarded[id] && len(linksOf[id]) > 0 {
			groups = append(groups, withLinks(nil, id))
		}
	}
	a.compareLinks(linksOf)
	return a.routing(packEntries(groups))
}

// compareLinks counts the links of participants that were there before
// the run: as the file has them, or not (unlinked or moved by their
// holder, or cut off from an interrupted run's onboarding). None is
// proposed.
func (a *applying) compareLinks(linksOf map[uint64][]int) {
	st := a.prop.Routing()
	for _, c := range a.plan.Participants {
		id := c.Participant.ID
		differ := 0
		for _, i := range linksOf[id] {
			l := &a.plan.Links[i].Link
			if got, ok := st.Lookup(l.Token, l.Purpose); ok && got.sameClientFields(l) {
				a.rep.Existing++
			} else {
				differ++
			}
		}
		if differ > 0 {
			a.skip("participant %d: %d of its %d links in the file are absent or differ; the file links identifiers only when it onboards their participant",
				id, differ, len(linksOf[id]))
		}
	}
}

// mandates registers the absent mandates; present ones are compared.
func (a *applying) mandates() error {
	st := a.prop.Routing()
	var groups [][]labelled
	for i, c := range a.plan.Mandates {
		what := fmt.Sprintf("mandates[%d] (%s)", i, c.Mandate.ID)
		switch old, ok := st.Mandate(c.Mandate.ID); {
		case !ok:
			groups = append(groups, []labelled{{c, what}})
		case old.sameClientFields(&c.Mandate):
			a.rep.Existing++
		default:
			a.skip("%s: another mandate holds the ID; left as it is", what)
		}
	}
	return a.routing(packEntries(groups))
}

// packEntries packs groups of commands into log entries of at most
// EntryCommandsMax, keeping each group in one entry when it fits in one.
func packEntries(groups [][]labelled) [][]labelled {
	var entries [][]labelled
	var entry []labelled
	for _, g := range groups {
		if len(entry) > 0 && len(entry)+len(g) > EntryCommandsMax {
			entries, entry = append(entries, entry), nil
		}
		for _, l := range g {
			if len(entry) == EntryCommandsMax {
				entries, entry = append(entries, entry), nil
			}
			entry = append(entry, l)
		}
	}
	if len(entry) > 0 {
		entries = append(entries, entry)
	}
	return entries
}

// routing proposes entries one after the other. What the cluster holds
// otherwise is reported and left; any other refusal stops the run.
func (a *applying) routing(entries [][]labelled) error {
	for _, entry := range entries {
		invariant.Always(0 < len(entry) && len(entry) <= EntryCommandsMax, "routing: bootstrap entry of %d commands", len(entry))
		cmds := make([]Command, len(entry))
		for i := range entry {
			cmds[i] = entry[i].cmd
		}
		res, err := a.prop.SubmitRouting(a.ctx, cmds)
		if err != nil {
			return fmt.Errorf("bootstrap %s to %s: %w", entry[0].what, entry[len(entry)-1].what, err)
		}
		if len(res) != len(cmds) {
			return fmt.Errorf("bootstrap %s to %s: %d results for %d commands", entry[0].what, entry[len(entry)-1].what, len(res), len(cmds))
		}
		for i, r := range res {
			switch {
			case r.Code == CodeOK:
				a.rep.Applied++
			case r.Code == CodeExists:
				a.rep.Existing++
			case leftAlone(cmds[i].Op, r.Code):
				a.skip("%s: %s; left as it is", entry[i].what, r.Code)
			default:
				return fmt.Errorf("bootstrap %s: %s", entry[i].what, r.Code)
			}
		}
	}
	return nil
}

// leftAlone reports whether code is the cluster holding something else
// than the file asks, which the run reports and leaves, rather than a
// failure.
func leftAlone(op Op, code Code) bool {
	switch op {
	case OpPutParticipant:
		return code == CodeParticipantClosed
	case OpLink:
		// The identifier is linked to another account, or the operator
		// suspended the participant after an earlier call onboarded it.
		return code == CodeLinkExists || code == CodeParticipantNotActive
	case OpPutMandate:
		// Registered since, or the payer no longer serves the currency.
		return code == CodeMandateExists || code == CodeCurrencyNotServed
	}
	return false
}
