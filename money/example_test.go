package money_test

import (
	"errors"
	"fmt"

	"github.com/payswitch/payswitch/money"
)

func Example() {
	kes, _ := money.ByCode("KES")
	minor, err := money.ParseAmount("12.5", kes)
	fmt.Println(minor, err)
	fmt.Println(money.FormatAmount(minor, kes))

	_, err = money.ParseAmount("1.005", kes)
	fmt.Println(err)
	fmt.Println(errors.Is(err, money.ErrAmountPrecision))
	// Output:
	// 1250 <nil>
	// 12.50
	// money: amount "1.005" has 3 decimals, KES allows 2: too precise
	// true
}

func ExampleByNumeric() {
	c, ok := money.ByNumeric(800)
	fmt.Println(c.Code, c.Exponent, c.Name, ok)
	_, ok = money.ByNumeric(1)
	fmt.Println(ok)
	// Output:
	// UGX 0 Uganda Shilling true
	// false
}

func ExampleFormatAmount() {
	for _, code := range []string{"KES", "JPY", "BHD"} {
		c, _ := money.ByCode(code)
		fmt.Println(code, money.FormatAmount(1, c), money.FormatAmount(1250, c))
	}
	// Output:
	// KES 0.01 12.50
	// JPY 1 1250
	// BHD 0.001 1.250
}
