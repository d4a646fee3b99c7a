package flow

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// guidePath is the integrators' guide; its 0420 dump is generated from a
// sample in switch/iso8583 (TestDocIsCurrent there keeps the two equal).
const guidePath = "../../docs/iso8583.md"

// TestDocAdviceFields checks that the 0420 the switch sends carries
// exactly the fields of the 0420 dump in docs/iso8583.md: the dump is
// built by hand in switch/iso8583's samples, which cannot import this
// package, so this test is what ties the guide to adviceMessage.
func TestDocAdviceFields(t *testing.T) {
	documented := guideDumpFields(t, "#### 0420 ")
	key := iso8583.PaymentKey{Acquirer: alpha}
	copy(key.RRN[:], "616309000043")
	for _, kind := range []uint16{codePush, codePull} {
		tr := ledger.Transfer{ID: transferID(tagPayment, key), Amount: 3000, Currency: kes, Code: kind,
			Timestamp: 1_781_256_635_000_000_000}
		m, ok := adviceMessage(&tr, beta, 31)
		if !ok {
			t.Fatalf("kind %d: adviceMessage failed", kind)
		}
		var got []int
		for f := range m.Fields() {
			got = append(got, int(f))
		}
		// The front end adds the MAC when it sends the advice.
		got = append(got, int(iso8583.FieldMAC))
		if !slices.Equal(got, documented) {
			t.Errorf("kind %d: the switch's 0420 carries fields %v; %s documents %v", kind, got, guidePath, documented)
		}
		orig, err := m.Original()
		if err != nil || orig.Forwarder != 0 || orig.MTI != iso8583.MTIFinancialRequest || orig.Acquirer != alpha {
			t.Errorf("kind %d: field 90 %+v (%v)", kind, orig, err)
		}
	}
}

// guideDumpFields returns the fields listed on the bitmap line of the
// guide's dump whose heading starts with heading.
func guideDumpFields(t *testing.T, heading string) []int {
	t.Helper()
	b, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	at := strings.Index(doc, heading)
	if at < 0 {
		t.Fatalf("%s has no dump %q", guidePath, heading)
	}
	const marker = "(fields "
	rest := doc[at:]
	start := strings.Index(rest, marker)
	if start < 0 {
		t.Fatalf("%s: dump %q lists no fields", guidePath, heading)
	}
	rest = rest[start+len(marker):]
	list, _, ok := strings.Cut(rest, ")")
	if !ok {
		t.Fatalf("%s: dump %q: unterminated field list", guidePath, heading)
	}
	var fields []int
	for _, s := range strings.Fields(list) {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s: dump %q: field %q", guidePath, heading, s)
		}
		fields = append(fields, n)
	}
	return fields
}
