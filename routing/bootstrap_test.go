package routing

import (
	"errors"
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
			if strings.Contains(err.Error(), "+12") {
				t.Errorf("an error repeats the raw identifier:\n%v", err)
			}
		})
	}
}

// FuzzParseBootstrap: no participants file, however broken, panics the
// parser or the planner, and every error is a configuration error.
func FuzzParseBootstrap(f *testing.F) {
	if data, err := os.ReadFile("../deploy/examples/participants.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("version: 1\nparticipants:\n  - id: 1\n    currencies: [KES]\n"))
	f.Add([]byte("version: 1\nlinks: [{id: \"msisdn:+254700000001\", participant: 1, account: A}]\n"))
	f.Add([]byte("version: 1\nmandates: [{id: M, payer: {participant: 1, account: A}, payee: {participant: 2}, currency: KES, max_per_debit: \"1.00\", period: 1h, debits_per_period: 1}]\n"))
	tk, _ := NewTokenizer([]byte("bootstrap fuzz secret of 32 byte"))
	f.Fuzz(func(t *testing.T, data []byte) {
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
