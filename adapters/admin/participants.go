package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/payswitch/payswitch/routing"
)

// Routing is what the participant endpoints need of the node: its routing
// tables and the leader's routing proposals. *replica.Node implements it.
type Routing interface {
	SubmitRouting(ctx context.Context, cmds []routing.Command) ([]routing.Result, error)
	Routing() *routing.State
}

// ParticipantView is a participant as the admin API shows it. Secrets are
// never shown: only whether they are set.
type ParticipantView struct {
	ID               string        `json:"id"`
	Name             string        `json:"name"`
	Kind             string        `json:"kind"`
	Status           string        `json:"status"`
	Connection       string        `json:"connection"`
	Currencies       []string      `json:"currencies"`
	Programs         []uint16      `json:"programs,omitempty"`
	WebhookURL       string        `json:"webhook_url,omitempty"`
	HasMACKey        bool          `json:"has_mac_key"`
	HasAPIKey        bool          `json:"has_api_key"`
	PaymentTimeoutMs uint32        `json:"payment_timeout_ms,omitempty"`
	Created          string        `json:"created"`
	Updated          string        `json:"updated"`
	Accounts         []AccountLink `json:"accounts"`
	// AdvicesOwed is how many reversal advices the switch owes the
	// participant and it has not acknowledged (0430). At the switch's
	// bound (10,000 by default) its payments are refused with 91.
	AdvicesOwed int `json:"advices_owed"`
}

// AccountLink names one of a participant's ledger accounts.
type AccountLink struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Currency string `json:"currency"`
	Program  uint16 `json:"program,omitempty"`
}

// participantView is p as the API shows it, with the advices the switch
// owes it according to st.
func participantView(st *routing.State, p *routing.Participant) ParticipantView {
	v := ParticipantView{
		ID: strconv.FormatUint(p.ID, 10), Name: p.Name, Kind: p.Kind.String(), Status: p.Status.String(),
		Connection: p.Connection.String(), Programs: p.Programs, WebhookURL: p.WebhookURL,
		HasMACKey: len(p.MACKey) > 0, HasAPIKey: p.APIKeyHash != [32]byte{}, PaymentTimeoutMs: p.PaymentTimeoutMs,
		Created: strconv.FormatUint(p.Created, 10), Updated: strconv.FormatUint(p.Updated, 10),
		AdvicesOwed: st.OwedAdvices(p.ID),
	}
	for _, c := range p.Currencies {
		v.Currencies = append(v.Currencies, currencyText(c))
	}
	for _, a := range p.Accounts() {
		al := AccountLink{ID: idText(a.ID), Kind: kindText(a.Kind), Currency: currencyText(a.Currency)}
		if a.Kind.String() == "program" {
			al.Program = uint16(a.UserRef)
		}
		v.Accounts = append(v.Accounts, al)
	}
	return v
}

// routingProblems maps the routing codes the participant endpoints can
// get to problems. The problem code is the routing code's name.
var routingProblems = map[routing.Code]string{
	routing.CodeInvalid:            CodeInvalidRequest,
	routing.CodeParticipantUnknown: CodeParticipantNotFound,
	routing.CodeParticipantClosed:  CodeParticipantClosed,
	routing.CodeCurrenciesRemoved:  CodeCurrenciesRemoved,
	routing.CodeKindChanged:        CodeKindChanged,
	routing.CodeAccountConflict:    CodeAccountConflict,
}

func (s *Server) routingReady(w http.ResponseWriter) bool {
	if s.cfg.Routing == nil {
		writeProblem(w, newProblem(CodeNotFound, "this server has no participant directory"))
		return false
	}
	return true
}

func (s *Server) getParticipants(w http.ResponseWriter, r *http.Request) {
	if !s.routingReady(w) {
		return
	}
	out := struct {
		Participants []ParticipantView `json:"participants"`
	}{Participants: []ParticipantView{}}
	st := s.cfg.Routing.Routing()
	for _, p := range st.Participants() {
		out.Participants = append(out.Participants, participantView(st, p))
	}
	writeJSON(w, http.StatusOK, out)
}

func participantIDFromPath(r *http.Request) (uint64, *Problem) {
	raw := r.PathValue("id")
	id, err := strconv.ParseUint(raw, 10, 64)
	if err != nil || id == 0 || id > 99_999_999_999 {
		return 0, newProblem(CodeInvalidRequest, "participant id %s: want 1 to 11 digits", quote(raw))
	}
	return id, nil
}

func (s *Server) getParticipant(w http.ResponseWriter, r *http.Request) {
	if !s.routingReady(w) {
		return
	}
	id, p := participantIDFromPath(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	part, ok := s.cfg.Routing.Routing().Participant(id)
	if !ok {
		writeProblem(w, newProblem(CodeParticipantNotFound, "no participant %d", id))
		return
	}
	writeJSON(w, http.StatusOK, participantView(s.cfg.Routing.Routing(), part))
}

// participantRequest reads what every participant change starts with:
// the directory, the participant number in the path and a small JSON body
// decoded strictly into v. It answers the problem itself and reports
// false when any of them is wrong.
func (s *Server) participantRequest(w http.ResponseWriter, r *http.Request, v any) (uint64, bool) {
	if !s.routingReady(w) {
		return 0, false
	}
	id, p := participantIDFromPath(r)
	if p != nil {
		writeProblem(w, p)
		return 0, false
	}
	if !readJSON(w, r, v) {
		return 0, false
	}
	return id, true
}

// participantBody is the body of PUT /admin/participants/{id}: a
// participants-file entry. Positions and program budgets belong to the
// file only; the raw fields here hide the entry's own, so that either one
// present, in whatever shape, gets its own refusal rather than a complaint
// about its contents.
type participantBody struct {
	routing.BootstrapParticipant
	Positions      json.RawMessage `json:"positions,omitempty"`
	ProgramBudgets json.RawMessage `json:"program_budgets,omitempty"`
}

// putParticipant onboards a participant (201) or updates it (200). The
// body is a participants-file entry without positions or budgets (fund
// with transfers and set limits with set_limit on the accounts listed in
// the answer).
func (s *Server) putParticipant(w http.ResponseWriter, r *http.Request) {
	var body participantBody
	id, ok := s.participantRequest(w, r, &body)
	if !ok {
		return
	}
	part, p := participantFromBody(id, &body)
	if p != nil {
		writeProblem(w, p)
		return
	}
	res, ok := s.submitRouting(w, r, routing.Command{Op: routing.OpPutParticipant, Participant: part})
	if !ok {
		return
	}
	status, view := putAnswer(s.cfg.Routing.Routing(), part, res)
	writeJSON(w, status, view)
}

// participantFromBody converts the body of a PUT for participant id, or
// says every field that is wrong with it.
func participantFromBody(id uint64, body *participantBody) (routing.Participant, *Problem) {
	in := &body.BootstrapParticipant
	if in.ID != 0 && in.ID != id {
		return routing.Participant{}, newProblem(CodeInvalidRequest, "id: %d in the body, %d in the path", in.ID, id)
	}
	if body.Positions != nil || body.ProgramBudgets != nil {
		return routing.Participant{}, newProblem(CodeInvalidRequest, "positions, program_budgets: bootstrap-file only; fund with transfers and set limits with set_limit")
	}
	in.ID = id
	// The routing package's rule for an unknown currency repeats the code
	// in full. A code longer than the quote limit is unknown anyway, so
	// it is cut first, and the detail repeats at most the limit of it.
	for i, code := range in.Currencies {
		in.Currencies[i] = cut(code, quotedInputLenMax) + ellipsis(code, quotedInputLenMax)
	}
	part, err := in.Participant()
	if err != nil {
		return part, newProblem(CodeInvalidRequest, "%s", fieldErrorsDetail(participantErrors(in, &part, err)))
	}
	return part, nil
}

// participantErrors lists what is wrong with an entry, each field once:
// first the required fields it leaves out, then the routing package's
// rules it breaks. The routing package stops at a kind or connection it
// cannot read, before its other rules; they are checked here on what it
// converted, so that one answer names every field to fix ({} named only
// kind and connection).
func participantErrors(in *routing.BootstrapParticipant, part *routing.Participant, err error) []error {
	var errs []error
	for _, f := range []struct {
		name    string
		missing bool
	}{
		{"name", in.Name == ""}, {"kind", in.Kind == ""}, {"connection", in.Connection == ""}, {"currencies", len(in.Currencies) == 0},
	} {
		if f.missing {
			errs = append(errs, &routing.FieldError{Field: f.name, Rule: "required"})
		}
	}
	errs = append(errs, routing.SplitErrors(err)...)
	if more := part.Validate(); more != nil {
		errs = append(errs, routing.SplitErrors(more)...)
	}
	seen := map[string]bool{}
	return slices.DeleteFunc(errs, func(e error) bool {
		key := e.Error()
		var fe *routing.FieldError
		if errors.As(e, &fe) {
			key = fe.Field
		}
		dup := seen[key]
		seen[key] = true
		return dup
	})
}

// putAnswer is the answer to a PUT whose command the state machine
// applied with result res: 201 if this very command created the
// participant, else 200, with the participant as this command left it.
// Neither is read from the tables alone, which other commands may have
// changed since: ten concurrent PUTs of a new participant each found no
// participant before proposing and answered 201, each showing whatever
// the tables held when it read them.
//
// The state machine answers ok both to a creation and to an update, and
// says which (Result.Created).
func putAnswer(st *routing.State, part routing.Participant, res routing.Result) (int, ParticipantView) {
	current, found := st.Participant(part.ID)
	p := part
	switch {
	case !found:
		// Applied but not in the tables: a snapshot may be installing.
		// What the command wrote is known; its status code is not.
		p.Status, p.Created, p.Updated = routing.StatusActive, res.Timestamp, res.Timestamp
		return http.StatusOK, participantView(st, &p)
	case res.Code == routing.CodeOK && res.Created:
		p.Status, p.Created, p.Updated = routing.StatusActive, res.Timestamp, res.Timestamp
		return http.StatusCreated, participantView(st, &p)
	case res.Code == routing.CodeOK:
		// Updated: the status is not the command's to change; it shows
		// as it stands.
		p.Status, p.Created, p.Updated = current.Status, current.Created, res.Timestamp
	default:
		// Exists: the command changed nothing, and the fields it sent are
		// those held.
		p.Status, p.Created, p.Updated = current.Status, current.Created, current.Updated
	}
	return http.StatusOK, participantView(st, &p)
}

// fieldErrorsDetail lists the fields a participant broke, one clause each.
// The clauses are the routing package's; each is cut at errorTextLenMax in
// case a rule repeats more of the client's text than its currencies (cut
// before they reach it).
func fieldErrorsDetail(errs []error) string {
	var parts []string
	for _, e := range errs {
		var fe *routing.FieldError
		text := e.Error()
		if errors.As(e, &fe) {
			text = fe.Field + ": " + fe.Rule
		}
		parts = append(parts, cut(text, errorTextLenMax)+ellipsis(text, errorTextLenMax))
	}
	return strings.Join(parts, "; ")
}

type statusBody struct {
	Status string `json:"status"`
}

// postParticipantStatus suspends, reactivates or closes a participant.
func (s *Server) postParticipantStatus(w http.ResponseWriter, r *http.Request) {
	var in statusBody
	id, ok := s.participantRequest(w, r, &in)
	if !ok {
		return
	}
	st, err := routing.ParseParticipantStatus(in.Status)
	if err != nil {
		writeProblem(w, newProblem(CodeInvalidRequest, "status %s: want active, suspended or closed", quote(in.Status)))
		return
	}
	if _, ok := s.submitRouting(w, r, routing.Command{Op: routing.OpSetStatus, Participant: routing.Participant{ID: id}, Status: st}); !ok {
		return
	}
	got, _ := s.cfg.Routing.Routing().Participant(id)
	writeJSON(w, http.StatusOK, participantView(s.cfg.Routing.Routing(), got))
}

// submitRouting proposes one command and answers the problem when it did
// not succeed; true means the caller answers, with the command's result.
func (s *Server) submitRouting(w http.ResponseWriter, r *http.Request, cmd routing.Command) (routing.Result, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	res, err := s.cfg.Routing.SubmitRouting(ctx, []routing.Command{cmd})
	if err != nil {
		writeProblem(w, s.problemFor(err, true))
		return routing.Result{}, false
	}
	if code := res[0].Code; !code.Succeeded() {
		pc, ok := routingProblems[code]
		if !ok {
			pc = CodeInternal
			s.cfg.Logger.Error("admin: unexpected routing code", "op", cmd.Op, "code", code)
		}
		writeProblem(w, newProblem(pc, "%s refused: %s", cmd.Op, code))
		return routing.Result{}, false
	}
	return res[0], true
}

// getRoutingState reports this node's routing tables' digest and sizes,
// without a barrier, for comparing replicas.
func (s *Server) getRoutingState(w http.ResponseWriter, _ *http.Request) {
	if !s.routingReady(w) {
		return
	}
	st := s.cfg.Routing.Routing()
	parts, links, mandates := st.Counts()
	writeJSON(w, http.StatusOK, map[string]any{
		"node": s.cfg.Cluster.Status().ID, "digest": st.Digest().String(),
		"participants": parts, "links": links, "mandates": mandates,
	})
}
