package routing

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
)

// fuzzInputMax caps fuzz inputs a little above what ParseIdentifier reads,
// so the length check itself is exercised.
const fuzzInputMax = 2 * IdentifierInputLenMax

// FuzzParseIdentifier checks that no input panics, that every refusal is
// an *IdentifierError whose message does not repeat the input, and that an
// accepted identifier's wire form parses to the same identifier (the
// normal form is a fixed point) and masks without its raw value.
func FuzzParseIdentifier(f *testing.F) {
	file, err := os.Open("testdata/identifiers.txt")
	if err != nil {
		f.Fatal(err)
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		if line := scanner.Text(); !strings.HasPrefix(line, "#") {
			f.Add(line)
		}
	}
	if err := scanner.Err(); err != nil {
		f.Fatal(err)
	}
	tk := mustTokenizer(f, testSecret)
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > fuzzInputMax {
			t.Skip()
		}
		id, err := ParseIdentifier(s)
		if err != nil {
			var ie *IdentifierError
			if !errors.As(err, &ie) || !errors.Is(err, ErrIdentifier) || !id.IsZero() {
				t.Fatalf("ParseIdentifier(%q) = %v, %v", s, id.Wire(), err)
			}
			return
		}
		again, err := ParseIdentifier(id.Wire())
		if err != nil || again != id {
			t.Fatalf("ParseIdentifier(%q) = %q, which parses to %q, %v", s, id.Wire(), again.Wire(), err)
		}
		if tk.Token(again) != tk.Token(id) {
			t.Fatalf("equal identifiers, different tokens: %q", id.Wire())
		}
		if masked := MaskIdentifier(id); len(id.Value()) >= 6 && strings.Contains(masked, id.Value()) {
			t.Fatalf("MaskIdentifier(%q) = %q", id.Wire(), masked)
		}
	})
}
