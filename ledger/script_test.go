package ledger_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/payswitch/payswitch/ledger"
)

// Scenario scripts, in the style of etcd's and pebble's datadriven tests.
// A script in testdata/*.txt is a list of blocks:
//
//	# comments and blank lines between blocks are kept
//	batch ts=28800
//	account id=1 participant=7 currency=404 kind=position flags=debits_must_not_exceed_credits limit=1000
//	transfer id=10 debit=1 credit=2 amount=600 currency=404 flags=pending timeout=5
//	----
//	<the output the block must print>
//
// The output ends at the first blank line. Directives:
//
//	batch [ts=SECONDS]  the following command lines, applied as one batch;
//	                    without ts the batch clock is 0, so the batch
//	                    follows the previous one by a nanosecond
//	account ...         a block of bare command lines is a batch too
//	transfer ...        (flags=linked|pending|post_pending|void_pending)
//	set-limit id= limit=
//	expire
//	balances            every account's balances
//	transfers [ID...]   every transfer record, or the listed ones
//
// Every batch is checked by the same invariants as the table tests. Run
// with -rewrite to regenerate the outputs, then review the diff.
var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of the testdata/*.txt scripts")

func TestScripts(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) { runScript(t, path) })
	}
}

// scriptBlock is one directive with its input and its expected output.
type scriptBlock struct {
	line   int      // line number of the directive, for messages
	input  []string // the directive line and the lines under it
	output string   // the expected output, without the final newline
	before string   // the comments and blank lines that precede the block
}

// parseScript splits a script into blocks. after holds any text after the
// last block.
func parseScript(text string) (blocks []scriptBlock, after string, err error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	var pending strings.Builder
	for i := 0; i < len(lines); {
		line := lines[i]
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			pending.WriteString(line + "\n")
			i++
			continue
		}
		b := scriptBlock{line: i + 1, before: pending.String()}
		pending.Reset()
		for ; i < len(lines) && lines[i] != "----"; i++ {
			if strings.TrimSpace(lines[i]) == "" {
				return nil, "", fmt.Errorf("line %d: blank line before ----", i+1)
			}
			b.input = append(b.input, lines[i])
		}
		if i == len(lines) {
			return nil, "", fmt.Errorf("line %d: block has no ----", b.line)
		}
		i++ // the ----
		var out []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			out = append(out, lines[i])
		}
		b.output = strings.Join(out, "\n")
		blocks = append(blocks, b)
		if i < len(lines) {
			i++ // the blank line that ends the output
		}
	}
	return blocks, pending.String(), nil
}

func runScript(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks, after, err := parseScript(string(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	h := newHarness(t)
	var rewritten strings.Builder
	for _, b := range blocks {
		got, err := runBlock(h, b.input)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, b.line, err)
		}
		if *rewrite {
			rewritten.WriteString(b.before + strings.Join(b.input, "\n") + "\n----\n")
			if got != "" {
				rewritten.WriteString(got + "\n")
			}
			rewritten.WriteString("\n")
			continue
		}
		if got != b.output {
			t.Errorf("%s:%d: %s\n got:\n%s\nwant:\n%s", path, b.line, b.input[0], got, b.output)
		}
	}
	if *rewrite {
		text := strings.TrimRight(rewritten.String()+after, "\n") + "\n"
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runBlock runs one block and returns its output.
func runBlock(h *harness, input []string) (string, error) {
	fields := strings.Fields(input[0])
	switch fields[0] {
	case "balances":
		return formatBalances(h.m), nil
	case "transfers":
		return formatTransfers(h.m, fields[1:])
	}
	b, err := parseBatch(input)
	if err != nil {
		return "", err
	}
	out := h.apply(b.Timestamp, b.Commands...)
	return formatOutput(b, out), nil
}

// parseBatch reads a batch block: a batch line and commands, or commands
// alone.
func parseBatch(input []string) (*ledger.Batch, error) {
	b := &ledger.Batch{}
	if fields := strings.Fields(input[0]); fields[0] == "batch" {
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(f, "=")
			if k != "ts" {
				return nil, fmt.Errorf("batch: unknown argument %q", f)
			}
			sec, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("batch: ts: %w", err)
			}
			b.Timestamp = sec * second
		}
		input = input[1:]
	}
	for _, line := range input {
		c, err := parseCommand(line)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", line, err)
		}
		b.Commands = append(b.Commands, c)
	}
	return b, nil
}

// parseCommand reads one command line of key=value arguments.
func parseCommand(line string) (ledger.Command, error) {
	fields := strings.Fields(line)
	var c ledger.Command
	switch fields[0] {
	case "account":
		c.Op = ledger.OpCreateAccount
	case "transfer":
		c.Op = ledger.OpCreateTransfer
	case "set-limit":
		c.Op = ledger.OpSetLimit
	case "expire":
		c.Op = ledger.OpExpire
	default:
		return c, fmt.Errorf("unknown command %q", fields[0])
	}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return c, fmt.Errorf("argument %q is not key=value", f)
		}
		if err := setArgument(&c, k, v); err != nil {
			return c, fmt.Errorf("%s: %w", k, err)
		}
	}
	return c, nil
}

func setArgument(c *ledger.Command, key, value string) error {
	a, tr := &c.Account, &c.Transfer
	var err error
	switch key {
	case "id":
		if c.Op == ledger.OpCreateTransfer {
			tr.ID, err = parseScriptID(value)
		} else {
			a.ID, err = parseScriptID(value)
		}
	case "participant":
		a.Participant, err = strconv.ParseUint(value, 10, 64)
	case "kind":
		var ok bool
		if a.Kind, ok = ledger.ParseAccountKind(value); !ok {
			return fmt.Errorf("unknown kind %q", value)
		}
	case "limit":
		err = parseAmount(value, &a.Limit)
	case "currency":
		var n uint64
		n, err = strconv.ParseUint(value, 10, 16)
		a.Currency, tr.Currency = uint16(n), uint16(n)
	case "flags":
		if c.Op == ledger.OpCreateAccount {
			var f uint64
			f, err = parseFlags(value, accountFlagNames)
			a.Flags = ledger.AccountFlags(f)
		} else {
			var f uint64
			f, err = parseFlags(value, transferFlagNames)
			tr.Flags = ledger.TransferFlags(f)
		}
	case "user_ref":
		if c.Op == ledger.OpCreateTransfer {
			tr.UserRef, err = parseScriptID(value)
		} else {
			a.UserRef, err = strconv.ParseUint(value, 10, 64)
		}
	case "debit":
		tr.DebitAccount, err = parseScriptID(value)
	case "credit":
		tr.CreditAccount, err = parseScriptID(value)
	case "amount":
		err = parseAmount(value, &tr.Amount)
	case "pending_id":
		tr.PendingID, err = parseScriptID(value)
	case "timeout":
		var n uint64
		n, err = strconv.ParseUint(value, 10, 32)
		tr.Timeout = uint32(n)
	case "code":
		var n uint64
		n, err = strconv.ParseUint(value, 10, 16)
		tr.Code = uint16(n)
	default:
		return fmt.Errorf("unknown argument")
	}
	return err
}

// parseScriptID reads an ID as ParseID does, and also 0, so that scripts
// can send the zero ID that the ledger must refuse.
func parseScriptID(s string) (ledger.ID, error) {
	if s == "0" {
		return ledger.ID{}, nil
	}
	return ledger.ParseID(s)
}

func parseAmount(s string, dst *ledger.Amount) error {
	n, err := strconv.ParseUint(s, 10, 64)
	*dst = ledger.Amount(n)
	return err
}

var (
	accountFlagNames  = []string{"debits_must_not_exceed_credits", "credits_must_not_exceed_debits"}
	transferFlagNames = []string{"linked", "pending", "post_pending", "void_pending"}
)

// parseFlags reads flag names joined by |; names[i] is bit i.
func parseFlags(s string, names []string) (uint64, error) {
	var flags uint64
	for _, name := range strings.Split(s, "|") {
		i := indexOf(names, name)
		if i < 0 {
			return 0, fmt.Errorf("unknown flag %q", name)
		}
		flags |= 1 << i
	}
	return flags, nil
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

// formatFlags prints flags as parseFlags reads them; unknown bits print
// in hex.
func formatFlags(flags uint64, names []string) string {
	var parts []string
	for i, name := range names {
		if flags&(1<<i) != 0 {
			parts = append(parts, name)
			flags &^= 1 << i
		}
	}
	if flags != 0 {
		parts = append(parts, fmt.Sprintf("%#x", flags))
	}
	return strings.Join(parts, "|")
}

func formatTime(ts uint64) string { return fmt.Sprintf("@%d.%09d", ts/second, ts%second) }

var opWords = map[ledger.Op]string{
	ledger.OpCreateAccount: "account", ledger.OpCreateTransfer: "transfer",
	ledger.OpSetLimit: "set-limit", ledger.OpExpire: "expire",
}

// formatOutput prints one line per command and, under it, the events the
// command caused.
func formatOutput(b *ledger.Batch, out *ledger.Output) string {
	var s strings.Builder
	for i, r := range out.Results {
		c := &b.Commands[i]
		fmt.Fprintf(&s, "%s", opWords[c.Op])
		if c.Op != ledger.OpExpire {
			fmt.Fprintf(&s, " %s", commandID(c))
		}
		fmt.Fprintf(&s, ": %s", r.Code)
		if c.Op == ledger.OpExpire {
			fmt.Fprintf(&s, " expired=%d more=%v", r.Expired, r.More)
		}
		fmt.Fprintf(&s, " %s\n", formatTime(r.Timestamp))
		if r.Timestamp != out.LastTimestamp-uint64(len(out.Results)-1-i) {
			continue // a retry answered from the record: no events
		}
		for _, e := range out.Events {
			if e.Timestamp == r.Timestamp {
				s.WriteString("  " + formatEvent(e) + "\n")
			}
		}
	}
	return strings.TrimSuffix(s.String(), "\n")
}

func formatEvent(e ledger.Event) string {
	s := fmt.Sprintf("%s %s", e.Kind, e.ID)
	if !e.ID2.IsZero() {
		s += fmt.Sprintf(" pending_id=%s", e.ID2)
	}
	if e.Kind == ledger.EventTransferRejected {
		s += " " + e.Code.String()
	}
	return s
}

func formatBalances(m *ledger.Memory) string {
	var s strings.Builder
	for _, a := range m.Accounts() {
		fmt.Fprintf(&s, "account %s: %s participant=%d currency=%d", a.ID, a.Kind, a.Participant, a.Currency)
		if a.Flags != 0 {
			fmt.Fprintf(&s, " flags=%s limit=%d", formatFlags(uint64(a.Flags), accountFlagNames), a.Limit)
		}
		fmt.Fprintf(&s, "\n  debits_pending=%d debits_posted=%d credits_pending=%d credits_posted=%d",
			a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted)
		if a.Flags&ledger.DebitsMustNotExceedCredits != 0 {
			fmt.Fprintf(&s, " available=%d", a.Available())
		}
		s.WriteString("\n")
	}
	return strings.TrimSuffix(s.String(), "\n")
}

func formatTransfers(m *ledger.Memory, ids []string) (string, error) {
	var list []ledger.Transfer
	if len(ids) == 0 {
		list = m.Transfers()
	}
	for _, s := range ids {
		tid, err := ledger.ParseID(s)
		if err != nil {
			return "", err
		}
		tr, ok := m.Transfer(tid)
		if !ok {
			return "", fmt.Errorf("transfer %s not found", tid)
		}
		list = append(list, tr)
	}
	var s strings.Builder
	for _, tr := range list {
		status := tr.Status.String()
		if tr.Status == ledger.StatusRejected {
			status += "(" + tr.Result.String() + ")"
		}
		fmt.Fprintf(&s, "transfer %s: %s debit=%s credit=%s amount=%d currency=%d",
			tr.ID, status, tr.DebitAccount, tr.CreditAccount, tr.Amount, tr.Currency)
		if tr.Flags != 0 {
			fmt.Fprintf(&s, " flags=%s", formatFlags(uint64(tr.Flags), transferFlagNames))
		}
		if tr.Timeout != 0 {
			fmt.Fprintf(&s, " timeout=%d", tr.Timeout)
		}
		if !tr.PendingID.IsZero() {
			fmt.Fprintf(&s, " pending_id=%s", tr.PendingID)
		}
		fmt.Fprintf(&s, " %s\n", formatTime(tr.Timestamp))
	}
	return strings.TrimSuffix(s.String(), "\n"), nil
}

// scriptBatches returns every batch of the scripts in testdata, for seeding
// the fuzzer.
func scriptBatches(t testing.TB) []*ledger.Batch {
	paths, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	var batches []*ledger.Batch
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		blocks, _, err := parseScript(string(data))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, bl := range blocks {
			if w := strings.Fields(bl.input[0])[0]; w == "balances" || w == "transfers" {
				continue
			}
			b, err := parseBatch(bl.input)
			if err != nil {
				t.Fatalf("%s:%d: %v", path, bl.line, err)
			}
			batches = append(batches, b)
		}
	}
	return batches
}
