package routing

import (
	"strings"
	"testing"
)

func TestMaskName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Jane Wanjiku Doe", "J*** W****** D**"},
		{"  jane \t doe\n", "j*** d**"},
		{"Ünal Çelik", "Ü*** Ç****"},
		{"A B C D E F", "A B C D"},
		{"(Jane) Doe", "****** D**"},
		{"Jane\x00Doe", "J*******"},
		{"Jane \xffoe", "J*** ***"},
		{strings.Repeat("x", 100), "x" + strings.Repeat("*", 23)},
		{"", ""},
		{"   ", ""},
		{"李小龙", "李**"},
	} {
		if got := MaskName(tc.in); got != tc.want {
			t.Errorf("MaskName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMaskIdentifier(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"msisdn:+254700000001", "msisdn:+2547******01"},
		{"msisdn:+14155552671", "msisdn:+141******71"},
		{"msisdn:+4520123456", "msisdn:+452*****56"},
		{"nid:12345678", "nid:******78"},
		{"nid:ABCD", "nid:**CD"},
		{"alias:jane.doe@10002", "alias:j*******@10002"},
		{"alias:j@10002", "alias:*@10002"},
		{"email:jane@example.com", "email:j***@e******.com"},
		{"email:jo@mail.example.co.ke", "email:j*@m***.e******.c*.ke"},
		{"acct:10002/00123456", "acct:10002/****3456"},
		{"acct:10002/123", "acct:10002/**3"},
	} {
		id, err := ParseIdentifier(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := MaskIdentifier(id); got != tc.want {
			t.Errorf("MaskIdentifier(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := MaskIdentifier(Identifier{}); got != "none" {
		t.Errorf("MaskIdentifier(zero) = %q", got)
	}
}

// TestMaskMiddleHalf checks that maskMiddle always masks at least half.
func TestMaskMiddleHalf(t *testing.T) {
	for n := 0; n <= 40; n++ {
		s := strings.Repeat("x", n)
		for head := 0; head <= 5; head++ {
			for tail := 0; tail <= 5; tail++ {
				got := maskMiddle(s, head, tail)
				if len(got) != n || 2*strings.Count(got, "*") < n {
					t.Fatalf("maskMiddle(%d bytes, %d, %d) = %q", n, head, tail, got)
				}
			}
		}
	}
}
