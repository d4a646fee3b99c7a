package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Problem is an RFC 9457 problem details object, the body of every error
// answer (Content-Type application/problem+json). Code is the stable,
// machine-readable part; Title follows from it; Detail is for people and
// may change. The Leader fields are set on not_leader when a leader is
// known.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`

	LeaderID       string `json:"leader_id,omitempty"`
	LeaderRaftAddr string `json:"leader_raft_addr,omitempty"`
	LeaderHTTPAddr string `json:"leader_http_addr,omitempty"`
}

var _ error = (*Problem)(nil)

// Error makes a Problem an error for clients of the API.
func (p *Problem) Error() string {
	if p.Detail == "" {
		return fmt.Sprintf("%s (HTTP %d)", p.Code, p.Status)
	}
	return fmt.Sprintf("%s: %s (HTTP %d)", p.Code, p.Detail, p.Status)
}

// ProblemTypeBase prefixes every problem's type URI; the code follows it.
const ProblemTypeBase = "https://payswitch.dev/problems/"

// Problem codes. They are part of the contract in docs/admin-api.md:
// clients branch on them, so a code is never renamed or reused.
const (
	CodeUnauthorized     = "unauthorized"      // 401: no or wrong admin key
	CodeInvalidJSON      = "invalid_json"      // 400: the body is not the expected JSON object
	CodeInvalidCommand   = "invalid_command"   // 400: a command cannot be decoded; detail names index and field
	CodeTooManyCommands  = "too_many_commands" // 400: more than 4,096 commands in one request
	CodeInvalidRequest   = "invalid_request"   // 400: a bad path, query or body parameter outside commands
	CodeBodyTooLarge     = "body_too_large"    // 413: the body exceeds its bound
	CodeNotLeader        = "not_leader"        // 503: ask the leader (leader_* fields when known)
	CodeOverloaded       = "overloaded"        // 503: the proposer's queue is full; nothing was proposed
	CodeOutcomeUnknown   = "outcome_unknown"   // 503: proposed, outcome not learnt; retry with the same IDs
	CodeUnavailable      = "unavailable"       // 503: a read or change could not complete in time
	CodeNotReady         = "not_ready"         // 503: /readyz on a node that should not get traffic
	CodeAccountNotFound  = "account_not_found" // 404
	CodeTransferNotFound = "transfer_not_found"
	CodeServerNotFound   = "server_not_found"  // 404: no voter with that ID
	CodeVoterUnreachable = "voter_unreachable" // 400: nothing answers at the new voter's raft_addr
	CodeNotFound         = "not_found"         // 404: no such path
	CodeMethodNotAllowed = "method_not_allowed"
	CodeMembershipFailed = "membership_change_failed" // 500: Raft refused a configuration change
	CodeSnapshotFailed   = "snapshot_failed"          // 500
	CodeInternal         = "internal"                 // 500: a bug or a failed disk; logged

	CodeNotPermitted        = "not_permitted"         // 403: the requester may not change that record
	CodeParticipantNotFound = "participant_not_found" // 404
	CodeParticipantClosed   = "participant_closed"    // 409: closing is final
	CodeCurrenciesRemoved   = "currencies_removed"    // 409: an update may add currencies and programs, not remove them
	CodeKindChanged         = "kind_changed"          // 409: a participant's kind is fixed
	CodeAccountConflict     = "account_conflict"      // 409: a ledger account with a derived ID exists with other fields
)

// problemKinds gives each code its HTTP status and title. It is a
// read-only table.
var problemKinds = map[string]struct {
	status int
	title  string
}{
	CodeUnauthorized:     {http.StatusUnauthorized, "Unauthorized"},
	CodeInvalidJSON:      {http.StatusBadRequest, "Invalid JSON"},
	CodeInvalidCommand:   {http.StatusBadRequest, "Invalid command"},
	CodeTooManyCommands:  {http.StatusBadRequest, "Too many commands"},
	CodeInvalidRequest:   {http.StatusBadRequest, "Invalid request"},
	CodeBodyTooLarge:     {http.StatusRequestEntityTooLarge, "Request body too large"},
	CodeNotLeader:        {http.StatusServiceUnavailable, "Not the leader"},
	CodeOverloaded:       {http.StatusServiceUnavailable, "Overloaded"},
	CodeOutcomeUnknown:   {http.StatusServiceUnavailable, "Outcome unknown"},
	CodeUnavailable:      {http.StatusServiceUnavailable, "Unavailable"},
	CodeNotReady:         {http.StatusServiceUnavailable, "Not ready"},
	CodeAccountNotFound:  {http.StatusNotFound, "Account not found"},
	CodeTransferNotFound: {http.StatusNotFound, "Transfer not found"},
	CodeServerNotFound:   {http.StatusNotFound, "Server not found"},
	CodeVoterUnreachable: {http.StatusBadRequest, "Voter unreachable"},
	CodeNotFound:         {http.StatusNotFound, "Not found"},
	CodeMethodNotAllowed: {http.StatusMethodNotAllowed, "Method not allowed"},
	CodeMembershipFailed: {http.StatusInternalServerError, "Membership change failed"},
	CodeSnapshotFailed:   {http.StatusInternalServerError, "Snapshot failed"},
	CodeInternal:         {http.StatusInternalServerError, "Internal error"},

	CodeParticipantNotFound: {http.StatusNotFound, "Participant not found"},
	CodeParticipantClosed:   {http.StatusConflict, "Participant closed"},
	CodeCurrenciesRemoved:   {http.StatusConflict, "Currencies removed"},
	CodeKindChanged:         {http.StatusConflict, "Kind changed"},
	CodeAccountConflict:     {http.StatusConflict, "Account conflict"},
}

// newProblem builds the problem of code with a detail. An unknown code is
// a bug in this package; it becomes internal rather than a panic in a
// request.
func newProblem(code, format string, args ...any) *Problem {
	kind, ok := problemKinds[code]
	if !ok {
		code, kind = CodeInternal, problemKinds[CodeInternal]
	}
	return &Problem{
		Type:   ProblemTypeBase + code,
		Title:  kind.title,
		Status: kind.status,
		Detail: fmt.Sprintf(format, args...),
		Code:   code,
	}
}

// writeProblem sends p. Every 503 carries Retry-After: each of them is
// worth retrying within a second or so (the leader is elected, the queue
// drains), and says so to generic HTTP clients too.
func writeProblem(w http.ResponseWriter, p *Problem) {
	if sw, ok := w.(*statusWriter); ok {
		sw.problem = p.Code
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	switch p.Status {
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="payswitch admin"`)
	}
	body, err := json.Marshal(p)
	if err != nil {
		// A Problem holds strings and an int; it always marshals.
		panic(fmt.Errorf("admin: marshal problem: %w", err))
	}
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

// quote repeats a client's text in a detail, in Go quoting and cut at
// quotedInputLenMax bytes so that a huge value cannot blow up an answer
// or a log line.
func quote(s string) string {
	return strconv.Quote(cut(s, quotedInputLenMax)) + ellipsis(s, quotedInputLenMax)
}

// cut returns at most the first n bytes of s. Details repeat a client's
// text only through quote, or through cut where the text is known to be
// plain (the digits of a number), so that none repeats more than
// quotedInputLenMax bytes of it.
func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ellipsis marks text that cut shortened.
func ellipsis(s string, n int) string {
	if len(s) > n {
		return "..."
	}
	return ""
}
