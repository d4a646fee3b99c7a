package routing

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestBootstrapExampleParses(t *testing.T) {
	data, err := os.ReadFile("../deploy/examples/participants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseBootstrap(data)
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := NewTokenizer([]byte("bootstrap test secret of 32 byte"))
	plan, err := b.Plan(data, tk)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Participants) != 4 || len(plan.Links) != 4 || len(plan.Mandates) != 1 || len(plan.Funding) != 6 || len(plan.Limits) != 2 {
		t.Fatalf("plan: %d participants, %d links, %d mandates, %d fundings, %d limits",
			len(plan.Participants), len(plan.Links), len(plan.Mandates), len(plan.Funding), len(plan.Limits))
	}
	for _, c := range plan.Links {
		if strings.Contains(c.Link.Name, "Odhiambo") || c.Link.Token.IsZero() {
			t.Fatalf("link %+v: name not masked or token missing", c.Link)
		}
	}
}

// TestBootstrapErrors: each mistake is reported with its line and field,
// all of them at once.
func TestBootstrapErrors(t *testing.T) {
	tk, _ := NewTokenizer([]byte("bootstrap test secret of 32 byte"))
	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown field", "version: 1\nparticipants:\n  - id: 1\n    nmae: x\n", []string{"nmae"}},
		{"wrong version", "version: 2\n", []string{"line 1:", "version"}},
		{"syntax", "version: 1\nparticipants: [\n", []string{"bootstrap"}},
		{"several mistakes", `version: 1
participants:
  - id: 10001
    name: A
    kind: bank
    connection: iso8583
    currencies: [KES, XXX]
    mac_key: zz
  - id: 10002
    name: B
    kind: wallet
    connection: rest
    currencies: [KES]
    positions:
      UGX: {funding: "1.00"}
      KES: {funding: "1.001"}
  - id: 10003
    name: C
    kind: shop
    connection: rest
    currencies: [KES]
links:
  - {id: "msisdn:12", participant: 10002, account: "A1"}
  - {id: "nid:KE12345", participant: 10002, account: "A1", purpose: gift}
`, []string{
			"line 7: participants[0].currencies", "line 8: participants[0].mac_key",
			"line 15: participants[1].positions.UGX", "line 16: participants[1].positions.KES.funding",
			"line 19: participants[2].kind", "line 23: links[0].id", "line 24: links[1].purpose",
		}},
		// Mistakes across entries, which the cluster would otherwise meet
		// only while applying: an unknown participant failed the link step
		// (and left the mandates out), and duplicates were dropped quietly.
		{"cross-entry mistakes", `version: 1
participants:
  - id: 10001
    name: A
    kind: bank
    connection: rest
    currencies: [KES]
  - id: 90001
    name: T
    kind: government
    connection: rest
    currencies: [KES]
    programs: [1, 2]
    program_budgets:
      - {program: 1, currency: KES, amount: "1.00"}
      - {program: 2, currency: KES, amount: "1.00"}
      - {program: 1, currency: KES, amount: "2.00"}
links:
  - {id: "msisdn:+254700000001", participant: 10001, account: "A1"}
  - {id: "msisdn:+254700000002", participant: 10002, account: "A2"}
  - {id: "msisdn:+254 700 000 001", participant: 90001, account: "A3"}
  - {id: "msisdn:+254700000001", participant: 10001, account: "A1", purpose: g2p}
mandates:
  - {id: M1, payer: {participant: 10001, account: "A1"}, payee: {participant: 90001}, currency: KES, max_per_debit: "1.00", consent_ref: c}
  - {id: M1, payer: {participant: 10001, account: "A1"}, payee: {participant: 90001}, currency: KES, max_per_debit: "2.00", consent_ref: c}
  - {id: M2, payer: {participant: 10003, account: "A1"}, payee: {participant: 10004}, currency: KES, max_per_debit: "1.00", consent_ref: c}
  - {id: M3, payer: {participant: 10001, account: "A1"}, payee: {participant: 90001}, currency: UGX, max_per_debit: "1.00", consent_ref: c}
`, []string{
			"line 17: participants[1].program_budgets[2].program: program 1 in KES is budgeted already at program_budgets[0]",
			"line 20: links[1].participant: participant 10002 is not one of the file's participants",
			"line 21: links[2].id: the same identifier and purpose as links[0]",
			"line 25: mandates[1].id: mandate M1 listed twice",
			"line 26: mandates[2].payer.participant: participant 10003",
			"line 26: mandates[2].payee.participant: participant 10004",
			"line 27: mandates[3].currency: not one of the payer's currencies",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBootstrap([]byte(tc.yaml))
			if err == nil {
				_, err = b.Plan([]byte(tc.yaml), tk)
			}
			if err == nil || !errors.Is(err, ErrConfig) {
				t.Fatalf("got %v, want a config error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "+12") || strings.Contains(err.Error(), "254700") {
				t.Errorf("an error repeats the raw identifier:\n%v", err)
			}
		})
	}
}

// aliasBomb is a participants file of about a kilobyte whose aliases
// expand to 10^10 values under currencies: ten levels, each an anchored
// list of ten aliases of the level below.
func aliasBomb() []byte {
	var b strings.Builder
	b.WriteString("version: 1\nparticipants:\n  - id: 1\n    name: A\n    kind: bank\n    connection: rest\n    currencies:\n")
	b.WriteString("      - &c0 [KES, KES, KES, KES, KES, KES, KES, KES, KES, KES]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "      - &c%d [", i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*c%d", i-1)
		}
		b.WriteString("]\n")
	}
	return []byte(b.String())
}

// TestBootstrapRefusesAliases: anchors and aliases are refused before
// anything is decoded, with the line and field of the first one. Without
// the refusal the alias bomb runs the process out of memory.
func TestBootstrapRefusesAliases(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{
		{"bomb", string(aliasBomb()), []string{"line 8:", "participants[0].currencies", "anchors and aliases"}},
		{"anchor only", "version: 1\nparticipants:\n  - id: &p 1\n", []string{"line 3:", "participants[0].id", "anchors and aliases"}},
		{"alias", "version: 1\nparticipants:\n  - id: 1\n    currencies: &k [KES]\n  - id: 2\n    currencies: *k\n", []string{"line 4:", "participants[0].currencies"}},
		{"merge key", "version: 1\nparticipants:\n  - &base {kind: bank, connection: rest}\n  - <<: *base\n    id: 2\n", []string{"line 3:", "anchors and aliases"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBootstrap([]byte(tc.yaml))
			if err == nil || !errors.Is(err, ErrConfig) {
				t.Fatalf("got %v, want a config error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestBootstrapRefusesDeepNesting: a file nested deeper than the schema
// ever goes is refused from its tokens, before the parser, whose work grows
// with the square of the nesting: 100,000 '[' (100 KB) ran it out of
// memory, and so did 100,000 nested block list entries.
func TestBootstrapRefusesDeepNesting(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want string
	}{
		{"flow lists", "version: 1\nparticipants: " + strings.Repeat("[", 100_000), "line 2: lists and maps nested more than 32 deep"},
		{"flow maps", "version: 1\nparticipants: " + strings.Repeat("{a: ", 100_000), "line 2: lists and maps nested more than 32 deep"},
		{"block lists", "version: 1\nparticipants:\n" + strings.Repeat("- ", 100_000) + "x\n", "line 3: a list entry or key at column 129"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBootstrap([]byte(tc.yaml))
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a config error with %q", err, tc.want)
			}
		})
	}
	// The deepest a participants file goes, in flow style, still parses.
	ok := "version: 1\nparticipants: [{id: 1, name: A, kind: bank, connection: rest, currencies: [KES], positions: {KES: {funding: \"1.00\"}}}]\n"
	if _, err := ParseBootstrap([]byte(ok)); err != nil {
		t.Fatal(err)
	}
}

// bootstrapFuzzInputMax caps fuzz inputs: big enough for every shape of
// file, small enough that each run is quick.
const bootstrapFuzzInputMax = 64 << 10

// FuzzParseBootstrap: no participants file, however broken, panics the
// parser or the planner, and every error is a configuration error.
func FuzzParseBootstrap(f *testing.F) {
	if data, err := os.ReadFile("../deploy/examples/participants.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("version: 1\nparticipants:\n  - id: 1\n    currencies: [KES]\n"))
	f.Add([]byte("version: 1\nlinks: [{id: \"msisdn:+254700000001\", participant: 1, account: A}]\n"))
	f.Add(aliasBomb())
	f.Add([]byte("version: 1\nparticipants: " + strings.Repeat("[", 40)))
	f.Add([]byte("version: 1\nparticipants:\n" + strings.Repeat("- ", 70) + "x\n"))
	f.Add([]byte("version: 1\nmandates: [{id: M, payer: {participant: 1, account: A}, payee: {participant: 2}, currency: KES, max_per_debit: \"1.00\", period: 1h, debits_per_period: 1}]\n"))
	tk, _ := NewTokenizer([]byte("bootstrap fuzz secret of 32 byte"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > bootstrapFuzzInputMax {
			t.Skip()
		}
		b, err := ParseBootstrap(data)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("parse error %v is not a configuration error", err)
			}
			return
		}
		if _, err := b.Plan(data, tk); err != nil && !errors.Is(err, ErrConfig) {
			t.Fatalf("plan error %v is not a configuration error", err)
		}
	})
}

// TestBootstrapDirectives: a file may start with YAML directives and a
// document marker, as YAML allows; the example parses the same with them.
func TestBootstrapDirectives(t *testing.T) {
	data, err := os.ReadFile("../deploy/examples/participants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ParseBootstrap(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, header := range []string{"%YAML 1.2\n---\n", "%TAG !e! tag:example.com,2026:\n---\n", "---\n"} {
		b, err := ParseBootstrap(append([]byte(header), data...))
		if err != nil {
			t.Fatalf("with %q: %v", header, err)
		}
		if b.Version != plain.Version || len(b.Participants) != len(plain.Participants) {
			t.Fatalf("with %q: version %d, %d participants; want %d, %d", header, b.Version, len(b.Participants), plain.Version, len(plain.Participants))
		}
	}
}
