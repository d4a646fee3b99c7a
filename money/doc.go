// Package money owns the switch's view of currencies and of amounts as text.
//
// It holds the ISO 4217 currency table ([Currency], [ByCode], [ByNumeric],
// [All]) and is the only place in the switch where a decimal string such as
// "12.50" becomes an integer count of minor units (1250 cents) and back
// ([ParseAmount], [ParseAmountAllowZero], [FormatAmount]). Everywhere else an
// amount is a uint64 of minor units; code that needs to read or print an
// amount for a human, a file or an API calls this package instead of doing
// its own arithmetic on strings.
//
// No float ever touches an amount: parsing and formatting are exact digit
// arithmetic on integers, so "0.10" is ten cents and nothing else, and
// FormatAmount(ParseAmount(s)) is the canonical spelling of s. Inputs that
// cannot be represented exactly (too many decimals for the currency, more
// than fits in a uint64, negative, exponent notation) are rejected with an
// error wrapping one of the sentinels in errors.go, never rounded.
//
// The currency table is built once at package initialisation and never
// changes afterwards, and the functions keep no other state, so everything
// in this package is safe for concurrent use by multiple goroutines.
package money
