package ledger_test

import (
	"errors"
	"math"
	"testing"

	"github.com/payswitch/payswitch/ledger"
)

func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   ledger.ID
		string string // what String prints back
	}{
		{"1", ledger.NewID(0, 1), "1"},
		{"007", ledger.NewID(0, 7), "7"},
		{"18446744073709551615", ledger.NewID(0, math.MaxUint64), "18446744073709551615"},
		{"18446744073709551616", ledger.NewID(1, 0), "0x00000000000000010000000000000000"},
		{"340282366920938463463374607431768211455", ledger.NewID(math.MaxUint64, math.MaxUint64), "0xffffffffffffffffffffffffffffffff"},
		{"0x1", ledger.NewID(0, 1), "1"},
		{"0X0a", ledger.NewID(0, 10), "10"},
		{"0xDeadBeef", ledger.NewID(0, 0xdeadbeef), "3735928559"},
		{"0x0102030405060708090a0b0c0d0e0f10", ledger.NewID(0x0102030405060708, 0x090a0b0c0d0e0f10), "0x0102030405060708090a0b0c0d0e0f10"},
		{"0xffffffffffffffffffffffffffffffff", ledger.NewID(math.MaxUint64, math.MaxUint64), "0xffffffffffffffffffffffffffffffff"},
	} {
		got, err := ledger.ParseID(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseID(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		if s := got.String(); s != tc.string {
			t.Errorf("ParseID(%q).String() = %q, want %q", tc.in, s, tc.string)
		}
	}
}

func TestParseIDRejects(t *testing.T) {
	for _, in := range []string{
		"",
		"0",
		"000",
		"0x",
		"0x0",
		"0x00000000000000000000000000000000",
		"-1",
		"-0",
		"+1",
		" 1",
		"1 ",
		"1_000",
		"1.5",
		"1e3",
		"abc",
		"0xg",
		"0x-1",
		"0x 1",
		"0x1 ",
		"0x0ffffffffffffffffffffffffffffffff", // 33 digits
		"340282366920938463463374607431768211456", // 2^128
		"999999999999999999999999999999999999999999",
	} {
		id, err := ledger.ParseID(in)
		if !errors.Is(err, ledger.ErrInvalidID) {
			t.Errorf("ParseID(%q) = %v, %v; want ErrInvalidID", in, id, err)
		}
	}
}

// TestIDStringRoundTrip checks that String prints what ParseID reads back,
// on both sides of the decimal/hex switch at 2^64.
func TestIDStringRoundTrip(t *testing.T) {
	for _, id := range []ledger.ID{
		ledger.NewID(0, 1),
		ledger.NewID(0, 1<<63),
		ledger.NewID(0, math.MaxUint64),
		ledger.NewID(1, 0),
		ledger.NewID(1<<63, 1),
		ledger.NewID(math.MaxUint64, math.MaxUint64),
		ledger.NewID(0x0123456789abcdef, 0xfedcba9876543210),
	} {
		got, err := ledger.ParseID(id.String())
		if err != nil || got != id {
			t.Errorf("ParseID(%q) = %v, %v; want %v", id.String(), got, err, id)
		}
		if ledger.NewID(id.Hi(), id.Lo()) != id {
			t.Errorf("NewID(Hi, Lo) of %v differs", id)
		}
	}
	if ledger.IDFromUint64(42) != ledger.NewID(0, 42) || !(ledger.ID{}).IsZero() || ledger.IDFromUint64(1).IsZero() {
		t.Error("IDFromUint64 or IsZero is wrong")
	}
}

// TestIDOrder checks that byte order is numeric order, which keeps store
// keys sorted by ID.
func TestIDOrder(t *testing.T) {
	ids := []ledger.ID{ledger.NewID(0, 1), ledger.NewID(0, 255), ledger.NewID(0, 256), ledger.NewID(0, math.MaxUint64), ledger.NewID(1, 0)}
	for i := 1; i < len(ids); i++ {
		if string(ids[i-1][:]) >= string(ids[i][:]) {
			t.Errorf("%v sorts after %v", ids[i-1], ids[i])
		}
	}
}
