package money_test

import (
	"errors"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"github.com/payswitch/payswitch/money"
)

// plainDecimal is the grammar ParseAmount accepts, with an optional minus
// sign so that negative amounts can be told from bad syntax.
var plainDecimal = regexp.MustCompile(`^(-?)([0-9]+)(?:\.([0-9]+))?$`)

var maxUint64 = new(big.Int).SetUint64(^uint64(0))

// referenceParse is a slow, independent implementation of ParseAmount on
// top of regexp and math/big. It returns the value or the sentinel error
// that ParseAmount must wrap.
func referenceParse(s string, c money.Currency, allowZero bool) (uint64, error) {
	if len(s) > money.MaxAmountLen {
		return 0, money.ErrAmountSyntax
	}
	m := plainDecimal.FindStringSubmatch(s)
	if m == nil {
		return 0, money.ErrAmountSyntax
	}
	if m[1] == "-" {
		return 0, money.ErrAmountNegative
	}
	intPart, frac := m[2], m[3]
	sig := strings.TrimRight(frac, "0")
	if len(sig) > int(c.Exponent) {
		return 0, money.ErrAmountPrecision
	}
	// value = (intPart sig) * 10^(Exponent - len(sig))
	v, ok := new(big.Int).SetString(intPart+sig, 10)
	if !ok {
		panic("reference: bad digits " + intPart + sig)
	}
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(int(c.Exponent)-len(sig))), nil)
	v.Mul(v, scale)
	if v.Cmp(maxUint64) > 0 {
		return 0, money.ErrAmountOverflow
	}
	if v.Sign() == 0 && !allowZero {
		return 0, money.ErrAmountZero
	}
	return v.Uint64(), nil
}

// fuzzCurrency picks a table currency by index; indexes past the table
// give a synthetic currency with an exponent from 0 to 21, to exercise
// exponents the table does not have.
func fuzzCurrency(all []money.Currency, idx uint8) money.Currency {
	if int(idx) < len(all) {
		return all[idx]
	}
	return money.Currency{Code: "TST", Numeric: 999, Exponent: idx % 22}
}

func FuzzParseAmount(f *testing.F) {
	all := money.All()
	index := func(code string) uint8 {
		for i, c := range all {
			if c.Code == code {
				return uint8(i)
			}
		}
		f.Fatalf("no currency %s", code)
		return 0
	}
	kes, jpy, bhd := index("KES"), index("JPY"), index("BHD")
	seeds := []struct {
		s   string
		idx uint8
	}{
		// Valid.
		{"12.50", kes}, {"12.5", kes}, {"12", kes}, {"0.01", kes}, {"1.500", kes},
		{"012.50", kes}, {"184467440737095516.15", kes}, {"5", jpy},
		{"18446744073709551615", jpy}, {"0.001", bhd}, {"18446744073709551.615", bhd},
		{"1", 255}, {"0.0000000000000000001", 195}, // synthetic, exponent 195%22 = 19
		// Invalid.
		{"", kes}, {" ", kes}, {"+1", kes}, {"-1", kes}, {"-0", kes}, {"1e3", kes},
		{"NaN", kes}, {"Inf", kes}, {"-Inf", kes}, {"1,000.00", kes}, {".5", kes},
		{"5.", kes}, {"1.005", kes}, {"0", kes}, {"0.00", kes}, {"0.5", jpy},
		{"184467440737095516.16", kes}, {"18446744073709551616", jpy},
		{strings.Repeat("1", 41), kes}, {"1.2.3", kes}, {"١٢", kes}, {"\xff", kes},
	}
	for _, seed := range seeds {
		f.Add(seed.s, seed.idx)
	}
	f.Fuzz(func(t *testing.T, s string, idx uint8) {
		c := fuzzCurrency(all, idx)
		for _, allowZero := range []bool{false, true} {
			parse := money.ParseAmount
			if allowZero {
				parse = money.ParseAmountAllowZero
			}
			got, err := parse(s, c)
			want, wantErr := referenceParse(s, c, allowZero)
			if wantErr != nil {
				if !errors.Is(err, wantErr) || got != 0 {
					t.Fatalf("parse(%q, %s, allowZero=%v) = %d, %v; want error %v",
						s, c, allowZero, got, err, wantErr)
				}
				if !strings.HasPrefix(err.Error(), "money: amount ") {
					t.Fatalf("error message %q lacks the package prefix", err)
				}
				continue
			}
			if err != nil || got != want {
				t.Fatalf("parse(%q, %s, allowZero=%v) = %d, %v; want %d",
					s, c, allowZero, got, err, want)
			}
			if got == 0 && !allowZero {
				t.Fatalf("ParseAmount(%q, %s) accepted zero", s, c)
			}
			// An accepted input round-trips through its canonical form.
			canonical := money.FormatAmount(got, c)
			back, err := parse(canonical, c)
			if err != nil || back != got {
				t.Fatalf("parse(FormatAmount(%d, %s) = %q) = %d, %v", got, c, canonical, back, err)
			}
			if again := money.FormatAmount(back, c); again != canonical {
				t.Fatalf("FormatAmount not canonical: %q then %q", canonical, again)
			}
		}
	})
}
