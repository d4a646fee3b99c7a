package routing

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
	"github.com/payswitch/payswitch/internal/invariant"
	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/money"
)

// Bootstrap is a participants file (docs/bootstrap.md): the participants
// to onboard, their funding and limits, demo identifiers to link and
// mandates, applied on a node's first start and idempotently after.
type Bootstrap struct {
	Version      int                    `yaml:"version"`
	Participants []BootstrapParticipant `yaml:"participants"`
	Links        []BootstrapLink        `yaml:"links"`
	Mandates     []BootstrapMandate     `yaml:"mandates"`
}

// BootstrapParticipant is one participants entry.
type BootstrapParticipant struct {
	ID             uint64                       `yaml:"id" json:"id,omitempty"`
	Name           string                       `yaml:"name" json:"name,omitempty"`
	Kind           string                       `yaml:"kind" json:"kind,omitempty"`
	Connection     string                       `yaml:"connection" json:"connection,omitempty"`
	Currencies     []string                     `yaml:"currencies" json:"currencies,omitempty"`
	Programs       []uint16                     `yaml:"programs" json:"programs,omitempty"`
	MACKey         string                       `yaml:"mac_key" json:"mac_key,omitempty"`
	APIKey         string                       `yaml:"api_key" json:"api_key,omitempty"`
	WebhookURL     string                       `yaml:"webhook_url" json:"webhook_url,omitempty"`
	PaymentTimeout string                       `yaml:"payment_timeout" json:"payment_timeout,omitempty"`
	Positions      map[string]BootstrapPosition `yaml:"positions" json:"positions,omitempty"`
	ProgramBudgets []BootstrapBudget            `yaml:"program_budgets" json:"program_budgets,omitempty"`
}

// BootstrapPosition funds a position and sets its net debit cap, as
// decimal strings in the currency's major unit.
type BootstrapPosition struct {
	Funding     string `yaml:"funding"`
	NetDebitCap string `yaml:"net_debit_cap"`
}

// BootstrapBudget funds a government program account.
type BootstrapBudget struct {
	Program  uint16 `yaml:"program"`
	Currency string `yaml:"currency"`
	Amount   string `yaml:"amount"`
}

// BootstrapLink links a demo identifier. The identifier and the name are
// raw here: Plan tokenises the one and masks the other.
type BootstrapLink struct {
	ID          string `yaml:"id"`
	Participant uint64 `yaml:"participant"`
	Account     string `yaml:"account"`
	Name        string `yaml:"name"`
	Purpose     string `yaml:"purpose"`
	ConsentRef  string `yaml:"consent_ref"`
}

// BootstrapMandate registers a mandate.
type BootstrapMandate struct {
	ID              string `yaml:"id"`
	Payer           Party  `yaml:"payer"`
	Payee           Party  `yaml:"payee"`
	Currency        string `yaml:"currency"`
	MaxPerDebit     string `yaml:"max_per_debit"`
	Period          string `yaml:"period"`
	DebitsPerPeriod uint32 `yaml:"debits_per_period"`
	ValidFrom       string `yaml:"valid_from"`
	ValidUntil      string `yaml:"valid_until"`
	ConsentRef      string `yaml:"consent_ref"`
}

// bootstrapFileMax bounds a participants file.
const bootstrapFileMax = 16 << 20

// ParseBootstrap reads a participants file strictly: unknown fields are
// errors, YAML anchors and aliases are refused, and every error names its
// line and field. The file is lexed and parsed once; the checks below run
// on the tokens and the syntax tree before anything is decoded.
func ParseBootstrap(data []byte) (*Bootstrap, error) {
	if len(data) > bootstrapFileMax {
		return nil, fmt.Errorf("%w: bootstrap file of %d bytes exceeds %d", ErrConfig, len(data), bootstrapFileMax)
	}
	tokens := lexer.Tokenize(string(data))
	if err := refuseDeepNesting(tokens); err != nil {
		return nil, err
	}
	f, err := parser.Parse(tokens, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: bootstrap: %s", ErrConfig, yaml.FormatError(err, false, true))
	}
	if err := refuseAliases(f); err != nil {
		return nil, err
	}
	var b Bootstrap
	// As yaml.Unmarshal does, the first document is the file, after any
	// directives (%YAML 1.2, %TAG) before it; an empty one leaves b empty,
	// and the version check below reports it.
	if body := firstBody(f); body != nil {
		if err := yaml.NodeToValue(body, &b, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
			return nil, fmt.Errorf("%w: bootstrap: %s", ErrConfig, yaml.FormatError(err, false, true))
		}
	}
	if b.Version != 1 {
		return nil, fmt.Errorf("%w: bootstrap: %s version: want 1", ErrConfig, lineOf(parseForLines(data), "$.version"))
	}
	return &b, nil
}

// firstBody is the body of the first document of f that is not a
// directive, or nil.
func firstBody(f *ast.File) ast.Node {
	for _, d := range f.Docs {
		if d.Body == nil {
			return nil
		}
		if _, directive := d.Body.(*ast.DirectiveNode); !directive {
			return d.Body
		}
	}
	return nil
}

// refuseDeepNesting refuses a file nested deeper than a participants file
// ever needs, judged on the lexer's tokens before the parser sees them:
// the parser's time and memory grow with the square of the nesting, and
// 100,000 '[' (100 KB, well inside bootstrapFileMax) ran it out of memory.
// Flow lists and maps ([...], {...}) are counted; block ones nest by
// indentation, so the column of their indicators ('-', ':', '?') bounds
// them.
func refuseDeepNesting(tokens token.Tokens) error {
	depth := 0
	for _, tk := range tokens {
		line, column := 0, 0
		if tk.Position != nil {
			line, column = tk.Position.Line, tk.Position.Column
		}
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			depth++
			if depth > bootstrapFlowDepthMax {
				return fmt.Errorf("%w: bootstrap: line %d: lists and maps nested more than %d deep", ErrConfig, line, bootstrapFlowDepthMax)
			}
		case token.SequenceEndType, token.MappingEndType:
			depth = max(depth-1, 0)
		case token.SequenceEntryType, token.MappingValueType, token.MappingKeyType:
			if depth == 0 && column > bootstrapBlockColumnMax {
				return fmt.Errorf("%w: bootstrap: line %d: a list entry or key at column %d, beyond %d: nested too deep", ErrConfig, line, column, bootstrapBlockColumnMax)
			}
		}
	}
	return nil
}

// refuseAliases refuses YAML anchors and aliases before anything is
// decoded. The decoder expands every alias in place, so ten nested levels
// of ten aliases each, about a kilobyte of file, expand to ten billion
// values and exhaust the node's memory: the file bound does not bound the
// expansion. A participants file has no use for them; every value is
// spelled out.
func refuseAliases(f *ast.File) error {
	var found anchorFinder
	for _, doc := range f.Docs {
		if found.node == nil {
			ast.Walk(&found, doc)
		}
	}
	if found.node == nil {
		return nil
	}
	where := ""
	if tk := found.node.GetToken(); tk != nil && tk.Position != nil {
		where = fmt.Sprintf("line %d:", tk.Position.Line)
	}
	return fmt.Errorf("%w: bootstrap: %s %s: YAML anchors and aliases are not allowed in a participants file; write the value out",
		ErrConfig, where, strings.TrimPrefix(found.node.GetPath(), "$."))
}

// anchorFinder is an ast.Visitor that stops at the first anchor or alias.
type anchorFinder struct{ node ast.Node }

func (v *anchorFinder) Visit(n ast.Node) ast.Visitor {
	if v.node != nil {
		return nil
	}
	switch n.(type) {
	case *ast.AnchorNode, *ast.AliasNode:
		v.node = n
		return nil
	}
	return v
}

// parseForLines parses data for lineOf, or returns nil when it cannot.
func parseForLines(data []byte) *ast.File {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil
	}
	return f
}

// lineOf returns "line N:" for a YAML path of the parsed file f, or ""
// when it cannot tell, so that a semantic error can point at the line like
// a syntax one. A path that is not in the file (a required field left out)
// points at the nearest enclosing entry that is.
func lineOf(f *ast.File, path string) string {
	if f == nil {
		return ""
	}
	for path != "$" && path != "" {
		if p, err := yaml.PathString(path); err == nil {
			if node, err := p.FilterFile(f); err == nil && node != nil && node.GetToken() != nil {
				return fmt.Sprintf("line %d:", node.GetToken().Position.Line)
			}
		}
		cut := max(strings.LastIndexByte(path, '.'), strings.LastIndexByte(path, '['))
		if cut <= 0 {
			break
		}
		path = path[:cut]
	}
	return ""
}

// Plan is what a bootstrap file asks of the cluster, as commands: routing
// commands (participants, links, mandates) and ledger commands (the
// positions that have a net debit cap, created with it, and funding
// transfers with IDs derived from the file, so that a second run answers
// exists). Apply decides which of them a run proposes (see there and
// docs/bootstrap.md).
type Plan struct {
	Participants []Command
	Funding      []ledger.Command
	// Limits are create_account commands of the positions with a net
	// debit cap in the file: the cap is the account's limit from its
	// creation, and is never set on an account that exists.
	Limits   []ledger.Command
	Links    []Command
	Mandates []Command

	// onboarded are the participants that Apply found absent and proposed:
	// this run's, whose links it applies, even when a later call (after
	// losing the lead) finds them present.
	onboarded map[uint64]bool
}

// accountOf names a participant's account: its position (program 0) or a
// program account in currency.
type accountOf struct {
	participant uint64
	currency    uint16
	program     uint16
}

// derivedAccount reads whose account id is, from the layout of AccountID.
func derivedAccount(id ledger.ID) accountOf {
	return accountOf{participant: id.Lo(), currency: uint16(id.Hi() >> 24), program: uint16(id.Hi())}
}

func (a accountOf) String() string {
	code := fmt.Sprintf("currency %d", a.currency)
	if c, ok := money.ByNumeric(a.currency); ok {
		code = c.Code
	}
	if a.program != 0 {
		return fmt.Sprintf("participant %d %s program %d", a.participant, code, a.program)
	}
	return fmt.Sprintf("participant %d %s position", a.participant, code)
}

// Plan validates b and turns it into commands. Raw identifiers are
// tokenised with tk and names masked; neither leaves this function.
// Every problem is reported, each with its line and field: those of each
// entry alone, and those across entries that the cluster would otherwise
// refuse only while applying (a link or mandate naming a participant that
// is not in the file, an identifier, budget or mandate listed twice).
func (b *Bootstrap) Plan(data []byte, tk *Tokenizer) (*Plan, error) {
	pl := &planner{data: data, tk: tk, plan: &Plan{}, listed: map[uint64]bool{}, valid: map[uint64]*Participant{}}
	for _, bp := range b.Participants {
		pl.listed[bp.ID] = true
	}
	for i := range b.Participants {
		pl.participant(i, &b.Participants[i])
	}
	links := map[linkKey]int{}
	for i := range b.Links {
		pl.link(i, &b.Links[i], links)
	}
	mandates := map[string]int{}
	for i := range b.Mandates {
		pl.mandate(i, &b.Mandates[i], mandates)
	}
	if len(pl.errs) > 0 {
		return nil, errors.Join(pl.errs...)
	}
	return pl.plan, nil
}

// planner carries Plan's work: the plan so far, the problems found, and
// what the cross-entry checks need.
type planner struct {
	data []byte
	tk   *Tokenizer
	plan *Plan
	errs []error
	// lines is the file parsed for lineOf, once parsed is set.
	lines  *ast.File
	parsed bool
	listed map[uint64]bool         // every participant ID in the file, valid or not
	valid  map[uint64]*Participant // the participants that passed their checks
}

// bad records a problem at path ("$.links[2].id"), with its line. The
// file is parsed for the lines once, at the first problem: a file with
// thousands of mistakes parsed it once per mistake.
func (pl *planner) bad(path, format string, args ...any) {
	if !pl.parsed {
		pl.lines, pl.parsed = parseForLines(pl.data), true
	}
	pl.errs = append(pl.errs, fmt.Errorf("%w: bootstrap: %s %s: %s", ErrConfig, lineOf(pl.lines, path), strings.TrimPrefix(path, "$."), fmt.Sprintf(format, args...)))
}

// badFields records each *FieldError of err under at.
func (pl *planner) badFields(at string, err error) {
	for _, e := range flatten(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			pl.bad(at+"."+fe.Field, "%s", fe.Rule)
		} else {
			pl.bad(at, "%v", e)
		}
	}
}

func (pl *planner) participant(i int, bp *BootstrapParticipant) {
	at := fmt.Sprintf("$.participants[%d]", i)
	p, err := bp.participant()
	if err != nil {
		pl.badFields(at, err)
		return
	}
	if pl.valid[p.ID] != nil {
		pl.bad(at+".id", "participant %d listed twice", p.ID)
		return
	}
	pl.valid[p.ID] = &p
	pl.plan.Participants = append(pl.plan.Participants, Command{Op: OpPutParticipant, Participant: p})
	for code, pos := range sortedPositions(bp.Positions) {
		cur, ok := money.ByCode(code)
		if !ok || !p.Serves(cur.Numeric) {
			pl.bad(at+".positions."+code, "not one of the participant's currencies")
			continue
		}
		if pos.Funding != "" {
			amount, err := money.ParseAmount(pos.Funding, cur)
			if err != nil {
				pl.bad(at+".positions."+code+".funding", "%v", err)
			} else {
				pl.plan.Funding = append(pl.plan.Funding, fundingTransfer(FundingID(p.ID, cur.Numeric, 0), SettlementAccount(p.ID, cur.Numeric), PositionAccount(p.ID, cur.Numeric), amount, cur.Numeric))
			}
		}
		if pos.NetDebitCap != "" {
			limit, err := money.ParseAmountAllowZero(pos.NetDebitCap, cur)
			if err != nil {
				pl.bad(at+".positions."+code+".net_debit_cap", "%v", err)
			} else {
				// The position exactly as onboarding creates it (which then
				// finds it and leaves it), with the cap as its limit.
				pos := p.account(PositionAccount(p.ID, cur.Numeric))
				pos.Limit = ledger.Amount(limit)
				pl.plan.Limits = append(pl.plan.Limits, ledger.Command{Op: ledger.OpCreateAccount, Account: pos})
			}
		}
	}
	type budgetKey struct{ program, currency uint16 }
	budgets := map[budgetKey]int{}
	for j, bb := range bp.ProgramBudgets {
		bat := fmt.Sprintf("%s.program_budgets[%d]", at, j)
		cur, ok := money.ByCode(bb.Currency)
		switch {
		case !ok || !p.Serves(cur.Numeric):
			pl.bad(bat+".currency", "not one of the participant's currencies")
			continue
		case !p.HasProgram(bb.Program):
			pl.bad(bat+".program", "not one of the participant's programs")
			continue
		}
		// Both would fund the same program account under the same
		// transfer ID: the second would answer exists and never be applied.
		if first, dup := budgets[budgetKey{bb.Program, cur.Numeric}]; dup {
			pl.bad(bat+".program", "program %d in %s is budgeted already at program_budgets[%d]", bb.Program, cur.Code, first)
			continue
		}
		budgets[budgetKey{bb.Program, cur.Numeric}] = j
		amount, err := money.ParseAmount(bb.Amount, cur)
		if err != nil {
			pl.bad(bat+".amount", "%v", err)
			continue
		}
		pl.plan.Funding = append(pl.plan.Funding, fundingTransfer(FundingID(p.ID, cur.Numeric, bb.Program), SettlementAccount(p.ID, cur.Numeric), ProgramAccount(p.ID, cur.Numeric, bb.Program), amount, cur.Numeric))
	}
}

// link plans links[i]; seen maps each identifier and purpose to the first
// entry that links it.
func (pl *planner) link(i int, bl *BootstrapLink, seen map[linkKey]int) {
	at := fmt.Sprintf("$.links[%d]", i)
	id, err := ParseIdentifier(bl.ID)
	if err != nil {
		pl.bad(at+".id", "%v", err)
		return
	}
	purpose := PurposePayment
	switch bl.Purpose {
	case "", "payment":
	case "g2p":
		purpose = PurposeG2P
	default:
		pl.bad(at+".purpose", "want payment or g2p")
		return
	}
	ref := bl.ConsentRef
	if ref == "" {
		ref = "bootstrap"
	}
	l := Link{Token: pl.tk.Token(id), Purpose: purpose, Type: id.Type(), Participant: bl.Participant,
		Account: bl.Account, Name: MaskName(bl.Name), ConsentRef: ref, ConsentAt: 1}
	if err := l.Validate(); err != nil {
		pl.badFields(at, err)
		return
	}
	if !pl.listed[l.Participant] {
		pl.bad(at+".participant", "participant %d is not one of the file's participants", l.Participant)
		return
	}
	// Compared by token, so two spellings of one number are one identifier;
	// the message names the other entry, never the identifier.
	key := linkKey{l.Token, l.Purpose}
	if first, dup := seen[key]; dup {
		pl.bad(at+".id", "the same identifier and purpose as links[%d]", first)
		return
	}
	seen[key] = i
	pl.plan.Links = append(pl.plan.Links, Command{Op: OpLink, Link: l})
}

// mandate plans mandates[i]; seen maps each mandate ID to its first entry.
func (pl *planner) mandate(i int, bm *BootstrapMandate, seen map[string]int) {
	at := fmt.Sprintf("$.mandates[%d]", i)
	m, field, err := bm.mandate()
	if err != nil {
		pl.bad(at+"."+field, "%v", err)
		return
	}
	if err := m.Validate(); err != nil {
		pl.badFields(at, err)
		return
	}
	ok := true
	for _, party := range []struct {
		field string
		id    uint64
	}{{"payer", m.Payer.Participant}, {"payee", m.Payee.Participant}} {
		if !pl.listed[party.id] {
			pl.bad(at+"."+party.field+".participant", "participant %d is not one of the file's participants", party.id)
			ok = false
		}
	}
	if payer := pl.valid[m.Payer.Participant]; payer != nil && !payer.Serves(m.Currency) {
		pl.bad(at+".currency", "not one of the payer's currencies")
		ok = false
	}
	if first, dup := seen[m.ID]; dup {
		pl.bad(at+".id", "mandate %s listed twice, first at mandates[%d]", m.ID, first)
		ok = false
	}
	if !ok {
		return
	}
	seen[m.ID] = i
	pl.plan.Mandates = append(pl.plan.Mandates, Command{Op: OpPutMandate, Mandate: m})
}

// sortedPositions iterates positions in currency-code order, so that
// errors and commands come out the same every run.
func sortedPositions(m map[string]BootstrapPosition) func(func(string, BootstrapPosition) bool) {
	return func(yield func(string, BootstrapPosition) bool) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}

// SplitErrors returns the single errors inside err, however deeply
// errors.Join nested them: each *FieldError of a Validate, for instance.
func SplitErrors(err error) []error { return flatten(err) }

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// Participant converts the entry (its directory fields; Positions and
// ProgramBudgets are bootstrap's) and validates it. The errors are
// *FieldErrors, joined.
func (bp *BootstrapParticipant) Participant() (Participant, error) { return bp.participant() }

func (bp *BootstrapParticipant) participant() (Participant, error) {
	p := Participant{ID: bp.ID, Name: bp.Name, Programs: bp.Programs, WebhookURL: bp.WebhookURL}
	var errs []error
	var err error
	if p.Kind, err = ParseParticipantKind(bp.Kind); err != nil {
		errs = append(errs, &FieldError{Field: "kind", Rule: "want bank, wallet or government"})
	}
	if p.Connection, err = ParseConnection(bp.Connection); err != nil {
		errs = append(errs, &FieldError{Field: "connection", Rule: "want iso8583, iso20022 or rest"})
	}
	for _, code := range bp.Currencies {
		c, ok := money.ByCode(code)
		if !ok {
			errs = append(errs, &FieldError{Field: "currencies", Rule: fmt.Sprintf("%q is not an ISO 4217 code", code)})
			continue
		}
		p.Currencies = append(p.Currencies, c.Numeric)
	}
	slices.Sort(p.Currencies)
	slices.Sort(p.Programs)
	if bp.MACKey != "" {
		if p.MACKey, err = hex.DecodeString(bp.MACKey); err != nil {
			errs = append(errs, &FieldError{Field: "mac_key", Rule: "want hex"})
		}
	}
	if bp.APIKey != "" {
		if len(bp.APIKey) < 16 {
			errs = append(errs, &FieldError{Field: "api_key", Rule: "want at least 16 characters"})
		}
		p.APIKeyHash = sha256.Sum256([]byte(bp.APIKey))
	}
	if bp.PaymentTimeout != "" {
		d, err := time.ParseDuration(bp.PaymentTimeout)
		if err != nil || d <= 0 || d%time.Millisecond != 0 {
			errs = append(errs, &FieldError{Field: "payment_timeout", Rule: "want a duration such as 10s"})
		} else {
			p.PaymentTimeoutMs = uint32(min(d.Milliseconds(), paymentTimeoutMsMax+1))
		}
	}
	if len(errs) > 0 {
		return p, errors.Join(errs...)
	}
	return p, p.Validate()
}

func (bm *BootstrapMandate) mandate() (Mandate, string, error) {
	m := Mandate{ID: bm.ID, Payer: bm.Payer, Payee: bm.Payee, DebitsPerPeriod: bm.DebitsPerPeriod, ConsentRef: bm.ConsentRef}
	cur, ok := money.ByCode(bm.Currency)
	if !ok {
		return m, "currency", errors.New("not an ISO 4217 code")
	}
	m.Currency = cur.Numeric
	amount, err := money.ParseAmount(bm.MaxPerDebit, cur)
	if err != nil {
		return m, "max_per_debit", err
	}
	m.MaxPerDebit = amount
	if bm.Period != "" {
		d, err := time.ParseDuration(bm.Period)
		if err != nil || d < time.Second || d%time.Second != 0 || d.Seconds() > 1<<32-1 {
			return m, "period", errors.New("want a whole number of seconds such as 720h")
		}
		m.PeriodSeconds = uint32(d / time.Second)
	}
	for _, f := range []struct {
		name string
		in   string
		out  *uint64
	}{{"valid_from", bm.ValidFrom, &m.ValidFrom}, {"valid_until", bm.ValidUntil, &m.ValidUntil}} {
		if f.in == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, f.in)
		if err != nil || t.UnixNano() <= 0 {
			return m, f.name, errors.New("want an RFC 3339 time after 1970")
		}
		*f.out = uint64(t.UnixNano())
	}
	return m, "", nil
}

// FundingID is the transfer ID of a bootstrap funding: of a position
// (program 0) or a program account. Derived, so that running the same
// file twice funds once.
func FundingID(participant uint64, currency uint16, program uint16) ledger.ID {
	return ledger.NewID(uint64(accountIDTag)<<48|0xFF<<40|uint64(currency)<<24|uint64(program), participant)
}

func fundingTransfer(id, debit, credit ledger.ID, amount uint64, currency uint16) ledger.Command {
	return ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{ID: id, DebitAccount: debit, CreditAccount: credit, Amount: ledger.Amount(amount), Currency: currency}}
}

// account returns p's derived account id, as onboarding creates it.
func (p *Participant) account(id ledger.ID) ledger.Account {
	for _, a := range p.accounts() {
		if a.ID == id {
			return a
		}
	}
	invariant.Always(false, "routing: participant %d has no account %s", p.ID, id)
	return ledger.Account{}
}
