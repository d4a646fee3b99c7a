package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
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
	in := &body.BootstrapParticipant
	if in.ID != 0 && in.ID != id {
		writeProblem(w, newProblem(CodeInvalidRequest, "id: %d in the body, %d in the path", in.ID, id))
		return
	}
	if body.Positions != nil || body.ProgramBudgets != nil {
		writeProblem(w, newProblem(CodeInvalidRequest, "positions, program_budgets: bootstrap-file only; fund with transfers and set limits with set_limit"))
		return
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
		writeProblem(w, newProblem(CodeInvalidRequest, "%s", fieldErrorsDetail(err)))
		return
	}
	_, existed := s.cfg.Routing.Routing().Participant(id)
	if !s.submitRouting(w, r, routing.Command{Op: routing.OpPutParticipant, Participant: part}) {
		return
	}
	got, _ := s.cfg.Routing.Routing().Participant(id)
	status := http.StatusOK
	if !existed {
		status = http.StatusCreated
	}
	writeJSON(w, status, participantView(s.cfg.Routing.Routing(), got))
}

// fieldErrorsDetail lists the fields a participant broke, one clause each.
// The clauses are the routing package's; each is cut at errorTextLenMax in
// case a rule repeats more of the client's text than its currencies (cut
// before they reach it).
func fieldErrorsDetail(err error) string {
	var parts []string
	for _, e := range routing.SplitErrors(err) {
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
	if !s.submitRouting(w, r, routing.Command{Op: routing.OpSetStatus, Participant: routing.Participant{ID: id}, Status: st}) {
		return
	}
	got, _ := s.cfg.Routing.Routing().Participant(id)
	writeJSON(w, http.StatusOK, participantView(s.cfg.Routing.Routing(), got))
}

// submitRouting proposes one command and answers the problem when it did
// not succeed; true means the caller answers.
func (s *Server) submitRouting(w http.ResponseWriter, r *http.Request, cmd routing.Command) bool {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	res, err := s.cfg.Routing.SubmitRouting(ctx, []routing.Command{cmd})
	if err != nil {
		writeProblem(w, s.problemFor(err, true))
		return false
	}
	if code := res[0].Code; !code.Succeeded() {
		pc, ok := routingProblems[code]
		if !ok {
			pc = CodeInternal
			s.cfg.Logger.Error("admin: unexpected routing code", "op", cmd.Op, "code", code)
		}
		writeProblem(w, newProblem(pc, "%s refused: %s", cmd.Op, code))
		return false
	}
	return true
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
