package clustertest

import (
	"fmt"
	"strconv"

	"github.com/payswitch/payswitch/internal/invariant"
	"github.com/payswitch/payswitch/money"
)

// The admin API's JSON shapes (docs/admin-api.md), as a client sees them.
// Numbers that may exceed 2^53 are strings there, and so here.

// Command is one ledger command of POST /admin/ledger/commands.
type Command struct {
	Op       string        `json:"op"`
	Account  *AccountSpec  `json:"account,omitempty"`
	Transfer *TransferSpec `json:"transfer,omitempty"`
}

// AccountSpec is the account of a create_account or set_limit command.
type AccountSpec struct {
	ID          string   `json:"id"`
	Participant string   `json:"participant,omitempty"`
	Currency    string   `json:"currency,omitempty"`
	Kind        string   `json:"kind,omitempty"`
	Flags       []string `json:"flags,omitempty"`
	Limit       string   `json:"limit,omitempty"`
	UserRef     string   `json:"user_ref,omitempty"`
}

// TransferSpec is the transfer of a create_transfer command.
type TransferSpec struct {
	ID            string   `json:"id"`
	DebitAccount  string   `json:"debit_account,omitempty"`
	CreditAccount string   `json:"credit_account,omitempty"`
	Amount        string   `json:"amount,omitempty"`
	Currency      string   `json:"currency,omitempty"`
	Code          int      `json:"code"`
	Flags         []string `json:"flags,omitempty"`
	Timeout       int      `json:"timeout,omitempty"`
	PendingID     string   `json:"pending_id,omitempty"`
	UserRef       string   `json:"user_ref,omitempty"`
}

type commandsRequest struct {
	Commands []Command `json:"commands"`
}

type commandsResponse struct {
	Results []Result `json:"results"`
}

// Result is one command's outcome.
type Result struct {
	Code      string `json:"code"`
	Timestamp string `json:"timestamp"`
}

// Account is GET /admin/ledger/accounts/{id}.
type Account struct {
	ID             string   `json:"id"`
	Participant    string   `json:"participant"`
	Currency       string   `json:"currency"`
	Kind           string   `json:"kind"`
	Flags          []string `json:"flags"`
	Limit          string   `json:"limit"`
	DebitsPending  string   `json:"debits_pending"`
	DebitsPosted   string   `json:"debits_posted"`
	CreditsPending string   `json:"credits_pending"`
	CreditsPosted  string   `json:"credits_posted"`
	UserRef        string   `json:"user_ref"`
	Timestamp      string   `json:"timestamp"`
}

// Posted returns the account's posted debits and credits in minor units.
func (a Account) Posted() (debits, credits uint64, err error) {
	if debits, err = MinorUnits(a.DebitsPosted, a.Currency); err != nil {
		return 0, 0, err
	}
	credits, err = MinorUnits(a.CreditsPosted, a.Currency)
	return debits, credits, err
}

// Transfer is GET /admin/ledger/transfers/{id}: the command's fields plus
// what the ledger decided.
type Transfer struct {
	TransferSpec
	Timestamp string `json:"timestamp"`
	Status    string `json:"status"`
	Result    string `json:"result"`
}

type transfersResponse struct {
	Transfers []Transfer `json:"transfers"`
}

// State is GET /admin/ledger/state: one node's local state.
type State struct {
	Node         string `json:"node"`
	AppliedIndex string `json:"applied_index"`
	Digest       string `json:"digest"`
	Records      string `json:"records"`
}

// Applied parses AppliedIndex.
func (s State) Applied() uint64 {
	v, _ := strconv.ParseUint(s.AppliedIndex, 10, 64)
	return v
}

// Problem is an RFC 9457 problem answer. It is the error the client
// returns for every answer that is not 2xx.
type Problem struct {
	Type           string `json:"type"`
	Title          string `json:"title"`
	Status         int    `json:"status"`
	Detail         string `json:"detail"`
	Code           string `json:"code"`
	LeaderID       string `json:"leader_id"`
	LeaderRaftAddr string `json:"leader_raft_addr"`
	LeaderHTTPAddr string `json:"leader_http_addr"`
}

func (p *Problem) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", p.Status, p.Code, p.Detail)
}

// The problem codes the client acts on.
const (
	CodeNotLeader        = "not_leader"
	CodeOutcomeUnknown   = "outcome_unknown"
	CodeOverloaded       = "overloaded"
	CodeAccountNotFound  = "account_not_found"
	CodeTransferNotFound = "transfer_not_found"
)

// MinorUnits parses an API amount ("12.50") of the currency into minor
// units, through the money package: the one conversion at the edge.
func MinorUnits(amount, currency string) (uint64, error) {
	c, ok := money.ByCode(currency)
	if !ok {
		return 0, fmt.Errorf("clustertest: unknown currency %q", currency)
	}
	return money.ParseAmountAllowZero(amount, c)
}

// FormatMinor formats minor units of the currency as an API amount.
func FormatMinor(minor uint64, currency string) string {
	c, ok := money.ByCode(currency)
	invariant.Always(ok, "clustertest: unknown currency %q", currency)
	return money.FormatAmount(minor, c)
}
