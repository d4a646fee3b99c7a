package frontend

import (
	"net"
	"testing"
)

func TestHostOf(t *testing.T) {
	tcp := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 4000} }
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{tcp("127.0.0.2"), "127.0.0.2"},
		{tcp("::ffff:10.1.2.3"), "10.1.2.3"},
		{tcp("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64"},
		{tcp("2001:db8:1:2::1"), "2001:db8:1:2::/64"},
		{tcp("2001:db8:1:3::1"), "2001:db8:1:3::/64"},
		{&net.UnixAddr{Name: "/tmp/s", Net: "unix"}, "/tmp/s"},
		{nil, ""},
	} {
		if got := hostOf(tc.addr); got != tc.want {
			t.Errorf("hostOf(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}
