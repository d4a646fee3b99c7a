package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/money"
)

// This file maps the ledger's types to and from the JSON of
// docs/admin-api.md. IDs, participants, references and timestamps travel
// as strings (they exceed 2^53); amounts as decimal strings in the units of
// the command's currency, converted by the money package and never through
// a float.

// commandsBody is the first pass over POST /admin/ledger/commands: the
// commands stay raw so that the second pass can name the index of the one
// that fails.
type commandsBody struct {
	Commands []json.RawMessage `json:"commands"`
}

// commandJSON is one command. Exactly the part its op names is present.
type commandJSON struct {
	Op       string        `json:"op"`
	Account  *accountJSON  `json:"account,omitempty"`
	Transfer *transferJSON `json:"transfer,omitempty"`
}

// accountJSON is the account of create_account, or of set_limit (id,
// currency and limit only).
type accountJSON struct {
	ID          string   `json:"id"`
	Participant string   `json:"participant,omitempty"`
	Currency    string   `json:"currency,omitempty"`
	Kind        string   `json:"kind,omitempty"`
	Flags       []string `json:"flags,omitempty"`
	Limit       string   `json:"limit,omitempty"`
	UserRef     string   `json:"user_ref,omitempty"`
}

// transferJSON is the transfer of create_transfer.
type transferJSON struct {
	ID            string   `json:"id"`
	DebitAccount  string   `json:"debit_account,omitempty"`
	CreditAccount string   `json:"credit_account,omitempty"`
	Amount        string   `json:"amount,omitempty"`
	Currency      string   `json:"currency,omitempty"`
	Code          uint16   `json:"code,omitempty"`
	Flags         []string `json:"flags,omitempty"`
	Timeout       uint32   `json:"timeout,omitempty"`
	PendingID     string   `json:"pending_id,omitempty"`
	UserRef       string   `json:"user_ref,omitempty"`
}

// fieldError names the field of a command that cannot be decoded, as a
// path below the command ("transfer.amount").
type fieldError struct {
	path, msg string
}

func (e *fieldError) Error() string { return e.path + ": " + e.msg }

func fieldErrorf(path, format string, args ...any) *fieldError {
	return &fieldError{path: path, msg: fmt.Sprintf(format, args...)}
}

// decodeCommands decodes the body of POST /admin/ledger/commands. Any body
// that is not wholly valid gets a problem (invalid_json, too_many_commands
// or invalid_command naming the command's index and field), and then none
// of it is proposed. It reads no state, so it is safe on any input: the
// fuzz test holds it to never panicking and to re-encoding stably.
func decodeCommands(body []byte) ([]ledger.Command, *Problem) {
	var req commandsBody
	if err := decodeStrict(body, &req); err != nil {
		return nil, newProblem(CodeInvalidJSON, "%s", jsonErrorDetail("body", err))
	}
	switch n := len(req.Commands); {
	case n == 0:
		return nil, newProblem(CodeInvalidCommand, "commands: send 1 to %d commands", commandsPerRequestMax)
	case n > commandsPerRequestMax:
		return nil, newProblem(CodeTooManyCommands, "commands: %d commands, at most %d per request", n, commandsPerRequestMax)
	}
	cmds := make([]ledger.Command, len(req.Commands))
	for i, raw := range req.Commands {
		var c commandJSON
		if err := decodeStrict(raw, &c); err != nil {
			return nil, newProblem(CodeInvalidCommand, "%s", jsonErrorDetail(fmt.Sprintf("commands[%d]", i), err))
		}
		cmd, ferr := c.toLedger()
		if ferr != nil {
			return nil, newProblem(CodeInvalidCommand, "commands[%d].%s", i, ferr.Error())
		}
		cmds[i] = cmd
	}
	return cmds, nil
}

// jsonErrorDetail says where and why decoding failed, in the API's terms.
func jsonErrorDetail(where string, err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var key *keyError
	switch {
	case errors.As(err, &key):
		if key.Path == "" {
			return where + ": " + key.Msg
		}
		return where + "." + key.Path + ": " + key.Msg
	case errors.As(err, &syntax):
		return fmt.Sprintf("%s: not valid JSON (at byte %d): %v", where, syntax.Offset, err)
	case errors.As(err, &typ):
		path := where
		if typ.Field != "" {
			path += "." + typ.Field
		}
		return fmt.Sprintf("%s: want %s, got a JSON %s", cut(path, quotedInputLenMax), typeWant(typ.Type), jsonValueText(typ.Value))
	case errors.Is(err, io.EOF):
		return where + ": empty; want a JSON object"
	}
	// The key walk leaves no known error here that repeats the client's
	// text; should one appear, it is cut like any quoted input.
	text := err.Error()
	return fmt.Sprintf("%s: %s%s", where, cut(text, errorTextLenMax), ellipsis(text, errorTextLenMax))
}

// jsonValueText is the JSON kind of a value that did not fit its field,
// as encoding/json describes it: "string", or "number" with the number's
// text, which is cut at the quote limit (a client may send megabytes of
// digits).
func jsonValueText(value string) string {
	if digits, ok := strings.CutPrefix(value, "number "); ok {
		return "number " + cut(digits, quotedInputLenMax) + ellipsis(digits, quotedInputLenMax)
	}
	return cut(value, quotedInputLenMax)
}

// toLedger converts a decoded command. Omitted fields are zero, and the
// ledger answers a zero where one is not allowed with its own result code
// (id_must_not_be_zero, amount_must_not_be_zero...): that is a rejection,
// recorded under the transfer's ID like any other. Text that cannot be
// decoded at all is an error here, and fails the whole request.
func (c *commandJSON) toLedger() (ledger.Command, *fieldError) {
	var cmd ledger.Command
	var ferr *fieldError
	switch c.Op {
	case "create_account":
		cmd.Op = ledger.OpCreateAccount
		if ferr = c.parts(true, false); ferr == nil {
			cmd.Account, ferr = c.Account.toLedger()
		}
	case "create_transfer":
		cmd.Op = ledger.OpCreateTransfer
		if ferr = c.parts(false, true); ferr == nil {
			cmd.Transfer, ferr = c.Transfer.toLedger()
		}
	case "set_limit":
		cmd.Op = ledger.OpSetLimit
		if ferr = c.parts(true, false); ferr == nil {
			cmd.Account, ferr = c.Account.toSetLimit()
		}
	case "expire":
		cmd.Op = ledger.OpExpire
		ferr = c.parts(false, false)
	default:
		ferr = fieldErrorf("op", "%s is not one of create_account, create_transfer, set_limit, expire", quote(c.Op))
	}
	return cmd, ferr
}

// parts checks that the command carries exactly the parts its op reads.
func (c *commandJSON) parts(account, transfer bool) *fieldError {
	switch {
	case account && c.Account == nil:
		return fieldErrorf("account", "required with op %s", c.Op)
	case !account && c.Account != nil:
		return fieldErrorf("account", "not allowed with op %s", c.Op)
	case transfer && c.Transfer == nil:
		return fieldErrorf("transfer", "required with op %s", c.Op)
	case !transfer && c.Transfer != nil:
		return fieldErrorf("transfer", "not allowed with op %s", c.Op)
	}
	return nil
}

func (a *accountJSON) toLedger() (ledger.Account, *fieldError) {
	var acct ledger.Account
	var ferr *fieldError
	if acct.ID, ferr = parseID("account.id", a.ID); ferr != nil {
		return acct, ferr
	}
	if acct.Participant, ferr = parseUint64("account.participant", a.Participant); ferr != nil {
		return acct, ferr
	}
	cur, ferr := parseCurrency("account.currency", a.Currency)
	if ferr != nil {
		return acct, ferr
	}
	acct.Currency = cur.Numeric
	if a.Kind != "" {
		kind, ok := ledger.ParseAccountKind(a.Kind)
		if !ok {
			return acct, fieldErrorf("account.kind", "%s is not one of position, settlement, program, hub", quote(a.Kind))
		}
		acct.Kind = kind
	}
	if acct.Flags, ferr = parseAccountFlags(a.Flags); ferr != nil {
		return acct, ferr
	}
	if acct.Limit, ferr = parseAmount("account.limit", a.Limit, cur, "account.currency"); ferr != nil {
		return acct, ferr
	}
	acct.UserRef, ferr = parseUint64("account.user_ref", a.UserRef)
	return acct, ferr
}

// toSetLimit converts set_limit's account. The limit is required: an
// omitted limit would otherwise set a net debit cap of zero. The currency
// is required to read the limit, and is kept in the command so that the
// server can check it against the account's (the ledger's set_limit
// carries no currency of its own).
func (a *accountJSON) toSetLimit() (ledger.Account, *fieldError) {
	var acct ledger.Account
	switch {
	case a.Participant != "":
		return acct, fieldErrorf("account.participant", "not allowed with op set_limit")
	case a.Kind != "":
		return acct, fieldErrorf("account.kind", "not allowed with op set_limit")
	case a.Flags != nil:
		return acct, fieldErrorf("account.flags", "not allowed with op set_limit")
	case a.UserRef != "":
		return acct, fieldErrorf("account.user_ref", "not allowed with op set_limit")
	case a.Limit == "":
		return acct, fieldErrorf("account.limit", "required with op set_limit")
	}
	var ferr *fieldError
	if acct.ID, ferr = parseID("account.id", a.ID); ferr != nil {
		return acct, ferr
	}
	cur, ferr := parseCurrency("account.currency", a.Currency)
	if ferr != nil {
		return acct, ferr
	}
	acct.Currency = cur.Numeric
	acct.Limit, ferr = parseAmount("account.limit", a.Limit, cur, "account.currency")
	return acct, ferr
}

func (t *transferJSON) toLedger() (ledger.Transfer, *fieldError) {
	tr := ledger.Transfer{Code: t.Code, Timeout: t.Timeout}
	ids := []struct {
		path string
		text string
		dst  *ledger.ID
	}{
		{"transfer.id", t.ID, &tr.ID},
		{"transfer.debit_account", t.DebitAccount, &tr.DebitAccount},
		{"transfer.credit_account", t.CreditAccount, &tr.CreditAccount},
		{"transfer.pending_id", t.PendingID, &tr.PendingID},
		{"transfer.user_ref", t.UserRef, &tr.UserRef},
	}
	var ferr *fieldError
	for _, f := range ids {
		if *f.dst, ferr = parseID(f.path, f.text); ferr != nil {
			return tr, ferr
		}
	}
	cur, ferr := parseCurrency("transfer.currency", t.Currency)
	if ferr != nil {
		return tr, ferr
	}
	tr.Currency = cur.Numeric
	if tr.Amount, ferr = parseAmount("transfer.amount", t.Amount, cur, "transfer.currency"); ferr != nil {
		return tr, ferr
	}
	tr.Flags, ferr = parseTransferFlags(t.Flags)
	return tr, ferr
}

// parseID reads an ID field. Omitted, "" and "0" are the zero ID (which
// the ledger rejects where an ID is required, and which means "none" for
// pending_id and user_ref); anything else must be a valid non-zero ID.
func parseID(path, s string) (ledger.ID, *fieldError) {
	if s == "" || s == "0" {
		return ledger.ID{}, nil
	}
	id, err := ledger.ParseID(s)
	if err != nil {
		return id, fieldErrorf(path, "%s is not an ID: want a non-zero decimal number below 2^128, or 0x and up to 32 hex digits", quote(s))
	}
	return id, nil
}

// parseUint64 reads a decimal string of a 64-bit number; "" is 0.
func parseUint64(path, s string) (uint64, *fieldError) {
	if s == "" {
		return 0, nil
	}
	if s[0] < '0' || s[0] > '9' { // ParseUint takes no sign, but say so plainly
		return 0, fieldErrorf(path, "%s is not a decimal number below 2^64", quote(s))
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fieldErrorf(path, "%s is not a decimal number below 2^64", quote(s))
	}
	return v, nil
}

// parseCurrency reads an ISO 4217 alphabetic code; "" is no currency
// (numeric 0).
func parseCurrency(path, s string) (money.Currency, *fieldError) {
	if s == "" {
		return money.Currency{}, nil
	}
	c, ok := money.ByCode(s)
	if !ok {
		return c, fieldErrorf(path, "%s is not an ISO 4217 currency code that this switch knows, such as \"KES\"", quote(s))
	}
	return c, nil
}

// parseAmount converts a decimal amount in the units of cur. "" is zero.
// An amount needs its currency, since the currency says where the decimal
// point falls; the ledger would otherwise see a number of unknown scale.
func parseAmount(path, s string, cur money.Currency, currencyPath string) (ledger.Amount, *fieldError) {
	if s == "" {
		return 0, nil
	}
	if cur.Numeric == 0 {
		return 0, fieldErrorf(path, "%s needs %s to say its scale (omit both to take the pending transfer's)", quote(s), currencyPath)
	}
	v, err := money.ParseAmountAllowZero(s, cur)
	if err != nil {
		return 0, &fieldError{path: path, msg: amountErrorDetail(s, cur, err)}
	}
	return ledger.Amount(v), nil
}

// amountErrorDetail says why an amount was refused, from the money
// package's sentinel.
func amountErrorDetail(s string, cur money.Currency, err error) string {
	switch {
	case errors.Is(err, money.ErrAmountPrecision):
		return fmt.Sprintf("%s has %d decimals, %s allows %d", quote(s), significantDecimals(s), cur.Code, cur.Exponent)
	case errors.Is(err, money.ErrAmountNegative):
		return fmt.Sprintf("%s is negative; amounts never are", quote(s))
	case errors.Is(err, money.ErrAmountOverflow):
		return fmt.Sprintf("%s %s is more minor units than 64 bits hold", quote(s), cur.Code)
	}
	return fmt.Sprintf("%s is not a plain decimal amount such as \"12.50\"", quote(s))
}

// significantDecimals counts the fractional digits of a well-formed
// decimal, trailing zeros left out ("1.0050" has 3).
func significantDecimals(s string) int {
	_, frac, found := strings.Cut(s, ".")
	if !found {
		return 0
	}
	return len(strings.TrimRight(frac, "0"))
}

var (
	accountFlagNames  = []string{"debits_must_not_exceed_credits", "credits_must_not_exceed_debits"}
	transferFlagNames = []string{"linked", "pending", "post_pending", "void_pending"}
)

// The flag names' positions are the flags' bits; these checks pin that.
var (
	_ = [1]struct{}{}[ledger.DebitsMustNotExceedCredits-1<<0]
	_ = [1]struct{}{}[ledger.CreditsMustNotExceedDebits-1<<1]
	_ = [1]struct{}{}[ledger.Linked-1<<0]
	_ = [1]struct{}{}[ledger.Pending-1<<1]
	_ = [1]struct{}{}[ledger.PostPending-1<<2]
	_ = [1]struct{}{}[ledger.VoidPending-1<<3]
)

func parseFlags(path string, names []string, known []string) (uint16, *fieldError) {
	var bits uint16
	for _, name := range names {
		i := indexOf(known, name)
		if i < 0 {
			return 0, fieldErrorf(path, "%s is not one of %s", quote(name), strings.Join(known, ", "))
		}
		bits |= 1 << i
	}
	return bits, nil
}

func parseAccountFlags(names []string) (ledger.AccountFlags, *fieldError) {
	bits, ferr := parseFlags("account.flags", names, accountFlagNames)
	return ledger.AccountFlags(bits), ferr
}

func parseTransferFlags(names []string) (ledger.TransferFlags, *fieldError) {
	bits, ferr := parseFlags("transfer.flags", names, transferFlagNames)
	return ledger.TransferFlags(bits), ferr
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// flagNames lists the names of the set bits, in bit order; a bit without a
// name (the ledger never stores one) is shown by number.
func flagNames(bits uint16, known []string) []string {
	names := []string{}
	for i := 0; i < 16; i++ {
		if bits&(1<<i) == 0 {
			continue
		}
		if i < len(known) {
			names = append(names, known[i])
		} else {
			names = append(names, "bit_"+strconv.Itoa(i))
		}
	}
	return names
}

// encodeCommands is decodeCommands' inverse: the canonical JSON of
// commands. decodeCommands(encodeCommands(c)) returns c for every c that
// decodeCommands returned, and encoding that again gives the same bytes.
func encodeCommands(cmds []ledger.Command) ([]byte, error) {
	out := struct {
		Commands []commandJSON `json:"commands"`
	}{Commands: make([]commandJSON, len(cmds))}
	for i := range cmds {
		c := &cmds[i]
		j := commandJSON{Op: c.Op.String()}
		switch c.Op {
		case ledger.OpCreateAccount:
			j.Account = accountToJSON(&c.Account)
		case ledger.OpSetLimit:
			cur, limit := amountText(c.Account.Limit, c.Account.Currency)
			j.Account = &accountJSON{ID: idText(c.Account.ID), Currency: cur, Limit: limit}
		case ledger.OpCreateTransfer:
			j.Transfer = transferToJSON(&c.Transfer)
		case ledger.OpExpire:
		default:
			return nil, fmt.Errorf("admin: command %d has unknown op %d", i, c.Op)
		}
		out.Commands[i] = j
	}
	return json.Marshal(out)
}

func accountToJSON(a *ledger.Account) *accountJSON {
	cur, limit := amountText(a.Limit, a.Currency)
	return &accountJSON{
		ID:          idText(a.ID),
		Participant: strconv.FormatUint(a.Participant, 10),
		Currency:    cur,
		Kind:        kindText(a.Kind),
		Flags:       flagNames(uint16(a.Flags), accountFlagNames),
		Limit:       limit,
		UserRef:     strconv.FormatUint(a.UserRef, 10),
	}
}

func transferToJSON(t *ledger.Transfer) *transferJSON {
	cur, amount := amountText(t.Amount, t.Currency)
	return &transferJSON{
		ID:            idText(t.ID),
		DebitAccount:  idText(t.DebitAccount),
		CreditAccount: idText(t.CreditAccount),
		Amount:        amount,
		Currency:      cur,
		Code:          t.Code,
		Flags:         flagNames(uint16(t.Flags), transferFlagNames),
		Timeout:       t.Timeout,
		PendingID:     idText(t.PendingID),
		UserRef:       idText(t.UserRef),
	}
}

// idText writes an ID as ledger.ID does, and the zero ID as "".
func idText(id ledger.ID) string {
	if id.IsZero() {
		return ""
	}
	return id.String()
}

func kindText(k ledger.AccountKind) string {
	if k == 0 {
		return ""
	}
	return k.String()
}

// currencyText names a numeric currency code by its alphabetic code.
func currencyText(numeric uint16) string {
	if c, ok := money.ByNumeric(numeric); ok {
		return c.Code
	}
	return money.Currency{Numeric: numeric}.String()
}

// amountText renders an amount with its currency's code. Without a
// currency (a post or void that took the pending transfer's) the amount is
// zero and both are "". A numeric code missing from the table (the ledger
// refuses those, so only an old record could hold one) shows as
// "numeric NNN" with the amount in minor units.
func amountText(v ledger.Amount, numeric uint16) (currency, amount string) {
	if numeric == 0 && v == 0 {
		return "", ""
	}
	c, ok := money.ByNumeric(numeric)
	if !ok {
		c = money.Currency{Numeric: numeric}
	}
	return c.String(), money.FormatAmount(uint64(v), c)
}

// ResultView is one command's outcome in the answer to POST
// /admin/ledger/commands.
type ResultView struct {
	Code      string `json:"code"`
	Timestamp string `json:"timestamp"`
}

// AccountView is an account as GET /admin/ledger/accounts/{id} answers it.
type AccountView struct {
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

// TransferView is a transfer as GET /admin/ledger/transfers/{id} answers
// it: the command's fields, then the ledger's.
type TransferView struct {
	ID            string   `json:"id"`
	DebitAccount  string   `json:"debit_account"`
	CreditAccount string   `json:"credit_account"`
	Amount        string   `json:"amount"`
	Currency      string   `json:"currency"`
	Code          uint16   `json:"code"`
	Flags         []string `json:"flags"`
	Timeout       uint32   `json:"timeout"`
	PendingID     string   `json:"pending_id"`
	UserRef       string   `json:"user_ref"`
	Timestamp     string   `json:"timestamp"`
	Status        string   `json:"status"`
	Result        string   `json:"result"`
}

func accountView(a *ledger.Account) AccountView {
	cur, limit := amountText(a.Limit, a.Currency)
	balance := func(v ledger.Amount) string {
		c, ok := money.ByNumeric(a.Currency)
		if !ok {
			c = money.Currency{Numeric: a.Currency}
		}
		return money.FormatAmount(uint64(v), c)
	}
	return AccountView{
		ID:             a.ID.String(),
		Participant:    strconv.FormatUint(a.Participant, 10),
		Currency:       cur,
		Kind:           a.Kind.String(),
		Flags:          flagNames(uint16(a.Flags), accountFlagNames),
		Limit:          limit,
		DebitsPending:  balance(a.DebitsPending),
		DebitsPosted:   balance(a.DebitsPosted),
		CreditsPending: balance(a.CreditsPending),
		CreditsPosted:  balance(a.CreditsPosted),
		UserRef:        strconv.FormatUint(a.UserRef, 10),
		Timestamp:      strconv.FormatUint(a.Timestamp, 10),
	}
}

func transferView(t *ledger.Transfer) TransferView {
	j := transferToJSON(t)
	return TransferView{
		ID: j.ID, DebitAccount: j.DebitAccount, CreditAccount: j.CreditAccount,
		Amount: j.Amount, Currency: j.Currency, Code: j.Code, Flags: j.Flags,
		Timeout: j.Timeout, PendingID: j.PendingID, UserRef: j.UserRef,
		Timestamp: strconv.FormatUint(t.Timestamp, 10),
		Status:    t.Status.String(),
		Result:    t.Result.String(),
	}
}
