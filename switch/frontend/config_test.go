package frontend

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// Validate reports every problem of a config at once, in ErrConfig.
func TestConfigValidate(t *testing.T) {
	good := Config{Addr: "127.0.0.1:0", Keys: directory, Handler: &testHandler{}}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no port", func(c *Config) { c.Addr = "127.0.0.1" }, "Addr"},
		{"no Keys", func(c *Config) { c.Keys = nil }, "Keys"},
		{"no Handler", func(c *Config) { c.Handler = nil }, "Handler"},
		{"negative Workers", func(c *Config) { c.Workers = -1 }, "Workers"},
		{"too many Workers", func(c *Config) { c.Workers = workersMax + 1 }, "Workers"},
		{"QueueMax", func(c *Config) { c.QueueMax = queueMaxMax + 1 }, "QueueMax"},
		{"tiny SessionQueueBytesMax", func(c *Config) { c.SessionQueueBytesMax = 100 }, "SessionQueueBytesMax"},
		{"tiny IdleTimeout", func(c *Config) { c.IdleTimeout = time.Millisecond }, "IdleTimeout"},
		{"tiny SignOnTimeout", func(c *Config) { c.SignOnTimeout = time.Millisecond }, "SignOnTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mod(&c)
			err := c.Validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want ErrConfig naming %s", err, tt.want)
			}
			if _, err := Start(c); !errors.Is(err, ErrConfig) {
				t.Fatalf("Start = %v, want ErrConfig", err)
			}
		})
	}
	all := Config{Workers: -1, QueueMax: -1}
	err := all.Validate()
	for _, want := range []string{"Addr", "Keys", "Handler", "Workers", "QueueMax"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate of an empty config does not name %s: %v", want, err)
		}
	}
}

// withDefaults fills every zero field with its documented default.
func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Workers < 2 || c.QueueMax != queueMaxDefault || c.SessionQueueBytesMax != sessionQueueBytesMaxDefault ||
		c.IdleTimeout != idleTimeoutDefault || c.SignOnTimeout != signOnTimeoutDefault || c.Logger == nil || c.IsLeader == nil || !c.IsLeader() {
		t.Errorf("defaults: %+v", c)
	}
	if err := (Config{Addr: "127.0.0.1:0", Keys: directory, Handler: &testHandler{}}).withDefaults().Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

// Start fails, without leaking the engine, when the address is taken.
func TestStartAddressInUse(t *testing.T) {
	srv, _ := startServer(t, nil)
	_, err := Start(Config{Addr: srv.Addr(), Keys: directory, Handler: &testHandler{}})
	if err == nil {
		t.Fatal("second Start on the same address succeeded")
	}
}

// The limits relate as the code assumes.
func TestLimits(t *testing.T) {
	checks := []struct {
		what string
		ok   bool
	}{
		{"a session's outbound bound holds several whole frames", sessionQueueBytesMin >= 2*frameBytesMax},
		{"the default outbound bound is within its limits",
			sessionQueueBytesMaxDefault >= sessionQueueBytesMin && sessionQueueBytesMaxDefault <= sessionQueueBytesMaxMax},
		{"the default queue is within its limit", queueMaxDefault >= 1 && queueMaxDefault <= queueMaxMax},
		{"an echo comes at least one housekeeping tick before the idle close",
			idleTimeoutMin/echoesPerIdleTimeout >= housekeepingInterval},
		{"the default idle timeout is allowed", idleTimeoutDefault >= idleTimeoutMin},
		{"the leader is polled every 100 ms", housekeepingInterval == 100*time.Millisecond},
		{"a frame is a header and at most FrameSizeMax bytes", frameBytesMax == 2+iso8583.FrameSizeMax},
		{"a participant's sessions fit in the connections", sessionsPerParticipantMax <= connectionsMax},
		{"a bank may re-dial all its sessions at once", sessionsPerParticipantMax <= unsignedPerHostMax},
		{"the unsigned connections are a part of all", unsignedPerHostMax <= unsignedMax && unsignedMax < connectionsMax},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("limits: %s: false", c.what)
		}
	}
}
