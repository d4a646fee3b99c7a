package money_test

import (
	"errors"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/payswitch/payswitch/money"
	"pgregory.net/rapid"
)

// mustCurrency returns the table entry for code or stops the test.
func mustCurrency(t testing.TB, code string) money.Currency {
	t.Helper()
	c, ok := money.ByCode(code)
	if !ok {
		t.Fatalf("ByCode(%q): not found", code)
	}
	return c
}

var sentinels = []error{
	money.ErrAmountSyntax,
	money.ErrAmountPrecision,
	money.ErrAmountNegative,
	money.ErrAmountZero,
	money.ErrAmountOverflow,
}

// checkAmountError verifies that err wraps want and no other sentinel, and
// that its message names the input and the currency.
func checkAmountError(t testing.TB, err error, want error, input string, c money.Currency) {
	t.Helper()
	if err == nil {
		t.Fatalf("input %q %s: no error, want %v", input, c, want)
	}
	for _, s := range sentinels {
		if got := errors.Is(err, s); got != (s == want) {
			t.Errorf("input %q %s: errors.Is(%v, %v) = %v", input, c, err, s, got)
		}
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "money: amount ") {
		t.Errorf("message %q lacks the package prefix", msg)
	}
	quoted := input
	if len(quoted) > money.MaxAmountLen {
		quoted = quoted[:money.MaxAmountLen]
	}
	if !strings.Contains(msg, strconv.Quote(quoted)) {
		t.Errorf("message %q does not name the input %q", msg, input)
	}
	if !strings.Contains(msg, c.String()) {
		t.Errorf("message %q does not name the currency %s", msg, c)
	}
}

func TestParseAmountValid(t *testing.T) {
	tests := []struct {
		code string
		in   string
		want uint64
	}{
		// Exponent 2.
		{"KES", "12.50", 1250},
		{"KES", "12.5", 1250},
		{"KES", "12", 1200},
		{"KES", "0.01", 1},
		{"KES", "0.1", 10},
		{"KES", "1.500", 150},
		{"KES", "1.0000000000", 100},
		{"KES", "012.50", 1250},
		{"KES", "000", 0}, // zero: only via AllowZero, see below
		{"KES", "184467440737095516.15", math.MaxUint64},
		{"USD", "1", 100},
		// Exponent 0.
		{"JPY", "5", 5},
		{"JPY", "5.0", 5},
		{"JPY", "5.000", 5},
		{"UGX", "1000000", 1000000},
		{"RWF", "18446744073709551615", math.MaxUint64},
		{"XOF", "18446744073709551615.00", math.MaxUint64},
		// Exponent 3.
		{"BHD", "0.001", 1},
		{"BHD", "1", 1000},
		{"BHD", "1.5", 1500},
		{"KWD", "1.25", 1250},
		{"JOD", "1.234", 1234},
		{"OMR", "1.2340", 1234},
		{"TND", "18446744073709551.615", math.MaxUint64},
	}
	for _, tt := range tests {
		c := mustCurrency(t, tt.code)
		got, err := money.ParseAmountAllowZero(tt.in, c)
		if err != nil || got != tt.want {
			t.Errorf("ParseAmountAllowZero(%q, %s) = %d, %v; want %d", tt.in, tt.code, got, err, tt.want)
		}
		got, err = money.ParseAmount(tt.in, c)
		if tt.want == 0 {
			checkAmountError(t, err, money.ErrAmountZero, tt.in, c)
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want %d", tt.in, tt.code, got, err, tt.want)
		}
	}
}

func TestParseAmountErrors(t *testing.T) {
	long := strings.Repeat("1", money.MaxAmountLen+1)
	tests := []struct {
		code string
		in   string
		want error
	}{
		{"KES", "", money.ErrAmountSyntax},
		{"KES", " ", money.ErrAmountSyntax},
		{"KES", " 12.50", money.ErrAmountSyntax},
		{"KES", "12.50 ", money.ErrAmountSyntax},
		{"KES", "12.50\n", money.ErrAmountSyntax},
		{"KES", "12 .50", money.ErrAmountSyntax},
		{"KES", "+12.50", money.ErrAmountSyntax},
		{"KES", "+0", money.ErrAmountSyntax},
		{"KES", "1e3", money.ErrAmountSyntax},
		{"KES", "1E3", money.ErrAmountSyntax},
		{"KES", "1.5e2", money.ErrAmountSyntax},
		{"KES", "NaN", money.ErrAmountSyntax},
		{"KES", "nan", money.ErrAmountSyntax},
		{"KES", "Inf", money.ErrAmountSyntax},
		{"KES", "+Inf", money.ErrAmountSyntax},
		{"KES", "-Inf", money.ErrAmountSyntax},
		{"KES", "Infinity", money.ErrAmountSyntax},
		{"KES", "1,000", money.ErrAmountSyntax},
		{"KES", "1,000.00", money.ErrAmountSyntax},
		{"KES", "1_000", money.ErrAmountSyntax},
		{"KES", "1 000", money.ErrAmountSyntax},
		{"KES", "1'000", money.ErrAmountSyntax},
		{"KES", "12,50", money.ErrAmountSyntax},
		{"KES", ".5", money.ErrAmountSyntax},
		{"KES", "5.", money.ErrAmountSyntax},
		{"KES", ".", money.ErrAmountSyntax},
		{"KES", "1.2.3", money.ErrAmountSyntax},
		{"KES", "-", money.ErrAmountSyntax},
		{"KES", "--1", money.ErrAmountSyntax},
		{"KES", "-+1", money.ErrAmountSyntax},
		{"KES", "0x10", money.ErrAmountSyntax},
		{"KES", "١٢", money.ErrAmountSyntax}, // Arabic-Indic digits
		{"KES", "１２", money.ErrAmountSyntax}, // full-width digits
		{"KES", "12\x00", money.ErrAmountSyntax},
		{"KES", "KES 12", money.ErrAmountSyntax},
		{"KES", long, money.ErrAmountSyntax},
		{"KES", "0." + strings.Repeat("0", money.MaxAmountLen-1), money.ErrAmountSyntax},
		{"KES", "-1", money.ErrAmountNegative},
		{"KES", "-12.50", money.ErrAmountNegative},
		{"KES", "-0", money.ErrAmountNegative},
		{"KES", "-1.005", money.ErrAmountNegative},
		{"KES", "1.005", money.ErrAmountPrecision},
		{"KES", "1.0050", money.ErrAmountPrecision},
		{"KES", "0.001", money.ErrAmountPrecision},
		{"JPY", "0.5", money.ErrAmountPrecision},
		{"UGX", "100.01", money.ErrAmountPrecision},
		{"BHD", "0.0001", money.ErrAmountPrecision},
		{"BHD", "1.2345", money.ErrAmountPrecision},
		{"KES", "0", money.ErrAmountZero},
		{"KES", "0.00", money.ErrAmountZero},
		{"KES", "0.0", money.ErrAmountZero},
		{"KES", "00.000", money.ErrAmountZero},
		{"JPY", "0", money.ErrAmountZero},
		{"BHD", "0.000", money.ErrAmountZero},
		{"KES", "184467440737095516.16", money.ErrAmountOverflow},
		{"KES", "184467440737095517", money.ErrAmountOverflow},
		{"KES", "99999999999999999999999999999999999999", money.ErrAmountOverflow},
		{"JPY", "18446744073709551616", money.ErrAmountOverflow},
		{"BHD", "18446744073709551.616", money.ErrAmountOverflow},
		{"BHD", "18446744073709552", money.ErrAmountOverflow},
	}
	for _, tt := range tests {
		c := mustCurrency(t, tt.code)
		got, err := money.ParseAmount(tt.in, c)
		if got != 0 {
			t.Errorf("ParseAmount(%q, %s) = %d with error %v, want 0", tt.in, tt.code, got, err)
		}
		checkAmountError(t, err, tt.want, tt.in, c)
		if tt.want == money.ErrAmountZero {
			continue
		}
		_, err = money.ParseAmountAllowZero(tt.in, c)
		checkAmountError(t, err, tt.want, tt.in, c)
	}
}

func TestParseAmountErrorMessages(t *testing.T) {
	kes := mustCurrency(t, "KES")
	tests := []struct {
		in   string
		want string
	}{
		{"1.005", `money: amount "1.005" has 3 decimals, KES allows 2: too precise`},
		{"1.0050", `money: amount "1.0050" has 3 decimals, KES allows 2: too precise`},
		{"1e3", `money: amount "1e3" for KES is not a plain decimal number like 12.50: invalid syntax`},
		{"-5", `money: amount "-5" for KES is negative: negative amounts are not allowed`},
		{"0.00", `money: amount "0.00" for KES is zero: zero amount not allowed`},
		{"184467440737095516.16", `money: amount "184467440737095516.16" for KES is more than 18446744073709551615 minor units: overflow`},
		{strings.Repeat("9", 50), `money: amount "` + strings.Repeat("9", 40) + `"... for KES is longer than 40 bytes: invalid syntax`},
	}
	for _, tt := range tests {
		_, err := money.ParseAmount(tt.in, kes)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseAmount(%q) error\n got: %v\nwant: %s", tt.in, err, tt.want)
		}
	}
	// A Currency outside the table is named by its numeric code.
	_, err := money.ParseAmount("1.5", money.Currency{Numeric: 5})
	if want := `money: amount "1.5" has 1 decimals, numeric 005 allows 0: too precise`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		code  string
		minor uint64
		want  string
	}{
		{"KES", 1250, "12.50"},
		{"KES", 0, "0.00"},
		{"KES", 1, "0.01"},
		{"KES", 10, "0.10"},
		{"KES", 100, "1.00"},
		{"KES", math.MaxUint64, "184467440737095516.15"},
		{"JPY", 5, "5"},
		{"JPY", 0, "0"},
		{"UGX", math.MaxUint64, "18446744073709551615"},
		{"BHD", 1, "0.001"},
		{"BHD", 0, "0.000"},
		{"BHD", 1000, "1.000"},
		{"KWD", 123456, "123.456"},
		{"TND", math.MaxUint64, "18446744073709551.615"},
	}
	for _, tt := range tests {
		if got := money.FormatAmount(tt.minor, mustCurrency(t, tt.code)); got != tt.want {
			t.Errorf("FormatAmount(%d, %s) = %q, want %q", tt.minor, tt.code, got, tt.want)
		}
	}
	// Exponents beyond the table's still format exactly.
	wide := money.Currency{Code: "TST", Exponent: 30}
	if got, want := money.FormatAmount(12, wide), "0."+strings.Repeat("0", 28)+"12"; got != want {
		t.Errorf("FormatAmount(12, exponent 30) = %q, want %q", got, want)
	}
}

func TestZeroCurrencyAndWideExponents(t *testing.T) {
	// The zero Currency behaves as exponent 0.
	if v, err := money.ParseAmount("42", money.Currency{}); err != nil || v != 42 {
		t.Errorf("ParseAmount(42, zero Currency) = %d, %v", v, err)
	}
	// Exponent 19 fits 10^19 in a uint64; exponent 20 cannot hold 1.
	c19 := money.Currency{Code: "TST", Exponent: 19}
	if v, err := money.ParseAmount("1", c19); err != nil || v != 10_000_000_000_000_000_000 {
		t.Errorf("ParseAmount(1, exponent 19) = %d, %v", v, err)
	}
	c20 := money.Currency{Code: "TST", Exponent: 20}
	_, err := money.ParseAmount("1", c20)
	checkAmountError(t, err, money.ErrAmountOverflow, "1", c20)
	c255 := money.Currency{Code: "TST", Exponent: 255}
	if v, err := money.ParseAmountAllowZero("0.0", c255); err != nil || v != 0 {
		t.Errorf("ParseAmountAllowZero(0.0, exponent 255) = %d, %v", v, err)
	}
	_, err = money.ParseAmount("0.1", c255)
	checkAmountError(t, err, money.ErrAmountOverflow, "0.1", c255)
}

// TestRoundTripProperty checks that every uint64 in every currency formats
// to text that parses back to the same value, that the text has exactly
// Exponent fractional digits, and that formatting is canonical (formatting
// the parsed value gives the same text).
func TestRoundTripProperty(t *testing.T) {
	all := money.All()
	rapid.Check(t, func(t *rapid.T) {
		c := rapid.SampledFrom(all).Draw(t, "currency")
		v := rapid.Uint64().Draw(t, "minor")
		s := money.FormatAmount(v, c)
		got, err := money.ParseAmountAllowZero(s, c)
		if err != nil || got != v {
			t.Fatalf("ParseAmountAllowZero(FormatAmount(%d, %s) = %q) = %d, %v", v, c, s, got, err)
		}
		got, err = money.ParseAmount(s, c)
		if v == 0 {
			if !errors.Is(err, money.ErrAmountZero) {
				t.Fatalf("ParseAmount(%q, %s) = %d, %v; want ErrAmountZero", s, c, got, err)
			}
		} else if err != nil || got != v {
			t.Fatalf("ParseAmount(%q, %s) = %d, %v; want %d", s, c, got, err, v)
		}
		fracDigits := 0
		if i := strings.IndexByte(s, '.'); i >= 0 {
			fracDigits = len(s) - i - 1
		}
		if fracDigits != int(c.Exponent) {
			t.Fatalf("FormatAmount(%d, %s) = %q has %d fraction digits", v, c, s, fracDigits)
		}
		if want := referenceFormat(v, c); s != want {
			t.Fatalf("FormatAmount(%d, %s) = %q, reference %q", v, c, s, want)
		}
	})
}

// TestParseCanonicalProperty generates well-formed decimal text (with
// leading zeros, trailing zeros and too many decimals), checks ParseAmount
// against the math/big reference, and checks that FormatAmount of an
// accepted value is the canonical spelling of the input.
func TestParseCanonicalProperty(t *testing.T) {
	all := money.All()
	rapid.Check(t, func(t *rapid.T) {
		c := rapid.SampledFrom(all).Draw(t, "currency")
		intPart := rapid.StringMatching(`[0-9]{1,22}`).Draw(t, "int")
		frac := rapid.StringMatching(`[0-9]{0,5}`).Draw(t, "frac")
		frac += strings.Repeat("0", rapid.IntRange(0, 4).Draw(t, "trailing zeros"))
		s := intPart
		if frac != "" {
			s += "." + frac
		}
		want, wantErr := referenceParse(s, c, true)
		got, err := money.ParseAmountAllowZero(s, c)
		if wantErr != nil {
			if !errors.Is(err, wantErr) {
				t.Fatalf("ParseAmountAllowZero(%q, %s) = %d, %v; want %v", s, c, got, err, wantErr)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("ParseAmountAllowZero(%q, %s) = %d, %v; want %d", s, c, got, err, want)
		}
		canonical := strings.TrimLeft(intPart, "0")
		if canonical == "" {
			canonical = "0"
		}
		if c.Exponent > 0 {
			sig := strings.TrimRight(frac, "0")
			canonical += "." + sig + strings.Repeat("0", int(c.Exponent)-len(sig))
		}
		if f := money.FormatAmount(got, c); f != canonical {
			t.Fatalf("FormatAmount(ParseAmount(%q, %s)) = %q, want canonical %q", s, c, f, canonical)
		}
	})
}

// referenceFormat formats v with math/big, as an independent check on
// FormatAmount.
func referenceFormat(v uint64, c money.Currency) string {
	digits := new(big.Int).SetUint64(v).String()
	e := int(c.Exponent)
	if e == 0 {
		return digits
	}
	if len(digits) <= e {
		digits = strings.Repeat("0", e+1-len(digits)) + digits
	}
	return digits[:len(digits)-e] + "." + digits[len(digits)-e:]
}

func TestCurrencyTable(t *testing.T) {
	all := money.All()
	if len(all) < 100 {
		t.Errorf("table has only %d currencies", len(all))
	}
	codes := map[string]bool{}
	numerics := map[uint16]string{}
	for i, c := range all {
		if len(c.Code) != 3 || strings.ToUpper(c.Code) != c.Code ||
			strings.Trim(c.Code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			t.Errorf("entry %d: code %q is not three upper-case letters", i, c.Code)
		}
		if c.Exponent > 3 {
			t.Errorf("%s: exponent %d > 3", c.Code, c.Exponent)
		}
		if c.Numeric == 0 || c.Numeric > 999 {
			t.Errorf("%s: numeric %d outside 1..999", c.Code, c.Numeric)
		}
		if c.Name == "" {
			t.Errorf("%s: no name", c.Code)
		}
		if codes[c.Code] {
			t.Errorf("duplicate code %s", c.Code)
		}
		codes[c.Code] = true
		if other, dup := numerics[c.Numeric]; dup {
			t.Errorf("numeric %03d used by both %s and %s", c.Numeric, other, c.Code)
		}
		numerics[c.Numeric] = c.Code
		if i > 0 && all[i-1].Code >= c.Code {
			t.Errorf("All not sorted by code at %s", c.Code)
		}
		if got, ok := money.ByCode(c.Code); !ok || got != c {
			t.Errorf("ByCode(%q) = %+v, %v; want %+v", c.Code, got, ok, c)
		}
		if got, ok := money.ByNumeric(c.Numeric); !ok || got != c {
			t.Errorf("ByNumeric(%d) = %+v, %v; want %+v", c.Numeric, got, ok, c)
		}
	}
}

// TestKnownCurrencies pins the numeric code and exponent of the currencies
// the switch must support.
func TestKnownCurrencies(t *testing.T) {
	known := []struct {
		code     string
		numeric  uint16
		exponent uint8
	}{
		{"KES", 404, 2}, {"UGX", 800, 0}, {"TZS", 834, 2}, {"RWF", 646, 0},
		{"ETB", 230, 2}, {"NGN", 566, 2}, {"GHS", 936, 2}, {"XOF", 952, 0},
		{"XAF", 950, 0}, {"ZAR", 710, 2}, {"EGP", 818, 2}, {"MAD", 504, 2},
		{"INR", 356, 2}, {"PKR", 586, 2}, {"BDT", 50, 2}, {"LKR", 144, 2},
		{"NPR", 524, 2}, {"PHP", 608, 2}, {"IDR", 360, 2}, {"THB", 764, 2},
		{"VND", 704, 0}, {"MYR", 458, 2}, {"BRL", 986, 2}, {"MXN", 484, 2},
		{"COP", 170, 2}, {"PEN", 604, 2}, {"CLP", 152, 0}, {"ARS", 32, 2},
		{"USD", 840, 2}, {"EUR", 978, 2}, {"GBP", 826, 2}, {"CHF", 756, 2},
		{"JPY", 392, 0}, {"CNY", 156, 2}, {"AUD", 36, 2}, {"CAD", 124, 2},
		{"NZD", 554, 2}, {"SGD", 702, 2}, {"HKD", 344, 2}, {"AED", 784, 2},
		{"SAR", 682, 2}, {"BHD", 48, 3}, {"KWD", 414, 3}, {"OMR", 512, 3},
		{"JOD", 400, 3}, {"TND", 788, 3}, {"ZMW", 967, 2}, {"MWK", 454, 2},
		{"MZN", 943, 2}, {"BWP", 72, 2}, {"NAD", 516, 2}, {"SLE", 925, 2},
		{"LRD", 430, 2}, {"GMD", 270, 2}, {"SOS", 706, 2}, {"SDG", 938, 2},
		{"CDF", 976, 2}, {"BIF", 108, 0}, {"DJF", 262, 0},
	}
	for _, k := range known {
		c, ok := money.ByCode(k.code)
		if !ok {
			t.Errorf("ByCode(%q): not found", k.code)
			continue
		}
		if c.Numeric != k.numeric || c.Exponent != k.exponent {
			t.Errorf("%s: numeric %d exponent %d, want %d and %d", k.code, c.Numeric, c.Exponent, k.numeric, k.exponent)
		}
		if byNum, ok := money.ByNumeric(k.numeric); !ok || byNum != c {
			t.Errorf("ByNumeric(%d) = %+v, %v; want %s", k.numeric, byNum, ok, k.code)
		}
	}
}

func TestLookupMisses(t *testing.T) {
	for _, code := range []string{"", "K", "KE", "kes", "Kes", "KESS", " KES", "KES ", "K3S", "XXX", "HRK", "ZZZ", "ÄBC"} {
		if c, ok := money.ByCode(code); ok {
			t.Errorf("ByCode(%q) = %+v, want not found", code, c)
		}
	}
	for _, n := range []uint16{0, 1, 999, 1000, 4040, math.MaxUint16} {
		if c, ok := money.ByNumeric(n); ok {
			t.Errorf("ByNumeric(%d) = %+v, want not found", n, c)
		}
	}
}

func TestAllReturnsCopy(t *testing.T) {
	a := money.All()
	if !slices.IsSortedFunc(a, func(x, y money.Currency) int { return strings.Compare(x.Code, y.Code) }) {
		t.Fatal("All is not sorted by code")
	}
	kes := mustCurrency(t, "KES")
	for i := range a {
		a[i] = money.Currency{Code: "ZZZ", Numeric: 1, Exponent: 9}
	}
	if got := mustCurrency(t, "KES"); got != kes {
		t.Errorf("changing All's result changed the table: KES is now %+v", got)
	}
	if b := money.All(); b[0].Code == "ZZZ" {
		t.Error("All returned the modified slice")
	}
}

func TestNoAllocations(t *testing.T) {
	kes := mustCurrency(t, "KES")
	var sink uint64
	checks := map[string]func(){
		"ByNumeric": func() {
			c, _ := money.ByNumeric(404)
			sink += uint64(c.Exponent)
		},
		"ByNumeric miss": func() {
			c, _ := money.ByNumeric(1)
			sink += uint64(c.Exponent)
		},
		"ByCode": func() {
			c, _ := money.ByCode("KES")
			sink += uint64(c.Exponent)
		},
		"ParseAmount": func() {
			v, _ := money.ParseAmount("12345.67", kes)
			sink += v
		},
	}
	for name, f := range checks {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
	}
	_ = sink
}

func BenchmarkByNumeric(b *testing.B) {
	var sink uint8
	for i := 0; b.Loop(); i++ {
		c, _ := money.ByNumeric(uint16(i % 1000))
		sink += c.Exponent
	}
	_ = sink
}

func BenchmarkParseAmount(b *testing.B) {
	kes := mustCurrency(b, "KES")
	for b.Loop() {
		if _, err := money.ParseAmount("123456.78", kes); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormatAmount(b *testing.B) {
	kes := mustCurrency(b, "KES")
	for b.Loop() {
		_ = money.FormatAmount(12345678, kes)
	}
}
