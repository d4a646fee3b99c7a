package money

import (
	"math"
	"strconv"
)

// MaxAmountLen is the longest amount text, in bytes, that ParseAmount
// looks at. Longer input is rejected with ErrAmountSyntax before any
// parsing. A uint64 has at most 20 digits, so 40 leaves ample room for a
// decimal point and zero padding.
const MaxAmountLen = 40

// ParseAmount converts a decimal string such as "12.50" into minor units of
// currency c (1250 for KES). The text must be a plain non-negative decimal:
// one or more ASCII digits, optionally followed by '.' and one or more
// digits ("12", "12.5", "12.50", "0.01", "012.5"). It may carry at most
// c.Exponent significant fractional digits; trailing zeros beyond that are
// allowed ("1.500" KES is 150). The result is exact: there is no rounding.
//
// Rejections wrap a sentinel from errors.go, tested with errors.Is:
//   - ErrAmountSyntax: empty, longer than MaxAmountLen bytes, spaces, a
//     leading '+', a leading or trailing '.', exponent notation ("1e3"),
//     "NaN", "Inf", thousands separators ("1,000"), or any other character;
//   - ErrAmountNegative: a well-formed number with a leading '-';
//   - ErrAmountPrecision: too many significant decimals for c ("1.005" KES);
//   - ErrAmountOverflow: more minor units than fit in a uint64;
//   - ErrAmountZero: the amount is zero ("0", "0.00"); use
//     ParseAmountAllowZero where zero is a valid amount.
//
// Only c.Exponent is used for the conversion and c.Code for messages, so any
// Currency works, including ones not in the table.
func ParseAmount(s string, c Currency) (uint64, error) {
	return parseAmount(s, c, false)
}

// ParseAmountAllowZero is ParseAmount except that a zero amount ("0",
// "0.00") is accepted and returns 0.
func ParseAmountAllowZero(s string, c Currency) (uint64, error) {
	return parseAmount(s, c, true)
}

func parseAmount(s string, c Currency, allowZero bool) (uint64, error) {
	if len(s) > MaxAmountLen {
		return 0, newAmountError(ErrAmountSyntax, s,
			"for %s is longer than %d bytes: invalid syntax", c, MaxAmountLen)
	}
	body := s
	negative := len(body) > 0 && body[0] == '-'
	if negative {
		body = body[1:]
	}
	intPart, frac, ok := splitDecimal(body)
	if !ok {
		return 0, newAmountError(ErrAmountSyntax, s,
			"for %s is not a plain decimal number like 12.50: invalid syntax", c)
	}
	if negative {
		return 0, newAmountError(ErrAmountNegative, s,
			"for %s is negative: negative amounts are not allowed", c)
	}
	sig := frac
	for len(sig) > 0 && sig[len(sig)-1] == '0' {
		sig = sig[:len(sig)-1]
	}
	if len(sig) > int(c.Exponent) {
		return 0, newAmountError(ErrAmountPrecision, s,
			"has %d decimals, %s allows %d: too precise", len(sig), c, c.Exponent)
	}
	// The minor units are the integer digits followed by the significant
	// fractional digits padded with zeros to exactly c.Exponent digits.
	var v uint64
	for i := 0; i < len(intPart) && ok; i++ {
		v, ok = mulAdd10(v, intPart[i]-'0')
	}
	for i := 0; i < int(c.Exponent) && ok; i++ {
		var d byte
		if i < len(sig) {
			d = sig[i] - '0'
		}
		v, ok = mulAdd10(v, d)
	}
	if !ok {
		return 0, newAmountError(ErrAmountOverflow, s,
			"for %s is more than %d minor units: overflow", c, uint64(math.MaxUint64))
	}
	if v == 0 && !allowZero {
		return 0, newAmountError(ErrAmountZero, s,
			"for %s is zero: zero amount not allowed", c)
	}
	return v, nil
}

// splitDecimal splits s of the form digits or digits.digits into its
// integer and fractional digits, and reports whether s has that form.
func splitDecimal(s string) (intPart, frac string, ok bool) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == 0 {
		return "", "", false
	}
	if i == len(s) {
		return s, "", true
	}
	if s[i] != '.' || i+1 == len(s) {
		return "", "", false
	}
	frac = s[i+1:]
	for j := 0; j < len(frac); j++ {
		if !isDigit(frac[j]) {
			return "", "", false
		}
	}
	return s[:i], frac, true
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// mulAdd10 returns v*10+d and whether that fits in a uint64.
func mulAdd10(v uint64, d byte) (uint64, bool) {
	if v > (math.MaxUint64-uint64(d))/10 {
		return 0, false
	}
	return v*10 + uint64(d), true
}

// FormatAmount renders minor units of currency c as a canonical decimal
// string: no sign, no leading zeros in the integer part (but at least one
// digit), and exactly c.Exponent fractional digits. 1250 KES is "12.50",
// 5 JPY is "5", 1 BHD is "0.001". Every uint64 is formatted exactly, and
// ParseAmountAllowZero(FormatAmount(v, c), c) returns v.
func FormatAmount(minor uint64, c Currency) string {
	var digitBuf [20]byte
	digits := strconv.AppendUint(digitBuf[:0], minor, 10)
	e := int(c.Exponent)
	if e == 0 {
		return string(digits)
	}
	// Left-pad the digits with zeros to at least e+1 of them, then put the
	// point before the last e.
	total := max(len(digits), e+1)
	pad := total - len(digits)
	point := total - e
	var outBuf [48]byte
	var out []byte
	if total+1 <= len(outBuf) {
		out = outBuf[:total+1]
	} else {
		out = make([]byte, total+1)
	}
	for j := range total {
		ch := byte('0')
		if j >= pad {
			ch = digits[j-pad]
		}
		pos := j
		if j >= point {
			pos++
		}
		out[pos] = ch
	}
	out[point] = '.'
	return string(out)
}
