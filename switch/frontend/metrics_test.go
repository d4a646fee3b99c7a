package frontend

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// The metrics count what a session did, under their documented names.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, _ := startServer(t, func(c *Config) { c.Registerer = reg })
	c := dial(t, srv, bankA)
	pay := c.payment()
	c.send(pay)
	c.expect(iso8583.MTIFinancialResponse, pay.STAN, iso8583.ResponseSecurityViolation, false)
	c.signOn(iso8583.ResponseApproved)
	pay = c.payment()
	c.send(pay)
	c.expect(iso8583.MTIFinancialResponse, pay.STAN, iso8583.ResponseApproved, true)

	m := srv.metrics
	for _, tt := range []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"0200 in", m.messages[dirIn][mtiSlot(iso8583.MTIFinancialRequest)], 2},
		{"0210 out", m.messages[dirOut][mtiSlot(iso8583.MTIFinancialResponse)], 2},
		{"0800 in", m.messages[dirIn][mtiSlot(iso8583.MTINetworkRequest)], 1},
		{"not signed on", m.rejects[reasonNotSignedOn], 1},
		{"connected", m.connected, 1},
		{"signed on", m.signedOn, 1},
	} {
		if got := testutil.ToFloat64(tt.c); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
		}
	}
	n, err := testutil.GatherAndCount(reg,
		"payswitch_frontend_sessions", "payswitch_frontend_messages_total", "payswitch_frontend_rejects_total",
		"payswitch_frontend_queue_full_total", "payswitch_frontend_handler_seconds")
	if err != nil || n == 0 {
		t.Errorf("gathered %d series: %v", n, err)
	}

	// A second server cannot register the same names on the same registry.
	_, err = Start(Config{Addr: "127.0.0.1:0", Keys: directory, Handler: &testHandler{}, Registerer: reg})
	if err == nil || errors.Is(err, ErrConfig) {
		t.Errorf("second Start on one registry: %v, want a registration error", err)
	}
}
